// Group commit for an append-only file: everything queued goes out in one write and one fdatasync.
import type { FileHandle } from 'node:fs/promises';

interface Queued<T> {
  line: string;
  value: T;
  barrier: boolean;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export interface GroupCommitHooks<T> {
  /** Runs once a batch is durable, with its last value and its bytes, before its promises resolve. */
  durable(last: T, bytes: Buffer): void;
  /** Runs after a barrier line is durable and before anything queued after it is written. */
  afterBarrier(value: T): Promise<void>;
  /** Turns an I/O error into the error every pending and later push is rejected with. */
  failed(err: unknown): Error;
}

/**
 * Durability invariant: push() resolves only once its line is written and fdatasync'd, so whatever
 * the caller acknowledges next is already on disk. Lines go out in push order; lines pushed while a
 * write+fsync is in flight wait and form the next batch, so concurrency costs fewer fsyncs, never
 * ordering: the file is always a prefix of what was pushed. After a failed write the file's end is
 * unknown, so every later push is refused rather than appended after a possibly torn line.
 */
export class GroupCommit<T> {
  private queue: Queued<T>[] = [];
  private flushing: Promise<void> | undefined;
  failure: Error | undefined;
  readonly stats = { fsyncs: 0, batches: 0 };

  constructor(
    private readonly fh: FileHandle,
    private readonly hooks: GroupCommitHooks<T>,
    /** The file's length when opened: everything up to here is already durable. */
    public durableBytes: number,
  ) {}

  /** Queues one line (without its newline). A barrier ends its batch (see afterBarrier). */
  push(line: string, value: T, barrier = false): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ line, value, barrier, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * After a failure: cuts the file back to its last durable byte (a torn line goes) and accepts pushes
   * again. Throws, still failed, if the file cannot be cut (the disk is still refusing).
   */
  async reset(): Promise<void> {
    if (!this.failure) return;
    await this.idle();
    await this.fh.truncate(this.durableBytes);
    await this.fh.datasync();
    this.failure = undefined;
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      // One macrotask's grace gathers every push made in the current turn into the first batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        while (this.queue.length > 0 && !this.failure) await this.flushBatch();
      } finally {
        this.flushing = undefined;
      }
    })();
  }

  private async flushBatch(): Promise<void> {
    const cut = this.queue.findIndex((q) => q.barrier);
    const batch = this.queue.splice(0, cut < 0 ? this.queue.length : cut + 1);
    const last = batch[batch.length - 1]!;
    let text = '';
    for (const q of batch) text += `${q.line}\n`;
    const bytes = Buffer.from(text);
    try {
      for (let off = 0; off < bytes.length;) off += (await this.fh.write(bytes, off)).bytesWritten;
      await this.fh.datasync(); // fdatasync also persists the grown file size, which appends need
    } catch (err) {
      return this.fail(err, batch);
    }
    this.stats.batches++;
    this.stats.fsyncs++;
    this.durableBytes += bytes.length;
    this.hooks.durable(last.value, bytes);
    for (const q of batch) q.resolve(q.value);
    if (!last.barrier) return;
    try {
      await this.hooks.afterBarrier(last.value);
    } catch (err) {
      this.fail(err, []);
    }
  }

  private fail(err: unknown, batch: Queued<T>[]): void {
    this.failure ??= this.hooks.failed(err);
    for (const q of [...batch, ...this.queue.splice(0)]) q.reject(this.failure);
  }
}
