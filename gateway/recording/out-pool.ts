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
 * Free buffers kept per size when nothing is in flight: enough for a burst of sessions without holding memory for
 * ever. While any is in flight the pool keeps as many free as were in flight at the peak, and gives the excess back
 * once none is. Why: a buffer dropped while in demand was in flight long enough to be promoted, only a major
 * collection frees it, and ~700 of them per GiB set off one every ~80 ms (docs/performance.md).
 */
const KEEP = { [SMALL]: 64, [LARGE]: 16 } as Record<number, number>;

/** Per pooled size: the free buffers, how many are taken now, and the most taken at once since none was. */
interface Pool {
  free: Buffer[];
  taken: number;
  peak: number;
}
const pools = new Map<number, Pool>([
  [SMALL, { free: [], taken: 0, peak: 0 }],
  [LARGE, { free: [], taken: 0, peak: 0 }],
]);

/** A pooled buffer and its holders: the writer filling it, and each region of it queued for the disk. */
export class OutBuf {
  private refs = 1;

  private constructor(readonly buf: Buffer) {}

  /** A buffer of at least `bytes` (SMALL or LARGE when that fits; an exact one beyond, never pooled). */
  static take(bytes: number): OutBuf {
    const size = bytes <= SMALL ? SMALL : bytes <= LARGE ? LARGE : bytes;
    const pool = pools.get(size);
    if (!pool) return new OutBuf(Buffer.allocUnsafeSlow(size));
    pool.peak = Math.max(pool.peak, ++pool.taken);
    return new OutBuf(pool.free.pop() ?? Buffer.allocUnsafeSlow(size));
  }

  retain(): void {
    this.refs++;
  }

  /** Drops one hold; the last one returns the buffer to the pool. */
  release(): void {
    if (--this.refs !== 0) return;
    const size = this.buf.length;
    const pool = pools.get(size);
    if (!pool) return;
    const keep = KEEP[size] ?? 0;
    if (pool.free.length < Math.max(keep, pool.peak)) pool.free.push(this.buf);
    if (--pool.taken > 0) return;
    // None in flight (every session idle or ended): back to the idle size.
    pool.peak = 0;
    if (pool.free.length > keep) pool.free.length = keep;
  }
}
