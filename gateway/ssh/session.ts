// One vendor SSH connection after authentication: session record, live registry entry, recording, channels, the end.
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import type { Client, Connection, ServerChannel, Session } from 'ssh2';
import { isoTime } from '../clock.js';
import { type CompiledCommandRules, compileRules, evaluateCommand } from '../core/commands.js';
import { type Actor, type SessionEndReason, userActor } from '../core/model.js';
import { CastWriter, CommandCapture, leaveSealNote, resolveRecording } from '../recording/recording.js';
import {
  journalPorts,
  SessionJournal,
  type SessionPorts,
  type SessionRegistry,
  type TerminalWatcher,
} from '../sessions.js';
import type { CommandAlerts } from '../command-alerts.js';
import { type CommandPort, type PlcPort, RECORDINGS_FAULT } from '../storage/storage.js';
import type { Authenticated } from './auth.js';
import { type ChannelHost, handleSessionChannel, type PtyRequest, type TrackedChannel } from './channel-relay.js';
import type { Recorder } from './channel-types.js';
import { handleForward, refuseGlobalRequests } from './forwards.js';
import type { FileChange, FileTransfer } from './sftp-audit.js';
import { type PlcProtocol, SessionConduit } from '../conduit/conduit.js';
import { detach } from '../background.js';
import { asStorageError } from '../storage-faults.js';

const MAX_AUDITED_REFUSALS = 20;
export const newSessionId = () => `ses_${randomBytes(12).toString('base64url')}`;

/** Who connects under which grant; a browser terminal has no SSH key. */
export type Admission = Omit<Authenticated, 'key'> & { key?: Authenticated['key'] };

/** The vendor's side of the whole session: the SSH connection, or the browser terminal's websocket. */
export interface FrontLink {
  on(event: 'close', listener: () => void): unknown;
  end(): unknown;
}

/** What an SSH session uses: the session ports, the command log and alerts, the PLC log for its forwards. */
export interface VendorSessionPorts extends SessionPorts {
  commands: Pick<CommandPort, 'append'>;
  alerts?: CommandAlerts | undefined;
  /** Appended by the session's PLC conduit; never read here. */
  plc?: Pick<PlcPort, 'append'> | undefined;
}

export interface VendorSessionOptions {
  deps: VendorSessionPorts;
  registry?: SessionRegistry;
  front: FrontLink;
  /** The SSH connection whose channels this session serves (absent for the browser terminal). */
  ssh?: Connection;
  via: 'ssh' | 'web';
  target: Client;
  auth: Admission;
  ip: string;
}

/** Output queued for a viewer while their starting screen is taken; beyond this they are dropped. */
const MAX_WATCH_QUEUE = 4 << 20;
/** The most a closing session waits for its channels' output to reach the vendor before it disconnects. */
const DISCONNECT_GRACE_MS = 1000;

export class VendorSession implements ChannelHost {
  readonly id = newSessionId();
  readonly startedAt: number;
  readonly target: Client;
  readonly targetConfig: Authenticated['target'];
  readonly actor: Actor;
  private cast: Promise<CastWriter> | undefined;
  /** The recording's path in the storage folder, once the first shell placed it. */
  private recordingPath: string | undefined;
  /** The seal of a recording opened but never named in the session's record (the state refused its path). */
  private unplaced: ReturnType<CastWriter['seal']> | undefined;
  private readonly channels = new Set<TrackedChannel>();
  private readonly watchers = new Set<TerminalWatcher>();
  private screen: CommandCapture | undefined;
  private readonly rules: CompiledCommandRules;
  /** PLC operations in this session's forwards: judged, recorded, held for a supervisor, told to viewers. */
  readonly conduit: SessionConduit;
  private refusals = 0;
  private endReason: SessionEndReason | undefined;
  /** close() disconnects the vendor itself, once the channels' output is delivered. */
  private disconnecting = false;
  private unregister: (() => void) | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  /** Resolves once the session is recorded as ended (store, recording sealed, audit). */
  readonly ended: Promise<void>;
  private resolveEnded!: () => void;
  /** Resolves once the session is stored and registered; never if it was refused meanwhile. */
  readonly ready: Promise<void>;
  private markReady!: () => void;
  /** The session's record and its start and end in the audit trail. */
  private readonly journal: SessionJournal;

