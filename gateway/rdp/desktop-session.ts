// One vendor RDP session through guacd: session record, live registry entry, guacd handshake with the target's
// settings, relay, the recording's appearance check, the end (whoever ends it) and the seal.
import { type Config, resolveSecret } from '../config.js';
import { type Actor, type SessionEndReason, userActor } from '../core/model.js';
import type { AuditInput } from '../core/audit.js';
import {
  type DesktopView,
  type DesktopViewRequest,
  journalPorts,
  type RecordingOutcome,
  SessionJournal,
  type SessionPorts,
  type SessionRegistry,
} from '../sessions.js';
import { type ConnectProof, requireProof } from '../admission/admission.js';
import { describeEnd, type GuacdEnd, GuacdError, type GuacdLink } from './guacd.js';
import { certCheckOf, GUAC_STATUS, meaningOfGuacdError } from './guacd-status.js';
import { type ClientSize, mustUnderstand, vendorParams } from './params.js';
import { type GuacRecordingPlace, placeRecording, settleRecording, waitForRecording } from './recording.js';
import { allowedFromBrowser, gatehouseInstruction, type Relay, startRelay } from './relay.js';
import { encodeInstruction, firstFrameStep, type Instruction } from '../guac/wire.js';
import type { WebSocket } from 'ws';
import { GuacFileAudit, MAX_OPEN_STREAMS } from './file-streams.js';
import { detach } from '../background.js';
import { hashFile, leaveSealNote } from '../recording/recording.js';

export interface DesktopTuning {
  /** guacd must answer `ready` within this (default 15 s). */
  handshakeMs: number;
  /** Nothing from guacd for this long ends the session (default 15 s; guacd sends `nop` every 5 s). */
  idleMs: number;
  /** guacd must have created the recording within this after `ready` (default 15 s), or the session closes. */
  recordingAppearMs: number;
  /**
   * The first frame (the screen's size, then a `sync`) must come within this after `ready` (default 30 s), or the
   * session closes: guacd sends keep-alives while its RDP client is stuck (a certificate list FreeRDP 2 loops on
   * burns a core), so only the absence of a picture tells.
   */
  firstFrameMs: number;
  /** After the end: how long the file must stay unchanged before it is sealed, and the most we wait. */
  settleQuietMs: number;
  settleMaxMs: number;
}

export const DEFAULT_TUNING: DesktopTuning = {
  handshakeMs: 15_000,
  idleMs: 15_000,
  recordingAppearMs: 15_000,
  firstFrameMs: 30_000,
  settleQuietMs: 500,
  settleMaxMs: 10_000,
};

/** What an RDP session uses: the session ports, and guacd's address, recording folder and the site's time zone. */
export interface DesktopSessionPorts extends SessionPorts {
  config: Pick<Config, 'node' | 'guacd' | 'site'>;
}

export interface DesktopSessionOptions {
  deps: DesktopSessionPorts;
  registry: SessionRegistry;
  /** The vendor's admission: the guacd handshake below is the target connection, and only a proof opens it. */
  admission: ConnectProof<'rdp'>;
  sessionId: string;
  ip: string;
  size: ClientSize;
  ws: WebSocket;
  link: GuacdLink;
  tuning: DesktopTuning;
  /** Relative credential files resolve against this folder. */
  cwd?: string;
  /** Prepares a read-only join of this session (rdp-route.ts): what its registry entry offers the live views. */
  view?(session: DesktopSession, v: DesktopViewRequest): Promise<DesktopView>;
}

/** What a watcher of this session needs: guacd's connection id to join, and a way to be told it ended. */
export interface DesktopViewer {
  ended(reason: SessionEndReason): void;
}

