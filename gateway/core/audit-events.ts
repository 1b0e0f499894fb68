// What each audit event carries in `data`: one shape per event type. Writers are checked against it when they
// write (`audit.record` / `audit.append`), readers (the evidence report and tables) read its fields by name.
// Adding an optional field is fine; renaming or retyping one breaks readers of old evidence, so don't.
import type { CommandMode, CommandVerdict } from './commands.js';
import type { FileChange, FileTransfer } from './file-transfer.js';
import type { SessionEndReason } from './model.js';

/** Fixed fields plus details the writer adds freely (refusal context, a protocol's extras). */
export type Open<T> = T & { [detail: string]: unknown };

type Via = 'ssh' | 'web' | 'rdp';

/** `session.ended`: the reason and duration always; each protocol adds its own details. */
export interface SessionEndedData {
  reason: SessionEndReason;
  /** Absent on a session ended by crash recovery (then `recovered` and `startedAt` say what is known). */
  durationMs?: number;
  via?: Via;
  /** The sentence the vendor was given (RDP). */
  message?: string;
  /** guacd's own error when it ended the connection (RDP). */
  guacdError?: { message: string; status: number };
  /** Why the guacd handshake failed (RDP). */
  handshakeError?: { code: string; message: string };
  droppedFromBrowser?: number;
  fileStreamsNotAudited?: number;
  /** SSH channel refusals beyond the audited first twenty. */
  refusalsNotAudited?: number;
  recovered?: true;
  startedAt?: string;
  /**
   * Storage refused the end when it happened (a full disk) and it was recorded once storage was back: `endedAt` is
   * when the session ended, the record's own time when it was written.
   */
  recordedLate?: true;
  endedAt?: string;
}

/** `command.executed` / `command.alerted` / `command.blocked`: the captured line and the rules' verdict. */
export interface CommandData {
  text: string;
  via: 'shell' | 'exec';
  verdict: CommandVerdict;
  wouldBe: CommandVerdict;
  mode: CommandMode;
  /** The matching rule's pattern and its reason, when a rule matched. */
  rule?: string;
  reason?: string;
}

/** A PLC operation's event: the operation's fields (conduit/operation.ts) plus the decision. */
export type PlcData = Open<{ mode?: string; verdict?: string; rule?: string; reason?: string; decided?: string }>;

/**
 * `access.denied`: the error code always; the HTTP hook adds method and path, the broker the action. A request
 * body over the bound (`body_too_large`) adds the bound in bytes; a frame a websocket refused (`message_too_large`,
 * `invalid_frame`) adds ws's own code and the socket's bound in bytes. Never the body or the message.
 */
export type AccessDeniedData = Open<{
  code: string;
  status?: number;
  action?: string;
  maxBodyBytes?: number;
  wsCode?: string;
  maxPayload?: number;
}>;