  constructor(private readonly o: VendorSessionOptions) {
    this.startedAt = o.deps.clock.now();
    this.target = o.target;
    this.targetConfig = o.auth.target;
    this.actor = userActor(o.auth.user, o.ip);
    this.journal = new SessionJournal(journalPorts(o.deps), {
      id: this.id,
      grantId: o.auth.request.grantId,
      requestId: o.auth.request.id,
      userId: o.auth.user.id,
      targetId: o.auth.target.id,
      protocol: 'ssh',
      via: o.via,
      startedAt: this.startedAt,
      sourceIp: o.ip,
      actor: this.actor,
    });
    this.rules = compileRules(o.auth.target.commands);
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.ready = new Promise((r) => (this.markReady = r));
    this.conduit = new SessionConduit({
      deps: o.deps,
      rules: o.auth.target.plcRules,
      actor: this.actor,
      subject: this.subject,
      later: (p) => this.later(p),
      tell: (e) => {
        for (const w of this.watchers) w.plc?.(e);
      },
    });
    // Listeners go on at once: ssh2 refuses a channel that arrives while no listener is attached, and the
    // client opens its channel right after auth. Work on a channel waits for `ready` (record + registry).
    const { ssh } = o;
    if (!ssh) return;
    ssh.on('session', (accept: () => Session) => handleSessionChannel(this, accept()));
    ssh.on(
      'tcpip',
      (
        accept: () => ServerChannel,
        reject: () => void,
        info: { destIP: string; destPort: number; srcIP: string; srcPort: number },
      ) =>
        detach(
          this.ready.then(() => handleForward(this, accept, reject, info)),
          o.deps.logger,
          'an SSH forward failed',
        ),
    );
    refuseGlobalRequests(this, ssh);
  }

  private get subject() {
    return this.journal.subject;
  }

  /** Records the session, registers it live, then starts serving channels. */
  async start(): Promise<void> {
    const { deps, auth, front, registry } = this.o;
    front.on('close', () => detach(this.finish('client_closed'), deps.logger, 'could not end an SSH session'));
    this.target.on('close', () =>
      detach(
        this.close('target_closed', 'the target closed the connection'),
        deps.logger,
        'could not end an SSH session',
      ),
    );
    await this.journal.start({ via: this.o.via, ...(auth.key ? { keyFingerprint: auth.key.fingerprint } : {}) });
    try {
      this.unregister = registry?.register({
        id: this.id,
        grantId: auth.request.grantId,
        userId: auth.user.id,
        targetId: auth.target.id,
        protocol: 'ssh',
        via: this.o.via,
        startedAt: this.journal.startedAt,
        close: (reason, message) => this.close(reason, message),
        warn: (message) => this.warn(message),
        watch: (w) => this.watch(w),
        plc: this.conduit,
      });
    } catch (err) {
      // Why: the grant was revoked or ended between the check at login and now.
      return this.close('revoked', (err as Error).message);
    }
    this.markReady();
  }

  recorder(pty: PtyRequest | undefined): Promise<Recorder> {
    this.cast ??= (async () => {
      const { deps, auth } = this.o;
      const path = resolveRecording(deps.storageDir, this.id, this.startedAt);
      this.recordingPath = relative(deps.storageDir, path);
      const header = {
        width: pty?.cols ?? 80,
        height: pty?.rows ?? 24,
        ...(pty?.term ? { term: pty.term } : {}),
        gatehouse: {
          session: this.id,
          grant: auth.request.grantId,
          user: auth.user.id,
          target: auth.target.id,
          keystrokes: auth.target.recording.keystrokes,
        },
      };
      const w = await CastWriter.open(path, header, deps.clock);
      w.onFailure((err) =>
        detach(this.recordingFailed(err), deps.logger, 'could not end a session whose recording failed'),
      );
      try {
        await this.journal.recordingPlaced({
          path: this.recordingPath,
          keystrokes: auth.target.recording.keystrokes,
        });
      } catch (err) {
        // No session without its recording named in the record: the session ends for it (below). The writer is
        // sealed now, or its file handle and flush timer would stay open until the process exits; the end keeps the seal.
        this.unplaced = w.seal({ incomplete: true, reason: 'recording_failed' });
        throw err;
      }
      return w;
    })();
    // Fail closed: no recording, no session.
    this.cast.catch((err: unknown) => this.recordingFailed(err as Error));
    return this.cast;
  }

  newCapture(pty: PtyRequest): CommandCapture {
    // The newest shell's screen is what a live viewer joins on.
    this.screen = new CommandCapture(pty.cols, pty.rows);
    return this.screen;
  }

