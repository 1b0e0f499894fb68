// Command capture against hand-written echo streams shaped like bash 5.1 + readline (TERM=xterm-256color).
//
// What the streams model (from asciicast recordings of bash 5.1 sessions):
// - the prompt: bracketed paste on, a window-title OSC, colours: PROMPT below;
// - each typed key echoed by itself; Enter echoed as "\r\n" then "\x1b[?2004l\r" (readline leaving);
// - TAB: readline echoes the completed rest ("ame ");
// - up-arrow: on an empty line the recalled text is written after the prompt; over typed text readline
//   backs up ("\b") and overwrites, clearing the rest with "\x1b[K"; some setups redraw the whole line
//   ("\r\x1b[K" + prompt + text);
// - insert in the middle: "\x1b[1@" + char (xterm terminfo has ich) or char + rest + "\b…" (no ich);
// - the right margin: the char in the last column, then " \r" so the cursor lands on the next row.
import { describe, expect, it } from 'vitest';
import { CommandCapture } from '../../gateway/recording/command-capture.js';

const PROMPT_TEXT = 'maint@plc-ws:~$ ';
const PROMPT = '\x1b[?2004h\x1b]0;maint@plc-ws: ~\x07\x1b[01;32mmaint@plc-ws\x1b[00m:\x1b[01;34m~\x1b[00m$ ';
const ENTER_ECHO = '\r\n\x1b[?2004l\r';

/** Plays one relay step: vendor keys in, target echo out; returns what was captured at each Enter. */
class Session {
  readonly cap: CommandCapture;
  readonly captured: string[] = [];
  constructor(cols = 80, rows = 24) {
    this.cap = new CommandCapture(cols, rows);
    this.out('Last login: Mon Nov 23 09:58:01 2026 from 10.1.0.4\r\n' + PROMPT);
  }
  out(s: string): void {
    this.cap.output(Buffer.from(s, 'utf8'));
  }
  /** Keys and their echo, as a shell gives them: each key, then what it echoes. */
  async type(pairs: Array<[key: string, echo: string]>): Promise<void> {
    for (const [key, echo] of pairs) {
      const enters = this.cap.input(Buffer.from(key, 'utf8'));
      if (enters.length > 0) {
        // The relay reads before the Enter's own echo could be parsed; the echo may already be on its way.
        const line = this.cap.lineAtCursor();
        this.out(echo);
        this.captured.push(await line);
      } else this.out(echo);
    }
  }
  async typeText(text: string): Promise<void> {
    await this.type([...text].map((c) => [c, c] as [string, string]));
  }
  async enter(output = ''): Promise<void> {
    await this.type([['\r', `${ENTER_ECHO}${output}${PROMPT}`]]);
  }
}

