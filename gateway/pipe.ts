// Backpressure for the relays (SSH, the PLC conduit): a source pauses while any of its sinks is full, so a slow peer never grows the gateway's memory.
import type { Readable, Writable } from 'node:stream';

const live = new Set<Writable>();

/** Bytes the gateway holds in relay write buffers right now (all sessions): stays bounded when backpressure works. */
export function relayBufferedBytes(): number {
  let n = 0;
  for (const w of live) n += w.writableLength;
  return n;
}

/** Counts `w` in relayBufferedBytes until it closes. */
export function trackWritable(w: Writable): void {
  if (live.has(w)) return;
  live.add(w);
  const drop = () => live.delete(w);
  w.once('close', drop);
  w.once('finish', () => setImmediate(drop));
}

/** Pauses `src` while any named hold is on; resumes when the last is released. */
export class Valve {
  private readonly holds = new Set<string>();
  constructor(private readonly src: Readable) {}

  hold(why: string): void {
    this.holds.add(why);
    this.src.pause();
  }

  release(why: string): void {
    if (this.holds.delete(why) && this.holds.size === 0 && !this.src.destroyed) this.src.resume();
  }

  held(why: string): boolean {
    return this.holds.has(why);
  }
}

/** Writes `buf`; if `dst` is now over its high-water mark, holds `valve` until dst drains. */
export function writeHeld(dst: Writable, buf: Buffer, valve: Valve, why: string): void {
  if (dst.destroyed || dst.writableEnded) return;
  if (dst.write(buf) || valve.held(why)) return;
  valve.hold(why);
  const release = () => {
    dst.off('close', release);
    dst.off('drain', release);
    valve.release(why);
  };
  dst.once('drain', release);
  dst.once('close', release);
}

/** A sink that reports fullness by return value and recovers through a promise (the cast writer). */
export interface SoftSink {
  (buf: Buffer): boolean;
}

/** Feeds `buf` to a SoftSink; on false, holds `valve` until `drained()` resolves. */
export function feedHeld(sink: SoftSink, drained: () => Promise<void>, buf: Buffer, valve: Valve, why: string): void {
  if (sink(buf) || valve.held(why)) return;
  valve.hold(why);
  // Released either way: a writer that failed reports that itself (onFailure), the valve must not stay shut.
  drained().then(
    () => valve.release(why),
    () => valve.release(why),
  );
}

/** Relays bytes both ways between two channels (forwards), honouring backpressure each way. */
export function pipeBoth(a: Readable & Writable, b: Readable & Writable): void {
  const va = new Valve(a);
  const vb = new Valve(b);
  trackWritable(a);
  trackWritable(b);
  a.on('data', (buf: Buffer) => writeHeld(b, buf, va, 'peer'));
  b.on('data', (buf: Buffer) => writeHeld(a, buf, vb, 'peer'));
  a.once('end', () => b.end());
  b.once('end', () => a.end());
  a.once('close', () => b.destroy());
  b.once('close', () => a.destroy());
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}
