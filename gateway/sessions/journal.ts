// A vendor session's evidence from start to end, the same for every protocol: its store record and its
// `session.started`, `recording.sealed` / `recording.failed` and `session.ended` audit records. The SSH session,
// the RDP session and crash recovery all write them here and nowhere else (test/unit/layers.test.ts).
import { type Clock, isoTime } from '../clock.js';
import type { AuditEventData, SessionEndedData } from '../core/audit-events.js';
import {
  type Actor,
  type SessionEndReason,
  type SessionRecord,
  systemActor,
  type TerminateRequest,
} from '../core/model.js';
import type { Logger } from '../log.js';
import { asStorageError } from '../storage-faults.js';
import type { AuditPort, StatePort } from '../storage/storage.js';
// By id through the draft's index: a session's end must not scan a year of sessions (docs/storage.md).
import { byId, type DbData, findById } from '../store.js';
import type { PendingEnds } from './pending-ends.js';

/** What a journal writes to: the state, the audit log, the time, and the node that holds the session. */
export interface JournalPorts {
  store: StatePort;
  audit: Pick<AuditPort, 'append'>;
  clock: Clock;
  /** config `node.id`: the session record names the node that holds it, so other nodes can find it. */
  node?: string | undefined;
  /** Where an end storage refused waits to be recorded once it is back (absent: the end is only logged). */
  pendingEnds?: PendingEnds | undefined;
}

/** The session a journal is about: fixed when it is opened. */
export interface JournalOpening {
  id: string;
  grantId: string;
  requestId: string;
  userId: string;
  targetId: string;
  protocol: SessionRecord['protocol'];
  via: SessionRecord['via'];
  /** Milliseconds since the epoch (the session's clock). */
  startedAt: number;
  sourceIp: string;
  actor: Actor;
}

/** The ids every audit record of the session carries. */
export type SessionSubject = {
  sessionId: string;
  grantId: string;
  requestId: string;
  userId: string;
  targetId: string;
};

/** What became of the recording at the end. */
export type RecordingOutcome =
  /**
   * Closed and hashed: the record gets the hash, `recording.sealed` says so. `failure`, when given, is a write the
   * seal itself hit (the disk filled as the session ended), audited as `recording.failed` before the seal.
   */
  | {
      kind: 'sealed';
      sha256: string;
      bytes: number;
      incomplete: boolean;
      format?: 'guac';
      failure?: { error: string; path?: string };
    }
  /** Not sealed: the record is marked incomplete; `failure`, when given, is audited as `recording.failed` (give none if that was audited already). */
  | { kind: 'lost'; failure?: { error: string; path: string } }
  /** Nothing was ever shown (the connection never opened): the record keeps no recording. */
  | { kind: 'dropped' };

export interface SessionEnd {
  reason: SessionEndReason;
  recording?: RecordingOutcome;
  /** What the protocol adds to `session.ended` (the reason and the duration are the journal's). */
  details?: Omit<SessionEndedData, 'reason' | 'durationMs'>;
}

/** A live session's end, in the order `SessionJournal.finish` runs it. */
export interface LiveEnd {
  reason: SessionEndReason;
  /** Stops the session's traffic and tells its viewers. */
  cutOff(): void;
  /** Seals the recording and says what became of it (undefined: the session never had one). */
  seal(): Promise<RecordingOutcome | undefined>;
  /** The recording's path in the storage folder, for `recording.failed` if `seal` throws. */
  recordingPath: string | undefined;
  /** After the seal: waits for the session's own records still being written, then gives its part of `session.ended`. */
  details(): Promise<SessionEnd['details']>;
  logger: Logger;
}

export class SessionJournal {
  readonly subject: SessionSubject;
  readonly startedAt: string;
  /** A `recording.failed` the audit log refused when it happened; the end's update carries it. */
  private failureUnrecorded: { error: string; path?: string } | undefined;

