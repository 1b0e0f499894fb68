// HashedFile with two writes in flight: every byte lands where the hash says, whichever write ends first, and after a
// failure the seal covers exactly the bytes in the file (cut back if a later write landed past an earlier failure).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { HashedFile } from '../../gateway/recording/hashed-file.js';

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
function fakeFile() {
  let data = Buffer.alloc(0);
  const writes: PendingWrite[] = [];
  const calls: string[] = [];
  const put = (at: number, src: Buffer) => {
    if (data.length < at + src.length) data = Buffer.concat([data, Buffer.alloc(at + src.length - data.length)]);
    src.copy(data, at);
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
    },
    async sync() {
      calls.push('sync');
    },
    async truncate(len: number) {
      calls.push(`truncate ${len}`);
      data = data.subarray(0, len);
    },
    async close() {
      calls.push('close');
    },
  };
  return { fh: fh as unknown as FileHandle, writes, calls, content: () => data };
}

const tick = () => new Promise((r) => setImmediate(r));
const fill = (n: number, byte: number) => Buffer.alloc(n, byte);
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });

describe('HashedFile', () => {
  it('starts a write at once and keeps a second in flight; out-of-order ends still give the exact file', async () => {
    const f = fakeFile();
    const file = new HashedFile(f.fh, limits, () => {});
    const a = fill(256 * KiB, 0x61);
    const b = fill(256 * KiB, 0x62);
    const c = fill(100 * KiB, 0x63);
    file.append(a);
    expect(f.writes).toHaveLength(1); // no turn of the loop in between
    file.append(b);
    file.append(c);
    expect(f.writes.map((w) => [w.at, w.bytes])).toEqual([
      [0, a.length],
      [a.length, b.length],
    ]); // c waits: two are in flight
    f.writes[1]!.land(); // the later one first
    await tick();
    expect(f.writes).toHaveLength(3);
    expect(f.writes[2]!.at).toBe(a.length + b.length);
    f.writes[2]!.land();
    f.writes[0]!.land();
    const sealed = await file.close(true);
    const all = Buffer.concat([a, b, c]);
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
    const file = new HashedFile(f.fh, { highWaterBytes: 64 * KiB, maxBacklogBytes: 600 * KiB }, (e) =>
      failures.push(e),
    );
    const a = fill(256 * KiB, 0x61);
    const b = fill(256 * KiB, 0x62);
    file.append(a);
    file.append(b);
    file.append(fill(64 * KiB, 0x63)); // queued behind two in flight: 576 KiB
    expect(file.ready).toBe(false);
    file.append(fill(64 * KiB, 0x64)); // 640 KiB: the source ignored backpressure
    expect(failures[0]?.message).toMatch(/backlog above/);
    const drained = file.drained(); // resolves at once on a failure
    await drained;
    f.writes[1]!.land();
    f.writes[0]!.land();
    const sealed = await file.close(true);
    expect(f.writes).toHaveLength(2); // nothing started after the failure
    const kept = Buffer.concat([a, b]);
    expect(f.content().equals(kept)).toBe(true);
    expect(sealed).toEqual({ sha256: sha(kept), bytes: kept.length });
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
