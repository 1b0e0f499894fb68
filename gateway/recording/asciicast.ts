// Streaming asciicast v2 writer: batches terminal chunks off the relay's hot path, flushes every second, seals with SHA-256.
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../clock.js';
import { JsonUtf8Encoder, roomFor } from './cast-encode.js';
import { HashedFile } from './hashed-file.js';
import { OutBuf } from './out-pool.js';

export interface CastHeader {
  width: number;
  height: number;
  title?: string;
  /** The TERM the vendor's client asked for in pty-req. */
  term?: string;
  gatehouse: { session: string; grant: string; user: string; target: string };
}

export interface CastWriterOptions {
  /** Upper bound on how long an event waits in memory (spec: at least every second). */
  flushIntervalMs?: number;
  /** Encode and write early once this much raw input is pending. */
  flushBytes?: number;
  /** Consecutive chunks of one stream closer than this become one event (0 = never coalesce). */
  coalesceMs?: number;
  /** fdatasync this often while live (0 = none on a schedule; bulk output still starts one every 16 MiB: hashed-file.ts). */
  fsyncIntervalMs?: number;
  /** Queued encoded bytes above which output()/input() return false (pause the source, await drained()). */
  highWaterBytes?: number;
  /** Queued encoded bytes at which the writer fails instead (fail closed: the source ignored backpressure). */
  maxBacklogBytes?: number;
  /** Refuse to open an existing file (default). Only tests and devices such as /dev/full turn it off. */
  exclusive?: boolean;
}

export interface SealResult {
  sha256: string;
  bytes: number;
  /** True when sealed with `incomplete` or after a write failure (the file may then end mid-line). */
  incomplete: boolean;
}

type Stream = 'o' | 'i';

const MAX_MARKER_CHARS = 4096;
/** An event's head, `[<seconds>, "o", "`, is at most this long. */
const HEAD_ROOM = 48;
const CLOSE = '"]\n';
/**
 * Queued bytes at which output()/input() ask the relay to pause. Why 2 MiB and not 8: a bulk writer then has ~10
 * LARGE buffers in flight rather than ~34, which the pool keeps at any rate (out-pool.ts) and which stay warmer in
 * the caches: on the bench box, recording a 1 GiB download cost the relay's thread 3.2–3.4 ms/MB against 3.6 with
 * 8 MiB and the pool keeping all 34 (docs/performance.md). The disk's thread sets the rate either way.
 */
const HIGH_WATER = 2 * 1024 * 1024;
/** Input encoded in one step: its worst case (6 bytes a byte) plus a head fits one LARGE pooled buffer. */
const MAX_PIECE = 40 * 1024;
/** Below this much room, a chunk moves on to a fresh buffer rather than being cut in small pieces. */
const MIN_PIECE = 2 * 1024;

/**
 * Bench only: bench/gatehouse-child.ts turns this on to measure what recording costs (o/i bytes are
 * dropped; header, markers and seal stay). Nothing in the gateway calls it; no config, env or request reaches it.
 */
let benchDropStreams = false;
export function benchOnlyDropRecordedStreams(on: boolean): void {
  benchDropStreams = on;
}

/** Seconds with at most 6 decimals; `String` keeps short values short (1.5, not 1.500000). */
const seconds = (ms: number): string => String(Math.round(ms * 1000) / 1e6);

const dimension = (n: number, fallback: number): number => (Number.isInteger(n) && n > 0 && n <= 10_000 ? n : fallback);

/**
 * Timing fidelity trade-off: chunks of one stream that arrive within `coalesceMs` (10 ms) of the
 * event's first chunk share that event and its timestamp, so playback shows them at once up to
 * 10 ms early. Below what a viewer can see, and it turns thousands of per-packet JSON lines
 * (the cost measured in ARCHITECTURE.md) into a few large ones.
 */
export class CastWriter {
  /** The pooled buffer events are encoded into, the next byte to write there, and the start of what is not yet queued. */
  private out: OutBuf | undefined;
  private pos = 0;
  private from = 0;
  /** The o/i event still taking chunks (its closing `"]` not yet written). */
  private open: { kind: Stream; atMs: number } | undefined;
  /** Input bytes encoded since the last write was queued. */
  private raw = 0;
  /** Something was recorded since the last tick (an idle writer gives its buffer back). */
  private active = false;
  private readonly encoders = { o: new JsonUtf8Encoder(), i: new JsonUtf8Encoder() };
  private readonly file: HashedFile;
  private lastMs: number;
  private lastSync = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly failureCallbacks: Array<(err: Error) => void> = [];
  private sealing: Promise<SealResult> | undefined;
  private readonly o: Required<Omit<CastWriterOptions, 'exclusive' | 'highWaterBytes' | 'maxBacklogBytes'>>;

