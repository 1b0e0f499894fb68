// Sessions cut off mid-way: the gateway SIGKILLed (recovered at the next start), the target killed (ended cleanly).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import type { SessionRecord } from '../../gateway/core/model.js';
import { silentLogger } from '../../gateway/log.js';
import { recordingPath } from '../../gateway/recording/files.js';
import { CastWriter } from '../../gateway/recording/asciicast.js';
import { INCOMPLETE_MARKER } from '../../gateway/recording/incomplete.js';
import { recoverInterruptedSessions } from '../../gateway/recording/recovery.js';
import { leaveSealNote, sealNotePath } from '../../gateway/recording/seal-note.js';
import { Store } from '../../gateway/store.js';
import { runCli, startCli } from '../helpers/cli.js';
import { configFileText } from '../helpers/config.js';
import { freePort, waitForPort } from '../helpers/ports.js';
import { type AuditLine, type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';

const PTY = 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)';
function asciinemaCat(file: string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PTY, 'asciinema', 'cat', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** The store and audit log of a gateway that is not running, under `<root>/storage`, and a start a minute ago. */
async function openStorage(root: string) {
  const storageDir = join(root, 'storage');
  const clock = new ManualClock();
  const logger = silentLogger;
  const store = await Store.open({ dir: storageDir, logger });
  const audit = await AuditLog.open({ dir: storageDir, clock, logger });
  await store.attachAudit(audit);
  return { storageDir, clock, logger, store, audit, started: new Date(clock.now() - 60_000).toISOString() };
}

/** A session record of the test's target that started at `started`. */
const sessionOf =
  (started: string) =>
  (id: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
    id,
    grantId: 'grt_1',
    requestId: 'req_1',
    userId: 'usr_1',
    targetId: TARGET,
    protocol: 'ssh',
    via: 'ssh',
    startedAt: started,
    ...extra,
  });

