// Vendor → target input of a session channel: recorded, and in a shell checked at each Enter against the command rules.
import type { ClientChannel } from 'ssh2';
import type { Recorder, VendorChannel } from './channel-types.js';
import type { CommandVerdict } from '../core/commands.js';
import type { CommandCapture } from '../recording/recording.js';
import { feedHeld, type Valve, writeHeld } from '../pipe.js';

export interface ShellInput {
  front: VendorChannel;
  back: ClientChannel;
  /** Holds the vendor's input; released here once reading starts. */
  valve: Valve;
  rec: Recorder;
  capture: CommandCapture | undefined;
  judge(text: string): Promise<{ verdict: CommandVerdict; reason?: string }>;
  notice(line: string): void;
  /** Runs before each chunk of the vendor's input reaches the target (a resize still waiting goes first). */
  beforeInput?(): void;
}

/**
 * What clears a blocked line on the target: Ctrl-C. Why not Ctrl-E Ctrl-U: that is readline's emacs
 * mode only; Ctrl-C abandons the line in readline (any mode), in a plain canonical tty (VINTR flushes
 * the input queue) and in most line-oriented tools. The Enter itself is never forwarded.
 */
export const CLEAR_LINE = Buffer.from([0x03]);

/**
 * Waits this long for the echo of keys typed just before an Enter, at most MAX_WAIT_MS in all (a slow
 * link to a remote site; only while the keys are not on the screen yet — see CommandCapture.read).
 */
const QUIET_MS = 40;
const MAX_WAIT_MS = 1000;

export function readShellInput(o: ShellInput): void {
  const { front, back, valve, rec, capture } = o;
  const send = (buf: Buffer) => writeHeld(back, buf, valve, 'target');

  const judgeLines = async (buf: Buffer, enters: number[]) => {
    let from = 0;
    for (const at of enters) {
      if (at > from) send(buf.subarray(from, at));
      from = at + 1;
      const line = await capture!.read({ quietMs: QUIET_MS, maxWaitMs: MAX_WAIT_MS });
      // A full-screen app (vim, top) or an unechoed line (a password prompt) is not a shell command.
      const text = [line.text, line.pasted ?? ''].filter((t) => t.trim() !== '').join('\n');
      if (!line.fullScreen && text !== '') {
        const j = await o.judge(text);
        if (j.verdict === 'blocked') {
          // Why hold the Enter and send Ctrl-C: the target never receives a line it could execute.
          send(CLEAR_LINE);
          o.notice(`command blocked: ${j.reason ?? 'not allowed on this target'}`);
          // Why wait for the target's answer (its new prompt) before the keys typed after the Enter: bash 5.2
          // reads keys that arrive while its SIGINT is pending onto the old line, which then survives the
          // Ctrl-C, and the next Enter submits both (seen: a blocked line plus the vendor's next command).
          await capture!.answered({ quietMs: QUIET_MS, maxWaitMs: MAX_WAIT_MS });
          continue;
        }
      }
      send(buf.subarray(at, at + 1));
    }
    if (from < buf.length) send(buf.subarray(from));
  };

  front.on('data', (buf: Buffer) => {
    o.beforeInput?.();
    const enters = capture ? capture.input(buf) : [];
    // Keys without an Enter go to the target first, then to the recorder in the same turn (off the round trip).
    if (enters.length === 0) send(buf);
    feedHeld(
      (b) => rec.input(b),
      () => rec.drained(),
      buf,
      valve,
      'recording',
    );
    if (enters.length === 0) return;
    // Input stays in order: nothing more is read from the vendor until these lines are judged.
    valve.hold('judging');
    void judgeLines(buf, enters)
      .catch(() => back.close())
      .finally(() => valve.release('judging'));
  });
  // The vendor's EOF (e.g. `echo x | ssh gw cat`) goes on to the target; output keeps flowing back.
  front.once('end', () => {
    if (!valve.held('judging')) return back.end();
    const check = setInterval(() => {
      if (valve.held('judging')) return;
      clearInterval(check);
      back.end();
    }, 10);
  });
  valve.release('target');
}