  private constructor(
    fh: FileHandle,
    private readonly clock: Clock,
    private readonly startMs: number,
    opts: CastWriterOptions,
  ) {
    this.lastMs = startMs;
    this.o = {
      flushIntervalMs: opts.flushIntervalMs ?? 1000,
      flushBytes: opts.flushBytes ?? 256 * 1024,
      coalesceMs: opts.coalesceMs ?? 10,
      fsyncIntervalMs: opts.fsyncIntervalMs ?? 5000,
    };
    const limits = {
      highWaterBytes: opts.highWaterBytes ?? HIGH_WATER,
      maxBacklogBytes: opts.maxBacklogBytes ?? 64 * 1024 * 1024,
    };
    this.file = new HashedFile(fh, limits, (err) => this.failedWith(err));
  }

  /** Creates the file and writes the header; rejects (and leaves no writer) if that fails. */
  static async open(path: string, header: CastHeader, clock: Clock, opts: CastWriterOptions = {}) {
    // Why 0o700/0o600: recordings hold whatever crossed the session (configs, keystrokes).
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const fh = await open(path, opts.exclusive === false ? 'w' : 'wx', 0o600);
    const startMs = clock.now();
    const w = new CastWriter(fh, clock, startMs, opts);
    const head = {
      version: 2,
      width: dimension(header.width, 80),
      height: dimension(header.height, 24),
      timestamp: Math.floor(startMs / 1000),
      title: header.title ?? `gatehouse ${header.gatehouse.session}`,
      env: { TERM: header.term ?? 'xterm-256color' },
      gatehouse: header.gatehouse,
    };
    w.file.append(Buffer.from(`${JSON.stringify(head)}\n`));
    await w.file.settled();
    if (w.file.failed) {
      await w.file.close(false);
      throw w.file.failed;
    }
    w.timer = setInterval(() => w.tick(), w.o.flushIntervalMs);
    w.timer.unref();
    return w;
  }

  /**
   * Target → vendor bytes. Hot path: synchronous, never throws; `buf` is encoded before this returns (it
   * may be reused). Like Writable.write, false means the disk is behind: pause the source until drained().
   */
  output(buf: Buffer): boolean {
    return this.push('o', buf);
  }

  /** Vendor → target bytes (keystrokes, including those typed at no-echo password prompts). */
  input(buf: Buffer): boolean {
    return this.push('i', buf);
  }

  /** Resolves once the write backlog is at most half the high-water mark (or the writer failed). */
  drained(): Promise<void> {
    return this.file.drained();
  }

