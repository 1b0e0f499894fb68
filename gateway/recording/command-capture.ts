// The command a vendor submitted, read at Enter off a headless terminal fed with the session's output (what the screen shows).
//
// Why the screen and not the keystrokes: tab completion, history recall and line editing happen in
// the target's shell; only its echo shows the line it will run. The relay calls, per session:
//   output(buf)  every target → vendor chunk          resize(cols, rows)  on window-change
//   input(buf)   vendor → target bytes; returns the offsets of Enter bytes that submit a line
//   read()/lineAtCursor()  once per returned Enter, in order: the screen once all output received
//                so far is parsed (call before forwarding that Enter, or right after — later output is not seen)
import { type ScreenSnapshot, snapshotScreen } from './screen-snapshot.js';
import { TerminalFeed } from './terminal-feed.js';

export interface CapturedLine {
  /** The command without the prompt, trimmed; '' in a full-screen app or when nothing is shown. */
  text: string;
  /** The alternate screen is active (vim, less, top): keystrokes there are not shell commands. */
  fullScreen: boolean;
  /** Input bytes typed for this line (Enter excluded): > 0 with text '' means input that was not echoed. */
  typed: number;
  /**
   * Text the vendor pasted into this line (bracketed paste), as sent. The shell inserts it as is, so
   * the relay should judge it too: the screen may render a multi-line paste in ways capture misreads.
   */
  pasted?: string;
  /**
   * The text came from the keys too, not the screen alone: they were plain (printable, backspace) and
   * the screen did not show them (yet) as the line — a slow link, a per-key echo behind a fast paste.
   */
  fromKeys?: true;
}

/** One look at the screen for a line (see look()). */
interface Seen {
  line: CapturedLine;
  prompt?: string;
  /** The logical line left of the cursor, trimmed right. */
  left: string;
}

interface Line {
  prompt?: string;
  pastedNewlines: number;
  typed: number;
  paste?: number[]; // bytes, up to MAX_PASTE
  /** The line as typed, while every key was printable or backspace; undefined after any other key. */
  keys?: number[];
  /** performance.now() when its first and last keys were seen: output after them is (or includes) their echo. */
  firstKeyAt?: number;
  lastKeyAt?: number;
}