  constructor(
    private readonly ports: JournalPorts,
    private readonly opening: JournalOpening,
  ) {
    const o = opening;
    this.subject = {
      sessionId: o.id,
      grantId: o.grantId,
      requestId: o.requestId,
      userId: o.userId,
      targetId: o.targetId,
    };
    this.startedAt = isoTime(o.startedAt);
  }

  /** Stores the session's record and `session.started` together; `details` is the protocol's part of the event. */
  async start(details: AuditEventData['session.started'], recording?: SessionRecord['recording']): Promise<void> {
    const o = this.opening;
    const record: SessionRecord = {
      id: o.id,
      grantId: o.grantId,
      requestId: o.requestId,
      userId: o.userId,
      targetId: o.targetId,
      protocol: o.protocol,
      via: o.via,
      startedAt: this.startedAt,
      sourceIp: o.sourceIp,
      ...(recording ? { recording } : {}),
      ...(this.ports.node ? { node: this.ports.node } : {}),
    };
    await this.ports.store.update((d, audit) => {
      d.sessions.push(record);
      audit.record({ type: 'session.started', actor: o.actor, subject: this.subject, data: details });
    });
  }

  /** The recording file exists now (SSH opens it with the first shell): the record names it. */
  async recordingPlaced(recording: NonNullable<SessionRecord['recording']>): Promise<void> {
    await this.ports.store.update((d) => {
      const s = byId(d.sessions, this.opening.id);
      if (s) s.recording = recording;
    });
  }

  /** The recording could not be written while the session ran; the session is about to be closed for it. Never rejects. */
  async recordingFailed(data: { error: string; path?: string }): Promise<void> {
    await this.ports.audit
      .append({ type: 'recording.failed', actor: this.opening.actor, subject: this.subject, data })
      .catch(() => {
        // The audit log refused it (a full disk): the end writes it, before the seal, so the why is not lost.
        this.failureUnrecorded = data;
      });
  }

  /**
   * A live session's end, the same for every protocol: cut off, seal, the session's records in flight, then `end`.
   * Never rejects, and a step that throws does not stop the ones after it: a seal or a cut-off that throws must not
   * keep the end from being recorded, nor the session's `ended` from resolving (the gateway waits on it to stop).
   * A seal that throws leaves the recording lost: the record marked incomplete and `recording.failed` audited, unless
   * the session ended for its recording's failure, which was audited then.
   */
  async finish(e: LiveEnd): Promise<void> {
    const { logger } = e;
    const sessionId = this.opening.id;
    try {
      e.cutOff();
    } catch (err) {
      logger.error({ err, sessionId }, 'could not cut off an ending session; recording its end all the same');
    }
    let recording: RecordingOutcome | undefined;
    try {
      recording = await e.seal();
    } catch (err) {
      logger.error({ err, sessionId }, 'could not seal a session recording; its end records it as lost');
      const error = `the recording could not be sealed: ${err instanceof Error ? err.message : String(err)}`;
      const path = e.reason === 'recording_failed' ? undefined : e.recordingPath;
      recording = { kind: 'lost', ...(path !== undefined && { failure: { error, path } }) };
    }
    let details: SessionEnd['details'];
    try {
      details = await e.details();
    } catch (err) {
      logger.error({ err, sessionId }, "could not gather a session's end details; recording its end without them");
    }
    const end: SessionEnd = { reason: e.reason, ...(recording ? { recording } : {}), ...(details ? { details } : {}) };
    try {
      await this.end(end);
    } catch (err) {
      // A storage refusal (a full disk, a database away) left the end in `pendingEnds`, to be recorded as it was now.
      // Without that the session would look live until the next start ended it as gateway_crashed.
      const waits = this.ports.pendingEnds !== undefined && asStorageError(err) !== undefined;
      logger.error(
        { err, sessionId },
        waits
          ? 'could not record the end of a session; it is recorded once storage is back'
          : 'could not record the end of a session',
      );
    }
  }