describe('CommandCapture', () => {
  it('captures a typed command without the prompt', async () => {
    const s = new Session();
    await s.typeText('ls -l');
    await s.enter('total 8\r\ndrwxr-xr-x 2 maint maint 4096 Nov 23 10:00 \x1b[0m\x1b[01;34mprojects\x1b[0m\r\n');
    expect(s.captured).toEqual(['ls -l']);
  });

  it('captures tab completion as the shell completed it', async () => {
    const s = new Session();
    await s.typeText('cat /etc/hostn');
    await s.type([['\t', 'ame ']]);
    await s.enter('plc-ws\r\n');
    expect(s.captured).toEqual(['cat /etc/hostname']);
  });

  it('captures history recall: on an empty line, over typed text, and as a full redraw', async () => {
    const s = new Session();
    await s.typeText('cat /etc/hostname');
    await s.enter('plc-ws\r\n');
    await s.type([['\x1b[A', 'cat /etc/hostname']]);
    await s.enter('plc-ws\r\n');
    await s.typeText('uptime --pretty');
    // Up-arrow over 15 typed chars: back up, overwrite with the (longer) recalled line.
    await s.type([['\x1b[A', `${'\b'.repeat(15)}cat /etc/hostname`]]);
    await s.enter('plc-ws\r\n');
    await s.typeText('df -h /var/log/plc/line2');
    // Up-arrow again, shown as a full redraw of a shorter line (the brief's \r\x1b[K + prompt + text).
    await s.type([['\x1b[A', `\r\x1b[K${PROMPT.replace('\x1b[?2004h', '')}cat /etc/hostname`]]);
    await s.enter('plc-ws\r\n');
    expect(s.captured).toEqual(Array(4).fill('cat /etc/hostname'));
  });

  it('captures line editing: cursor left, insert with ich or with a rewrite of the rest', async () => {
    const s = new Session();
    await s.typeText('echo helo');
    await s.type([
      ['\x1b[D', '\b'],
      ['l', '\x1b[1@l'],
    ]);
    await s.enter('hello\r\n');
    await s.typeText('echo helo');
    await s.type([
      ['\x1b[D', '\b'],
      ['l', 'lo\b'],
    ]);
    // Enter with the cursor in the middle of the line still takes the whole line.
    await s.enter('hello\r\n');
    await s.typeText('echo hello worlld');
    await s.type([
      ['\x1b[D', '\b'],
      ['\x1b[D', '\b'],
      ['\x7f', '\b\x1b[P'], // backspace removes the extra l with dch1: "worl|ld" → "wor|ld"
    ]);
    await s.enter('hello world\r\n');
    await s.typeText('echo abcc');
    await s.type([
      ['\x1b[D', '\b'],
      ['\x7f', '\bc\x1b[K\b'], // the same without dch1: rewrite the rest, clear, back up
    ]);
    await s.enter('abc\r\n');
    expect(s.captured).toEqual(['echo hello', 'echo hello', 'echo hello world', 'echo abc']);
  });

  it('captures a command longer than the screen is wide (wrapped rows)', async () => {
    const s = new Session(40, 12);
    const cmd = "grep -r 'motor fault' /var/log/plc/line2/ --include=*.log";
    // 16 columns of prompt, 24 left on the first row: readline writes the 24th char, then " \r".
    const first = 40 - PROMPT_TEXT.length;
    await s.typeText(cmd.slice(0, first - 1));
    await s.type([[cmd[first - 1]!, `${cmd[first - 1]} \r`]]);
    await s.typeText(cmd.slice(first));
    await s.enter('');
    // And the same line recalled in one go, relying on the terminal's own wrap.
    await s.type([['\x1b[A', cmd]]);
    await s.enter('');
    expect(s.captured).toEqual([cmd, cmd]);
  });

  it('reads the screen as it was at Enter even when more output arrives before xterm parsed it', async () => {
    const cap = new CommandCapture(80, 24);
    cap.output(Buffer.from(PROMPT));
    cap.input(Buffer.from('ls'));
    cap.output(Buffer.from('ls'));
    expect(cap.input(Buffer.from('\r'))).toEqual([0]);
    const line = cap.lineAtCursor();
    cap.output(Buffer.from(`${ENTER_ECHO}a b c\r\n${PROMPT}`)); // queued before the first write is parsed
    expect(await line).toBe('ls');
    cap.dispose();
  });

  it('handles keys typed ahead in one chunk, and an Enter that arrives before its echo (quietMs)', async () => {
    const cap = new CommandCapture(80, 24);
    cap.output(Buffer.from(PROMPT));
    const buf = Buffer.from('ls\rpwd\r');
    expect(cap.input(buf)).toEqual([2, 6]);
    const first = cap.lineAtCursor({ quietMs: 30 });
    setTimeout(() => cap.output(Buffer.from('ls')), 10); // the echo comes after the Enter was seen
    expect(await first).toBe('ls');
    cap.output(Buffer.from(`${ENTER_ECHO}bin  etc\r\n${PROMPT}pwd`));
    expect(await cap.lineAtCursor()).toBe('pwd');
    cap.dispose();
  });

  it('does not capture keystrokes in a full-screen app (vim on the alternate screen)', async () => {
    const s = new Session();
    await s.typeText('vim notes.txt');
    await s.type([['\r', `${ENTER_ECHO}\x1b[?1049h\x1b[22;0;0t\x1b[1;24r\x1b[?12h\x1b[?12l\x1b[27m\x1b[H\x1b[2J`]]);
    s.out('\x1b[?25lline 2 motor fault\r\n~\r\n\x1b[24;1H"notes.txt" 1L, 19B\x1b[1;1H\x1b[?25h');
    await s.type([
      ['i', '\x1b[24;1H\x1b[1m-- INSERT --\x1b[m\x1b[1;1H'],
      ...[...'reboot'].map((c) => [c, c] as [string, string]),
    ]);
    const enters = s.cap.input(Buffer.from('\r'));
    expect(enters).toEqual([0]);
    const inVim = await s.cap.read();
    expect(inVim).toMatchObject({ text: '', fullScreen: true });
    s.out('\r\n');
    await s.type([
      ['\x1b', '\x1b[24;1H\x1b[K'],
      [':', ':'],
      ['w', 'w'],
      ['q', 'q'],
      ['\r', `\r\x1b[?1049l\x1b[23;0;0t${PROMPT}`],
    ]);
    await s.typeText('ls');
    await s.enter('notes.txt\r\n');
    expect(s.captured).toEqual(['vim notes.txt', '', 'ls']);
  });

  it('still captures a shell prompt on the alternate screen (printf cannot switch capture off)', async () => {
    const s = new Session();
    await s.typeText('uptime');
    await s.enter(' 10:00:01 up 3 days\r\n');
    await s.typeText("printf '\\e[?1049h'");
    await s.enter('\x1b[?1049h');
    await s.typeText('reboot');
    const enters = s.cap.input(Buffer.from('\r'));
    expect(enters).toEqual([0]);
    expect(await s.cap.read()).toMatchObject({ text: 'reboot', fullScreen: true });
  });

  it('bracketed paste: newlines inside do not submit; the pasted text is reported', async () => {
    const s = new Session();
    const enters = s.cap.input(Buffer.from('\x1b[200~ls -l\rreboot\x1b[201~'));
    expect(enters).toEqual([]);
    s.out('ls -l\r\nreboot'); // readline shows the pasted newline by moving to the next row
    expect(s.cap.input(Buffer.from('\r'))).toEqual([0]);
    const line = await s.cap.read();
    expect(line).toMatchObject({ text: 'ls -l\nreboot', pasted: 'ls -l\rreboot', fullScreen: false });
  });

  it('ignores paste brackets the target did not ask for (no bracketed-paste mode)', () => {
    const cap = new CommandCapture(80, 24);
    cap.output(Buffer.from('$ ')); // a shell without bracketed paste
    expect(cap.input(Buffer.from('\x1b[200~reboot\r\x1b[201~'))).toEqual([12]);
    cap.dispose();
  });

  it('counts \\r\\n as one Enter, Ctrl-O as an Enter, and reports unechoed input', async () => {
    const cap = new CommandCapture(80, 24);
    cap.output(Buffer.from(`${PROMPT}[sudo] password for maint: `));
    expect(cap.input(Buffer.from('s3cret\r\n'))).toEqual([6]);
    expect(await cap.read()).toMatchObject({ text: '', typed: 6 });
    expect(cap.input(Buffer.from('x\x0f'))).toEqual([1]);
    cap.dispose();
  });

  it('keeps up with bulk output by skipping ahead, replaying the screen modes it skipped', async () => {
    const cap = new CommandCapture(80, 24);
    const junk = Buffer.from('0123456789abcdef '.repeat(4096) + '\r\n'); // ~68 KiB
    cap.output(Buffer.from(`${PROMPT}cat big.log\r\n`));
    cap.output(Buffer.from('\x1b[?1049h')); // a pager takes the screen...
    for (let i = 0; i < 100; i++) cap.output(junk); // ...and 6.8 MB follow, faster than xterm parses
    cap.input(Buffer.from('\r'));
    expect(await cap.read()).toMatchObject({ fullScreen: true });
    cap.output(Buffer.from(`\x1b[?1049l${PROMPT}`));
    cap.input(Buffer.from('ls'));
    cap.output(Buffer.from('ls'));
    cap.input(Buffer.from('\r'));
    expect(await cap.read()).toMatchObject({ text: 'ls', fullScreen: false });
    cap.dispose();
  });

  it('dispose resolves pending reads', async () => {
    const cap = new CommandCapture(80, 24);
    cap.output(Buffer.from(`${PROMPT}ls`));
    cap.input(Buffer.from('\r'));
    const line = cap.lineAtCursor();
    cap.dispose();
    expect(await line).toBe('');
  });
});
