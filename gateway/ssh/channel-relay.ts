// One vendor session channel (pty, shell, exec, subsystem) relayed to one target channel, recorded, with command rules applied.
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import type { TargetConfig } from '../config.js';
import type { CommandVerdict } from '../core/commands.js';
import type { CommandCapture } from '../recording/recording.js';
import { oneLine } from '../text.js';
import { ALWAYS_REFUSED, type AlwaysRefused, execDecision, subsystemDecision } from './channels.js';
import { feedHeld, pipeBoth, trackWritable, Valve, writeHeld } from '../pipe.js';
import type { FileChange, FileTransfer } from './sftp-audit.js';
import { relaySftp } from './sftp-relay.js';
import { readShellInput } from './shell-input.js';
import type { Recorder, VendorChannel } from './channel-types.js';
import { clampSize, ResizeGate } from './terminal-size.js';

/**
 * The recorder a channel feeds the vendor's input to where the target does not record keystrokes: input is
 * dropped here, before the recorder, so no "i" event is written; command capture reads the screen, not this.
 */
export const withoutKeystrokes = (rec: Recorder): Recorder => ({
  output: (b) => rec.output(b),
  input: () => true,
  resize: (c, r) => rec.resize(c, r),
  marker: (l) => rec.marker(l),
  drained: () => rec.drained(),
});

/** What a channel needs from its connection-level session (session.ts). */
export interface ChannelHost {
  target: Client;
  targetConfig: TargetConfig;
  /** Resolves once the session is recorded and registered: no channel work before that. */
  ready: Promise<void>;
  /** Opens the session's recording on first use; rejects if it cannot (the host then closes the session). */
  recorder(pty: PtyRequest | undefined): Promise<Recorder>;
  newCapture(pty: PtyRequest): CommandCapture;
  refused(kind: string, detail: Record<string, unknown>): void;
  /** Stores and audits a command; resolves with the verdict (blocked = do not send). */
  judge(text: string, via: 'shell' | 'exec'): Promise<{ verdict: CommandVerdict; reason?: string }>;
  /** Registers an open channel so close(reason, message) can tell the vendor and end it. */
  track(ch: TrackedChannel): () => void;
  /** Every byte the vendor is shown, and every resize: for live viewers. */
  observe(buf: Buffer): void;
  observeResize(cols: number, rows: number): void;
  /** A file went through SFTP (audited as file.transferred). */
  fileTransferred(t: FileTransfer): void;
  /** A file or directory was removed, renamed, created or changed through SFTP (file.changed). */
  fileChanged(c: FileChange): void;
}

export interface TrackedChannel {
  notice(line: string): void;
  end(): void;
  /** Settles once the vendor's side has closed, i.e. everything queued for the vendor was delivered. */
  closed?: Promise<void>;
}

/** Why: a disconnect drops output still queued behind the vendor's window — the closing notice with it. */
const closedOf = (s: Duplex): Promise<void> =>
  s.destroyed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));

export interface Live {
  resize?: (info: PtyRequest) => void;
  signal?: (name: string) => void;
  pendingSignals: string[];
}

export type PtyRequest = Pick<PseudoTtyInfo, 'term' | 'cols' | 'rows' | 'width' | 'height' | 'modes'>;

// Notices carry text others typed (revoke and terminate reasons): control characters never reach the terminal.
const CRLF = (line: string) => Buffer.from(`\r\n[gatehouse] ${oneLine(line)}\r\n`);
/** No recording, no session: what the vendor is told instead of a file system error. */
class NotRecorded extends Error {
  constructor() {
    super('the session recording failed, so the session is closed; the site administrators have been told');
  }
}
const onError = (err: unknown, front: VendorChannel) =>
  front.stderr.write(
    CRLF(
      err instanceof NotRecorded
        ? err.message
        : `cannot open the target channel: ${String((err as Error)?.message ?? err)}`,
    ),
  );