  /**
   * The end, in one update: the record's end and recording, then `recording.*`, then `session.ended` last.
   *
   * A session has one end. If the record already has one (the leader declared this node dead while it was cut off
   * from the database and ended the session as `gateway_crashed`), that end stays: the record keeps its `endedAt`
   * and reason, and this late end is `session.ended_late` instead of a second `session.ended`. The recording's seal
   * is still written, because the file this node closed is the true recording; the record takes its hash unless the
   * crash sweep repaired the file after this end (it then holds this node's bytes and the sweep's marker).
   *
   * An end the storage refuses waits in `pendingEnds` (its time kept): tried on the monitor's recovery, every 2 s for
   * 15 minutes, and at a clean stop, then left to the sweeps. It is the only place it waits, so it is never written
   * twice at once.
   */
  async end(e: SessionEnd): Promise<void> {
    const at = this.ports.clock.now();
    try {
      await this.record(e, at);
    } catch (err) {
      // The storage cannot take it now (a node cut off from its database, a full disk): the end waits in the one
      // queue of refused ends and is recorded as soon as it can be, with the time it happened, rather than left to a
      // crash sweep that knows less.
      if (asStorageError(err))
        this.ports.pendingEnds?.add({ sessionId: this.opening.id, record: () => this.record(e, at, true) });
      throw err;
    }
  }

  /**
   * `end` at time `at`. `late`: storage refused the end when it happened and this records it now, so `session.ended`
   * carries `recordedLate` and the true `endedAt`, and its duration is counted to `at`, not to now.
   */
  private async record(e: SessionEnd, at: number, late = false): Promise<void> {
    const { store } = this.ports;
    const { actor, startedAt } = this.opening;
    const endedAt = isoTime(at);
    const r = e.recording;
    await store.update((d, audit) => {
      const s = byId(d.sessions, this.opening.id);
      const earlier = s?.endedAt !== undefined ? { endedAt: s.endedAt, reason: s.endReason } : undefined;
      // A try whose answer was lost (a database commit that timed out on the way back) already recorded this very end:
      // writing it again would make it a bogus `session.ended_late`.
      if (late && earlier?.endedAt === endedAt && earlier.reason === e.reason) return;
      // The crash sweep repaired the file after this node sealed it (a fenced node closes its sessions before the
      // others declare it dead): the repair's hash is the file's now, and the record keeps it.
      const repairedAfter =
        earlier !== undefined && s?.recording?.sha256 !== undefined && Date.parse(earlier.endedAt) > at;
      // The crash sweep found this seal's note and recorded it already: one seal, one `recording.sealed`.
      const sealRecorded = earlier !== undefined && r?.kind === 'sealed' && s?.recording?.sha256 === r.sha256;
      if (s) {
        if (!earlier) {
          s.endedAt = endedAt;
          s.endReason = e.reason;
        }
        if (r?.kind === 'dropped') delete s.recording;
        else if (s.recording && r?.kind === 'sealed' && !repairedAfter)
          s.recording = {
            ...s.recording,
            sha256: r.sha256,
            bytes: r.bytes,
            ...(r.incomplete ? { incomplete: true } : {}),
          };
        else if (s.recording && r?.kind === 'lost' && !repairedAfter)
          s.recording = { ...s.recording, incomplete: true };
      }
      if (this.failureUnrecorded)
        audit.record({ type: 'recording.failed', actor, subject: this.subject, data: { ...this.failureUnrecorded } });
      if (r?.kind === 'sealed' && r.failure)
        audit.record({ type: 'recording.failed', actor, subject: this.subject, data: { ...r.failure } });
      if (r?.kind === 'sealed' && !sealRecorded)
        audit.record({
          type: 'recording.sealed',
          actor,
          subject: this.subject,
          data: {
            sha256: r.sha256,
            bytes: r.bytes,
            incomplete: r.incomplete,
            ...(r.format ? { format: r.format } : {}),
          },
        });
      else if (r?.kind === 'lost' && r.failure)
        audit.record({ type: 'recording.failed', actor, subject: this.subject, data: { ...r.failure } });
      const data = {
        reason: e.reason,
        durationMs: at - startedAt,
        ...e.details,
        ...(late && { recordedLate: true as const, endedAt }),
      };
      if (earlier)
        audit.record({
          type: 'session.ended_late',
          actor,
          subject: this.subject,
          data: {
            ...data,
            endedAt,
            recordedEnd: { at: earlier.endedAt, reason: earlier.reason },
            ...(this.ports.node ? { node: this.ports.node } : {}),
          },
        });
      else audit.record({ type: 'session.ended', actor, subject: this.subject, data });
    });
  }
}

