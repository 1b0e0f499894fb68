// A headless xterm fed with a session's output under a bounded backlog, with "run this once everything so far is parsed";
// created when first needed, parsed when someone looks or the output pauses, and put away as a string while the session idles.
import xterm from '@xterm/headless';
import { snapshotScreen } from './screen-snapshot.js';

interface Chunk {
  buf: Buffer;
  hooks: Array<() => void>;
}

const FEED_BUDGET = 64 * 1024; // bytes handed to xterm and not yet parsed
/**
 * With the terminal awake and nothing in the parser, output up to this much that follows a pause is parsed at once
 * (an echo, a prompt). Output that follows output closely is a stream: it waits for its pause.
 */
const PARSE_NOW = 4 * 1024;
/**
 * Otherwise output waits, unparsed, for someone to look (whenParsed: a key, an Enter, a viewer) or, from this
 * much on (or with the terminal awake), for a pause of PARSE_QUIET_MS. Why: a few KiB of raw output are far
 * smaller than a terminal, so an idle session that was never typed into never creates one.
 */
const PARSE_BATCH = 64 * 1024;
const PARSE_QUIET_MS = 30;
/**
 * Unparsed output kept: the newest bytes, which hold the screen the next prompt lands on. Why this little: a screen
 * is at most a few KiB of text (200 × 50 cells), and everything before the newest 64 KiB of a stream has scrolled
 * away by then; what it parses at a pause (at most twice this) costs a few ms, whatever the size of the stream.
 */
