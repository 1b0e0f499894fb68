// Real storage faults against a real gateway in a child process: a full tmpfs (private mount namespace) during an
// SSH login, under a Modbus forward, under audit.jsonl with only a few KiB handed back, and under a live session's
// recording; and an audit file over `ulimit -f` (EFBIG) during approve/revoke. The process must live on, refuse
// with a reason, change no state without its record, and heal by itself when space returns.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../gateway/paths.js';
import { bundleForChild } from '../helpers/bundle.js';

const src = (p: string) => JSON.stringify(join(packageRoot, p));

/** Each mode runs one scenario in the child and prints one JSON line of what it saw. */
const childSource = `
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshGateway, TARGET } from ${src('test/helpers/ssh-gateway.ts')};
import { openFixture, body } from ${src('test/integration/requests-fixture.ts')};
import { Store } from ${src('gateway/store.ts')};
import { AuditLog } from ${src('gateway/audit-log.ts')};
import { PlcLog } from ${src('gateway/conduit/plc-log.ts')};
import { openStorage } from ${src('gateway/storage/open.ts')};
import { StorageMonitor } from ${src('gateway/storage/monitor.ts')};
import { StorageFaults } from ${src('gateway/storage-faults.ts')};
import { systemClock } from ${src('gateway/clock.ts')};
import { silentLogger } from ${src('gateway/log.ts')};
import { openTunnel, PYTHON } from ${src('test/helpers/modbus-tunnel.ts')};
import { freePort, waitForPort } from ${src('test/helpers/ports.ts')};
import { connect } from 'node:net';
import { spawn } from 'node:child_process';

const mode = process.argv[2];
const out = {};
const types = (lines) => lines.map((r) => r.type);

async function fill(dir) {
  const fh = await open(join(dir, 'filler'), 'w');
  try {
    for (;;) await fh.write(Buffer.alloc(64 * 1024, 1));
  } catch (e) {
    return e.code;
  } finally {
    await fh.close();
  }
}

// A tmpfs of the given size at sub below a fresh temporary folder, private to this process's mount namespace
// (unshare -m): nothing outside sees it. remove() unmounts it and deletes the folder.
async function smallDisk(prefix, size, sub) {
  const base = await mkdtemp(join(tmpdir(), prefix));
  const at = join(base, sub);
  await mkdir(at, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=' + size, 'tmpfs', at]);
  return {
    base,
    at,
    async remove() {
      execFileSync('umount', [at]);
      await rm(base, { recursive: true, force: true });
    },
  };
}

async function health(url) {
  const r = await fetch(url + '/healthz');
  return { status: r.status, body: await r.json() };
}

if (mode === 'full-disk') {
  const disk = await smallDisk('gh-full-', '4m', 'storage');
  const storage = disk.at;
  const h = await startSshGateway({ storageDir: storage });
  try {
    await h.grant();
    out.before = (await h.ssh(TARGET, { command: 'echo in-before' })).stdout.includes('in-before');
    await h.waitAudit('session.ended');
    out.fillError = await fill(storage);
    out.refused = await h.ssh(TARGET, { command: 'echo in-full' });
    out.healthFull = await health(h.url);
    const metrics = await (await fetch(h.url + '/metrics')).text();
    out.metrics = metrics.split('\\n').filter((l) => /^gatehouse_(storage_fault|stray_errors_total)/.test(l));
    out.db = (await Store.readSnapshot(storage)).sessions.length;
    await rm(join(storage, 'filler'));
    const until = Date.now() + 30_000;
    do {
      out.healthAfter = await health(h.url);
      if (out.healthAfter.status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < until);
    out.after = (await h.ssh(TARGET, { command: 'echo in-after' })).stdout.includes('in-after');
    await h.waitAudit('session.ended', (a) => a.data?.reason !== undefined && out.after);
    out.verify = await h.gw.audit.verify();
    out.types = types(await h.audit());
  } finally {
    await h.close();
    await disk.remove();
  }
}

if (mode === 'efbig') {
  // Run under ulimit -f 14 (KiB): audit.jsonl is filled to just under it, db.json stays far below.
  const fx = await openFixture();
  try {
    const a = (await fx.api('vendor', 'POST', '/api/requests', body())).json;
    out.approveA = (await fx.api('sup', 'POST', '/api/requests/' + a.id + '/approve')).status;
    const b = (await fx.api('vendor2', 'POST', '/api/requests', body())).json;
    const limit = 14 * 1024;
    const file = join(fx.dir, 'audit.jsonl');
    // Pad with harmless records until one more approval's records cannot fit.
    for (;;) {
      const size = (await readFile(file)).length;
      if (size > limit - 350) break;
      const pad = Math.max(1, Math.min(400, limit - 350 - size - 250));
      await fx.audit.append({ type: 'audit.viewed', actor: { kind: 'system', id: 'test' }, data: { pad: 'x'.repeat(pad) } });
    }
    const approve = await fx.api('sup', 'POST', '/api/requests/' + b.id + '/approve');
    out.approveB = { status: approve.status, error: approve.json?.error };
    const revoke = await fx.api('sup', 'POST', '/api/requests/' + a.id + '/revoke', { reason: 'laptop lost' });
    out.revokeA = { status: revoke.status, error: revoke.json?.error };
    const onDisk = await Store.readSnapshot(fx.dir);
    out.states = { a: onDisk.requests.find((r) => r.id === a.id)?.state, b: onDisk.requests.find((r) => r.id === b.id)?.state };
    out.memory = { a: fx.store.data.requests.find((r) => r.id === a.id)?.state, b: fx.store.data.requests.find((r) => r.id === b.id)?.state };
    // A torn last line (the refused write) is what a crash leaves too: the next open cuts it off.
    const text = await readFile(file, 'utf8');
    out.types = text.slice(0, text.lastIndexOf('\\n') + 1).split('\\n').filter(Boolean).map((l) => JSON.parse(l).type);
    out.torn = !text.endsWith('\\n');
  } finally {
    await fx.close();
  }
}
if (mode === 'plc-full-disk') {
  const disk = await smallDisk('gh-plcfull-', '4m', 'storage');
  const storage = disk.at;
  // Debian's pymodbus as the device (the bundle has no helpers folder beside it: the script is named from the repo).
  const port = await freePort();
  const device = spawn(PYTHON, [${src('test/helpers/modbus/server.py')}, String(port)], { stdio: 'ignore' });
  const server = { port, stop: () => device.kill() };
  if (!(await waitForPort(port, { timeoutMs: 20_000 }))) throw new Error('the pymodbus server did not start');
  const h = await startSshGateway({ storageDir: storage, target: { forwarding: [{ to: '127.0.0.1:' + port, protocol: 'modbus' }] } });
  let tunnel;
  try {
    await h.grant();
    tunnel = await openTunnel(h, server.port);
    // One Modbus/TCP connection for the whole run: a new forward is audited, and audit.jsonl must stay out of it.
    const sock = connect({ host: '127.0.0.1', port: tunnel.local });
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    let replies = Buffer.alloc(0);
    sock.on('data', (d) => (replies = Buffer.concat([replies, d])));
    /** Reads holding register \`addr\` as transaction \`tid\`; resolves with the value the device sent (addr + 1). */
    const read = async (tid, addr) => {
      replies = Buffer.alloc(0);
      sock.write(Buffer.from([tid >> 8, tid & 255, 0, 0, 0, 6, 1, 3, 0, addr, 0, 1]));
      const until = Date.now() + 20_000;
      while (replies.length < 11 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      return replies.length >= 11 && replies.readUInt16BE(0) === tid ? replies.readUInt16BE(9) : undefined;
    };
    const stored = () => PlcLog.read(storage).then((ops) => ops.map((o) => o.target));
    const waitHealth = async (status) => {
      const until = Date.now() + 30_000;
      let hh;
      do {
        hh = await health(h.url);
        if (hh.status === status) break;
        await new Promise((r) => setTimeout(r, 200));
      } while (Date.now() < until);
      return hh;
    };
    out.before = await read(1, 1);
    await h.waitAudit('forward.opened');
    const until = Date.now() + 10_000;
    while ((await stored()).length < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    out.storedBefore = await stored();
    out.fillError = await fill(storage);
    // The file's last page may still have room: poll until a write of plc.jsonl needs a new one and fails.
    out.during = [];
    for (let tid = 2; tid < 400; tid++) {
      out.during.push(await read(tid, 2));
      out.healthFull = await health(h.url);
      if (out.healthFull.status === 503) break;
    }
    const metrics = await (await fetch(h.url + '/metrics')).text();
    out.metrics = metrics.split('\\n').filter((l) => /^gatehouse_(storage_fault|stray_errors_total)/.test(l));
    await rm(join(storage, 'filler'));
    out.healthAfter = await waitHealth(200);
    out.after = await read(1000, 4);
    const until2 = Date.now() + 10_000;
    while ((await stored()).at(-1) !== 'holding 4' && Date.now() < until2) await new Promise((r) => setTimeout(r, 50));
    out.storedAfter = await stored();
    out.endsWithNewline = (await readFile(join(storage, 'plc.jsonl'), 'utf8')).endsWith('\\n');
    sock.destroy();
    await h.waitAudit('storage.recovered').catch(() => undefined);
    out.recovered = (await h.audit()).filter((a) => a.type === 'storage.recovered').map((a) => a.data);
    out.verify = await h.gw.audit.verify();
  } finally {
    await tunnel?.close();
    await h.close();
    server.stop();
    await disk.remove();
  }
}
if (mode === 'audit-nearly-full') {
  const disk = await smallDisk('gh-auditfull-', '2m', 'storage');
  const storage = disk.at;
  const faults = new StorageFaults();
  const s = await openStorage({
    config: { storage: { engine: 'lowdb', dir: storage } },
    storageDir: storage,
    clock: systemClock,
    logger: silentLogger,
    faults,
    checkpointIntervalMs: 0,
  });
  // Driven by hand, one round at a time, instead of its timer: what a round does is then exactly what is seen.
  const monitor = new StorageMonitor({ audit: s.audit, lowdb: s.lowdb, faults, logger: silentLogger, storageDir: storage });
  const log = join(storage, 'audit.jsonl');
  /** A state change with its record; the record is padded so that it needs more than a part-used page. */
  const change = (step, pad) =>
    s.state
      .update((d, audit) => {
        d.meta.step = step;
        audit.record({ type: 'audit.viewed', actor: { kind: 'system', id: 'test' }, data: { step, pad: 'x'.repeat(pad) } });
      })
      .then(
        () => 'stored',
        (e) => ({ code: e.code, message: e.message }),
      );
  const lines = async () => {
    const text = await readFile(log, 'utf8');
    return text.slice(0, text.lastIndexOf('\\n') + 1).split('\\n').filter(Boolean).map((l) => JSON.parse(l));
  };
  const rounds = async (n) => {
    for (let i = 0; i < n; i++) await monitor.check();
    return { faults: faults.list().map((f) => f.file + ' ' + f.code), failing: s.lowdb.audit.failure !== undefined };
  };
  try {
    out.first = await change(1, 10);
    out.fillError = await fill(storage);
    out.refusedFull = await change(2, 8192);
    out.full = await rounds(2);
    // A few KiB back: enough for a small checkpoint and the head file, not for the next records.
    const filler = join(storage, 'filler');
    const before = await lines();
    await truncate(filler, (await stat(filler)).size - 8 * 1024);
    out.few = await rounds(3);
    out.refusedFew = await change(3, 10);
    out.fewAgain = await rounds(3);
    out.fewAdded = (await lines()).slice(before.length).map((r) => r.type);
    await rm(filler);
    out.enough = await rounds(1);
    out.later = await rounds(2);
    out.after = await change(4, 10);
    out.memoryStep = s.state.data.meta.step;
    out.diskStep = (await Store.readSnapshot(storage)).meta.step;
    out.probes = (await readdir(storage)).filter((f) => f.startsWith('.probe'));
    await s.close();
    const all = await lines();
    out.steps = all.filter((r) => r.type === 'audit.viewed').map((r) => r.data.step);
    out.recovered = all.filter((r) => r.type === 'storage.recovered' || r.type === 'audit.recovered').map((r) => [r.type, r.data]);
    out.endsWithNewline = (await readFile(log, 'utf8')).endsWith('\\n');
    const verify = spawnSync(process.execPath, [${src('bin/gatehouse.js')}, 'audit', 'verify', '--dir', storage], { encoding: 'utf8', timeout: 60_000 });
    out.verify = { status: verify.status, stdout: verify.stdout, stderr: verify.stderr };
  } finally {
    await s.close();
    await disk.remove();
  }
}
if (mode === 'recording-full') {
  // Only the recordings' file system is small: db.json and audit.jsonl stay writable, so the end can be recorded.
  const disk = await smallDisk('gh-recfull-', '1m', join('storage', 'sessions'));
  const storage = join(disk.base, 'storage');
  const h = await startSshGateway({ storageDir: storage });
  let closed = false;
  try {
    await h.grant();
    // About 4 MB of output for a 1 MiB file system, then a pause: the recording fills it while the session is still on.
    out.ssh = await h.ssh(TARGET, {
      command: 'head -c 3000000 /dev/zero | base64; sleep 30; echo finished',
      timeoutMs: 60_000,
    });
    await recordEnd(h, storage);
    out.live = h.gw.liveSessions.list().map((l) => l.id);
    out.health = await health(h.url);
    const metrics = await (await fetch(h.url + '/metrics')).text();
    out.stray = metrics.split('\\n').filter((l) => l.startsWith('gatehouse_stray_errors_total{'));
    // The gateway stops only once every session's end is recorded: a session whose end never resolved would hang it.
    out.stop = await Promise.race([
      h.close().then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('hung'), 60_000).unref()),
    ]);
    closed = true;
  } finally {
    if (!closed) await h.close();
    await disk.remove();
  }
}

/** The state's disk (storage/) and the recordings' (storage/sessions) as two small tmpfs: either can be filled alone. */
async function twoDisks(prefix) {
  const base = await mkdtemp(join(tmpdir(), prefix));
  const storage = join(base, 'storage');
  await mkdir(storage);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', storage]);
  const sessions = join(storage, 'sessions');
  await mkdir(sessions);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', sessions]);
  const umount = async () => {
    execFileSync('umount', [sessions]);
    execFileSync('umount', [storage]);
    await rm(base, { recursive: true, force: true });
  };
  return { storage, sessions, umount };
}
async function until(what, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** What the audit log says about one session: its records, and how many session.ended no change.reverted undid. */
async function endsOf(h, id) {
  // Complete lines only: a write the full disk refused may have left a torn one at the end (cut off at recovery).
  const text = await readFile(join(h.gw.storageDir, 'audit.jsonl'), 'utf8');
  const all = text.slice(0, text.lastIndexOf('\\n') + 1).split('\\n').filter(Boolean).map((l) => JSON.parse(l));
  const reverted = all.filter((a) => a.type === 'change.reverted').map((a) => [a.data.firstSeq, a.data.lastSeq]);
  const mine = all.filter((a) => a.subject?.sessionId === id);
  const ended = mine.filter((a) => a.type === 'session.ended');
  const standing = ended.filter((a) => !reverted.some(([f, l]) => a.seq >= f && a.seq <= l));
  return { types: types(mine), ended: ended.length, standing };
}
// Declarations, not consts: the modes above run at the top level before this line is reached.
function sha(buf) {
  return createHash('sha256').update(buf).digest('hex');
}
/** The first session's end as the audit log, the record and the recording file have it, into out. */
async function recordEnd(h, storage) {
  const ended = await h.waitAudit('session.ended', () => true, 30_000);
  const id = ended.subject.sessionId;
  out.ended = ended.data;
  const mine = (await h.audit()).filter((a) => a.subject?.sessionId === id);
  out.types = types(mine);
  out.failed = mine.filter((a) => a.type === 'recording.failed').map((a) => a.data);
  out.sealed = mine.find((a) => a.type === 'recording.sealed')?.data;
  const rec = h.gw.store.data.sessions.find((x) => x.id === id);
  out.record = { endReason: rec?.endReason, recording: rec?.recording };
  const file = await readFile(join(storage, rec.recording.path));
  out.file = { bytes: file.length, sha256: sha(file) };
}
/** The recordings this process still has open (its file descriptors). */
async function openCasts() {
  const fds = await readdir('/proc/self/fd');
  const links = await Promise.all(fds.map((fd) => readlink('/proc/self/fd/' + fd).catch(() => '')));
  return links.filter((l) => l.endsWith('.cast'));
}
function verifyCli(storage) {
  const v = spawnSync(process.execPath, [${src('bin/gatehouse.js')}, 'audit', 'verify', '--dir', storage], { encoding: 'utf8', timeout: 60_000 });
  return { status: v.status, stdout: v.stdout, stderr: v.stderr };
}

if (mode === 'stop-full') {
  // The disk fills under a live session, and the gateway is stopped: gateway.stopped cannot be written.
  const disk = await smallDisk('gh-stopfull-', '4m', 'storage');
  const storage = disk.at;
  const h = await startSshGateway({ storageDir: storage });
  try {
    await h.grant();
    const run = h.ssh(TARGET, { command: 'sleep 20; echo done', timeoutMs: 60_000 });
    await h.waitAudit('session.started', () => true, 30_000);
    const logText = await readFile(join(storage, 'audit.jsonl'), 'utf8');
    out.fillError = await fill(storage);
    // The audit file's last page may still take a few records: written until the log itself refuses one.
    for (let i = 0; i < 200 && !out.auditRefused; i++)
      await h.gw.audit
        .append({ type: 'audit.viewed', actor: { kind: 'system', id: 'test' }, data: { pad: 'x'.repeat(200) } })
        .catch((e) => (out.auditRefused = e.code));
    const t0 = Date.now();
    out.stop = await h.gw.stop('test').then(() => 'stopped', (e) => 'threw: ' + e.message);
    out.stopMs = Date.now() - t0;
    out.again = await h.gw.stop('test').then(() => 'stopped', (e) => 'threw: ' + e.message);
    out.ssh = await run;
    out.live = h.gw.liveSessions.list().length;
    out.http = await fetch(h.url + '/healthz').then(() => 'open', (e) => 'closed');
    out.sshListener = await new Promise((r) => {
      const c = connect(h.port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); r('open'); });
      c.once('error', (e) => r(e.code));
    });
    const metrics = await h.gw.metrics.registry.metrics();
    out.metrics = metrics.split('\\n').filter((l) => /^gatehouse_(storage_fault{file="audit|stray_errors_total)/.test(l));
    await rm(join(storage, 'filler'));
    // Everything recorded before the stop is still there, byte for byte; gateway.stopped is not.
    const after = await readFile(join(storage, 'audit.jsonl'), 'utf8');
    out.kept = after.startsWith(logText.slice(0, logText.lastIndexOf('\\n') + 1));
    out.stoppedRecorded = after.includes('"gateway.stopped"');
    // The next start cuts the refused write's torn line off; then the whole chain verifies.
    await (await AuditLog.open({ dir: storage, clock: systemClock, logger: silentLogger })).close();
    out.verify = verifyCli(storage);
  } finally {
    await h.close().catch(() => undefined);
    await disk.remove();
  }
}
if (mode === 'end-refused' || mode === 'placed-refused') {
  // The state's disk fills under a live session; the recordings' disk keeps room.
  const d = await twoDisks('gh-endref-');
  const h = await startSshGateway({ storageDir: d.storage });
  const sock = join(tmpdir(), 'gh-cm-' + process.pid);
  let master;
  let closed = false;
  try {
    await h.grant();
    let run;
    if (mode === 'end-refused') {
      // A silent command: nothing to record while the disk is full, so only the end meets the fault.
      run = h.ssh(TARGET, { command: 'sleep 4; echo done', timeoutMs: 60_000 });
    } else {
      // A connection with no channel yet (ssh -N as a control master): its first shell comes after the disk fills.
      master = h.ssh(TARGET, { options: ['-M', '-S', sock, '-N'], timeoutMs: 60_000 });
    }
    const started = await h.waitAudit('session.started', () => true, 30_000);
    const id = started.subject.sessionId;
    out.fillError = await fill(d.storage);
    if (mode === 'placed-refused') {
      // The first shell on that connection: its recording opens, saving its path in the state is refused.
      run = h.ssh(TARGET, { options: ['-S', sock], command: 'echo hello', timeoutMs: 30_000 });
    }
    out.ssh = await run;
    // The session has ended (off the live list) and its end met the full disk.
    out.offList = await until(() => h.gw.liveSessions.list().length === 0);
    out.healthFull = await until(async () => { const x = await health(h.url); return x.status === 503 && x; });
    await new Promise((r) => setTimeout(r, 1000));
    out.casts = await openCasts();
    out.endedBefore = h.gw.store.data.sessions.find((x) => x.id === id)?.endedAt ?? null;
    out.endsBefore = await endsOf(h, id);
    const freedAt = h.clock.now();
    await rm(join(d.storage, 'filler'));
    out.healthAfter = await until(async () => { const x = await health(h.url); return x.status === 200 && x; });
    const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === id, 30_000);
    out.ended = ended.data;
    out.endedLate = Date.parse(ended.at) >= freedAt && Date.parse(ended.data.endedAt) < freedAt;
    const rec = h.gw.store.data.sessions.find((x) => x.id === id);
    out.record = { endedAt: rec.endedAt, endReason: rec.endReason, recording: rec.recording ?? null };
    const casts = (await readdir(d.sessions, { recursive: true })).filter((f) => f.endsWith('.cast'));
    const file = await readFile(join(d.sessions, casts[0]));
    out.file = { bytes: file.length, sha256: sha(file) };
    out.after = await endsOf(h, id);
    out.sealed = (await h.audit()).find((a) => a.type === 'recording.sealed' && a.subject?.sessionId === id)?.data;
    out.failedRec = (await h.audit()).filter((a) => a.type === 'recording.failed' && a.subject?.sessionId === id).map((a) => a.data);
    // The recovery is recorded by the monitor's round, which may come after the end (the store clears its own fault).
    await h.waitAudit('storage.recovered', () => true, 10_000).catch(() => undefined);
    out.recovered = (await h.audit()).filter((a) => a.type === 'storage.recovered').map((a) => a.data.file);
    if (master) {
      spawnSync('/usr/bin/ssh', ['-S', sock, '-O', 'exit', 'x'], { timeout: 10_000 });
      await master;
    }
    await h.close();
    closed = true;
    out.verify = verifyCli(d.storage);
  } finally {
    if (!closed) await h.close();
    await d.umount();
  }
}
if (mode === 'seal-full') {
  // Only the recordings' disk, with room for a header and not for what the session prints before it ends.
  const d = await twoDisks('gh-sealfull-');
  const h = await startSshGateway({ storageDir: d.storage });
  let closed = false;
  try {
    await h.grant();
    out.fillError = await fill(d.sessions);
    const filler = join(d.sessions, 'filler');
    await truncate(filler, (await stat(filler)).size - 16 * 1024);
    // About 130 KB in a few milliseconds: below what makes the writer flush early, so it meets the disk at the seal.
    out.ssh = await h.ssh(TARGET, { command: 'head -c 100000 /dev/zero | base64', timeoutMs: 30_000 });
    await recordEnd(h, d.storage);
    out.health = await health(h.url);
    await h.close();
    closed = true;
  } finally {
    if (!closed) await h.close();
    await d.umount();
  }
}
process.stdout.write(JSON.stringify(out) + '\\n');
`;