const readAudit = async (storageDir: string): Promise<AuditLine[]> =>
  (await readFile(join(storageDir, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditLine);

describe('recoverInterruptedSessions (in process)', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  it('ends open sessions as gateway_crashed, repairs torn casts, records a missing one, and is idempotent', async () => {
    dir = await tempDir('gh-recover-');
    const { storageDir, clock, logger, store, audit, started } = await openStorage(dir.path);
    const mk = sessionOf(started);
    const torn = recordingPath(storageDir, 'ses_torncast01', clock.now(), 'cast');
    await mkdir(join(torn, '..'), { recursive: true });
    await writeFile(torn, '{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "hello\\r\\n"]\n[0.2, "o", "wor');
    const rel = (p: string) => p.slice(storageDir.length + 1);
    await store.update((d) => {
      d.sessions.push(mk('ses_torncast01', { recording: { path: rel(torn) } }));
      d.sessions.push(
        mk('ses_missing001', {
          recording: { path: rel(recordingPath(storageDir, 'ses_missing001', clock.now(), 'cast')) },
        }),
      );
      d.sessions.push(mk('ses_norecord01'));
      d.sessions.push(mk('ses_ended00001', { endedAt: started, endReason: 'client_closed' }));
    });
    const deps = { store, audit, clock, logger, storageDir };
    const first = await recoverInterruptedSessions(deps);
    expect(first.map((r) => [r.sessionId, r.recording.status])).toEqual([
      ['ses_torncast01', 'repaired'],
      ['ses_missing001', 'missing'],
      ['ses_norecord01', 'none'],
    ]);
    const text = await readFile(torn, 'utf8');
    expect(text).toBe(
      `{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "hello\\r\\n"]\n[0.1, "m", ${JSON.stringify(INCOMPLETE_MARKER)}]\n`,
    );
    const byId = new Map(store.data.sessions.map((s) => [s.id, s]));
    expect(byId.get('ses_torncast01')).toMatchObject({
      endReason: 'gateway_crashed',
      endedAt: new Date(clock.now()).toISOString(),
      recording: {
        sha256: createHash('sha256').update(text).digest('hex'),
        bytes: Buffer.byteLength(text),
        incomplete: true,
      },
    });
    expect(byId.get('ses_missing001')).toMatchObject({ endReason: 'gateway_crashed', recording: { incomplete: true } });
    expect(byId.get('ses_missing001')?.recording?.sha256).toBeUndefined();
    expect(byId.get('ses_norecord01')).toMatchObject({ endReason: 'gateway_crashed' });
    expect(byId.get('ses_ended00001')).toMatchObject({ endReason: 'client_closed' });

    expect(await recoverInterruptedSessions(deps)).toEqual([]);
    await audit.close();
    await store.close();
    const log = await readAudit(storageDir);
    const inc = log.filter((a) => a.type === 'recording.incomplete');
    expect(inc.map((a) => [a.subject?.sessionId, a.data?.status ?? 'repaired'])).toEqual([
      ['ses_torncast01', 'repaired'],
      ['ses_missing001', 'missing'],
    ]);
    const ended = log.filter((a) => a.type === 'session.ended');
    expect(ended.map((a) => [a.subject?.sessionId, a.data?.reason])).toEqual([
      ['ses_torncast01', 'gateway_crashed'],
      ['ses_missing001', 'gateway_crashed'],
      ['ses_norecord01', 'gateway_crashed'],
    ]);
  });
});

describe('recoverInterruptedSessions leaves sealed recordings as they were sealed', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  it('a seal whose end never reached the store (its note) or that the record holds is untouched; a changed one is reported, not re-hashed', async () => {
    dir = await tempDir('gh-recover-sealed-');
    const { storageDir, clock, logger, store, audit, started } = await openStorage(dir.path);
    const rel = (p: string) => p.slice(storageDir.length + 1);
    // Real casts, written and sealed by the gateway's writer, as a session's end does before it records the end.
    const sealedCast = async (id: string) => {
      const path = recordingPath(storageDir, id, clock.now(), 'cast');
      const gatehouse = { session: id, grant: 'grt_1', user: 'usr_1', target: TARGET };
      const w = await CastWriter.open(path, { width: 80, height: 24, gatehouse }, clock);
      w.output(Buffer.from(`hello from ${id}\r\n`));
      clock.advance(500);
      const seal = await w.seal();
      return { path, seal, bytes: await readFile(path) };
    };
    const noted = await sealedCast('ses_sealnote001');
    await leaveSealNote(noted.path, noted.seal, logger);
    const onRecord = await sealedCast('ses_sealrec0001');
    const changed = await sealedCast('ses_sealchg0001');
    await leaveSealNote(changed.path, changed.seal, logger);
    await writeFile(changed.path, Buffer.concat([changed.bytes, Buffer.from('[9, "o", "added later"]\n')]));
    const changedBytes = await readFile(changed.path);
    const mk = (id: string, recording: SessionRecord['recording']) => sessionOf(started)(id, { recording });
    await store.update((d) => {
      d.sessions.push(mk('ses_sealnote001', { path: rel(noted.path) }));
      d.sessions.push(
        mk('ses_sealrec0001', { path: rel(onRecord.path), sha256: onRecord.seal.sha256, bytes: onRecord.seal.bytes }),
      );
      d.sessions.push(mk('ses_sealchg0001', { path: rel(changed.path) }));
    });

    const out = await recoverInterruptedSessions({ store, audit, clock, logger, storageDir });
    expect(out.map((r) => [r.sessionId, r.recording.status])).toEqual([
      ['ses_sealnote001', 'sealed'],
      ['ses_sealrec0001', 'sealed'],
      ['ses_sealchg0001', 'unrepairable'],
    ]);
    // Byte for byte as sealed: no marker appended, and the hash on the record is the seal's, which the file verifies.
    expect(await readFile(noted.path)).toEqual(noted.bytes);
    expect(await readFile(onRecord.path)).toEqual(onRecord.bytes);
    expect(await readFile(changed.path)).toEqual(changedBytes);
    const byId = new Map(store.data.sessions.map((s) => [s.id, s]));
    for (const [id, c] of [
      ['ses_sealnote001', noted],
      ['ses_sealrec0001', onRecord],
    ] as const) {
      const r = byId.get(id)!;
      expect(r.endReason).toBe('gateway_crashed');
      expect(r.recording).toEqual({ path: rel(c.path), sha256: c.seal.sha256, bytes: c.seal.bytes });
      expect(createHash('sha256').update(c.bytes).digest('hex')).toBe(r.recording!.sha256);
    }
    expect(byId.get('ses_sealchg0001')).toMatchObject({
      endReason: 'gateway_crashed',
      recording: { incomplete: true },
    });
    expect(byId.get('ses_sealchg0001')!.recording!.sha256).toBeUndefined();
    await audit.close();
    await store.close();
    const log = await readAudit(storageDir);
    const of = (type: string) => log.filter((a) => a.type === type).map((a) => [a.subject?.sessionId, a.data]);
    // The note's seal is recorded once; the record's was recorded with it; neither is called incomplete.
    expect(of('recording.sealed')).toEqual([
      ['ses_sealnote001', { sha256: noted.seal.sha256, bytes: noted.seal.bytes, incomplete: false, recovered: true }],
    ]);
    expect(of('recording.incomplete')).toEqual([
      [
        'ses_sealchg0001',
        {
          status: 'unrepairable',
          error: 'the recording differs from its seal; left as it is',
          reason: 'gateway_crashed',
        },
      ],
    ]);
    expect(await readFile(sealNotePath(noted.path), 'utf8')).toContain(noted.seal.sha256);
  });
});

