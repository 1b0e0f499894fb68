// An append-only file written in batches of up to 256 KiB (one pwritev each), SHA-256 of every byte taken as it is queued, fail-once.
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

/**
 * Largest single pwritev: big enough that syscalls do not count, small enough that the source is still in cache
 * (256 KiB writes cost about half the kernel CPU per MB of 1 MiB ones on the bench box: docs/performance.md).
 */
const BATCH = 256 * 1024;

export class HashedFile {
  private readonly hash = createHash('sha256');
  /**
   * After a failure, the hash of exactly the bytes that reached the file (the running hash covers more): a batch
   * stopped part way sets `cut`; else the file ends before the first part fail() dropped.
   */
  private cut: Hash | undefined;
  private beforeDropped: Hash | undefined;
  private written = 0;
  private queued = 0;
  private parts: Part[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
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

  /** Bytes in the file, all covered by the hash. */
  get bytes(): number {
    return this.written;
  }

  get ready(): boolean {
    return this.queued < this.limits.highWaterBytes;
  }

  /**
   * Queues `buf` behind what is queued; `owner` (holding one reference for this region) is released once it is
   * written or dropped. Hashes it now, while it is in cache: one pass fewer than hashing after the write.
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
    if (!this.scheduled) {
      this.scheduled = true;
      this.chain = this.chain.then(() => this.writeQueued());
    }
  }

  datasync(): void {
    this.chain = this.chain.then(() => (this.failure ? undefined : this.fh.datasync().catch((e) => this.fail(e))));
  }

  /** Resolves when every write queued so far is done (or failed). Never rejects. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Resolves once the queue is at most half the high-water mark, or the file failed. */
  drained(): Promise<void> {
    if (this.queued <= this.limits.highWaterBytes / 2 || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.beforeDropped = this.parts[0]?.before;
    for (const p of this.parts.splice(0)) p.owner?.release();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.onFail(this.failure);
  }

  /** Waits for the queue, fsyncs (if asked and healthy), closes. Call once. */
  async close(sync: boolean): Promise<{ sha256: string; bytes: number }> {
    await this.chain;
    if (sync && !this.failure) await this.fh.sync().catch((err: unknown) => this.fail(err));
    await this.fh.close().catch(() => {});
    return { sha256: (this.cut ?? this.beforeDropped ?? this.hash).digest('hex'), bytes: this.written };
  }

  /** Writes everything queued, up to BATCH per pwritev; parts queued meanwhile join the next batch. */
  private async writeQueued(): Promise<void> {
    while (this.parts.length > 0 && !this.failure) {
      let size = 0;
      let n = 0;
      while (n < this.parts.length && (n === 0 || size + this.parts[n]!.buf.length <= BATCH))
        size += this.parts[n++]!.buf.length;
      const batch = this.parts.splice(0, n);
      await this.writeAll(batch, size);
    }
    this.scheduled = false;
  }

  /** ONE pwritev per batch; a short write (rare: a full disk) retries the rest until it fails. */
  private async writeAll(batch: Part[], size: number): Promise<void> {
    let done = 0; // parts fully written
    let into = 0; // bytes of batch[done] written
    try {
      while (done < batch.length && !this.failure) {
        const rest = batch.slice(done).map((p, i) => (i === 0 && into > 0 ? p.buf.subarray(into) : p.buf));
        // Explicit position: the hash covers exactly the bytes at [0, written) of the file.
        const { bytesWritten } = await this.fh.writev(rest, this.written);
        if (bytesWritten <= 0) throw new Error('recording write made no progress');
        this.written += bytesWritten;
        into += bytesWritten;
        while (done < batch.length && into >= batch[done]!.buf.length) into -= batch[done++]!.buf.length;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      // Stopped part way (a failure): the seal's hash is everything before the first part not fully written, plus
      // what of it reached the file; parts queued behind this batch were dropped by fail().
      const cut = batch[done];
      if (cut) this.cut ??= cut.before.update(cut.buf.subarray(0, into));
      for (const p of batch) p.owner?.release();
      this.queued -= size;
      if (this.drainWaiters.length > 0 && this.queued <= this.limits.highWaterBytes / 2)
        for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }
}