let child: string;
const dirs: string[] = [];
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-faults-child-'));
  dirs.push(dir);
  const entry = join(dir, 'faults-child.ts');
  await writeFile(entry, childSource);
  child = await bundleForChild(entry);
  dirs.push(dirname(child));
}, 60_000);
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs the child (through `bash -c prefix`: its ulimit -f counts KiB) and returns what it printed; a dead child fails the test with its stderr. */
function runChild(prefix: string, mode: string): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const p = spawn('/bin/bash', ['-c', `${prefix} "$0" "$1" "$2"`, process.execPath, child, mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 150_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (process.env.GH_DEBUG_CHILD) console.log(mode, line);
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`child ${mode} ended ${code ?? signal}: ${stderr.slice(-3000)}`));
      else resolve(JSON.parse(line));
    });
  });
}

describe('storage faults never crash the gateway', () => {
  it('a full disk at SSH login: refused with a reason, the process lives on, healthz and the metric say why, and it heals', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'full-disk');
    expect(r.before).toBe(true);
    expect(r.fillError).toBe('ENOSPC');
    // Before: GatehouseError ... ENOSPC as an unhandled rejection, and the process was gone.
    expect(r.refused.stdout).not.toContain('in-full');
    expect(r.refused.stderr).toMatch(
      /Gatehouse: the gateway cannot record this login now \(storage unavailable: cannot write [a-z.]+ \(ENOSPC/,
    );
    expect(r.healthFull.status).toBe(503);
    expect(r.healthFull.body.reason).toMatch(/^storage unavailable: cannot write (db\.json|audit\.jsonl) \(ENOSPC/);
    expect(r.metrics.some((l: string) => /^gatehouse_storage_fault\{file="(db\.json|audit\.jsonl)"\} 1$/.test(l))).toBe(
      true,
    );
    // Nothing reached the process-wide handler: every fault was handled where it happened.
    expect(r.metrics.filter((l: string) => l.startsWith('gatehouse_stray_errors_total{'))).toEqual([]);
    expect(r.db).toBe(1);
    // Space back, no restart: healthy again, a login works, the recovery is on record and the chain verifies.
    expect(r.healthAfter.status).toBe(200);
    expect(r.after).toBe(true);
    expect(r.types).toContain('storage.recovered');
    expect(r.types).not.toContain('gateway.fault');
    expect(r.verify.ok).toBe(true);
  }, 180_000);

  it('a full disk under plc.jsonl: the forward goes on, healthz and the metric name plc.jsonl, and it heals without a restart', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'plc-full-disk');
    expect(r.before).toBe(2);
    expect(r.storedBefore).toEqual(['holding 1']);
    expect(r.fillError).toBe('ENOSPC');
    // The device's answers still reach the vendor's tool while their records cannot be written.
    expect(r.during.length).toBeGreaterThan(1);
    expect(new Set(r.during)).toEqual(new Set([3]));
    expect(r.healthFull.status).toBe(503);
    expect(r.healthFull.body.storage.map((f: { file: string }) => f.file)).toEqual(['plc.jsonl']);
    expect(r.healthFull.body.reason).toMatch(/^storage unavailable: cannot write plc\.jsonl \(ENOSPC: no space left/);
    expect(r.metrics).toContain('gatehouse_storage_fault{file="plc.jsonl"} 1');
    expect(r.metrics.filter((l: string) => l.startsWith('gatehouse_stray_errors_total{'))).toEqual([]);
    // Space back: the torn tail cut, appends accepted again, the recovery on record.
    expect(r.healthAfter.status).toBe(200);
    expect(r.after).toBe(5);
    // What was written before the fault stays; the failed write and those refused after it are not there; new ones are.
    expect(r.storedAfter[0]).toBe('holding 1');
    expect(r.storedAfter.at(-1)).toBe('holding 4');
    expect(r.storedAfter.filter((t: string) => t === 'holding 2').length).toBeLessThan(r.during.length);
    expect(r.endsWithNewline).toBe(true);
    expect(r.recovered).toEqual([expect.objectContaining({ file: 'plc.jsonl', code: 'ENOSPC' })]);
    expect(r.verify.ok).toBe(true);
  }, 180_000);

  it('a nearly full disk under audit.jsonl: a few KiB back do not make it recover (no flapping), enough room does, once', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'audit-nearly-full');
    expect(r.first).toBe('stored');
    expect(r.fillError).toBe('ENOSPC');
    const refusal = {
      code: 'storage_unavailable',
      message: expect.stringMatching(/^storage unavailable: cannot write audit\.jsonl \(ENOSPC/),
    };
    expect(r.refusedFull).toEqual(refusal);
    expect(r.full).toEqual({ faults: ['audit.jsonl ENOSPC'], failing: true });
    // Before: the cut, a checkpoint and the head fit in 8 KiB, so each round said recovered and the next append failed.
    expect(r.few).toEqual({ faults: ['audit.jsonl ENOSPC'], failing: true });
    expect(r.refusedFew).toEqual(refusal);
    expect(r.fewAgain).toEqual({ faults: ['audit.jsonl ENOSPC'], failing: true });
    expect(r.fewAdded).toEqual([]);
    // Room again: one round recovers, once; later rounds find nothing to do.
    expect(r.enough).toEqual({ faults: [], failing: false });
    expect(r.later).toEqual({ faults: [], failing: false });
    expect(r.recovered).toEqual([
      ['storage.recovered', expect.objectContaining({ file: 'audit.jsonl', code: 'ENOSPC' })],
    ]);
    expect(r.after).toBe('stored');
    // The refused changes are neither in the state nor in the log; the torn write is gone; the probe file too.
    expect(r.steps).toEqual([1, 4]);
    expect({ memory: r.memoryStep, disk: r.diskStep }).toEqual({ memory: 4, disk: 4 });
    expect(r.endsWithNewline).toBe(true);
    expect(r.probes).toEqual([]);
    expect(r.verify).toMatchObject({ status: 0, stderr: '', stdout: expect.stringMatching(/^audit log intact: /) });
  }, 180_000);

  it('a recording fills its file system mid-session: the session is closed, its end recorded with the recording incomplete, and the gateway stops', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'recording-full');
    // Cut off: the command's last line never comes (the notice may be lost behind the flood of output).
    expect(r.ssh.stdout).not.toContain('finished');
    expect(r.ended.reason).toBe('recording_failed');
    expect(r.failed).toEqual([expect.objectContaining({ error: expect.stringMatching(/ENOSPC/) })]);
    expect(r.types.slice(-2)).toEqual(['recording.sealed', 'session.ended']);
    // The seal covers exactly the bytes that reached the file, and says the recording is incomplete.
    expect(r.sealed).toEqual({ ...r.file, incomplete: true });
    expect(r.record).toEqual({
      endReason: 'recording_failed',
      recording: expect.objectContaining({ ...r.file, incomplete: true }),
    });
    expect(r.live).toEqual([]);
    expect(r.health.status).toBe(503);
    expect(r.health.body.storage).toEqual([expect.objectContaining({ file: 'sessions', code: 'ENOSPC' })]);
    expect(r.stray).toEqual([]);
    expect(r.stop).toBe('stopped');
  }, 180_000);

  it('a full disk at stop: gw.stop() resolves, sessions and listeners are closed, the missing gateway.stopped is reported, nothing recorded is lost', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'stop-full');
    expect(r.fillError).toBe('ENOSPC');
    expect(r.auditRefused).toBe('audit_write_failed');
    // Before: stop() rejected with the audit log's storage_unavailable and left the log and the storage open.
    expect(r.stop).toBe('stopped');
    expect(r.again).toBe('stopped');
    expect(r.ssh.stdout).not.toContain('done');
    expect(r.ssh.code).not.toBe(0);
    expect(r.live).toBe(0);
    expect(r.http).toBe('closed');
    expect(r.sshListener).toBe('ECONNREFUSED');
    expect(r.metrics).toContain('gatehouse_storage_fault{file="audit.jsonl"} 1');
    expect(r.metrics.filter((l: string) => l.startsWith('gatehouse_stray_errors_total{'))).toEqual([]);
    expect(r.kept).toBe(true);
    expect(r.stoppedRecorded).toBe(false);
    // The chain up to the fault verifies once the next start has cut the refused write's torn line.
    expect(r.verify, JSON.stringify(r.verify)).toMatchObject({
      status: 0,
      stdout: expect.stringMatching(/^audit log intact: /),
    });
  }, 180_000);

  it('a full state disk as a session ends: the end waits, the gateway runs on, and once space returns the end is recorded once, as it happened', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'end-refused');
    expect(r.fillError).toBe('ENOSPC');
    expect(r.ssh.stdout).toContain('done');
    expect(r.offList).toBe(true);
    // Refused: the state still shows the session live, no standing session.ended, and the gateway answers with why.
    expect(r.healthFull.body.reason).toMatch(/^storage unavailable: cannot write (db\.json|audit\.jsonl) \(ENOSPC/);
    expect(r.endedBefore).toBeNull();
    expect(r.endsBefore.standing).toEqual([]);
    // Space back, no restart: the monitor recovers and the end is recorded with the time and reason it had.
    expect(r.healthAfter.status).toBe(200);
    expect(r.recovered.length).toBeGreaterThan(0);
    expect(r.ended).toMatchObject({ reason: 'client_closed', recordedLate: true, endedAt: r.record.endedAt });
    expect(r.endedLate).toBe(true);
    expect(r.record).toMatchObject({ endReason: 'client_closed', recording: expect.objectContaining(r.file) });
    expect(r.record.recording.incomplete).toBeUndefined();
    expect(r.sealed).toEqual({ ...r.file, incomplete: false });
    // One end: a session.ended a refused state write undid (change.reverted) does not count, and there is one other.
    expect(r.after.standing).toHaveLength(1);
    expect(r.after.types).not.toContain('session.ended_late');
    expect(r.verify).toMatchObject({ status: 0, stdout: expect.stringMatching(/^audit log intact: /) });
  }, 180_000);

  it("the state refuses a new recording's path: the recording is sealed and closed at once, and the session's end comes once space returns", async () => {
    const r = await runChild('exec unshare -m --propagation private', 'placed-refused');
    expect(r.fillError).toBe('ENOSPC');
    expect(r.ssh.stdout).not.toContain('hello');
    expect(r.offList).toBe(true);
    // Before: the writer stayed open (its file handle and flush timer) until the process exited.
    expect(r.casts).toEqual([]);
    // The state's disk is what failed: the recordings' disk is not reported as failing.
    expect(r.healthFull.body.storage.map((f: { file: string }) => f.file).sort()).not.toContain('sessions');
    expect(r.failedRec).toEqual([
      { error: expect.stringMatching(/^storage unavailable: cannot write db\.json \(ENOSPC/) },
    ]);
    expect(r.endedBefore).toBeNull();
    expect(r.ended).toMatchObject({ reason: 'recording_failed', recordedLate: true });
    expect(r.endedLate).toBe(true);
    // The record never got the path, so the seal is in the audit log: exactly the bytes in the file, incomplete.
    expect(r.sealed).toEqual({ ...r.file, incomplete: true });
    expect(r.after.standing).toHaveLength(1);
    expect(r.verify).toMatchObject({ status: 0, stdout: expect.stringMatching(/^audit log intact: /) });
  }, 180_000);

  it('the recordings disk fills as a session ends: recording.failed, the sessions fault and an incomplete seal, like mid-session', async () => {
    const r = await runChild('exec unshare -m --propagation private', 'seal-full');
    expect(r.fillError).toBe('ENOSPC');
    expect(r.ssh.stdout.length).toBeGreaterThan(130_000);
    expect(r.ended.reason).toBe('client_closed');
    // Before: only the seal said incomplete; no recording.failed, healthz 200.
    expect(r.failed).toEqual([
      expect.objectContaining({ error: expect.stringMatching(/ENOSPC/), path: r.record.recording.path }),
    ]);
    expect(r.types.slice(-3)).toEqual(['recording.failed', 'recording.sealed', 'session.ended']);
    expect(r.sealed).toEqual({ ...r.file, incomplete: true });
    expect(r.record.recording).toMatchObject({ ...r.file, incomplete: true });
    expect(r.health.status).toBe(503);
    expect(r.health.body.storage).toEqual([expect.objectContaining({ file: 'sessions', code: 'ENOSPC' })]);
  }, 180_000);

  it('approve and revoke with the audit file over ulimit -f (EFBIG): 503 storage_unavailable, state unchanged in memory and on disk', async () => {
    const r = await runChild('ulimit -f 14 && exec', 'efbig');
    expect(r.approveA).toBe(200);
    expect(r.approveB).toMatchObject({ status: 503, error: { code: 'storage_unavailable' } });
    expect(r.approveB.error.message).toMatch(
      /^storage unavailable: cannot write audit\.jsonl \(EFBIG: file too large\)$/,
    );
    expect(r.revokeA).toMatchObject({ status: 503, error: { code: 'storage_unavailable' } });
    // Before: db.json said approved / revoked while the audit log never said so.
    expect(r.states).toEqual({ a: 'approved', b: 'pending' });
    expect(r.memory).toEqual({ a: 'approved', b: 'pending' });
    expect(r.types.filter((t: string) => t === 'request.approved')).toHaveLength(1);
    expect(r.types).not.toContain('grant.revoked');
    // The refused write left a torn line, as a crash would; never acknowledged, cut off at the next open.
    expect(r.torn).toBe(true);
  }, 180_000);
});
