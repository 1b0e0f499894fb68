// Process-wide pool of the recorders' output buffers: events are encoded straight into them, written, then reused.
//
// Why pooled and reference-counted: a fresh buffer per batch (and the per-event objects and concatenation before
// it) was most of what recording cost the relay in garbage collection. A writer holds a buffer only while it has
// output in flight; an idle session holds none (bench: relay memory per idle session).

/** Interactive sessions: a keystroke's echo is tens of bytes. */
export const SMALL = 16 * 1024;
/**
 * Bulk output. Why 256 KiB and not 1 MiB: encoded, hashed and written while it is still in the L2 cache, a
 * 256 KiB write cost the kernel about half the CPU per MB of a 1 MiB one on the bench box (docs/performance.md).
 */
export const LARGE = 256 * 1024;
/**
 * Free buffers kept per size: enough for a burst of sessions without holding memory for ever. LARGE covers a bulk
 * writer's whole window (asciicast.ts HIGH_WATER ÷ LARGE, plus the one being filled and one being written): a
 * buffer dropped here was in flight long enough to be promoted, and only a major collection frees it.
 */
const KEEP = { [SMALL]: 64, [LARGE]: 16 } as Record<number, number>;

const free = new Map<number, Buffer[]>([
  [SMALL, []],
  [LARGE, []],
]);

/** A pooled buffer and its holders: the writer filling it, and each region of it queued for the disk. */
export class OutBuf {
  private refs = 1;

  private constructor(readonly buf: Buffer) {}

  /** A buffer of at least `bytes` (SMALL or LARGE when that fits; an exact one beyond, never pooled). */
  static take(bytes: number): OutBuf {
    const size = bytes <= SMALL ? SMALL : bytes <= LARGE ? LARGE : bytes;
    return new OutBuf(free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size));
  }

  retain(): void {
    this.refs++;
  }

  /** Drops one hold; the last one returns the buffer to the pool. */
  release(): void {
    if (--this.refs !== 0) return;
    const list = free.get(this.buf.length);
    if (list && list.length < (KEEP[this.buf.length] ?? 0)) list.push(this.buf);
  }
}