const KEEP_TAIL = 64 * 1024;
const SCREEN_MODES = /\x1b\[\?(1049|1047|47|2004)[hl]/g;
const MODE_PREFIX = Buffer.from('\x1b[?');
const SCROLLBACK = 200;

export interface TerminalFeedOptions {
  /** No output for this long and everything parsed: the terminal is serialized and disposed until needed again. */
  idleMs?: number;
}

/**
 * xterm's write() parses later (its own timer); its callback runs right after that chunk is parsed,
 * before the next one. whenParsed() hangs work on the newest chunk's callback, so it sees the
 * screen exactly as of the output received when it was called — not what arrived after.
 *
 * Why parse lazily: xterm parses ~35 MB/s on the dev VM, so bulk output (cat of a big file, the browser
 * terminal's bench) parsed as it comes cost more CPU than the relay and the recorder together, for a screen
 * nobody reads until the output stops. Why put the terminal away: it is ~300 KiB, most of an idle session's
 * memory; its serialized screen is a few KiB, and the next output or look restores it first.
 */
export class TerminalFeed {
  private t: xterm.Terminal | undefined;
  /** The serialized screen (scrollback included) of the put-away terminal. */
  private saved: string | undefined;
  private size: { cols: number; rows: number };
  private queue: Chunk[] = [];
  private queuedBytes = 0;
  private inflight = 0;
  private lastFed: Chunk | undefined;
  /** performance.now() of the latest write(). */
  lastOutputAt = 0;
  /** …of the latest write() or whenParsed(): the terminal is put away only once neither came for idleMs. */
  private lastUse = 0;
  private readonly outputWaiters = new Set<() => void>();
  private parseTimer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  /** A hook nobody waits for is queued on the put-away terminal: wake it after the next output's turn. */
  private wakeOnOutput = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private disposed = false;
  /** Bytes handed to the parser so far (tests: bulk output is not parsed byte for byte). */
  fedBytes = 0;

  constructor(cols: number, rows: number, opts: TerminalFeedOptions = {}) {
    this.size = { cols, rows };
    this.idleMs = opts.idleMs ?? 3000;
  }

  /** The terminal; only valid inside a whenParsed() callback (it may be put away in between). */
  get term(): xterm.Terminal {
    if (!this.t) throw new Error('terminal read outside whenParsed()');
    return this.t;
  }

  get cols(): number {
    return this.t?.cols ?? this.size.cols;
  }

  get rows(): number {
    return this.t?.rows ?? this.size.rows;
  }

  /** True while the terminal exists (tests: it is put away while idle). */
  get awake(): boolean {
    return this.t !== undefined;
  }

  /** Never throws; keeps a reference to `buf`. */
  write(buf: Buffer): void {
    if (this.disposed || buf.length === 0) return;
    const now = performance.now();
    const streaming = now - this.lastOutputAt < PARSE_QUIET_MS;
    this.lastOutputAt = this.lastUse = now;
    if (this.outputWaiters.size > 0) for (const w of [...this.outputWaiters]) w();
    this.queue.push({ buf, hooks: [] });
    this.queuedBytes += buf.length;
    if (this.queuedBytes > 2 * KEEP_TAIL) this.skipAhead();
    if (this.wakeOnOutput && !this.t) this.pumpSoon();
    else if (this.t && this.inflight === 0 && this.queuedBytes <= PARSE_NOW && !streaming) this.pump();
    else if (this.t || this.queuedBytes >= PARSE_BATCH) this.parseWhenQuiet();
  }

  /**
   * Runs `fn` once all output written so far is parsed, synchronously in xterm's write callback. Never creates the
   * terminal in the caller's turn (a new xterm costs milliseconds, and the caller is often a keystroke on its way
   * to the target): that happens on the next loop turn, before the output is parsed. `lazy`: nobody waits for `fn`
   * (the prompt read at a line's first key), so a put-away terminal is woken only after the turn of the next output
   * — the key's echo, already relayed by then — or by the next look that is not lazy. Why: woken on the next turn,
   * it was created and fed its saved screen in the very gap the echo was on its way back in.
   */
  whenParsed(fn: () => void, opts: { lazy?: boolean } = {}): void {
    if (this.disposed) return;
    this.lastUse = performance.now();
    if (!this.t) this.queueSaved();
    const last = this.queue.at(-1) ?? this.lastFed;
    if (last) {
      last.hooks.push(fn);
      if (this.t) this.pump();
      else if (opts.lazy) this.wakeOnOutput = true;
      else this.pumpSoon();
      return;
    }
    // Nothing was ever written: a blank screen.
    this.wake();
    fn();
    this.putAwayWhenIdle();
  }

  /** Resizes the terminal once the output so far is parsed (the size then applies to what follows). */
  resize(cols: number, rows: number): void {
    this.whenParsed(() => this.term.resize(cols, rows));
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
    clearTimeout(this.parseTimer);
    clearTimeout(this.idleTimer);
    if (this.soon) clearImmediate(this.soon);
    this.queue = [];
    this.saved = undefined;
    this.t?.dispose();
    this.t = undefined;
  }

  /** Creates the terminal (first use), or restores the put-away one: its saved screen is parsed before anything else. */
  private wake(): void {
    if (this.t || this.disposed) return;
    this.t = new xterm.Terminal({ ...this.size, scrollback: SCROLLBACK, allowProposedApi: true });
    this.queueSaved();
  }

  /** Puts the saved screen first in the queue (the terminal, when created, parses it before the rest). */
  private queueSaved(): void {
    if (this.saved === undefined) return;
    this.queue.unshift({ buf: Buffer.from(this.saved), hooks: [] });
    this.queuedBytes += this.queue[0]!.buf.length;
    this.saved = undefined;
  }

  /** Parses (waking the terminal) on the next loop turn. */
  private pumpSoon(): void {
    this.soon ??= setImmediate(() => {
      this.soon = undefined;
      this.pump();
    });
  }

  private pump(): void {
    this.wakeOnOutput = false;
    clearTimeout(this.parseTimer);
    this.parseTimer = undefined;
    if (this.queue.length > 0) this.wake();
    while (this.queue.length > 0 && this.inflight < FEED_BUDGET && !this.disposed) {
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.buf.length;
      this.inflight += chunk.buf.length;
      this.fedBytes += chunk.buf.length;
      this.lastFed = chunk;
      this.t!.write(chunk.buf, () => this.parsed(chunk));
    }
  }

  private parsed(chunk: Chunk): void {
    this.inflight -= chunk.buf.length;
    if (this.lastFed === chunk) this.lastFed = undefined;
    for (const hook of chunk.hooks) {
      try {
        if (!this.disposed) hook();
      } catch {
        // A failed read must not stop the parser.
      }
    }
    // Hooks still waiting ride on queued chunks: keep going. Otherwise the rest waits for a pause in the output.
    const quiet = performance.now() - this.lastOutputAt >= PARSE_QUIET_MS;
    if (this.queue.some((c) => c.hooks.length > 0) || (quiet && this.queuedBytes <= PARSE_NOW)) this.pump();
    else if (this.queue.length > 0) this.parseWhenQuiet();
    if (this.queue.length === 0 && this.inflight === 0) this.putAwayWhenIdle();
  }

  private parseWhenQuiet(): void {
    if (this.parseTimer || this.disposed) return;
    const wait = this.lastOutputAt + PARSE_QUIET_MS - performance.now();
    this.parseTimer = setTimeout(
      () => {
        this.parseTimer = undefined;
        if (performance.now() - this.lastOutputAt >= PARSE_QUIET_MS) this.pump();
        else this.parseWhenQuiet();
      },
      Math.max(1, wait),
    );
    this.parseTimer.unref();
  }

  private putAwayWhenIdle(): void {
    if (this.idleTimer || this.disposed) return;
    const wait = this.lastUse + this.idleMs - performance.now();
    this.idleTimer = setTimeout(
      () => {
        this.idleTimer = undefined;
        if (!this.t || this.disposed || this.queue.length > 0 || this.inflight > 0) return;
        if (performance.now() - this.lastUse < this.idleMs) return this.putAwayWhenIdle();
        this.saved = snapshotScreen(this.t, SCROLLBACK).data;
        this.size = { cols: this.t.cols, rows: this.t.rows };
        this.t.dispose();
        this.t = undefined;
      },
      Math.max(1, wait),
    );
    this.idleTimer.unref();
  }

  /**
   * Bulk output (cat of a big file) outruns the parser: drop the oldest queued bytes, keep the newest KEEP_TAIL
   * (from a line start where one is near), and replay the screen modes the dropped bytes set (alternate screen,
   * bracketed paste).
   */
  private skipAhead(): void {
    const hooks: Array<() => void> = [];
    const modes = new Map<string, string>();
    const noteModes = (dropped: Buffer) => {
      if (dropped.indexOf(MODE_PREFIX) < 0) return; // native search first: most bulk output has no mode change
      for (const m of dropped.toString('latin1').matchAll(SCREEN_MODES))
        modes.set(m[1] === '2004' ? 'paste' : 'screen', m[0]);
    };
    while (this.queuedBytes - this.queue[0]!.buf.length >= KEEP_TAIL && this.queue.length > 1) {
      const dropped = this.queue.shift()!;
      this.queuedBytes -= dropped.buf.length;
      hooks.push(...dropped.hooks);
      noteModes(dropped.buf);
    }
    // The oldest kept chunk may still reach far back (one big chunk): keep its tail, from the line start after the cut.
    const first = this.queue[0]!;
    const over = this.queuedBytes - KEEP_TAIL;
    if (over > 0) {
      const nl = first.buf.indexOf(0x0a, over);
      const cut = nl >= 0 && nl - over < 4096 && nl + 1 < first.buf.length ? nl + 1 : over;
      noteModes(first.buf.subarray(0, cut));
      first.buf = first.buf.subarray(cut);
      this.queuedBytes -= cut;
    }
    const replay = Buffer.from([...modes.values()].join(''), 'latin1');
    if (replay.length > 0) {
      this.queue.unshift({ buf: replay, hooks });
      this.queuedBytes += replay.length;
    } else first.hooks.unshift(...hooks);
  }
}
