// An append-only file written in queued batches: one pwritev per batch, a running SHA-256 of every byte written, fail-once.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface HashedFileLimits {
  /** Queued bytes above which `ready` turns false (the source should pause until drained()). */
  highWaterBytes: number;
  /** Queued bytes at which the file fails instead (fail closed: the source ignored backpressure). */
  maxBacklogBytes: number;
}

export class HashedFile {
  private readonly hash = createHash('sha256');
  private written = 0;
  private queued = 0;
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

  /** Queues `parts` as one write. Never throws; after a failure, does nothing. */
  append(parts: Buffer[]): void {
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (size === 0 || this.failure) return;
    this.queued += size;
    // Why fail rather than buffer forever: a session whose recording cannot keep up must not go unrecorded.
    if (this.queued > this.limits.maxBacklogBytes) {
      this.fail(new Error(`recording backlog above ${this.limits.maxBacklogBytes} bytes: the disk cannot keep up`));
      return;
    }
    this.chain = this.chain.then(() => this.writeAll(parts, size));
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
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.onFail(this.failure);
  }

  /** Waits for the queue, fsyncs (if asked and healthy), closes. Call once. */
  async close(sync: boolean): Promise<{ sha256: string; bytes: number }> {
    await this.chain;
    if (sync && !this.failure) await this.fh.sync().catch((err: unknown) => this.fail(err));
    await this.fh.close().catch(() => {});
    return { sha256: this.hash.digest('hex'), bytes: this.written };
  }

  /** ONE pwritev per batch; a short write (rare: a full disk) retries the rest until it fails. */
  private async writeAll(parts: Buffer[], size: number): Promise<void> {
    try {
      let rest = parts;
      while (rest.length > 0 && !this.failure) {
        // Explicit position: the hash covers exactly the bytes at [0, written) of the file.
        const { bytesWritten } = await this.fh.writev(rest, this.written);
        if (bytesWritten <= 0) throw new Error('recording write made no progress');
        this.written += bytesWritten;
        rest = this.consumed(rest, bytesWritten);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.queued -= size;
      if (this.drainWaiters.length > 0 && this.queued <= this.limits.highWaterBytes / 2)
        for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** Hashes the first `n` bytes of `parts` (now in the file) and returns what is left. */
  private consumed(parts: Buffer[], n: number): Buffer[] {
    let left = n;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (left < p.length) {
        this.hash.update(p.subarray(0, left));
        return [p.subarray(left), ...parts.slice(i + 1)];
      }
      this.hash.update(p);
      left -= p.length;
    }
    return [];
  }
}
