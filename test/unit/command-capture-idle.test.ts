// Command capture's headless terminal is created on first output and put away (kept as its serialized screen)
// while the session idles; what it reads after coming back must equal what it would have read without the pause.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CommandCapture } from '../../gateway/recording/command-capture.js';

const PROMPT = '\x1b[?2004h\x1b]0;maint@plc-ws: ~\x07\x1b[01;32mmaint@plc-ws\x1b[00m:\x1b[01;34m~\x1b[00m$ ';

/** Waits (bounded) until the capture has put its terminal away. */
async function asleep(cap: CommandCapture): Promise<void> {
  for (let i = 0; i < 500 && cap.awake; i++) await sleep(10);
  expect(cap.awake).toBe(false);
}

/** Types `text` key by key with its echo; returns the line read at Enter. */
async function typeAndEnter(cap: CommandCapture, text: string): Promise<string> {
  for (const c of text) {
    cap.input(Buffer.from(c));
    cap.output(Buffer.from(c));
  }
  expect(cap.input(Buffer.from('\r'))).toEqual([0]);
  return cap.lineAtCursor();
}

describe('CommandCapture while idle', () => {
  it('holds no terminal until something reads the screen: a session nobody typed into never creates one', async () => {
    const cap = new CommandCapture(80, 24, { idleMs: 10 });
    cap.output(Buffer.from(`Last login: Mon Nov 23 09:58:01 2026\r\n${PROMPT}`));
    await sleep(100);
    expect(cap.awake).toBe(false);
    cap.input(Buffer.from('l')); // the first key of a line reads the prompt…
    await sleep(5);
    // …but a new terminal costs milliseconds, and the key's echo is on its way back: not before that echo is relayed,
    expect(cap.awake).toBe(false);
    cap.output(Buffer.from('l'));
    expect(cap.awake).toBe(false); // nor in the echo's own turn,
    await sleep(0);
    expect(cap.awake).toBe(true); // but on the turn after it.
    cap.input(Buffer.from('s\r'));
    cap.output(Buffer.from('s'));
    expect(await cap.lineAtCursor()).toBe('ls');
    cap.dispose();
  });

  it('puts the terminal away when idle and reads the same command after it comes back', async () => {
    const cap = new CommandCapture(40, 10, { idleMs: 10 });
    // A screen with history, a wrapped line, colours and a prompt: all must survive the round trip.
    cap.output(Buffer.from(`Last login: Mon Nov 23 09:58:01 2026\r\n${'x'.repeat(95)}\r\n${PROMPT}`));
    expect(await typeAndEnter(cap, 'ls -l')).toBe('ls -l');
    cap.output(Buffer.from(`\r\n\x1b[?2004l\rtotal 0\r\n${PROMPT}`));
    await asleep(cap);

    // A command longer than the 40-column screen wraps: the read joins the rows again.
    const long = 'plc download --file /srv/fw/line2.bin --yes';
    expect(await typeAndEnter(cap, long)).toBe(long);
    expect(cap.awake).toBe(true);
    cap.output(Buffer.from(`\r\n\x1b[?2004l\r${PROMPT}`));
    await asleep(cap);

    // Typed ahead of a put-away screen, no echo yet: keys and the restored prompt still give the line.
    for (const c of 'uptime') cap.input(Buffer.from(c));
    cap.input(Buffer.from('\r'));
    expect((await cap.read({ quietMs: 20, maxWaitMs: 200 })).text).toBe('uptime');
    cap.dispose();
  });

  it('keeps the alternate screen across a put-away: keys in a full-screen app are not commands', async () => {
    const cap = new CommandCapture(80, 24, { idleMs: 10 });
    cap.output(Buffer.from(`${PROMPT}`));
    cap.output(Buffer.from('\x1b[?1049h\x1b[H\x1b[2J  GNU nano 7.2   notes.txt\r\n'));
    await asleep(cap);
    cap.input(Buffer.from('dd'));
    cap.output(Buffer.from('dd'));
    cap.input(Buffer.from('\r'));
    const line = await cap.read();
    expect(line.fullScreen).toBe(true);
    expect(line.text).toBe('');
    cap.dispose();
  });

  it('a live viewer joining an idle session gets the screen as it was', async () => {
    const cap = new CommandCapture(80, 24, { idleMs: 10 });
    cap.output(Buffer.from(`hello from the target\r\n${PROMPT}`));
    const before = await cap.snapshot();
    await asleep(cap);
    const after = await cap.snapshot();
    expect(after.data).toContain('hello from the target');
    expect(after.data).toBe(before.data);
    expect(after.cols).toBe(80);
    cap.dispose();
  });
});