describe('gateway SIGKILLed mid-session (real `gatehouse serve`)', () => {
  let h: SshGateway | undefined;
  let cli: Awaited<ReturnType<typeof startCli>> | undefined;
  afterAll(async () => {
    if (cli && cli.child.exitCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
    await h?.idp.close();
    await h?.sshd.stop();
    await h?.dir.remove();
  });

  it('at the next start the session is gateway_crashed + incomplete, the log verifies, and the cast plays a prefix of what the client saw', async () => {
    // The world (vendor with key + TOTP, approved grant, host key) is made in process, then handed to the CLI.
    h = await startSshGateway();
    await h.grant();
    const storageDir = h.gw.storageDir;
    await h.gw.stop('setup');
    const sshPort = await freePort();
    const config = { ...h.gw.config, ssh: { ...h.gw.config.ssh, listen: `127.0.0.1:${sshPort}` } };
    const configPath = join(h.dir.path, 'gatehouse.yaml');
    await writeFile(configPath, configFileText(config));
    const serve = () =>
      startCli(['serve', '--config', configPath], /Gatehouse serving/, { cwd: h!.dir.path, timeoutMs: 20_000 });
    cli = await serve();
    await waitForPort(sshPort);

    // Code for the next step: the enrolment used the current one, and a step is never accepted twice.
    const code = oathCode(h.vendor.totpSecret, Date.now() + 30_000);
    const c = await new Promise<Client>((resolve, reject) => {
      const cl = new Client();
      cl.once('ready', () => resolve(cl));
      cl.once('error', reject);
      cl.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => code)));
      cl.connect({
        host: '127.0.0.1',
        port: sshPort,
        username: TARGET,
        privateKey: readFileSync(h!.vendor.keyPath),
        tryKeyboard: true,
        readyTimeout: 15_000,
        hostVerifier: () => true,
      });
    });
    c.on('error', () => undefined);
    const ch = await openShell(c);
    const received: Buffer[] = [];
    ch.on('data', (b: Buffer) => received.push(b));
    const out = collect(ch);
    ch.write('for i in $(seq 1 100000); do echo "line $i"; sleep 0.01; done\n');
    await out.until(/line 50\r?\n/, 15_000);
    // Let the recorder flush (at least every second) with output still streaming.
    await new Promise((r) => setTimeout(r, 1500));
    cli.child.kill('SIGKILL');
    await cli.exited;
    await new Promise<void>((r) => {
      c.once('close', () => r());
      setTimeout(() => r(), 5000).unref();
    });
    c.end();

    const before = await Store.readSnapshot(storageDir);
    const open = before.sessions.filter((s) => !s.endedAt);
    expect(open).toHaveLength(1);
    const sessionId = open[0]!.id;

    cli = await serve();
    const after = await Store.readSnapshot(storageDir);
    const s = after.sessions.find((x) => x.id === sessionId)!;
    expect(s).toMatchObject({ endReason: 'gateway_crashed', recording: { incomplete: true } });
    expect(s.endedAt).toBeDefined();
    const castFile = join(storageDir, s.recording!.path);
    const cast = await readFile(castFile);
    expect(s.recording).toMatchObject({ sha256: createHash('sha256').update(cast).digest('hex'), bytes: cast.length });
    expect(cast.toString('utf8').trimEnd().split('\n').at(-1)).toContain(INCOMPLETE_MARKER);
    const log = await readAudit(storageDir);
    expect(
      log.find((a) => a.type === 'recording.incomplete' && a.subject?.sessionId === sessionId)?.data,
    ).toMatchObject({ sha256: s.recording!.sha256 });
    expect(log.find((a) => a.type === 'session.ended' && a.subject?.sessionId === sessionId)?.data).toMatchObject({
      reason: 'gateway_crashed',
    });

    cli.child.kill('SIGTERM');
    const stopped = await cli.exited;
    expect(stopped.code, `signal ${String(cli.child.signalCode)}\n${stopped.stderr}`).toBe(0);
    const verify = await runCli(['audit', 'verify', '--dir', storageDir]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);

    const played = await asciinemaCat(castFile);
    expect(played.code, played.stderr).toBe(0);
    const seen = Buffer.concat(received);
    expect(played.stdout.length).toBeGreaterThan(0);
    expect(played.stdout.toString('utf8')).toContain('line 50');
    expect(seen.subarray(0, played.stdout.length).equals(played.stdout)).toBe(true);
  }, 90_000);
});

