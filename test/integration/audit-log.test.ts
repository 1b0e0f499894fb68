// AuditLog on a real disk: durable appends, group commit, checkpoints, head file, recovery and refusal.
import { createPublicKey, verify } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditChainError, AuditLog, loadOrCreateSigningKey, verifyAuditFile } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import type { AuditRecord } from '../../gateway/core/audit.js';
import { freeForm } from '../helpers/free-form-audit.js';

const actor = { kind: 'user', id: 'usr_1', name: 'Vera Vendor' } as const;
let root: string;
let dir: string;
const clock = new ManualClock();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-audit-'));
  dir = root;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const logPath = () => join(dir, 'audit.jsonl');
const records = async (): Promise<AuditRecord[]> =>
  (await readFile(logPath(), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const open = (opts: { checkpointEvery?: number; checkpointIntervalMs?: number } = {}) =>
  AuditLog.open({ dir, clock, ...opts });
const event = (i: number) =>
  freeForm({ type: 'command.executed', actor, subject: { sessionId: 'ses_1' }, data: { i } });

describe('AuditLog', () => {
  it('creates the folder, a 0600 signing key and a signed first checkpoint', async () => {
    dir = join(dir, 'new', 'storage');
    const log = await open({ checkpointEvery: 7 });
    const mode = (await stat(join(dir, 'keys', 'audit-ed25519.pem'))).mode & 0o777;
    expect(mode).toBe(0o600);
    const pub = await readFile(join(dir, 'keys', 'audit-ed25519.pub.pem'), 'utf8');
    const [first] = await records();
    expect(first).toMatchObject({ seq: 1, type: 'audit.checkpoint', prev: '0'.repeat(64) });
    expect(first!.data).toMatchObject({ upToSeq: 0, upToHash: '0'.repeat(64), keyId: log.keyId, every: 7 });
    const sig = Buffer.from(first!.data!.sig as string, 'base64');
    expect(verify(null, Buffer.from(`0:${'0'.repeat(64)}`), createPublicKey(pub), sig)).toBe(true);
    const head = JSON.parse(await readFile(join(dir, 'audit.head.json'), 'utf8'));
    expect(head).toMatchObject({ seq: 1, hash: first!.hash, keyId: log.keyId });
    expect(log.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect((await loadOrCreateSigningKey(dir)).keyId).toBe(log.keyId);
    await log.close();
  });

  it('resolves an append only once its line is on disk', async () => {
    const log = await open();
    const rec = await log.append(event(1));
    const onDisk = await records();
    expect(onDisk.at(-1)).toEqual(rec);
    expect(rec).toMatchObject({
      seq: 2,
      at: '2026-11-23T10:00:00.000Z',
      type: 'command.executed',
      data: { i: 1 },
    });
    expect(log.head()).toEqual({ seq: rec.seq, hash: rec.hash });
    await log.close();
  });

  it('group-commits concurrent appends: contiguous seqs, fewer fsyncs than appends', async () => {
    const log = await open();
    const done = await Promise.all(
      Array.from({ length: 32 }, async (_, w) => {
        const mine: number[] = [];
        for (let i = 0; i < 50; i++) mine.push((await log.append(event(w * 100 + i))).seq);
        return mine;
      }),
    );
    const seqs = done.flat().sort((a, b) => a - b);
    expect(seqs).toHaveLength(1600);
    expect(new Set(seqs).size).toBe(1600);
    const stats = log.stats();
    await log.close();
    expect(stats.appends).toBe(1600);
    expect(stats.batches).toBeLessThan(1600);
    expect(stats.fsyncs).toBeLessThan(stats.appends);
    const onDisk = await records();
    expect(onDisk.map((r) => r.seq)).toEqual(onDisk.map((_, i) => i + 1));
    const appended = onDisk.filter((r) => r.type === 'command.executed').map((r) => r.seq);
    expect(appended).toEqual(seqs);
    expect(await verifyAuditFile(dir)).toMatchObject({ ok: true, records: onDisk.length });
  });

  it('checkpoints every N records, signing the previous hash', async () => {
    const log = await open({ checkpointEvery: 10 });
    await Promise.all(Array.from({ length: 35 }, (_, i) => log.append(event(i))));
    await log.close();
    const onDisk = await records();
    const pub = createPublicKey(await readFile(join(dir, 'keys', 'audit-ed25519.pub.pem')));
    let run = 0;
    for (const [i, r] of onDisk.entries()) {
      if (r.type !== 'audit.checkpoint') {
        expect(++run).toBeLessThanOrEqual(10);
        continue;
      }
      run = 0;
      const before = onDisk[i - 1];
      const { upToSeq, upToHash, sig } = r.data as { upToSeq: number; upToHash: string; sig: string };
      expect(upToSeq).toBe(before?.seq ?? 0);
      expect(upToHash).toBe(before?.hash ?? '0'.repeat(64));
      expect(verify(null, Buffer.from(`${upToSeq}:${upToHash}`), pub, Buffer.from(sig, 'base64'))).toBe(true);
    }
    // 1 first + 3 full runs of 10 + 1 at close.
    expect(onDisk.filter((r) => r.type === 'audit.checkpoint')).toHaveLength(5);
    expect(onDisk.at(-1)!.type).toBe('audit.checkpoint');
    expect(await verifyAuditFile(dir)).toMatchObject({
      ok: true,
      checkpoints: 5,
      lastCheckpointSeq: onDisk.at(-1)!.seq,
    });
  });

  it('checkpoints on a timer while records arrive, and not when idle', async () => {
    const log = await open({ checkpointIntervalMs: 40 });
    await log.append(event(1));
    for (let waited = 0; (await records()).length < 3 && waited < 5000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // several more ticks: still no new checkpoint
    const after = await records();
    expect(after.map((r) => r.type)).toEqual(['audit.checkpoint', 'command.executed', 'audit.checkpoint']);
    await log.close();
    // close() adds its final checkpoint even right after another: it marks a clean end.
    const closed = await records();
    expect(closed).toHaveLength(4);
    expect(closed.at(-1)!.data).toMatchObject({ final: true });
  });

  it('closes idempotently and refuses appends afterwards', async () => {
    const log = await open();
    await log.append(event(1));
    await Promise.all([log.close(), log.close()]);
    await log.close();
    await expect(log.append(event(2))).rejects.toMatchObject({ code: 'audit_closed' });
    const onDisk = await records();
    expect(onDisk.at(-1)!.type).toBe('audit.checkpoint');
    expect(JSON.parse(await readFile(join(dir, 'audit.head.json'), 'utf8')).seq).toBe(onDisk.at(-1)!.seq);
  });

  it('continues the chain after a reopen', async () => {
    const first = await open();
    await first.append(event(1));
    await first.close();
    const before = await records();
    const second = await open();
    const rec = await second.append(event(2));
    await second.close();
    // Every start signs a checkpoint first (marked opened), then this run's records follow.
    const opened = (await records())[before.length]!;
    expect(opened).toMatchObject({ type: 'audit.checkpoint', data: { opened: true, upToSeq: before.length } });
    expect(rec.seq).toBe(before.length + 2);
    expect(rec.prev).toBe(opened.hash);
    expect(await verifyAuditFile(dir)).toMatchObject({ ok: true });
  });

  it('verifies itself while appends keep arriving', async () => {
    const log = await open({ checkpointEvery: 20 });
    let writing = true;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; writing; i++) await log.append(event(w * 10_000 + i));
    });
    const results = [];
    for (let k = 0; k < 15; k++) results.push(await log.verify());
    // On a loaded machine the 15 passes can finish before much is written: make sure the last pass
    // runs over a chain that spans several checkpoints, still while writers append (bounded wait).
    for (let tries = 0; log.head().seq <= 60 && tries < 500; tries++) await new Promise((r) => setTimeout(r, 10));
    results.push(await log.verify());
    writing = false;
    await Promise.all(writers);
    await log.close();
    for (const r of results) expect(r).toMatchObject({ ok: true });
    expect(results.at(-1)!.ok && results.at(-1)!.records).toBeGreaterThan(20);
  });

  it('refuses bad input without touching the chain', async () => {
    const log = await open();
    await expect(log.append({ type: 'audit.checkpoint', actor })).rejects.toMatchObject({
      code: 'bad_audit_event',
    });
    await expect(log.append(freeForm({ type: 'auth.login', actor, data: { n: Number.NaN } }))).rejects.toThrow(
      /finite/,
    );
    await expect(log.append({ type: 'no.such' as never, actor })).rejects.toThrow(/unknown audit event type/);
    expect((await log.append(event(1))).seq).toBe(2);
    await log.close();
    expect(await verifyAuditFile(dir)).toMatchObject({ ok: true });
  });

  it('fails closed when the file cannot be written', async () => {
    const log = await open();
    await (log as unknown as { fh: FileHandle }).fh.close();
    await expect(log.append(event(1))).rejects.toMatchObject({ code: 'audit_write_failed' });
    await expect(log.append(event(2))).rejects.toMatchObject({ code: 'audit_write_failed' });
    await log.close().catch(() => {});
  });
});

describe('AuditLog.open on an existing file', () => {
  async function writeSome(n: number, checkpointEvery = 1000) {
    const log = await open({ checkpointEvery });
    for (let i = 0; i < n; i++) await log.append(event(i));
    await log.close();
  }

  it('throws AuditChainError naming the first bad record', async () => {
    await writeSome(8);
    const text = await readFile(logPath(), 'utf8');
    await writeFile(logPath(), text.replace('"data":{"i":4}', '"data":{"i":5}'));
    const err = await open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditChainError);
    expect(err).toMatchObject({ seq: 6, line: 6, reason: expect.stringMatching(/hash mismatch/) });
    expect((err as Error).message).toMatch(/seq 6 \(line 6\)/);
  });

  it('cuts off a partial last line and records audit.recovered', async () => {
    await writeSome(3);
    const intact = await readFile(logPath());
    const partial = '{"seq":6,"at":"2026-11-23T10:00:00.000Z","type":"comm';
    await appendFile(logPath(), partial);
    const log = await open();
    await log.close();
    const onDisk = await records();
    const recovered = onDisk.find((r) => r.type === 'audit.recovered');
    expect(recovered).toMatchObject({
      seq: 7, // after the start's own checkpoint (seq 6)
      data: { droppedBytes: Buffer.byteLength(partial), afterSeq: 5 },
    });
    expect((await readFile(logPath())).subarray(0, intact.length).equals(intact)).toBe(true);
    expect(await verifyAuditFile(dir)).toMatchObject({ ok: true });
  });

  it('treats a bad line before the end as tampering', async () => {
    await writeSome(3);
    const lines = (await readFile(logPath(), 'utf8')).split('\n');
    lines[2] = lines[2]!.slice(0, 30);
    await writeFile(logPath(), lines.join('\n'));
    await expect(open()).rejects.toMatchObject({ name: 'AuditChainError', seq: 3, line: 3 });
  });

  it('accepts a head one checkpoint behind when that checkpoint is the last line (crash), and repairs it', async () => {
    await writeSome(2); // checkpoints 1 (opened) and 4 (final)
    const headPath = join(dir, 'audit.head.json');
    const again = await open(); // its opened checkpoint is seq 5, and the head follows it
    const oldHead = await readFile(headPath);
    expect(JSON.parse(oldHead.toString()).seq).toBe(5);
    await again.append(event(9));
    await again.close(); // final checkpoint 7
    await writeFile(headPath, oldHead); // as if killed between that checkpoint's fsync and the head write
    expect(await verifyAuditFile(dir)).toMatchObject({ ok: true, records: 7, lastCheckpointSeq: 7 });
    const log = await open();
    await log.close();
    const onDisk = await records();
    expect(onDisk.at(-1)).toMatchObject({ seq: 9, type: 'audit.checkpoint' });
    expect(JSON.parse(await readFile(headPath, 'utf8')).seq).toBe(9);
  });

  it('refuses to replace a lost signing key while its log or public key is there', async () => {
    await writeSome(1);
    const pubPath = join(dir, 'keys', 'audit-ed25519.pub.pem');
    const pub = await readFile(pubPath, 'utf8');
    await rm(join(dir, 'keys', 'audit-ed25519.pem'));
    await expect(open()).rejects.toMatchObject({ code: 'audit_key_missing', message: /restore the key/ });
    expect(await readFile(pubPath, 'utf8')).toBe(pub);
  });

  it('detects whole lines cut off below the signed head', async () => {
    await writeSome(6);
    const lines = (await readFile(logPath(), 'utf8')).split('\n').filter(Boolean);
    await writeFile(
      logPath(),
      lines
        .slice(0, 4)
        .map((l) => `${l}\n`)
        .join(''),
    );
    await expect(open()).rejects.toMatchObject({ seq: 5, reason: expect.stringMatching(/cut off/) });
    await truncate(logPath(), 0);
    await expect(open()).rejects.toMatchObject({
      seq: 1,
      reason: expect.stringMatching(/signed head is at seq 8/),
    });
  });
});