  observe(buf: Buffer): void {
    for (const w of this.watchers) w.output(buf);
  }

  observeResize(cols: number, rows: number): void {
    for (const w of this.watchers) w.resize(cols, rows);
  }

  /**
   * Adds a live viewer: it gets the current screen, then every byte the vendor gets after it. Output that
   * arrives while the screen is taken is queued, so nothing is missed or shown twice.
   */
  async watch(w: TerminalWatcher): Promise<() => void> {
    if (this.endReason) throw new Error('the session has ended');
    let queue: Buffer[] | undefined = [];
    let queued = 0;
    const proxy: TerminalWatcher = {
      screen: () => undefined,
      output: (b) => {
        if (!queue) return w.output(b);
        queued += b.length;
        if (queued > MAX_WATCH_QUEUE) return void this.watchers.delete(proxy);
        queue.push(b);
      },
      resize: (c, r) => (queue ? undefined : w.resize(c, r)),
      ended: (reason) => w.ended(reason),
      plc: (e) => w.plc?.(e),
    };
    this.watchers.add(proxy); // before the snapshot is asked for, in the same tick: the two agree on "now"
    const screen = this.screen;
    const snap = screen
      ? await Promise.race([
          screen.snapshot(),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref()),
        ])
      : undefined;
    w.screen(snap ?? { data: '', cols: 80, rows: 24 });
    for (const b of queue) w.output(b);
    queue = undefined;
    return () => this.watchers.delete(proxy);
  }

  refused(kind: string, detail: Record<string, unknown>): void {
    if (++this.refusals > MAX_AUDITED_REFUSALS) return; // counted in session.ended, not audited one by one
    this.later(
      this.o.deps.audit.append({
        type: 'channel.refused',
        actor: this.actor,
        subject: this.subject,
        data: { kind, ...detail },
      }),
    );
  }

  forwardOpened(dest: string, protocol?: PlcProtocol): void {
    this.later(
      this.o.deps.audit.append({
        type: 'forward.opened',
        actor: this.actor,
        subject: this.subject,
        data: { destination: dest, ...(protocol ? { inspected: protocol } : {}) },
      }),
    );
  }

  fileTransferred(t: FileTransfer): void {
    this.later(
      this.o.deps.audit.append({ type: 'file.transferred', actor: this.actor, subject: this.subject, data: { ...t } }),
    );
  }

  fileChanged(c: FileChange): void {
    this.later(
      this.o.deps.audit.append({ type: 'file.changed', actor: this.actor, subject: this.subject, data: { ...c } }),
    );
  }

  async judge(text: string, via: 'shell' | 'exec') {
    const d = evaluateCommand(this.rules, text);
    const at = isoTime(this.o.deps.clock.now());
    const id = `cmd_${randomBytes(12).toString('hex')}`;
    detach(
      this.cast?.then((w) => w.marker(text)),
      this.o.deps.logger,
      'could not mark a command in the recording',
    );
    const type =
      d.verdict === 'blocked' ? 'command.blocked' : d.verdict === 'alerted' ? 'command.alerted' : 'command.executed';
    const rule = d.rule ? { rule: d.rule.match, reason: d.rule.reason } : {};
    // Stored and audited behind the relay: the verdict is known now, the disk need not hold the Enter back.
    // The audit event follows the stored record (or its failure, logged): whoever sees command.* audited finds the record.
    const stored = this.o.deps.commands.append({
      id,
      sessionId: this.id,
      at,
      text,
      verdict: d.verdict,
      ...(d.rule ? { rule: d.rule.match } : {}),
    });
    this.later(stored);
    this.later(
      stored
        .catch(() => undefined)
        .then(() =>
          this.o.deps.audit.append({
            type,
            actor: this.actor,
            subject: { ...this.subject, commandId: id },
            data: { text, via, verdict: d.verdict, wouldBe: d.wouldBe, mode: this.rules.mode, ...rule },
          }),
        ),
    );
    if (d.verdict !== 'allowed') {
      const a = this.o.auth;
      this.o.deps.alerts?.publish({
        sessionId: this.id,
        targetId: a.target.id,
        userId: a.user.id,
        userName: a.user.name,
        verdict: d.verdict,
        text,
        ...(d.rule ? { reason: d.rule.reason } : {}),
        at,
      });
    }
    return { verdict: d.verdict, ...(d.rule ? { reason: d.rule.reason } : {}) };
  }

  track(ch: TrackedChannel): () => void {
    this.channels.add(ch);
    return () => this.channels.delete(ch);
  }

  warn(message: string): void {
    for (const ch of this.channels) ch.notice(message);
  }

  /** Tells the vendor `message` on every open channel, then ends channels, the target and the connection. */
  async close(reason: SessionEndReason, message: string): Promise<void> {
    this.endReason ??= reason;
    const closed = [...this.channels].map((ch) => ch.closed ?? Promise.resolve());
    for (const ch of this.channels) {
      ch.notice(message);
      ch.end();
    }
    this.channels.clear();
    this.target.end();
    // Disconnect once the channels have closed: output queued behind the vendor's window (a target that
    // streamed) and the notice after it are delivered, not dropped. The target is cut off already; a
    // client that stopped reading is disconnected after DISCONNECT_GRACE_MS all the same.
    const grace = new Promise((r) => setTimeout(r, DISCONNECT_GRACE_MS).unref());
    this.disconnecting = true;
    detach(
      Promise.race([Promise.all(closed), grace]).then(() => this.o.front.end()),
      this.o.deps.logger,
      'could not disconnect an SSH session',
    );
    await this.finish(reason);
  }

  private async recordingFailed(err: Error): Promise<void> {
    if (this.endReason) return;
    // Set before anything is awaited: the vendor, told at once, may hang up first, and the session must
    // still end as what happened (recording_failed), not as client_closed.
    this.endReason = 'recording_failed';
    this.o.deps.logger.error({ err, sessionId: this.id }, 'session recording failed');
    // A recording the state would not name failed on the state's disk, which reported itself; the recordings' disk is fine.
    if (!this.unplaced) this.reportRecordingFault(err);
    await this.journal.recordingFailed({ error: err.message });
    await this.close('recording_failed', 'the session recording failed; the session is closed');
  }

  /** A disk that refuses recordings is a storage fault too: /healthz and the metric say so until it heals. */
  private reportRecordingFault(err: Error): void {
    if (asStorageError(err)) this.o.deps.faults?.report(RECORDINGS_FAULT, err);
  }

  private later(p: Promise<unknown>): void {
    this.writes = this.writes
      .then(() => p)
      .catch((err: unknown) => this.o.deps.logger.error({ err, sessionId: this.id }, 'session write failed'));
  }

  private finishing: Promise<void> | undefined;
  private finish(reason: SessionEndReason): Promise<void> {
    this.endReason ??= reason;
    this.finishing ??= this.doFinish();
    return this.finishing;
  }

  private async doFinish(): Promise<void> {
    const reason = this.endReason ?? 'error';
    try {
      await this.journal.finish({
        reason,
        logger: this.o.deps.logger,
        cutOff: () => {
          this.unregister?.();
          this.conduit.end();
          for (const w of this.watchers) w.ended(reason);
          this.watchers.clear();
          this.target.end();
          if (!this.disconnecting) this.o.front.end();
        },
        recordingPath: this.recordingPath,
        seal: async () => {
          const cast = await this.cast?.catch(() => undefined);
          if (!cast) return this.unplaced && { kind: 'sealed', ...(await this.unplaced) };
          const sealed = await cast.seal(reason === 'recording_failed' ? { incomplete: true, reason } : {});
          if (this.recordingPath !== undefined)
            await leaveSealNote(join(this.o.deps.storageDir, this.recordingPath), sealed, this.o.deps.logger);
          // A write that failed once the session was ending (the disk filled as it ended, the seal's own flush) found
          // the end reason set, so recordingFailed left it alone: it is reported and audited here, like one mid-session.
          const late = reason === 'recording_failed' ? undefined : cast.failed;
          if (!late) return { kind: 'sealed', ...sealed };
          this.o.deps.logger.error({ err: late, sessionId: this.id }, 'session recording failed as the session ended');
          this.reportRecordingFault(late);
          const failure = {
            error: late.message,
            ...(this.recordingPath !== undefined && { path: this.recordingPath }),
          };
          return { kind: 'sealed', ...sealed, failure };
        },
        details: async () => {
          await this.writes;
          const suppressed = Math.max(0, this.refusals - MAX_AUDITED_REFUSALS);
          return suppressed ? { refusalsNotAudited: suppressed } : {};
        },
      });
    } finally {
      this.resolveEnded();
    }
  }
}
