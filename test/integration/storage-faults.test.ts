// Real storage faults against a real gateway in a child process: a full tmpfs (private mount namespace) during an
// SSH login, and an audit file over `ulimit -f` (EFBIG) during approve/revoke. The process must live on, refuse
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
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshGateway, TARGET } from ${src('test/helpers/ssh-gateway.ts')};
import { openFixture, body } from ${src('test/integration/requests-fixture.ts')};
import { Store } from ${src('gateway/store.ts')};

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

async function health(url) {
  const r = await fetch(url + '/healthz');
  return { status: r.status, body: await r.json() };
}

if (mode === 'full-disk') {
  const base = await mkdtemp(join(tmpdir(), 'gh-full-'));
  const storage = join(base, 'storage');
  await mkdir(storage);
  // Private to this process's mount namespace (unshare -m): nothing outside sees it.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', storage]);
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
    execFileSync('umount', [storage]);
    await rm(base, { recursive: true, force: true });
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
