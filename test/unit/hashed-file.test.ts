// HashedFile with two writes in flight: every byte lands where the hash says, whichever write ends first, and after a
// failure the seal covers exactly the bytes in the file (cut back if a later write landed past an earlier failure).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { HashedFile, IN_FLIGHT } from '../../gateway/recording/hashed-file.js';

const KiB = 1024;
const limits = { highWaterBytes: 2 * 1024 * KiB, maxBacklogBytes: 64 * 1024 * KiB };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One pwritev the test ends by hand: in full, part of it (a full disk), or with an error. */
interface PendingWrite {
  bufs: Buffer[];
  at: number;
  bytes: number;
  land(n?: number): void;
  reject(err: Error): void;
}

/** A FileHandle over memory whose writes wait for the test; datasync/truncate/close are recorded. */
function fakeFile(datasyncError?: string) {
  let data = Buffer.alloc(0);
  let length = 0;
  const writes: PendingWrite[] = [];
  const calls: string[] = [];
  const put = (at: number, src: Buffer) => {
    if (data.length < at + src.length) {
      const grown = Buffer.alloc(Math.max(at + src.length, 2 * data.length));
      data.copy(grown);
      data = grown;
    }
    src.copy(data, at);
    length = Math.max(length, at + src.length);
  };
  const fh = {
    writev(bufs: Buffer[], at: number) {
      return new Promise<{ bytesWritten: number }>((resolve, reject) => {
        const all = Buffer.concat(bufs);
        writes.push({
          bufs,
          at,
          bytes: all.length,
          land(n = all.length) {
            put(at, all.subarray(0, n));
            resolve({ bytesWritten: n });
          },
          reject,
        });
      });
    },
    async datasync() {
      calls.push('datasync');
      if (datasyncError) throw Object.assign(new Error(`${datasyncError}: datasync`), { code: datasyncError });
    },
    async sync() {
      calls.push('sync');
    },
    async truncate(len: number) {
      calls.push(`truncate ${len}`);
      length = Math.min(length, len);
    },
    async close() {
      calls.push('close');
    },
  };
  return { fh: fh as unknown as FileHandle, writes, calls, content: () => data.subarray(0, length) };
}

const tick = () => new Promise((r) => setImmediate(r));
const fill = (n: number, byte: number) => Buffer.alloc(n, byte);
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });

