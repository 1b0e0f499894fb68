// An append-only file written in batches of up to 256 KiB (one pwritev each, up to three in flight), SHA-256 of every byte taken as it is queued, fail-once.
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { OutBuf } from './out-pool.js';

export interface HashedFileLimits {
  /** Queued bytes above which `ready` turns false (the source should pause until drained()). */
  highWaterBytes: number;
  /** Queued bytes at which the file fails instead (fail closed: the source ignored backpressure). */
  maxBacklogBytes: number;
}

/** One queued region, the hash as it was before it, and the pooled buffer it lives in (released once written). */
interface Part {
  buf: Buffer;
  before: Hash;
  owner: OutBuf | undefined;
}

/** Where the file must end after a failure, and the hash of exactly the bytes before that. */
interface End {
  at: number;
  hash: Hash;
}

/**
 * Largest single pwritev: big enough that syscalls do not count, small enough that the source is still in cache
 * (256 KiB writes cost about half the kernel CPU per MB of 1 MiB ones on the bench box: docs/performance.md).
 */
const BATCH = 256 * 1024;
/**
 * Batches in the thread pool at once, each at its own explicit position. Why more than one: with one, the pool sat
 * idle from each write's end until the loop's next turn saw it, while the relay's thread encoded; the source then
 * waited in drained() for writes that took a turn each (bench: recorder, text → disk, end to end ÷ hot path 0.53).
 * Why three: a source that hands over 512 KiB a turn (the bench) makes ~2.3 batches a turn, and with two the queue
 * still grew until drained(); a relay gets ~64 KiB a turn (one socket read), under one batch, and uses one or two.
 * More would take the whole thread pool (4 threads) from the gateway's other I/O.
 */
export const IN_FLIGHT = 3;
/**
 * Written bytes after which an fdatasync starts beside the writes (one at a time). Why: a bulk session otherwise
 * left all it wrote to the page cache, and its seal waited for the writeback of all of it (bench: ~70 ms for
 * 150 MB); now the disk works while the session does, and a seal waits for at most about this much.
 */
const WRITEBACK = 16 * 1024 * 1024;

export class HashedFile {
  private readonly hash = createHash('sha256');
  /**
   * After a failure, the least of: where the first batch stopped part way (and the hash of what of it reached the
   * file), and where the queue fail() dropped begins. The running hash covers more.
   */
  private end: End | undefined;
  /** File position of the next batch: everything before it was queued, hashed and handed to the pool. */
  private next = 0;
  /** The furthest byte any write reached: past `end` after a failure, the file is cut back to `end`. */
  private reached = 0;
  /** Bytes written by batches that ended, and how many of them the last writeback datasync was started after. */
  private landed = 0;
  private syncedAt = 0;
  private syncing = false;
  private queued = 0;
  private parts: Part[] = [];
  private inFlight = 0;
  /** Batches in flight and datasyncs waiting: settled() waits for all of them. */
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | undefined;
  private drainWaiters: Array<() => void> = [];

  /** `onFail` runs once, synchronously, on the first failure. */
  constructor(
    private readonly fh: FileHandle,
    private readonly limits: HashedFileLimits,
    private readonly onFail: (err: Error) => void,
  ) {}

  get failed(): Error | undefined {
    return this.failure;
  }

  get ready(): boolean {
    return this.queued < this.limits.highWaterBytes;
  }

  /**
   * Queues `buf` behind what is queued; `owner` (holding one reference for this region) is released once it is
   * written or dropped. Hashes it now, while it is in cache: one pass fewer than hashing after the write. Starts
   * its write now if fewer than IN_FLIGHT are in flight (not on a later turn: the pool works while the caller encodes).
   * Never throws; after a failure, does nothing.
   */
  append(buf: Buffer, owner?: OutBuf): void {
    if (buf.length === 0 || this.failure) return void owner?.release();
    this.queued += buf.length;
    // Why fail rather than buffer forever: a session whose recording cannot keep up must not go unrecorded.
    if (this.queued > this.limits.maxBacklogBytes) {
      owner?.release();
      this.fail(new Error(`recording backlog above ${this.limits.maxBacklogBytes} bytes: the disk cannot keep up`));
      return;
    }
    // The hash before this region: if the write of it fails part way, the seal covers exactly what reached the file.
    this.parts.push({ buf, before: this.hash.copy(), owner });
    this.hash.update(buf);
    this.pump();
  }

