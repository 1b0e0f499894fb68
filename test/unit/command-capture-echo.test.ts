// Command capture when the echo trails the keys (a slow link, a per-key echo behind a fast paste):
// the line judged is the whole line the shell got, never the beginning the screen showed so far.
import { describe, expect, it } from 'vitest';
import { CommandCapture } from '../../gateway/recording/command-capture.js';

const PROMPT = '\x1b[?2004hmaint@plc-ws:~$ ';
const WAIT = { quietMs: 40, maxWaitMs: 400 };
const later = (ms: number, fn: () => void) => setTimeout(fn, ms);

function capture(screen = PROMPT) {
  const cap = new CommandCapture(80, 24);
  cap.output(Buffer.from(screen));
  return cap;
}

/** Sends `keys` (ending in one Enter) and reads the line as the relay does, holding the Enter. */
async function submit(cap: CommandCapture, keys: string) {
  expect(cap.input(Buffer.from(keys))).toHaveLength(1);
  const t = performance.now();
  const line = await cap.read(WAIT);
  return { line, ms: performance.now() - t };
}

describe('CommandCapture with a trailing echo', () => {
  it('waits past the quiet time for an echo that comes late (a 150 ms link), and reads it off the screen', async () => {
    const cap = capture();
    later(150, () => cap.output(Buffer.from('plc download')));
    const { line } = await submit(cap, 'plc download\r');
    expect(line).toMatchObject({ text: 'plc download' });
    expect(line.fromKeys).toBeUndefined();
    cap.dispose();
  });

  it('the incident: only "p" echoed when the Enter came — the whole line is judged', async () => {
    const cap = capture();
    cap.input(Buffer.from('p'));
    cap.output(Buffer.from('p'));
    later(100, () => cap.output(Buffer.from('lc')));
    later(200, () => cap.output(Buffer.from(' download')));
    const { line } = await submit(cap, 'lc download\r');
    expect(line.text).toBe('plc download');
    cap.dispose();
  });

  it('an echo that never catches up within the wait: the plain keys are the line (fromKeys)', async () => {
    const cap = capture();
    cap.input(Buffer.from('p'));
    cap.output(Buffer.from('p'));
    const { line, ms } = await submit(cap, 'lc download\r');
    expect(line).toMatchObject({ text: 'plc download', fromKeys: true });
    expect(ms).toBeLessThan(2000); // bounded by maxWaitMs, whatever the target does
    const none = capture();
    expect((await submit(none, 'plc download\r')).line).toMatchObject({ text: 'plc download', fromKeys: true });
    cap.dispose();
    none.dispose();
  });

  it('keys typed ahead before the shell printed its prompt are judged', async () => {
    const cap = capture(`${PROMPT}sleep 1\r\n\x1b[?2004l\r`);
    later(100, () => cap.output(Buffer.from(`${PROMPT}`)));
    later(200, () => cap.output(Buffer.from('reboot')));
    expect((await submit(cap, 'reboot\r')).line.text).toBe('reboot');
    const never = capture(`${PROMPT}sleep 1\r\n\x1b[?2004l\r`);
    expect((await submit(never, 'reboot\r')).line).toMatchObject({ text: 'reboot', fromKeys: true });
    cap.dispose();
    never.dispose();
  });

  it('an unechoed answer to a non-shell prompt stays a secret (not judged, not stored)', async () => {
    for (const prompt of [
      '[sudo] password for maint: ',
      "maint@10.2.0.15's password: ",
      'Enter passphrase for key: ',
    ]) {
      const cap = capture(`${PROMPT}sudo -i\r\n${prompt}`);
      const { line } = await submit(cap, 's3cret-pw\r');
      expect(line).toMatchObject({ text: '', typed: 9 });
      expect(line.fromKeys).toBeUndefined();
      cap.dispose();
    }
  });

  it('applies backspace (UTF-8 aware) to the keys; a Tab or an arrow leaves the screen alone to decide', async () => {
    const cap = capture();
    expect((await submit(cap, 'plc dx\x7fownlöad\x7f\x7f\x7fad\r')).line).toMatchObject({
      text: 'plc downlad',
      fromKeys: true,
    });
    const tab = capture();
    later(100, () => tab.output(Buffer.from('plc download ')));
    expect((await submit(tab, 'plc dow\t\r')).line.text).toBe('plc download');
    tab.dispose();
    cap.dispose();
  });

  it('after a cleared line, keys typed before the redraw are not mistaken for the prompt', async () => {
    // Line 1 blocked: the relay sent Ctrl-C, but the target's redraw has not arrived when line 2 starts.
    const cap = capture();
    cap.input(Buffer.from('echo one'));
    cap.output(Buffer.from('echo one'));
    cap.input(Buffer.from('\r'));
    expect((await cap.read(WAIT)).text).toBe('echo one');
    cap.output(Buffer.from(`\r\n\x1b[?2004l\rone\r\n${PROMPT}plc download`));
    expect(cap.input(Buffer.from('\r'))).toEqual([0]);
    expect((await cap.read(WAIT)).text).toBe('plc download'); // say it was blocked: Ctrl-C on its way
    // The vendor types the same line again at once; the screen still shows the old one.
    later(120, () => cap.output(Buffer.from(`^C\x1b[?2004l\r\x1b[?2004h\x1b[?2004l\r\r\n${PROMPT}`)));
    later(220, () => cap.output(Buffer.from('plc download')));
    expect((await submit(cap, 'plc download\r')).line.text).toBe('plc download');
    // And with no redraw at all within the wait, the keys on the stale line are still judged.
    expect((await submit(cap, 'plc download\r')).line.text).toMatch(/^plc download$/m);
    cap.dispose();
  });

  it('a shell on the alternate screen is still judged from its keys (printf cannot switch the fallback off)', async () => {
    const cap = capture();
    cap.input(Buffer.from('ls'));
    cap.output(Buffer.from('ls'));
    cap.input(Buffer.from('\r'));
    expect((await cap.read(WAIT)).text).toBe('ls'); // the prompt is learned
    cap.output(Buffer.from(`\r\nnotes.txt\r\n${PROMPT}printf '\\e[?1049h'\r\n\x1b[?1049h${PROMPT}`));
    cap.input(Buffer.from('p'));
    cap.output(Buffer.from('p'));
    const { line } = await submit(cap, 'lc download\r');
    expect(line).toMatchObject({ text: 'plc download', fullScreen: true });
    // A real full-screen app (no shell prompt at the cursor) stays out of it.
    cap.output(Buffer.from('\x1b[2J\x1b[H~\r\n~\r\n\x1b[1;1H'));
    expect((await submit(cap, 'ireboot\r')).line).toMatchObject({ text: '', fullScreen: true });
    cap.dispose();
  });

  it('reads at once when the echo is already complete (no added wait per Enter)', async () => {
    const cap = capture();
    cap.input(Buffer.from('ls -l'));
    cap.output(Buffer.from('ls -l'));
    const { line, ms } = await submit(cap, '\r');
    expect(line).toMatchObject({ text: 'ls -l' });
    expect(ms).toBeLessThan(WAIT.quietMs + 200);
    cap.dispose();
  });
});