describe('target killed mid-session', () => {
  let h: SshGateway | undefined;
  afterAll(async () => h?.close());

  it('the vendor session ends within a bounded time, session.ended target_closed, recording sealed', async () => {
    h = await startSshGateway();
    await h.grant();
    const c = await vendorClient(h, TARGET);
    c.on('error', () => undefined);
    const ch = await openShell(c);
    const out = collect(ch);
    ch.write('echo ready-$((6*7))\n');
    await out.until(/ready-42/);
    const closed = new Promise<boolean>((r) => {
      c.once('close', () => r(true));
      setTimeout(() => r(false), 10_000).unref();
    });
    const t0 = Date.now();
    await h.sshd.stop();
    expect(await closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const ended = await h.waitAudit('session.ended');
    expect(ended.data?.reason).toBe('target_closed');
    const sealed = await h.waitAudit('recording.sealed', (a) => a.subject?.sessionId === ended.subject?.sessionId);
    expect(sealed.data?.incomplete).toBe(false);
    // The audit records become durable before the state that goes with them (the store's audit-first path).
    const stored = () => h!.gw.store.data.sessions.find((x) => x.id === ended.subject?.sessionId);
    await expect.poll(() => stored()?.endReason, { timeout: 10_000 }).toBe('target_closed');
    const s = stored();
    expect(s).toMatchObject({ endReason: 'target_closed', recording: { sha256: sealed.data?.sha256 } });
    expect(s?.recording?.incomplete).toBeUndefined();
  }, 60_000);
});
