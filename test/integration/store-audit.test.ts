// Audit first, then state: a change and its records become durable together, a failed state write is reverted on
// record, and a SIGKILL between the two writes (either side) is repaired at the next start so both agree.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import { packageRoot } from '../../gateway/paths.js';
import { Store } from '../../gateway/store.js';
import { bundleForChild } from '../helpers/bundle.js';

const actor = { kind: 'system', id: 'gateway' } as const;
let dir: string;
const clock = new ManualClock(Date.parse('2026-11-23T10:00:00.000Z'));

async function open() {
  const store = await Store.open({ dir });
  const audit = await AuditLog.open({ dir, clock, checkpointIntervalMs: 0 });
  await store.attachAudit(audit);
  return { store, audit, close: async () => (await audit.close(), await store.close()) };
}

async function records(): Promise<Array<{ seq: number; type: string; data?: Record<string, unknown> }>> {
  return (await readFile(join(dir, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-audit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('store.update with its audit records', () => {
  it('writes the records before the state, and the state names the batch it holds', async () => {
    const s = await open();
    try {
      const before = s.audit.head().seq;
      const n = await s.store.update((d, audit) => {
        d.meta.marker = 'x';
        audit.record({ type: 'key.added', actor, subject: { keyId: 'k1' } });
        audit.record({ type: 'key.removed', actor, subject: { keyId: 'k1' } });
        return 7;
      });
      expect(n).toBe(7);
      const recs = await records();
      expect(recs.filter((r) => r.seq > before).map((r) => r.type)).toEqual(['key.added', 'key.removed']);
      const onDisk = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'));
      expect(onDisk.meta.marker).toBe('x');
      expect(onDisk.meta.auditTx).toBeGreaterThan(0);
      // A fn that throws leaves neither its state nor its records.
      await expect(
        s.store.update((d, audit) => {
          audit.record({ type: 'key.added', actor, subject: { keyId: 'k2' } });
          d.meta.marker = 'y';
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect((await records()).some((r) => JSON.stringify(r).includes('"k2"'))).toBe(false);
      // A record of an unknown type fails its own fn only.
      await expect(s.store.update((_d, audit) => audit.record({ type: 'nope' as never, actor }))).rejects.toThrow(
        /unknown audit event type/,
      );
    } finally {
      await s.close();
    }
  });

  it('refuses a change with records when no audit log is attached', async () => {
    const store = await Store.open({ dir });
    try {
      await expect(store.update((_d, audit) => audit.record({ type: 'key.added', actor }))).rejects.toMatchObject({
        code: 'store_without_audit',
      });
      expect(await store.update((d) => (d.meta.plain = 1))).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('a state write that fails (db.json replaced by a directory: rename fails) answers storage_unavailable and records change.reverted', async () => {
    const s = await open();
    try {
      await rename(join(dir, 'db.json'), join(dir, 'db.json.aside'));
      await mkdir(join(dir, 'db.json', 'blocker'), { recursive: true });
      const err = await s.store
        .update((d, audit) => {
          d.meta.marker = 'lost';
          audit.record({ type: 'request.approved', actor, subject: { requestId: 'req_1' } });
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 503, code: 'storage_unavailable' });
      expect(s.store.data.meta.marker).toBeUndefined();
      const recs = await records();
      const approved = recs.find((r) => r.type === 'request.approved')!;
      const reverted = recs.filter((r) => r.type === 'change.reverted');
      expect(reverted).toHaveLength(1);
      expect(reverted[0]!.data).toMatchObject({
        firstSeq: approved.seq,
        lastSeq: approved.seq,
        reason: 'state_write_failed',
      });
      // Space (here: the file) back: the next change goes through, with no second revert.
      await rm(join(dir, 'db.json'), { recursive: true });
      await rename(join(dir, 'db.json.aside'), join(dir, 'db.json'));
      await s.store.update((d, audit) => {
        d.meta.marker = 'kept';
        audit.record({ type: 'key.added', actor });
      });
    } finally {
      await s.close();
    }
    const again = await open();
    await again.close();
    expect((await records()).filter((r) => r.type === 'change.reverted')).toHaveLength(1);
    expect((await Store.readSnapshot(dir)).meta.marker).toBe('kept');
  });
});

// The child runs one audited update and SIGKILLs itself at one point of it, through the journal it hands the store.
const childSource = `
import { AuditLog } from ${JSON.stringify(join(packageRoot, 'gateway/audit-log.ts'))};
import { Store } from ${JSON.stringify(join(packageRoot, 'gateway/store.ts'))};
const [dir, at] = process.argv.slice(2);
const store = await Store.open({ dir });
const audit = await AuditLog.open({ dir, clock: { now: () => Date.now() }, checkpointIntervalMs: 0 });
const kill = () => process.kill(process.pid, 'SIGKILL');
await store.attachAudit({
  head: () => audit.head(),
  get failure() { return audit.failure; },
  async append(input) {
    if (at === 'before-audit') kill();
    const r = await audit.append(input);
    if (at === 'after-audit') kill();
    return r;
  },
});
await store.update((d, sink) => {
  d.meta.approved = 'req_1';
  sink.record({ type: 'request.approved', actor: { kind: 'system', id: 'test' }, subject: { requestId: 'req_1' } });
});
if (at === 'after-state') kill();
`;

describe('SIGKILL between the audit and the state writes', () => {
  let child: string;
  const bundles: string[] = [];
  beforeAll(async () => {
    const src = await mkdtemp(join(tmpdir(), 'gatehouse-store-audit-child-'));
    bundles.push(src);
    await writeFile(join(src, 'kill-child.ts'), childSource);
    child = await bundleForChild(join(src, 'kill-child.ts'));
    bundles.push(dirname(child));
  }, 60_000);
  afterAll(async () => {
    for (const b of bundles) await rm(b, { recursive: true, force: true });
  });

  const killAt = (at: string) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [child, dir, at], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b));
      p.on('close', (code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`child ended ${code}: ${stderr}`)),
      );
    });

  /** What the next start leaves: the change in db.json or not, and the audit records of it. */
  async function afterRestart() {
    const s = await open();
    await s.close();
    const recs = await records();
    return {
      applied: (await Store.readSnapshot(dir)).meta.approved === 'req_1',
      approved: recs.filter((r) => r.type === 'request.approved').map((r) => r.seq),
      reverted: recs.filter((r) => r.type === 'change.reverted').map((r) => r.data),
    };
  }

  it('after the records, before db.json: the records stay and a change.reverted names them, once', async () => {
    await killAt('after-audit');
    const r = await afterRestart();
    expect(r.applied).toBe(false);
    expect(r.approved).toHaveLength(1);
    expect(r.reverted).toEqual([
      expect.objectContaining({ firstSeq: r.approved[0], lastSeq: r.approved[0], reason: 'state_not_written' }),
    ]);
    // A second start finds the revert already on record.
    expect((await afterRestart()).reverted).toHaveLength(1);
  });

  it('after the intent, before the records: nothing recorded, nothing applied, nothing to revert', async () => {
    await killAt('before-audit');
    expect(await afterRestart()).toEqual({ applied: false, approved: [], reverted: [] });
  });

  it('after db.json: record and state agree, nothing reverted', async () => {
    await killAt('after-state');
    const r = await afterRestart();
    expect(r).toMatchObject({ applied: true, reverted: [] });
    expect(r.approved).toHaveLength(1);
  });
});