/** Guacamole status codes the page (and any Guacamole client) understands, per end reason. */
const STATUS: Partial<Record<SessionEndReason, number>> = {
  window_ended: GUAC_STATUS.SESSION_TIMEOUT,
  revoked: GUAC_STATUS.CLIENT_FORBIDDEN,
  terminated: GUAC_STATUS.SESSION_CLOSED,
  recording_failed: GUAC_STATUS.SERVER_ERROR,
  gateway_stopped: GUAC_STATUS.SERVER_BUSY,
  gateway_fenced: GUAC_STATUS.SERVER_BUSY,
  error: GUAC_STATUS.SERVER_ERROR,
};

export class DesktopSession {
  readonly id: string;
  readonly startedAt: number;
  readonly actor: Actor;
  /** guacd's id of this connection once the handshake is done: viewers `select` it. */
  connectionId: string | undefined;
  private place: GuacRecordingPlace | undefined;
  private relay: Relay | undefined;
  private readonly viewers = new Set<DesktopViewer>();
  private unregister: (() => void) | undefined;
  private endReason: SessionEndReason | undefined;
  /**
   * What guacd said when it ended the connection itself (`error` instruction), kept for the audit trail. The first
   * one only: guacd may follow a specific error ("SSL/TLS connection failed", 519) with a generic "Aborted. See logs.".
   */
  private guacdError: { message: string; status: number } | undefined;
  /** The sentence the vendor was given for the end (the first close's), kept in `session.ended`. */
  private endMessage: string | undefined;
  /** Why the handshake failed (guacd refused, or lacks a parameter the target needs), for the audit trail. */
  private handshakeError: { code: string; message: string } | undefined;
  /** guacd said goodbye (`disconnect`) before closing: an orderly end, not a drop. */
  private guacdSaidBye = false;
  /** The first frame so far: nothing, the screen's size, or size and then a `sync` (drawn). */
  private frame: 'none' | 'sized' | 'drawn' = 'none';
  private finishing: Promise<void> | undefined;
  /** Files over Guacamole streams (drive redirection, uploads), each audited like an SFTP file; clipboard contents too. */
  private readonly files = new GuacFileAudit({
    file: (t) =>
      this.auditTransfer({
        type: 'file.transferred',
        actor: this.actor,
        subject: this.subject,
        data: { ...t, via: 'rdp' },
      }),
    clipboard: (t) =>
      this.auditTransfer({
        type: 'clipboard.transferred',
        actor: this.actor,
        subject: this.subject,
        data: { ...t, via: 'rdp' },
      }),
    overflow: () =>
      detach(
        this.close(
          'error',
          `more than ${MAX_OPEN_STREAMS} file transfers at once cannot be audited; the session is closed`,
        ),
        this.o.deps.logger,
        'could not close an RDP session',
      ),
  });

  private fileWrites: Promise<void> = Promise.resolve();
  /** Resolves once the session is recorded as ended (store, recording sealed, audit). */
  readonly ended: Promise<void>;
  private resolveEnded!: () => void;
  /** Resolves once the start is in the store and the audit trail (or failed to get there): the end waits for it. */
  private readonly recorded: Promise<void>;
  private markRecorded!: () => void;
  /** The session's record and its start and end in the audit trail. */
  private readonly journal: SessionJournal;

  constructor(private readonly o: DesktopSessionOptions) {
    requireProof(o.admission, 'rdp');
    this.id = o.sessionId;
    this.startedAt = o.deps.clock.now();
    this.actor = userActor(o.admission.user, o.ip);
    const a = o.admission;
    this.journal = new SessionJournal(journalPorts(o.deps), {
      id: this.id,
      grantId: a.request.grantId,
      requestId: a.request.id,
      userId: a.user.id,
      targetId: a.target.id,
      protocol: 'rdp',
      via: 'rdp',
      startedAt: this.startedAt,
      sourceIp: o.ip,
      actor: this.actor,
    });
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.recorded = new Promise((r) => (this.markRecorded = r));
  }

  get subject() {
    return this.journal.subject;
  }