  /** fdatasync once the writes started so far are done; writes started meanwhile go on beside it. */
  datasync(): void {
    if (this.failure) return;
    const p = Promise.all(this.pending)
      .then(() => (this.failure ? undefined : this.fh.datasync().catch((e: unknown) => this.fail(e))))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Resolves when every write queued so far (and since) is done or failed. Never rejects. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /** Resolves once the queue is at most half the high-water mark, or the file failed. */
  drained(): Promise<void> {
    if (this.queued <= this.limits.highWaterBytes / 2 || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    // The batches in flight finish (or stop part way and lower `end`); the queue behind them is dropped.
    this.stopAt(this.next, this.parts[0]?.before ?? this.hash.copy());
    for (const p of this.parts.splice(0)) p.owner?.release();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.onFail(this.failure);
  }

  /** Waits for the queue, fsyncs (if asked and healthy), closes. Call once. */
  async close(sync: boolean): Promise<{ sha256: string; bytes: number }> {
    await this.settled();
    if (sync && !this.failure) await this.fh.sync().catch((err: unknown) => this.fail(err));
    const end = this.end ?? { at: this.next, hash: this.hash };
    // A batch behind one that stopped part way may have reached the file: cut it back to what the hash covers.
    if (this.reached > end.at) await this.fh.truncate(end.at).catch(() => {});
    await this.fh.close().catch(() => {});
    return { sha256: end.hash.digest('hex'), bytes: end.at };
  }

  /** Starts an fdatasync of what has landed once WRITEBACK more has since the last; the writes go on beside it. */
  private writeback(): void {
    if (this.syncing || this.failure || this.landed - this.syncedAt < WRITEBACK) return;
    this.syncing = true;
    this.syncedAt = this.landed;
    const p: Promise<void> = this.fh
      .datasync()
      // EINVAL: this file cannot be synced at all (/dev/null): nothing to write back, and the seal's fsync says so.
      // Any other error fails closed: a later fsync need not report a writeback that was lost.
      .catch((e: unknown) =>
        (e as { code?: string }).code === 'EINVAL' ? void (this.syncedAt = Infinity) : this.fail(e),
      )
      .finally(() => {
        this.syncing = false;
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  private stopAt(at: number, hash: Hash): void {
    if (!this.end || at < this.end.at) this.end = { at, hash };
  }

  /** Starts batches of up to BATCH from the queue while fewer than IN_FLIGHT are in flight; the rest wait for one to end. */
  private pump(): void {
    while (this.inFlight < IN_FLIGHT && this.parts.length > 0 && !this.failure) {
      let size = 0;
      let n = 0;
      while (n < this.parts.length && (n === 0 || size + this.parts[n]!.buf.length <= BATCH))
        size += this.parts[n++]!.buf.length;
      const batch = this.parts.splice(0, n);
      const at = this.next;
      this.next += size;
      this.inFlight++;
      const p: Promise<void> = this.writeAll(batch, size, at).then(() => {
        this.inFlight--;
        this.pending.delete(p);
        this.landed += size;
        this.pump();
        this.writeback();
      });
      this.pending.add(p);
    }
  }

  /** ONE pwritev per batch at its own position; a short write (rare: a full disk) retries the rest until it fails. */
  private async writeAll(batch: Part[], size: number, at: number): Promise<void> {
    let done = 0; // parts fully written
    let into = 0; // bytes of batch[done] written
    let wrote = 0; // bytes of the batch written
    try {
      while (done < batch.length && !this.failure) {
        const rest = batch.slice(done).map((p, i) => (i === 0 && into > 0 ? p.buf.subarray(into) : p.buf));
        // Explicit position: batches in flight together land where the hash says, whichever ends first.
        const { bytesWritten } = await this.fh.writev(rest, at + wrote);
        if (bytesWritten <= 0) throw new Error('recording write made no progress');
        wrote += bytesWritten;
        this.reached = Math.max(this.reached, at + wrote);
        into += bytesWritten;
        while (done < batch.length && into >= batch[done]!.buf.length) into -= batch[done++]!.buf.length;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      // Stopped part way (this batch failed, or another did): the seal's hash is everything before the first part
      // not fully written, plus what of it reached the file, unless an earlier batch stopped earlier still.
      const cut = batch[done];
      if (cut) this.stopAt(at + wrote, cut.before.update(cut.buf.subarray(0, into)));
      for (const p of batch) p.owner?.release();
      this.queued -= size;
      if (this.drainWaiters.length > 0 && this.queued <= this.limits.highWaterBytes / 2)
        for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }
}