  resize(cols: number, rows: number): void {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols <= 0 || rows <= 0) return;
    this.event('r', `${cols}x${rows}`);
  }

  /** One marker per captured command; the label is the command text. */
  marker(label: string): void {
    this.event('m', label.length > MAX_MARKER_CHARS ? `${label.slice(0, MAX_MARKER_CHARS)}…` : label);
  }

  get failed(): Error | undefined {
    return this.file.failed;
  }

  /** Called once, asynchronously, on the first write failure (also when registered after it). */
  onFailure(cb: (err: Error) => void): void {
    if (this.file.failed) this.notify(cb, this.file.failed);
    else this.failureCallbacks.push(cb);
  }

  /** Writes everything recorded so far; resolves when it is in the file (or the writer failed). */
  async flush(): Promise<void> {
    this.kick();
    await this.file.settled();
  }

  /**
   * Flushes, fsyncs, closes; resolves with the SHA-256 of every byte in the file. After a failure it
   * still resolves (incomplete: true) with the hash of the bytes that did reach the file.
   */
  seal(opts: { incomplete?: boolean; reason?: string } = {}): Promise<SealResult> {
    this.sealing ??= this.doSeal(opts);
    return this.sealing;
  }

  private async doSeal(opts: { incomplete?: boolean; reason?: string }): Promise<SealResult> {
    clearInterval(this.timer);
    if (!this.file.failed) {
      this.closeEvent();
      // Bytes of a character the session never finished become U+FFFD instead of vanishing.
      for (const kind of ['o', 'i'] as const) {
        const enc = this.encoders[kind];
        if (enc.held === 0) continue;
        this.reserve(roomFor(enc.held) + HEAD_ROOM + CLOSE.length);
        this.writeHead(kind, this.stamp());
        this.pos = enc.endInto(this.out!.buf, this.pos);
        this.closeEvent();
      }
      if (opts.incomplete) this.event('m', `recording incomplete: ${opts.reason ?? 'session ended abnormally'}`);
      this.kick();
    }
    this.closed = true;
    this.dropBuffer();
    const { sha256, bytes } = await this.file.close(true);
    return { sha256, bytes, incomplete: !!opts.incomplete || !!this.file.failed };
  }

  /** Encodes `buf` straight into the pooled buffer: no per-event objects, and `buf` is not kept (it dies young). */
  private push(kind: Stream, buf: Buffer): boolean {
    if (this.closed || this.file.failed || benchDropStreams) return true;
    if (buf.length > 0) {
      const at = this.stamp();
      if (this.open && (this.open.kind !== kind || at - this.open.atMs > this.o.coalesceMs)) this.closeEvent();
      const enc = this.encoders[kind];
      for (let off = 0; off < buf.length;) {
        const left = buf.length - off;
        // As much as surely fits what is left of the buffer; a fresh one when that is too little.
        let take = Math.min(left, this.fits(enc.held));
        if (take < Math.min(left, MIN_PIECE)) {
          this.reserve(roomFor(enc.held + Math.min(left, MAX_PIECE)) + HEAD_ROOM + CLOSE.length);
          take = Math.min(left, this.fits(enc.held));
        }
        const piece = take === buf.length ? buf : buf.subarray(off, off + take);
        const start = this.pos;
        const opened = !this.open;
        if (opened) this.writeHead(kind, at);
        const end = enc.writeInto(piece, this.out!.buf, this.pos);
        if (opened && end === this.pos) {
          // Only the start of a multi-byte character: it goes out with the next event.
          this.pos = start;
          this.open = undefined;
        } else this.pos = end;
        off += take;
      }
      this.active = true;
      this.raw += buf.length;
      if (this.raw >= this.o.flushBytes) this.kick();
    }
    return this.file.ready;
  }

  private event(kind: 'r' | 'm', data: string): void {
    if (this.closed || this.file.failed) return;
    this.closeEvent();
    const line = `[${seconds(this.stamp() - this.startMs)}, "${kind}", ${JSON.stringify(data)}]\n`;
    this.reserve(Buffer.byteLength(line));
    this.pos += this.out!.buf.write(line, this.pos, 'utf8');
    this.active = true;
  }

  private writeHead(kind: Stream, atMs: number): void {
    this.pos += this.out!.buf.write(`[${seconds(atMs - this.startMs)}, "${kind}", "`, this.pos, 'latin1');
    this.open = { kind, atMs };
  }

  /** Ends the open o/i event (its room was reserved with it). */
  private closeEvent(): void {
    if (!this.open) return;
    this.pos += this.out!.buf.write(CLOSE, this.pos, 'latin1');
    this.open = undefined;
  }

  /** Input bytes (after `held` carried ones) whose worst case fits after pos, with a head and a close. */
  private fits(held: number): number {
    if (!this.out) return 0;
    return Math.floor((this.out.buf.length - this.pos - HEAD_ROOM - CLOSE.length - roomFor(0)) / 6) - held;
  }

  /** Makes sure `bytes` fit after pos: else queues what the buffer holds and moves to a fresh one (an open event continues there). */
  private reserve(bytes: number): void {
    if (this.out && this.out.buf.length - this.pos >= bytes) return;
    this.queueFilled();
    this.out?.release();
    this.out = OutBuf.take(bytes);
    this.pos = this.from = 0;
  }

  /** Hands what was encoded since the last call to the file (which holds the buffer until it is written). */
  private queueFilled(): void {
    if (!this.out || this.pos === this.from) return;
    this.out.retain();
    this.file.append(this.out.buf.subarray(this.from, this.pos), this.out);
    this.from = this.pos;
    this.raw = 0;
  }

  private dropBuffer(): void {
    this.out?.release();
    this.out = undefined;
    this.pos = this.from = 0;
  }

  /** Why clamp: wall clocks step backwards (NTP); asciicast times must never decrease. */
  private stamp(): number {
    const now = this.clock.now();
    if (now > this.lastMs) this.lastMs = now;
    return this.lastMs;
  }

  private tick(): void {
    this.kick();
    // Idle since the last tick: give the buffer back to the pool (an idle session holds none).
    if (!this.active) this.dropBuffer();
    this.active = false;
    if (this.o.fsyncIntervalMs > 0 && performance.now() - this.lastSync >= this.o.fsyncIntervalMs) {
      this.lastSync = performance.now();
      this.file.datasync();
    }
  }

  /** Closes the open event and queues ONE write for everything encoded so far. Never throws. */
  private kick(): void {
    if (this.file.failed) return;
    try {
      this.closeEvent();
      this.queueFilled();
    } catch (err) {
      this.file.fail(err);
    }
  }

  private failedWith(err: Error): void {
    this.open = undefined;
    this.dropBuffer();
    clearInterval(this.timer);
    for (const cb of this.failureCallbacks.splice(0)) this.notify(cb, err);
  }

  /** Why async: a failure can surface inside output(); the session layer must not re-enter the relay there. */
  private notify(cb: (err: Error) => void, err: Error): void {
    queueMicrotask(() => {
      try {
        cb(err);
      } catch {
        // A broken callback must not turn a recording failure into a gateway crash.
      }
    });
  }
}