  /** Records and registers the session, then connects guacd to the target and relays. Never throws. */
  async start(): Promise<void> {
    const { deps, admission, ws, link, registry } = this.o;
    ws.once('close', () => detach(this.finish('client_closed'), deps.logger, 'could not end an RDP session'));
    link.onEnd((e) => detach(this.guacdEnded(e), deps.logger, 'could not end an RDP session'));
    try {
      this.place = await placeRecording(deps.storageDir, this.id, this.startedAt, deps.config.guacd.recordingDir);
      await this.journal.start(
        { via: 'rdp', size: this.o.size, guacd: `${deps.config.guacd.host}:${deps.config.guacd.port}` },
        { path: this.place.stored },
      );
    } catch (err) {
      deps.logger.error({ err, sessionId: this.id }, 'could not record the start of an RDP session');
      this.markRecorded();
      return this.close('error', 'the gateway could not start the session');
    }
    this.markRecorded();
    // The browser may have gone while the start was written: then it ends here, unregistered and undialled.
    if (this.endReason) return;
    const view = this.o.view;
    try {
      this.unregister = registry.register({
        id: this.id,
        grantId: admission.request.grantId,
        userId: admission.user.id,
        targetId: admission.target.id,
        protocol: 'rdp',
        via: 'rdp',
        startedAt: this.journal.startedAt,
        close: (reason, message) => this.close(reason, message),
        warn: (message) => this.tell({ type: 'notice', message }),
        ...(view ? { viewDesktop: (v: DesktopViewRequest) => view(this, v) } : {}),
      });
    } catch (err) {
      // The grant was revoked or ended between the check and now.
      return this.close('revoked', (err as Error).message);
    }
    if (this.endReason) return;
    await this.connect();
  }

  private async connect(): Promise<void> {
    const { deps, admission, link, size, tuning } = this.o;
    let password: string;
    try {
      password = resolveSecret(admission.target.rdp.credential, this.o.cwd ? { cwd: this.o.cwd } : {});
    } catch (err) {
      // The reason names the variable or file, never a value (SecretError); the vendor gets a plain line.
      deps.logger.error({ err, targetId: admission.target.id }, 'the RDP credential of a target could not be read');
      return this.close('error', 'the gateway could not read the credential for this target; tell the site admin');
    }
    const params = vendorParams({
      rdp: admission.target.rdp,
      password,
      recordingPath: this.place!.guacdDir,
      recordingName: this.place!.name,
      drivePath: this.place!.guacdDrive,
      size,
      timezone: deps.config.site.timezone,
    });
    try {
      const client = { ...size, timezone: deps.config.site.timezone, name: admission.user.name };
      const hs = await link.handshake('rdp', params, client, tuning.handshakeMs, mustUnderstand(params));
      this.connectionId = hs.connectionId;
    } catch (err) {
      if (this.endReason) return; // closed meanwhile (revoke, the browser gone): that is the story, not this
      const message = err instanceof GuacdError ? err.message : 'the remote desktop service (guacd) failed';
      deps.logger.warn({ err, sessionId: this.id }, 'guacd handshake failed');
      if (err instanceof GuacdError && err.code === 'guacd_refused')
        this.guacdError = { message: err.message, status: err.status ?? 0 };
      this.handshakeError = { code: err instanceof GuacdError ? err.code : 'guacd_handshake_failed', message };
      return this.close('error', `the remote desktop service (guacd) did not accept the connection: ${message}`);
    }
    if (this.endReason) return;
    const rdp = admission.target.rdp;
    this.tell({
      type: 'ready',
      sessionId: this.id,
      targetId: admission.target.id,
      targetName: admission.target.name,
      endsAt: admission.request.endsAt,
      firstFrameMs: tuning.firstFrameMs,
    });
    this.relay = startRelay({
      ws: this.o.ws,
      link,
      allowed: allowedFromBrowser('owner', { clipboard: rdp.clipboard, drive: rdp.drive }),
      observe: (ins) => this.observe(ins),
      observeBrowser: (ins) => this.files.fromBrowser(ins),
    });
    detach(this.checkRecording(), this.o.deps.logger, 'could not check an RDP recording');
    const noPicture = setTimeout(() => {
      if (this.frame === 'drawn' || this.endReason) return;
      const s = Math.round(tuning.firstFrameMs / 1000);
      this.o.deps.logger.warn({ sessionId: this.id, frame: this.frame }, 'no first frame from guacd');
      detach(
        this.close(
          'error',
          `the workstation showed nothing within ${s} s of connecting (guacd's RDP client may be stuck, or the workstation is not answering); the session is closed`,
        ),
        this.o.deps.logger,
        'could not close an RDP session',
      );
    }, tuning.firstFrameMs);
    noPicture.unref();
    detach(
      this.ended.then(() => clearTimeout(noPicture)),
      this.o.deps.logger,
      'an RDP session failed',
    );
  }

