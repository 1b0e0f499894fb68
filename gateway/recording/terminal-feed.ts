// A headless xterm fed with a session's output under a bounded backlog, with "run this once everything so far is parsed".
import xterm from '@xterm/headless';

interface Chunk {
  buf: Buffer;
  hooks: Array<() => void>;
}

const FEED_BUDGET = 256 * 1024; // bytes handed to xterm and not yet parsed
const MAX_BACKLOG = 4 * 1024 * 1024; // beyond this (bulk output: xterm parsed ~35 MB/s on the dev VM) skip ahead
const KEEP_TAIL = 256 * 1024; // …keeping the newest bytes, which hold the screen the next prompt lands on
const SCREEN_MODES = /\x1b\[\?(1049|1047|47|2004)[hl]/g;

/**
 * xterm's write() parses later (its own timer); its callback runs right after that chunk is parsed,
 * before the next one. whenParsed() hangs work on the newest chunk's callback, so it sees the
 * screen exactly as of the output received when it was called — not what arrived after.
 */
export class TerminalFeed {
  readonly term: xterm.Terminal;
  private queue: Chunk[] = [];
  private queuedBytes = 0;
  private inflight = 0;
  private lastFed: Chunk | undefined;
  /** performance.now() of the latest write(). */
  lastOutputAt = 0;
  private readonly outputWaiters = new Set<() => void>();
  private disposed = false;

  constructor(cols: number, rows: number) {
    this.term = new xterm.Terminal({ cols, rows, scrollback: 200, allowProposedApi: true });
  }

  /** Never throws; keeps a reference to `buf`. */
  write(buf: Buffer): void {
    if (this.disposed || buf.length === 0) return;
    this.lastOutputAt = performance.now();
    for (const w of [...this.outputWaiters]) w();
    this.queue.push({ buf, hooks: [] });
    this.queuedBytes += buf.length;
    if (this.queuedBytes > MAX_BACKLOG) this.skipAhead();
    this.pump();
  }

  /** Runs `fn` once all output written so far is parsed, synchronously in xterm's write callback. */
  whenParsed(fn: () => void): void {
    if (this.disposed) return;
    const last = this.queue.at(-1) ?? this.lastFed;
    if (last) last.hooks.push(fn);
    else fn();
  }

  /** Resolves once no output came for `ms` since `since` (performance.now() time; at most `maxMs` from now). */
  async quiet(ms: number, maxMs: number, since = 0): Promise<void> {
    const until = performance.now() + maxMs;
    for (;;) {
      const now = performance.now();
      const wait = Math.min(Math.max(this.lastOutputAt, since) + ms - now, until - now);
      if (wait <= 0) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Resolves at the next write() of output, or at `deadline` (performance.now() time), or on dispose. */
  nextOutput(deadline: number): Promise<void> {
    const wait = deadline - performance.now();
    if (this.disposed || wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.outputWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.outputWaiters.add(done);
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const w of [...this.outputWaiters]) w();
    this.queue = [];
    this.term.dispose();
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inflight < FEED_BUDGET && !this.disposed) {
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.buf.length;
      this.inflight += chunk.buf.length;
      this.lastFed = chunk;
      this.term.write(chunk.buf, () => {
        this.inflight -= chunk.buf.length;
        if (this.lastFed === chunk) this.lastFed = undefined;
        for (const hook of chunk.hooks) {
          try {
            if (!this.disposed) hook();
          } catch {
            // A failed read must not stop the parser.
          }
        }
        this.pump();
      });
    }
  }

  /**
   * Bulk output (cat of a big file) outruns the parser: drop the oldest queued bytes, keep the
   * newest, and replay the screen modes the dropped bytes set (alternate screen, bracketed paste).
   */
  private skipAhead(): void {
    const hooks: Array<() => void> = [];
    const modes = new Map<string, string>();
    while (this.queuedBytes > KEEP_TAIL && this.queue.length > 1) {
      const dropped = this.queue.shift()!;
      this.queuedBytes -= dropped.buf.length;
      hooks.push(...dropped.hooks);
      for (const m of dropped.buf.toString('latin1').matchAll(SCREEN_MODES))
        modes.set(m[1] === '2004' ? 'paste' : 'screen', m[0]);
    }
    const replay = Buffer.from([...modes.values()].join(''), 'latin1');
    if (replay.length > 0) {
      this.queue.unshift({ buf: replay, hooks });
      this.queuedBytes += replay.length;
    } else this.queue[0]!.hooks.unshift(...hooks);
  }
}