describe('HashedFile', () => {
  it('starts a write at once and keeps IN_FLIGHT in flight; out-of-order ends still give the exact file', async () => {
    const f = fakeFile();
    const file = new HashedFile(f.fh, limits, () => {});
    const parts = Array.from({ length: IN_FLIGHT + 1 }, (_, i) => fill(256 * KiB, 0x61 + i));
    const last = fill(100 * KiB, 0x7a);
    file.append(parts[0]!);
    expect(f.writes).toHaveLength(1); // no turn of the loop in between
    for (const p of parts.slice(1)) file.append(p);
    file.append(last);
    expect(IN_FLIGHT).toBeGreaterThan(1);
    // IN_FLIGHT batches of 256 KiB at their own positions; the rest waits for one to end.
    expect(f.writes.map((w) => [w.at, w.bytes])).toEqual(
      parts.slice(0, IN_FLIGHT).map((p, i) => [i * p.length, p.length]),
    );
    f.writes[IN_FLIGHT - 1]!.land(); // the latest one first
    await tick();
    expect(f.writes).toHaveLength(IN_FLIGHT + 1);
    expect(f.writes[IN_FLIGHT]).toMatchObject({ at: IN_FLIGHT * 256 * KiB, bytes: 256 * KiB });
    f.writes[IN_FLIGHT]!.land();
    await tick();
    expect(f.writes[IN_FLIGHT + 1]).toMatchObject({ at: (IN_FLIGHT + 1) * 256 * KiB, bytes: last.length });
    for (const w of [...f.writes].reverse()) if (w !== f.writes[IN_FLIGHT - 1] && w !== f.writes[IN_FLIGHT]) w.land();
    const sealed = await file.close(true);
    const all = Buffer.concat([...parts, last]);
    expect(f.content().equals(all)).toBe(true);
    expect(sealed).toEqual({ sha256: sha(all), bytes: all.length });
    expect(f.calls).toEqual(['sync', 'close']); // nothing to cut back
  });

  it('an earlier write fails after a later one landed: the file is cut back to what the seal covers', async () => {
    const f = fakeFile();
    const failures: Error[] = [];
    const file = new HashedFile(f.fh, limits, (e) => failures.push(e));
    const head = fill(10 * KiB, 0x68);
    file.append(head);
    f.writes[0]!.land();
    await tick();
    file.append(fill(256 * KiB, 0x61));
    file.append(fill(256 * KiB, 0x62));
    f.writes[2]!.land(); // b reached the file…
    await tick();
    f.writes[1]!.reject(enospc()); // …a did not: a hole before b
    const sealed = await file.close(true);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'ENOSPC' });
    expect(f.content().equals(head)).toBe(true);
    expect(sealed).toEqual({ sha256: sha(head), bytes: head.length });
    expect(f.calls).toEqual([`truncate ${head.length}`, 'close']); // no fsync of a failed file
  });

  it('a short write then ENOSPC, with the next write landed: the seal covers the part that reached the file', async () => {
    const f = fakeFile();
    const file = new HashedFile(f.fh, limits, () => {});
    const a = Buffer.concat([fill(100 * KiB, 0x61), fill(100 * KiB, 0x41)]);
    file.append(a.subarray(0, 100 * KiB));
    file.append(fill(200 * KiB, 0x62)); // own batch: a's first part is in flight
    file.append(a.subarray(100 * KiB)); // two in flight: it waits
    f.writes[1]!.land();
    await tick(); // a.subarray(100 KiB) starts at 300 KiB
    f.writes[0]!.land(60 * KiB); // short: the disk is full
    await tick(); // the retry of the other 40 KiB
    expect(f.writes[3]).toMatchObject({ at: 60 * KiB, bytes: 40 * KiB });
    f.writes[3]!.reject(enospc());
    f.writes[2]!.land();
    const sealed = await file.close(true);
    const kept = a.subarray(0, 60 * KiB);
    expect(f.content().equals(kept)).toBe(true);
    expect(sealed).toEqual({ sha256: sha(kept), bytes: kept.length });
  });

  it('fails closed on a backlog above the limit: writes in flight count, the queue behind them is dropped', async () => {
    const f = fakeFile();
    const failures: Error[] = [];
    const flying = Array.from({ length: IN_FLIGHT }, (_, i) => fill(256 * KiB, 0x61 + i));
    const max = IN_FLIGHT * 256 * KiB + 100 * KiB;
    const file = new HashedFile(f.fh, { highWaterBytes: 64 * KiB, maxBacklogBytes: max }, (e) => failures.push(e));
    for (const p of flying) file.append(p);
    file.append(fill(64 * KiB, 0x30)); // queued behind the writes in flight
    expect(f.writes).toHaveLength(IN_FLIGHT);
    expect(file.ready).toBe(false);
    file.append(fill(64 * KiB, 0x31)); // above the limit: the source ignored backpressure
    expect(failures[0]?.message).toMatch(/backlog above/);
    await file.drained(); // resolves at once on a failure
    for (const w of [...f.writes].reverse()) w.land();
    const sealed = await file.close(true);
    expect(f.writes).toHaveLength(IN_FLIGHT); // nothing started after the failure
    const kept = Buffer.concat(flying);
    expect(f.content().equals(kept)).toBe(true);
    expect(sealed).toEqual({ sha256: sha(kept), bytes: kept.length });
  });

  /** Appends and lands `n` writes of 256 KiB, one a turn; returns the bytes. */
  async function stream(f: ReturnType<typeof fakeFile>, file: HashedFile, n: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const chunk = fill(256 * KiB, 0x30 + (i % 40));
      chunks.push(chunk);
      file.append(chunk);
      if (file.failed) break;
      f.writes.at(-1)!.land();
      await tick();
    }
    return Buffer.concat(chunks);
  }

  it('a writeback datasync that fails (EIO) fails closed; the seal covers what reached the file', async () => {
    const f = fakeFile('EIO');
    const failures: Error[] = [];
    const file = new HashedFile(f.fh, limits, (e) => failures.push(e));
    const all = await stream(f, file, 70);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'EIO' });
    const sealed = await file.close(true);
    const kept = all.subarray(0, f.content().length);
    expect(kept.length).toBe(64 * 256 * KiB); // the datasync after 16 MiB failed before the next append
    expect(sealed).toEqual({ sha256: sha(kept), bytes: kept.length });
    expect(f.calls).toEqual(['datasync', 'close']);
  });

  it('a file that cannot be synced (EINVAL, /dev/null) is not a failure: no more writeback, the seal decides', async () => {
    const f = fakeFile('EINVAL');
    const failures: Error[] = [];
    const file = new HashedFile(f.fh, limits, (e) => failures.push(e));
    const all = await stream(f, file, 140);
    expect(failures).toHaveLength(0);
    expect(f.calls).toEqual(['datasync']); // tried once at 16 MiB, never again at 32
    const sealed = await file.close(true);
    expect(sealed).toEqual({ sha256: sha(all), bytes: all.length });
  });

  it('starts a datasync beside the writes once 16 MiB more have landed, one at a time', async () => {
    const f = fakeFile();
    const file = new HashedFile(f.fh, limits, () => {});
    const chunk = fill(256 * KiB, 0x78);
    let landed = 0;
    for (let i = 0; i < 70; i++) {
      file.append(chunk);
      // Each write starts at once (none in flight) and lands before the next turn, as the pool would.
      expect(f.writes).toHaveLength(i + 1);
      f.writes[i]!.land();
      landed += chunk.length;
      await tick();
    }
    const sealed = await file.close(true);
    expect(landed).toBeGreaterThan(16 * 1024 * KiB);
    expect(f.calls.filter((c) => c === 'datasync')).toHaveLength(1); // 17.5 MiB: one writeback
    expect(f.calls.slice(-2)).toEqual(['sync', 'close']);
    expect(sealed.bytes).toBe(70 * chunk.length);
    expect(f.content().length).toBe(70 * chunk.length);
  });
});