  /** In order, after the start is recorded; a failure is logged, never thrown into the relay. */
  private auditTransfer(input: AuditInput<'file.transferred' | 'clipboard.transferred'>): void {
    const { type } = input;
    this.fileWrites = this.fileWrites
      .then(() => this.o.deps.audit.append(input))
      .then(
        () => undefined,
        (err: unknown) =>
          this.o.deps.logger.error(
            { err, sessionId: this.id },
            `could not audit a ${type === 'file.transferred' ? 'file' : 'clipboard'} transfer`,
          ),
      );
  }

  /** Fail closed: a session guacd does not record is closed (guacd only logs when it cannot create the file). */
  private async checkRecording(): Promise<void> {
    const there = await waitForRecording(
      this.place!.path,
      this.o.tuning.recordingAppearMs,
      () => this.endReason !== undefined,
    );
    if (there || this.endReason) return;
    await this.journal.recordingFailed({ error: 'guacd did not create the recording', path: this.place!.stored });
    await this.close('recording_failed', 'the session recording failed; the session is closed');
  }

  /**
   * Runs before the batch goes on to the browser. guacd's `error` or `disconnect` ends the session here and now:
   * after a refused certificate guacd says nothing more but keeps the socket open until its user times out, so
   * waiting for the close would leave the vendor before a blank desktop and the audit with the wrong story.
   * Returns false when the batch must not go on (the vendor gets our reading of guacd's error instead).
   */
  private observe(ins: Instruction[]): boolean {
    if (this.endReason) return false;
    this.files.fromGuacd(ins);
    for (const i of ins) {
      if (this.frame !== 'drawn') this.frame = firstFrameStep(this.frame, i);
      if (i.opcode === 'error') {
        const status = Number(i.args[1]) || 0;
        this.guacdError ??= { message: (i.args[0] ?? '').slice(0, 500), status };
        const m = meaningOfGuacdError(
          this.guacdError.status,
          this.guacdError.message,
          certCheckOf(this.o.admission.target.rdp),
        );
        detach(
          this.close(m.reason, m.message, this.guacdError.status),
          this.o.deps.logger,
          'could not close an RDP session',
        );
        return false;
      }
      if (i.opcode === 'disconnect') {
        this.guacdSaidBye = true;
        detach(
          this.close('target_closed', 'the remote desktop session ended'),
          this.o.deps.logger,
          'could not close an RDP session',
        );
        return false;
      }
    }
    return true;
  }

  /** guacd ended the connection: in order (`disconnect`, maybe after an `error` such as "target unreachable"), or it dropped, stalled or talked nonsense. */
  private async guacdEnded(e: GuacdEnd): Promise<void> {
    // Before `ready` the handshake reports the failure itself, with guacd's own words where it gave any.
    if (this.endReason || !this.connectionId) return;
    if (e.kind === 'closed' && this.guacdSaidBye)
      return this.close('target_closed', 'the remote desktop session ended');
    this.o.deps.logger.warn({ sessionId: this.id, end: e }, 'guacd connection ended unexpectedly');
    await this.close('error', `the connection to the remote desktop service (guacd) was lost: ${describeEnd(e)}`);
  }

