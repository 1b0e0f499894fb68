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
}

interface Line {
  prompt?: string;
  pastedNewlines: number;
  typed: number;
  paste?: number[]; // bytes, up to MAX_PASTE
}

const MAX_PASTE = 64 * 1024;
const PASTE_MODE = Buffer.from('\x1b[?2004');
/** Fallback only (no known prompt on the line): the shortest prefix ending in a usual prompt sign. */
const GENERIC_PROMPT = /^[^\n]{0,120}?[$#%>] /;

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

  constructor(cols: number, rows: number) {
    this.feed = new TerminalFeed(size(cols, 80), size(rows, 24));
  }

  private get term() {
    return this.feed.term;
  }

  /** Target → vendor bytes. Never throws; keeps a reference to `buf`. */
  output(buf: Buffer): void {
    if (this.disposed) return;
    if (buf.indexOf(PASTE_MODE) >= 0)
      for (const m of buf.toString('latin1').matchAll(/\x1b\[\?2004([hl])/g)) this.bracketedPaste = m[1] === 'h';
    this.feed.write(buf);
  }

  resize(cols: number, rows: number): void {
    this.feed.whenParsed(() => this.term.resize(size(cols, this.term.cols), size(rows, this.term.rows)));
  }

  /**
   * Vendor → target bytes. Returns the offsets in `buf` of the Enter bytes (\r, \n; \r\n counts once;
   * Ctrl-O, bash's accept-and-next) that submit a line. Inside a bracketed paste, newlines do not
   * submit — but only while the target asked for bracketed paste (why: otherwise a vendor could wrap
   * a command in paste brackets that the shell ignores, and run it unseen).
   */
  input(buf: Buffer): number[] {
    const enters: number[] = [];
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
    }
    return enters;
  }

  /** The oldest submitted line not yet read (or the line being typed), as the screen shows it. */
  read(opts: { quietMs?: number; maxWaitMs?: number } = {}): Promise<CapturedLine> {
    const line = this.submitted.shift() ?? this.current ?? { pastedNewlines: 0, typed: 0 };
    if (this.disposed) return Promise.resolve({ text: '', fullScreen: false, typed: 0 });
    return new Promise((resolve) => {
      const done = (l: CapturedLine) => {
        this.waiters.delete(done);
        resolve(l);
      };
      this.waiters.add(done);
      const readNow = () => this.feed.whenParsed(() => (this.disposed ? undefined : done(this.lineOf(line))));
      if (opts.quietMs) void this.feed.quiet(opts.quietMs, opts.maxWaitMs ?? 250).then(readNow);
      else readNow();
    });
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
    if (this.disposed) return Promise.resolve({ data: '', cols: this.term.cols, rows: this.term.rows });
    return new Promise((resolve) => this.feed.whenParsed(() => resolve(snapshotScreen(this.term))));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const w of [...this.waiters]) w({ text: '', fullScreen: false, typed: 0 });
    this.feed.dispose();
  }

  private startLine(): Line {
    const line: Line = { pastedNewlines: 0, typed: 0 };
    this.current = line;
    // The prompt is the text left of the cursor once the output that came before this key is parsed.
    this.feed.whenParsed(() => {
      const b = this.term.buffer.active;
      const y = b.baseY + b.cursorY;
      const start = this.logicalStart(y);
      line.prompt = this.rowsText(start, y - 1) + this.row(y).translateToString(false, 0, b.cursorX);
    });
    return line;
  }

  private lineOf(line: Line): CapturedLine {
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
    // Longest first: a longer known prompt that matches is the more specific one.
    const known = fullScreen ? this.prompts : [line.prompt ?? '', ...this.prompts];
    const candidates = [...new Set(known)].filter((p) => p.trim() !== '').sort((p, q) => q.length - p.length);
    // A bracketed paste with newlines spans several screen lines: look up that many for the prompt.
    let start = this.logicalStart(y);
    for (let hop = 0; ; hop++) {
      const first = this.rowsText(start, this.logicalEnd(start));
      const prompt = candidates.find((p) => first.startsWith(p));
      if (prompt !== undefined) {
        this.prompts = [prompt, ...this.prompts.filter((p) => p !== prompt)].slice(0, 4);
        return {
          text: this.linesText(start, end).slice(prompt.length).trim(),
          fullScreen,
          typed: line.typed,
          ...extra,
        };
      }
      if (hop >= line.pastedNewlines || start === 0) break;
      start = this.logicalStart(start - 1);
    }
    // Why a shell prompt is still honoured on the alternate screen: `printf '\e[?1049h'` must not
    // switch command capture (and enforce mode) off for the shell that keeps running there.
    if (fullScreen) return { text: '', fullScreen, typed: line.typed, ...extra };
    const text = this.linesText(this.logicalStart(y), end);
    return { text: text.replace(GENERIC_PROMPT, '').trim(), fullScreen, typed: line.typed, ...extra };
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
    for (let y = from; y <= to; y = this.logicalEnd(y) + 1)
      lines.push(this.rowsText(y, this.logicalEnd(y)).trimEnd());
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

const size = (n: number, fallback: number): number =>
  Number.isInteger(n) && n > 0 && n <= 1000 ? n : fallback;