/** Wires the `session` channel the vendor opened. */
export function handleSessionChannel(host: ChannelHost, session: Session): void {
  let pty: PtyRequest | undefined;
  let started = false;
  const refuse = (kind: AlwaysRefused) => (_a: unknown, reject?: () => void) => {
    reject?.();
    host.refused(kind, { reason: ALWAYS_REFUSED[kind] });
  };
  session.on('env', (_a: unknown, reject: (() => void) | undefined, info: { key: string }) => {
    reject?.();
    host.refused('env', { name: String(info?.key ?? '').slice(0, 64) });
  });
  session.on('x11', refuse('x11'));
  session.on('auth-agent', refuse('auth-agent'));
  session.on('pty', (accept: (() => void) | undefined, _r: unknown, info: PtyRequest) => {
    pty = clampSize(info);
    accept?.();
  });
  // Before the shell starts a resize only updates what will be requested.
  // Resizes and signals may arrive before the target channel is open: kept until it is (see `live`).
  const live: Live = { pendingSignals: [] };
  session.on('window-change', (accept: (() => void) | undefined, _r: unknown, info: PtyRequest) => {
    accept?.();
    if (live.resize) return live.resize(info);
    if (pty) pty = clampSize({ ...pty, cols: info.cols, rows: info.rows, width: info.width, height: info.height });
  });
  session.on('signal', (accept: (() => void) | undefined, _r: unknown, info: { name: string }) => {
    accept?.();
    const name = String(info?.name ?? '');
    if (live.signal) live.signal(name);
    else if (live.pendingSignals.length < 8) live.pendingSignals.push(name);
  });
  const start = (
    kind: ChannelKind,
    accept: () => ServerChannel | undefined,
    reject: (() => void) | undefined,
    arg?: string,
  ) => {
    if (started) return reject?.();
    if (kind === 'subsystem') {
      const d = subsystemDecision(host.targetConfig, arg ?? '');
      if (!d.allow) {
        reject?.();
        return host.refused('subsystem', { name: String(arg).slice(0, 64), code: d.code, reason: d.reason });
      }
    }
    started = true;
    // Accept at once (a late accept() returns undefined) and hold the vendor's input until the target side is ready.
    const front = accept();
    if (front) relayChannel(host, kind, front, live, pty, arg);
  };
  session.on('shell', (accept: () => ServerChannel, reject?: () => void) => start('shell', accept, reject));
  session.on('exec', (accept: () => ServerChannel, reject: (() => void) | undefined, info: { command: string }) =>
    start('exec', accept, reject, info.command),
  );
  session.on('subsystem', (accept: () => ServerChannel, reject: (() => void) | undefined, info: { name: string }) =>
    start('subsystem', accept, reject, info.name),
  );
}

type ChannelKind = 'shell' | 'exec' | 'subsystem';

/** Relays one vendor channel to a new target channel (also the browser terminal's entry); `live` takes resizes and signals. */
export function relayChannel(
  host: ChannelHost,
  kind: ChannelKind,
  front: VendorChannel,
  live: Live,
  pty: PtyRequest | undefined,
  arg?: string,
): void {
  const valve = new Valve(front);
  valve.hold('target');
  void run(host, kind, front, valve, live, pty, arg).catch((err: unknown) => {
    onError(err, front);
    front.exit(1);
    front.end();
  });
}

const open = (target: Client, kind: 'shell' | 'exec' | 'subsystem', pty: PtyRequest | undefined, arg?: string) =>
  new Promise<ClientChannel>((resolve, reject) => {
    const cb = (err: Error | undefined, ch: ClientChannel) => (err ? reject(err) : resolve(ch));
    const ptyOpts = pty
      ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes }
      : undefined;
    if (kind === 'shell') target.shell(ptyOpts ?? false, cb);
    else if (kind === 'exec') target.exec(arg ?? '', ptyOpts ? { pty: ptyOpts } : {}, cb);
    else target.subsys(arg ?? '', cb);
  });