const MAX_PASTE = 64 * 1024;
const PASTE_MODE = Buffer.from('\x1b[?2004');
/** Fallback only (no known prompt on the line): the shortest prefix ending in a usual prompt sign. */
const GENERIC_PROMPT = /^[^\n]{0,120}?[$#%>] /;
/** What asks for a secret ("Password: ", "Enter passphrase for key …: "): unechoed keys there are never a command. */
const SECRET_PROMPT = /:$|\b(password|passphrase|passcode|pin|secret|token|otp)\b/i;
const MAX_KEYS = 4096;

export class CommandCapture {
  private readonly feed: TerminalFeed;
  private current: Line | undefined; // undefined: the next input byte starts a new line
  private readonly submitted: Line[] = [];
  private prompts: string[] = []; // prompts that matched at an Enter, most recent first
  private bracketedPaste = false; // as of the output received (not yet parsed): what the shell asked for
  private pasteSeq = 0; // bytes of ESC [ 2 0 0/1 ~ matched so far
  private pasteEnd = false;
  private inPaste = false;
  private prev = -1;
  private disposed = false;
  private readonly waiters = new Set<(line: CapturedLine) => void>();

  /** `idleMs`: how long without output before the screen is kept as a string alone (TerminalFeed). */
  constructor(cols: number, rows: number, opts: { idleMs?: number } = {}) {
    this.feed = new TerminalFeed(size(cols, 80), size(rows, 24), opts);
  }

  /** Only inside a feed.whenParsed() callback. */
  private get term() {
    return this.feed.term;
  }

  /** The headless terminal exists (false before the first output and while the session idles). */
  get awake(): boolean {
    return this.feed.awake;
  }

  /** Target → vendor bytes. Never throws; keeps a reference to `buf`. */
  output(buf: Buffer): void {
    if (this.disposed) return;
    if (buf.indexOf(PASTE_MODE) >= 0)
      for (const m of buf.toString('latin1').matchAll(/\x1b\[\?2004([hl])/g)) this.bracketedPaste = m[1] === 'h';
    this.feed.write(buf);
  }

  resize(cols: number, rows: number): void {
    this.feed.resize(size(cols, this.feed.cols), size(rows, this.feed.rows));
  }

  /**
   * Vendor → target bytes. Returns the offsets in `buf` of the Enter bytes (\r, \n; \r\n counts once;
   * Ctrl-O, bash's accept-and-next) that submit a line. Inside a bracketed paste, newlines do not
   * submit — but only while the target asked for bracketed paste (why: otherwise a vendor could wrap
   * a command in paste brackets that the shell ignores, and run it unseen).
   */
  input(buf: Buffer): number[] {
    const enters: number[] = [];
    const now = performance.now();
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      const wasPasting = this.inPaste && this.bracketedPaste;
      this.trackPaste(b);
      const pasting = this.inPaste && this.bracketedPaste;
      if (wasPasting && this.current) {
        this.current.paste ??= [];
        if (this.current.paste.length < MAX_PASTE) this.current.paste.push(b);
      }
      if (b === 0x0a && this.prev === 0x0d && !pasting) {
        this.prev = b;
        continue;
      }
      this.prev = b;
      const line = this.current ?? this.startLine();
      if ((b === 0x0d || b === 0x0a) && pasting) line.pastedNewlines++;
      else if (b === 0x0d || b === 0x0a || b === 0x0f) {
        enters.push(i);
        this.submitted.push(line);
        if (this.submitted.length > 64) this.submitted.shift();
        this.current = undefined;
        continue;
      } else if (b === 0x03 && !pasting) this.current = undefined; // Ctrl-C abandons the line
      line.typed++;
      line.firstKeyAt ??= now;
      line.lastKeyAt = now;
      keyInto(line, b, wasPasting || pasting);
    }
    return enters;
  }

  /**
   * The oldest submitted line not yet read (or the line being typed), as the screen shows it.
   * `quietMs`: the Enter may arrive before the echo of the keys before it — wait, up to `maxWaitMs`,
   * until the screen shows the keys typed (plain keys), or else until output has paused for `quietMs`
   * counted from this call (the keys were just sent: older quiet says nothing about their echo). If the
   * echo still shows only a beginning of plain keys, the keys are the line (see CapturedLine.fromKeys).
   */
  read(opts: { quietMs?: number; maxWaitMs?: number } = {}): Promise<CapturedLine> {
    const line = this.submitted.shift() ?? this.current ?? { pastedNewlines: 0, typed: 0 };
    if (this.disposed) return Promise.resolve({ text: '', fullScreen: false, typed: 0 });
    return new Promise((resolve) => {
      const done = (l: CapturedLine) => {
        this.waiters.delete(done);
        resolve(l);
      };
      this.waiters.add(done);
      this.settle(line, opts).then(
        (l) => (this.disposed ? undefined : done(l)),
        () => done({ text: '', fullScreen: false, typed: 0 }),
      );
    });
  }

  /**
   * Resolves once the target has answered what was just sent to it: output has come, then paused for
   * `quietMs`; at most `maxWaitMs` in all (a target that prints nothing is not waited for longer).
   */
  async answered(opts: { quietMs: number; maxWaitMs: number }): Promise<void> {
    const deadline = performance.now() + opts.maxWaitMs;
    await this.feed.nextOutput(deadline);
    await this.feed.quiet(opts.quietMs, deadline - performance.now());
  }

  private async settle(line: Line, opts: { quietMs?: number; maxWaitMs?: number }): Promise<CapturedLine> {
    const since = performance.now();
    const deadline = since + (opts.maxWaitMs ?? 250);
    let seen = await this.look(line);
    if (opts.quietMs && !this.echoed(seen, line)) {
      await this.feed.quiet(opts.quietMs, deadline - performance.now(), since);
      for (;;) {
        seen = await this.look(line);
        const noEcho = line.lastKeyAt !== undefined && this.feed.lastOutputAt < line.lastKeyAt;
        const settled =
          this.echoed(seen, line) || this.secret(seen, line) || (this.keysText(line) === undefined && !noEcho);
        if (settled || performance.now() >= deadline) break;
        // Plain keys not yet on the screen, or no output at all since the last key: the echo (or the
        // redraw after a cleared line) is behind. Wait for more (not after "Password:": nothing will come).
        await this.feed.nextOutput(deadline);
        await this.feed.quiet(Math.min(opts.quietMs, 10), deadline - performance.now());
      }
    }
    return this.conclude(seen, line);
  }

  /** The screen once all output so far is parsed: the line, the prompt it matched, the text left of the cursor. */
  private look(line: Line): Promise<Seen> {
    return new Promise((resolve) =>
      this.feed.whenParsed(() => {
        const b = this.term.buffer.active;
        const y = b.baseY + b.cursorY;
        const left = this.rowsText(this.logicalStart(y), y - 1) + this.row(y).translateToString(false, 0, b.cursorX);
        resolve({ ...this.lineOf(line), left: left.trimEnd() });
      }),
    );
  }

  private keysText(line: Line): string | undefined {
    return line.keys && Buffer.from(line.keys).toString('utf8').trim();
  }

  /** The plain keys typed are on the screen, left of the cursor: their echo is complete. */
  private shown(seen: Seen, keys: string | undefined): boolean {
    return keys !== undefined && (keys === seen.line.text || (keys !== '' && seen.left.endsWith(keys)));
  }

  private echoed(seen: Seen, line: Line): boolean {
    return app(seen) || this.shown(seen, this.keysText(line));
  }

  /**
   * The line to judge. Why trust plain keys the screen does not show (yet): the shell got them all and
   * will run them, so judging the screen's beginning ("p" of "plc download"), or a screen from before
   * they were typed (nothing printed since), would let a command through unjudged. Not after a prompt
   * that asks for a secret: keys there are never echoed and never a command. When the screen shows
   * another line than the keys (text left from before, a prompt guessed wrong), both are judged.
   */
  private conclude(seen: Seen, line: Line): CapturedLine {
    const l = seen.line;
    const keys = this.keysText(line);
    if (keys === undefined || keys === '' || keys === l.text || app(seen)) {
      // A prompt is learned only off a line that shows what was typed (a stale screen would teach a command as a prompt).
      if (seen.prompt !== undefined && (l.text !== '' || line.typed === 0)) this.learn(seen.prompt);
      return l;
    }
    if (this.secret(seen, line)) return l;
    const both = seen.left.endsWith(keys) || !keys.startsWith(l.text);
    return { ...l, text: both && l.text !== '' ? `${l.text}\n${keys}` : keys, fromKeys: true };
  }

  /** Unechoed keys after a prompt that asks for a secret (nothing printed since they were typed, or nothing on the line). */
  private secret(seen: Seen, line: Line): boolean {
    const stale = line.firstKeyAt !== undefined && this.feed.lastOutputAt < line.firstKeyAt;
    return (
      (stale || seen.line.text === '') && !this.shown(seen, this.keysText(line)) && SECRET_PROMPT.test(seen.left.trim())
    );
  }

  private learn(prompt: string): void {
    this.prompts = [prompt, ...this.prompts.filter((p) => p !== prompt)].slice(0, 4);
  }

  /**
   * The current input line without the prompt. `quietMs`: first wait until no output came for that
   * long (an Enter can arrive before the echo of the keys typed just before it) — only while the relay
   * holds the Enter back, or output caused by the Enter would be read too.
   */
  async lineAtCursor(opts?: { quietMs?: number; maxWaitMs?: number }): Promise<string> {
    return (await this.read(opts)).text;
  }

  /** The screen as of all output received so far (live view); blank once disposed. */
  snapshot(): Promise<ScreenSnapshot> {
    if (this.disposed) return Promise.resolve({ data: '', cols: this.feed.cols, rows: this.feed.rows });
    return new Promise((resolve) => this.feed.whenParsed(() => resolve(snapshotScreen(this.term))));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const w of [...this.waiters]) w({ text: '', fullScreen: false, typed: 0 });
    this.feed.dispose();
  }

  private startLine(): Line {
    const line: Line = { pastedNewlines: 0, typed: 0, keys: [] };
    this.current = line;
    // The prompt is the text left of the cursor once the output that came before this key is parsed. Lazy: nobody
    // waits for it before the line is read, and this key's echo should not wait behind a terminal's wake-up.
    this.feed.whenParsed(
      () => {
        const b = this.term.buffer.active;
        const y = b.baseY + b.cursorY;
        const start = this.logicalStart(y);
        line.prompt = this.rowsText(start, y - 1) + this.row(y).translateToString(false, 0, b.cursorX);
      },
      { lazy: true },
    );
    return line;
  }

  private lineOf(line: Line): { line: CapturedLine; prompt?: string } {
    const b = this.term.buffer.active;
    const fullScreen = b.type === 'alternate';
    const pasted =
      line.paste &&
      Buffer.from(line.paste)
        .toString('utf8')
        .replace(/\x1b\[201~$/, '');
    const extra = pasted ? { pasted } : {};
    const y = b.baseY + b.cursorY;
    const end = this.logicalEnd(y);
    // Longest first: a longer known prompt that matches is the more specific one. The prompt seen at the
    // line's first key is stale when keys were typed ahead of a redraw: a known prompt plus text is not one.
    const own = line.prompt ?? '';
    const stale = this.prompts.some((p) => own.startsWith(p) && own.slice(p.length).trim() !== '');
    const known = fullScreen || stale ? this.prompts : [own, ...this.prompts];
    const candidates = [...new Set(known)].filter((p) => p.trim() !== '').sort((p, q) => q.length - p.length);
    // A bracketed paste with newlines spans several screen lines: look up that many for the prompt.
    let start = this.logicalStart(y);
    for (let hop = 0; ; hop++) {
      const first = this.rowsText(start, this.logicalEnd(start));
      const prompt = candidates.find((p) => first.startsWith(p));
      if (prompt !== undefined) {
        const text = this.linesText(start, end).slice(prompt.length).trim();
        return { line: { text, fullScreen, typed: line.typed, ...extra }, prompt };
      }
      if (hop >= line.pastedNewlines || start === 0) break;
      start = this.logicalStart(start - 1);
    }
    // Why a shell prompt is still honoured on the alternate screen: `printf '\e[?1049h'` must not
    // switch command capture (and enforce mode) off for the shell that keeps running there.
    if (fullScreen) return { line: { text: '', fullScreen, typed: line.typed, ...extra } };
    const text = this.linesText(this.logicalStart(y), end);
    return { line: { text: text.replace(GENERIC_PROMPT, '').trim(), fullScreen, typed: line.typed, ...extra } };
  }

  private row(y: number) {
    const line = this.term.buffer.active.getLine(y);
    if (!line) throw new Error(`no buffer line ${y}`);
    return line;
  }

  private logicalStart(y: number): number {
    while (y > 0 && this.term.buffer.active.getLine(y)?.isWrapped) y--;
    return y;
  }

  private logicalEnd(y: number): number {
    while (this.term.buffer.active.getLine(y + 1)?.isWrapped) y++;
    return y;
  }

  /** Rows from..to as one string, untrimmed (a wrapped row's trailing blanks are part of the text). */
  private rowsText(from: number, to: number): string {
    let s = '';
    for (let y = from; y <= to; y++) s += this.row(y).translateToString(false);
    return s;
  }

  /** Logical lines from..to (each trimmed right), joined with \n. */
  private linesText(from: number, to: number): string {
    const lines: string[] = [];
    for (let y = from; y <= to; y = this.logicalEnd(y) + 1) lines.push(this.rowsText(y, this.logicalEnd(y)).trimEnd());
    return lines.join('\n');
  }

  private trackPaste(b: number): void {
    // ESC [ 2 0 0 ~ starts a paste, ESC [ 2 0 1 ~ ends it (split across chunks is fine).
    const want = [0x1b, 0x5b, 0x32, 0x30][this.pasteSeq];
    if (this.pasteSeq < 4) this.pasteSeq = b === want ? this.pasteSeq + 1 : b === 0x1b ? 1 : 0;
    else if (this.pasteSeq === 4 && (b === 0x30 || b === 0x31)) {
      this.pasteEnd = b === 0x31;
      this.pasteSeq = 5;
    } else {
      if (this.pasteSeq === 5 && b === 0x7e) this.inPaste = !this.pasteEnd;
      this.pasteSeq = b === 0x1b ? 1 : 0;
    }
  }
}

/**
 * A full-screen app (vim, top): its keys are not commands. Why not every alternate screen: a shell
 * whose prompt shows there (`printf '\e[?1049h'`) is still a shell, and its keys are judged.
 */
const app = (seen: Seen): boolean => seen.line.fullScreen && seen.prompt === undefined;

/** Keeps `line.keys` while every key is printable or backspace (UTF-8 aware); anything else ends it. */
function keyInto(line: Line, b: number, pasting: boolean): void {
  const keys = line.keys;
  if (!keys) return;
  if (pasting) line.keys = undefined;
  else if (b === 0x7f || b === 0x08) {
    while (keys.length > 0 && (keys.at(-1)! & 0xc0) === 0x80) keys.pop(); // continuation bytes
    keys.pop();
  } else if (b === 0x15)
    keys.length = 0; // Ctrl-U: readline and the tty discard the line (the cursor is at its end)
  else if (b < 0x20 || keys.length >= MAX_KEYS) line.keys = undefined;
  else keys.push(b);
}

const size = (n: number, fallback: number): number => (Number.isInteger(n) && n > 0 && n <= 1000 ? n : fallback);