/** The crash path's end: what recovery made of the recording. */
export interface InterruptedEnd {
  /** The repaired recording's hash and size, when it could be repaired. */
  repaired?: { sha256: string; bytes: number };
  /** The seal the recording had before the crash (the file untouched): the record takes it, `recording.sealed` says so. */
  sealed?: { sha256: string; bytes: number; incomplete: boolean };
  /** `recording.incomplete`'s details, when the session had a recording that was not sealed. */
  incomplete?: AuditEventData['recording.incomplete'];
}

/**
 * Ends a session the store still shows as live after a crash, as `gateway_crashed`, in one update. Does nothing
 * to a session that has ended meanwhile, so running it twice is harmless.
 */
export async function endInterrupted(
  ports: Pick<JournalPorts, 'store' | 'clock'>,
  rec: SessionRecord,
  end: InterruptedEnd,
): Promise<void> {
  const endedAt = isoTime(ports.clock.now());
  const subject: SessionSubject = {
    sessionId: rec.id,
    grantId: rec.grantId,
    requestId: rec.requestId,
    userId: rec.userId,
    targetId: rec.targetId,
  };
  await ports.store.update((d, audit) => {
    const s = byId(d.sessions, rec.id);
    if (!s || s.endedAt) return;
    // A terminate committed before the crash stands: the supervisor asked, and the session is over.
    const reason = s.terminateRequested ? 'terminated' : 'gateway_crashed';
    s.endedAt = endedAt;
    s.endReason = reason;
    if (s.recording && end.sealed) {
      const { sha256, bytes, incomplete } = end.sealed;
      const had = s.recording.sha256;
      s.recording = { ...s.recording, sha256, bytes, ...(incomplete ? { incomplete: true } : {}) };
      // Only when the record did not have it yet: one seal, one `recording.sealed`.
      if (had !== sha256)
        audit.record({
          type: 'recording.sealed',
          actor: systemActor(),
          subject,
          data: { sha256, bytes, incomplete, recovered: true },
        });
    } else if (s.recording) {
      s.recording = end.repaired
        ? { ...s.recording, sha256: end.repaired.sha256, bytes: end.repaired.bytes, incomplete: true }
        : { ...s.recording, incomplete: true };
    }
    if (end.incomplete)
      audit.record({ type: 'recording.incomplete', actor: systemActor(), subject, data: end.incomplete });
    audit.record({
      type: 'session.ended',
      actor: systemActor(),
      subject,
      data: {
        reason,
        startedAt: rec.startedAt,
        via: rec.via,
        recovered: true,
        ...(rec.node !== undefined && { node: rec.node }),
      },
    });
  });
}

/**
 * Marks a live session for termination inside the caller's update (the broker's, with its `session.terminated`
 * record): false if there is no such open session. The first request stands; a second adds nothing.
 */
export function requestTermination(d: DbData, sessionId: string, req: TerminateRequest): boolean {
  const s = byId(d.sessions, sessionId);
  if (!s || s.endedAt !== undefined) return false;
  s.terminateRequested ??= req;
  return true;
}

/** The terminate recorded on a session (through the committed list's id index: the sweep asks once a second per live session). */
export function terminationOf(sessions: readonly SessionRecord[], sessionId: string): TerminateRequest | undefined {
  const at = findById(sessions, sessionId);
  return at >= 0 ? sessions[at]!.terminateRequested : undefined;
}