async function run(
  host: ChannelHost,
  kind: ChannelKind,
  front: VendorChannel,
  valve: Valve,
  live: Live,
  pty: PtyRequest | undefined,
  arg?: string,
): Promise<void> {
  await host.ready;
  if (kind === 'subsystem') {
    const back = await open(host.target, kind, undefined, arg);
    host.track({ notice: (l) => front.stderr.write(CRLF(l)), end: () => front.end(), closed: closedOf(front) });
    valve.release('target');
    return arg === 'sftp' ? relaySftp(host, front, back) : pipeBoth(front, back);
  }
  const rec = await host.recorder(pty).catch(() => {
    throw new NotRecorded();
  });
  if (kind === 'exec') {
    const cmd = arg ?? '';
    rec.marker(cmd);
    const d = execDecision(host.targetConfig, cmd);
    if (!d.allow) {
      host.refused('exec', { code: d.code, reason: d.reason, command: cmd.slice(0, 200) });
      const line = CRLF(d.reason);
      rec.output(line);
      front.stderr.write(line);
      front.exit(1);
      return void front.end();
    }
    const j = await host.judge(cmd, 'exec');
    // Why here: an exec command is judged as sent, before anything reaches the target.
    if (j.verdict === 'blocked') {
      const line = CRLF(`command blocked: ${j.reason ?? 'not allowed on this target'}`);
      rec.output(line);
      host.observe(line);
      front.stderr.write(line);
      front.exit(126);
      return void front.end();
    }
  }
  const back = await open(host.target, kind, pty, arg);
  const untrack = host.track({
    notice: (l) => {
      const b = CRLF(l);
      rec.output(b);
      host.observe(b);
      (pty ? front : front.stderr).write(b);
    },
    end: () => {
      back.close();
      front.end();
    },
    closed: closedOf(front),
  });
  trackWritable(front);
  trackWritable(front.stderr);
  trackWritable(back);
  const backValve = new Valve(back);
  const errValve = new Valve(back.stderr);
  const capture = kind === 'shell' && pty ? host.newCapture(pty) : undefined;
  // The vendor first: the recorder, command capture and live viewers take the same bytes in the same turn, once the
  // echo of a keystroke is on its way (none of them is on its round trip). What each records is the same either way.
  const toVendor = (stream: 'out' | 'err') => (buf: Buffer) => {
    const v = stream === 'out' ? backValve : errValve;
    writeHeld(stream === 'out' ? front : front.stderr, buf, v, 'vendor');
    feedHeld(
      (b) => rec.output(b),
      () => rec.drained(),
      buf,
      v,
      'recording',
    );
    capture?.output(buf);
    host.observe(buf);
  };
  back.on('data', toVendor('out'));
  back.stderr.on('data', toVendor('err'));
  // Clamped and coalesced for the target, the recording, the command screen and viewers alike (terminal-size.ts).
  const resizes = new ResizeGate<PtyRequest>(pty ?? { cols: 80, rows: 24 }, (info) => {
    back.setWindow(info.rows, info.cols, info.height, info.width);
    rec.resize(info.cols, info.rows);
    capture?.resize(info.cols, info.rows);
    host.observeResize(info.cols, info.rows);
  });
  live.resize = (info) => resizes.push(info);
  live.signal = (name) => {
    try {
      back.signal(name);
    } catch {
      host.refused('signal', { name: name.slice(0, 32), reason: 'unknown signal' }); // ssh2 throws on unknown names
    }
  };
  for (const name of live.pendingSignals.splice(0)) live.signal(name);
  readShellInput({
    front,
    back,
    valve,
    rec: host.targetConfig.recording.keystrokes ? rec : withoutKeystrokes(rec),
    capture,
    judge: (t) => host.judge(t, 'shell'),
    beforeInput: () => resizes.flush(),
    notice: (l) => {
      const b = CRLF(l);
      rec.output(b);
      host.observe(b);
      front.write(b);
    },
  });
  let exit: [number] | [string, boolean, string] | undefined;
  back.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
    exit = code === null || code === undefined ? [String(signal ?? 'KILL'), !!dump, String(desc ?? '')] : [code];
  });
  front.on('close', () => back.close());
  back.once('close', () => {
    untrack();
    resizes.dispose();
    capture?.dispose();
    // Why wait for the vendor side to take all output first: end() closes the channel, and exit-status
    // must reach the vendor before that (ARCHITECTURE.md, ssh2 pitfalls).
    const finish = () => {
      try {
        if (exit?.length === 1) front.exit(exit[0]);
        else if (exit) front.exit(exit[0], exit[1], exit[2]);
      } catch {
        // ssh2 throws on a signal name it does not know: a target's odd name must not crash the gateway.
        front.exit(255);
      }
      front.end();
    };
    const open = (w: { destroyed: boolean; writableEnded: boolean }) => !w.destroyed && !w.writableEnded;
    if (!open(front)) return;
    const afterStderr = () => (open(front) ? front.write(Buffer.alloc(0), () => open(front) && finish()) : undefined);
    if (open(front.stderr)) front.stderr.write(Buffer.alloc(0), afterStderr);
    else afterStderr();
  });
}