  addViewer(v: DesktopViewer): () => void {
    this.viewers.add(v);
    return () => this.viewers.delete(v);
  }

  /** A Gatehouse message to the page (ready, notice, ended). */
  tell(msg: Record<string, unknown>): void {
    const { ws } = this.o;
    if (ws.readyState === ws.OPEN) ws.send(gatehouseInstruction(msg));
  }

  /**
   * Tells the vendor why, then cuts guacd and the browser at once; resolves when both are cut (well within a
   * second). Recording the end and sealing continue behind it (see `ended`).
   */
  async close(reason: SessionEndReason, message: string, status?: number): Promise<void> {
    this.endReason ??= reason;
    this.endMessage ??= message;
    const { ws, link } = this.o;
    if (ws.readyState === ws.OPEN) {
      this.tell({ type: 'ended', reason, message });
      ws.send(encodeInstruction('error', message, status ?? STATUS[reason] ?? GUAC_STATUS.SESSION_CLOSED));
    }
    link.close();
    const closed = new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : ws.once('close', () => r())));
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000, reason);
    // A browser that does not answer the close handshake is cut off anyway.
    const cut = setTimeout(() => ws.terminate(), 800);
    cut.unref();
    detach(this.finish(reason), this.o.deps.logger, 'could not end an RDP session');
    await closed;
    clearTimeout(cut);
  }

  private finish(reason: SessionEndReason): Promise<void> {
    this.endReason ??= reason;
    this.finishing ??= this.doFinish();
    return this.finishing;
  }

  private async doFinish(): Promise<void> {
    const { deps, ws, link, tuning } = this.o;
    const reason = this.endReason ?? 'error';
    await this.recorded;
    try {
      await this.journal.finish({
        reason,
        logger: deps.logger,
        cutOff: () => {
          this.unregister?.();
          for (const v of this.viewers) v.ended(reason);
          this.viewers.clear();
          link.close();
          if (ws.readyState === ws.OPEN) ws.close(1000, reason);
        },
        recordingPath: this.place?.stored,
        seal: () => this.seal(reason, tuning),
        details: async () => {
          // File transfers are audited before the end, so session.ended stays the session's last record.
          const untracked = this.files.finish();
          await this.fileWrites;
          const dropped = this.relay?.dropped() ?? 0;
          return {
            ...(this.endMessage ? { message: this.endMessage } : {}),
            via: 'rdp',
            ...(this.guacdError ? { guacdError: this.guacdError } : {}),
            ...(this.handshakeError ? { handshakeError: this.handshakeError } : {}),
            ...(dropped ? { droppedFromBrowser: dropped } : {}),
            ...(untracked ? { fileStreamsNotAudited: untracked } : {}),
          };
        },
      });
    } finally {
      this.resolveEnded();
    }
  }

  /** Waits for guacd to finish the recording, then hashes it: what became of it. */
  private async seal(reason: SessionEndReason, tuning: DesktopTuning): Promise<RecordingOutcome> {
    const place = this.place;
    const settled =
      place && (await settleRecording(place.path, { quietMs: tuning.settleQuietMs, maxMs: tuning.settleMaxMs }));
    if (place && settled !== 'missing') {
      const h = await hashFile(place.path);
      // Still being written when we gave up waiting, or the session was cut by a failure: not the whole story.
      const incomplete = settled === 'still_writing' || reason === 'recording_failed';
      await leaveSealNote(place.path, { ...h, incomplete }, this.o.deps.logger);
      return { kind: 'sealed', ...h, incomplete, format: 'guac' };
    }
    // guacd never took the connection (refused, unreachable mid-way): nothing was shown, so nothing to record.
    if (!this.connectionId) return { kind: 'dropped' };
    return {
      kind: 'lost',
      // A recording_failed end audited its failure when it happened.
      ...(place && reason !== 'recording_failed'
        ? { failure: { error: `no recording: ${settled ?? 'not placed'}`, path: place.stored } }
        : {}),
    };
  }
}