export interface AuditEventData {
  'gateway.started': { version: string; pid: number; http: string; ssh?: string; targets: string[] };
  'gateway.stopped': { reason: string };
  /** When the fence began and lifted, how old the last written heartbeat was then, and the sessions it closed. */
  'gateway.fenced': { node: string; from: string; to: string; sinceHeartbeatMs: number; sessionsClosed: string[] };
  'gateway.fault': { kind: 'rejection' | 'exception'; error: string; code?: string; notAudited?: number };
  /** Closed requests and ended sessions moved from db.json to history/*.jsonl. */
  'storage.archived': { requests: number; sessions: number; olderThan: string; afterDays: number };
  'storage.recovered': Open<{ file: string; code?: string; since: string }>;
  'change.reverted': {
    /** The reverted change's records. */
    firstSeq: number;
    lastSeq: number;
    /** The store's transaction number. */
    tx: number;
    /** `state_write_failed` or `state_not_written`. */
    reason: string;
    error?: string;
  };
  'config.loaded': Open<{ path?: string; sha256?: string }>;
  'audit.checkpoint': Open<{ upToSeq: number; upToHash: string; keyId: string; sig: string }>;
  'audit.recovered': { droppedBytes: number; afterSeq: number };
  'audit.missing_head_accepted': { records: number; lastCheckpointSeq: number; flag: string };
  'audit.syslog_behind': Open<{ backlog?: number }>;
  'audit.syslog_caught_up': Open<{ backlog?: number }>;
  'audit.viewed': { filters: Record<string, unknown>; returned: number };
  'audit.verified':
    { ok: true; records: number; headSeq: number } | { ok: false; seq: number | undefined; reason: string };
  'auth.login': { issuer: string; subject: string; roles: string[]; org?: string | undefined; session: string };
  'auth.login_failed': Open<{ reason: string }>;
  'auth.logout': { reason: string; session: string };
  'totp.enrolled': { restarted: boolean };
  'totp.confirmed': { purpose: string };
  'totp.failed': { purpose: string; reason: string | undefined; failures?: number };
  'totp.locked': { purpose: string; failures: number | undefined; lockedUntil: string | undefined };
  'totp.reset': Open<{ via?: 'cli' }>;
  'stepup.succeeded': { stepUpUntil: string };
  'stepup.failed': { reason: string };
  'access.denied': AccessDeniedData;
  'key.added': { fingerprint: string; algorithm: string; comment?: string | undefined };
  'key.removed': { fingerprint: string; algorithm: string };
  'request.created': {
    protocol: string;
    startsAt: string;
    endsAt: string;
    durationMinutes: number;
    purpose: string;
    ticket: string | null;
    emergency: boolean;
    emergencyReason: string | null;
    approvalsRequired: number;
  };
  'request.approval_recorded': { by: string; approvals: number; required: number; comment?: string };
  'request.approved': {
    by: string;
    approvals: number;
    required: number;
    approvers: string[];
    startsAt: string;
    endsAt: string;
    /** The approver's optional words. */
    comment?: string;
  };
  'request.denied': { by: string; reason: string | undefined };
  'request.cancelled': { by: string; wasApproved: boolean };
  'request.expired': { endsAt: string; approvals: number };
  'grant.revoked': { by: string; reason: string | undefined; wasActive: boolean };
  'grant.ended': { endedAt: string };
  'notify.failed': { host: string; event: string; tries: number; error: string };
  'session.started': Open<{ via: Via; keyFingerprint?: string }>;
  'session.refused': Open<{ code: string; reason?: string; via: Via; ip: string }>;
  'session.warned': { minutesLeft: number; endsAt: string; delivered: boolean };
  'session.ended': SessionEndedData;
  /**
   * The node holding a session ended it after the session's end was already recorded (by the leader, as
   * `gateway_crashed`, while the node was cut off from the database): this end's reason and time, and the end
   * that stays on record. A session has one `session.ended`; this is the holder's account of the rest.
   */
  'session.ended_late': SessionEndedData & {
    endedAt: string;
    recordedEnd: { at: string; reason: SessionEndReason | undefined };
    node?: string;
  };
  'session.terminated': { reason: string; protocol: string };
  /** `node`: the session is held by another node and the view is relayed from it. */
  'session.monitored': { via: Via; readOnly?: boolean; node?: string };
  'hostkey.mismatch': { host: string; port: number; expected: string | undefined; presented: string | undefined };
  'channel.refused': Open<{ kind: string }>;
  'forward.opened': { destination: string; inspected?: string };
  'file.transferred': FileTransfer & { via?: 'rdp' };
  'clipboard.transferred': {
    direction: FileTransfer['direction'];
    mimetype: string;
    size: number;
    sha256?: string;
    via: 'rdp';
  };
  'file.changed': FileChange;
  'command.executed': CommandData;
  'command.alerted': CommandData;
  'command.blocked': CommandData;
  'plc.alerted': PlcData;
  'plc.blocked': PlcData;
  'plc.held': PlcData;
  'plc.approved': PlcData;
  'plc.denied': PlcData;
  'plc.unparsed': PlcData;
  /** `recovered`: recorded by the crash sweep from the seal's note, the node's own end never having reached the store. */
  'recording.sealed': { sha256: string; bytes: number; incomplete: boolean; format?: 'guac'; recovered?: true };
  'recording.incomplete': Open<{ reason: 'gateway_crashed' }>;
  'recording.failed': { error: string; path?: string };
  'recording.viewed': { kind: string; bytes: number; range: string; sha256: string | null };
  'evidence.exported': {
    via: 'api' | 'cli';
    osUser?: string;
    from: string;
    to: string;
    withRecordings: boolean;
    file?: string;
    bytes: number;
    sha256: string;
    auditSeq: { first: number | null; last: number | null };
  };
  'rdp.token_refused': Open<{ reason?: string }>;
}

/** A stored record's data read as its type's shape. Every field may be missing: older gateways wrote fewer. */
export type StoredData<T extends keyof AuditEventData> = Partial<AuditEventData[T]>;

/** The data of a stored record of type `type`, read by field name (undefined for a record of another type). */
export function dataOf<T extends keyof AuditEventData>(
  record: { type: string; data?: Record<string, unknown> | undefined },
  type: T,
): StoredData<T> | undefined {
  return record.type === type ? ((record.data ?? {}) as StoredData<T>) : undefined;
}
