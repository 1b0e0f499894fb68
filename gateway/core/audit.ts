// The audit event catalog (one union type) and the hash chain's pure rules: sealing and linking records.
import { canonicalJson, formatLine, GENESIS_HASH, hashInput, type LineParts, sha256hex } from './audit-line.js';
import type { AuditEventData } from './audit-events.js';
import type { Actor } from './model.js';

export { ChainVerifier, type ChainVerifierOptions, type CheckpointData, verifyRecords } from './audit-chain.js';
export { canonicalJson, GENESIS_HASH, sha256hex } from './audit-line.js';
export type { AuditEventData, StoredData } from './audit-events.js';
export { dataOf } from './audit-events.js';

/** Every audit event, `noun.past_tense`. Adding one is fine; renaming one breaks old evidence. */
export const AUDIT_EVENT_TYPES = [
  'gateway.started', // the gateway began serving (version, listeners, targets)
  'gateway.stopped', // the gateway stopped on purpose (signal, admin), with the reason
  'gateway.fenced', // a node of a cluster could not write its heartbeat for the fence time: it closed its sessions and refused new ones until it could (recorded when it could again)
  'gateway.fault', // a stray error (an unhandled rejection or exception) was caught by the process-wide handler; the gateway kept running
  'storage.archived', // closed requests and ended sessions older than storage.historyAfterDays moved from db.json to history/*.jsonl (how many, older than when)
  'storage.recovered', // a storage fault (full disk, I/O error, read-only) cleared and writes work again (which file, which error, since when)
  'change.reverted', // a state change whose audit records were written did not take effect (state write failed or a crash came between): names the first record's seq
  'config.loaded', // a validated configuration was taken into use (path, hash of its text)
  'audit.checkpoint', // signed Ed25519 checkpoint over the previous record's hash (written by the log itself)
  'audit.recovered', // at start, a partial last line left by a crash was cut off (bytes dropped)
  'audit.missing_head_accepted', // the gateway started although audit.head.json was missing, because the operator said so
  'audit.syslog_behind', // the stream to the SIEM fell behind (backlog, since when, last error)
  'audit.syslog_caught_up', // the stream to the SIEM caught up again after falling behind
  'audit.viewed', // someone read or searched the audit trail
  'audit.verified', // someone ran a verification of the chain through the API, with its outcome
  'auth.login', // a web login completed (OIDC issuer + subject, roles granted)
  'auth.login_failed', // a web login was refused (bad state/nonce, unmapped user, IdP error)
  'auth.logout', // a web session ended by logout or by its expiry
  'totp.enrolled', // a user started TOTP enrolment (secret created, not yet confirmed)
  'totp.confirmed', // the first valid code confirmed an enrolment
  'totp.failed', // a wrong or replayed TOTP code (web step-up or SSH keyboard-interactive)
  'totp.locked', // too many wrong codes: TOTP locked for a while
  'totp.reset', // an admin cleared a user's TOTP so they enrol again
  'stepup.succeeded', // a fresh TOTP step-up for sensitive actions
  'stepup.failed', // a step-up attempt was refused
  'access.denied', // any refused API or websocket action (role, CSRF, origin, not own request, no step-up, a refused frame)
  'key.added', // a user registered an SSH public key (fingerprint)
  'key.removed', // a user or admin removed an SSH public key
  'request.created', // a vendor asked for access to a target for a window
  'request.approval_recorded', // one approver approved; more approvals are still needed (four-eyes)
  'request.approved', // enough approvals: the request became a grant
  'request.denied', // an approver denied the request
  'request.cancelled', // the vendor withdrew the request
  'request.expired', // nobody decided before the window ended, or the window passed
  'grant.revoked', // a supervisor revoked a grant; its sessions are closed
  'grant.ended', // a grant's window ended
  'notify.failed', // a webhook notification could not be delivered
  'session.started', // a vendor session to a target began (SSH, web terminal or RDP)
  'session.refused', // a connection was refused: no grant, window not started, expired, unknown key, wrong code
  'session.warned', // the vendor was warned the window ends soon (5 and 1 minutes)
  'session.ended', // a session ended (client/target closed, window ended, revoked, error), with the reason
  'session.ended_late', // the node holding a session ended it after its end was already recorded (declared crashed while cut off from the database): the late end's reason and time, and the recorded end
  'session.terminated', // a supervisor terminated a live session
  'session.monitored', // someone watched a live session
  'hostkey.mismatch', // the target's SSH host key did not match the pinned one: connection refused
  'channel.refused', // an SSH channel or request was refused (agent, X11, remote forwarding, env, sftp, forward)
  'forward.opened', // a direct-tcpip forward to an allowed host:port was opened
  'file.transferred', // a file went through SFTP/scp (name, direction, size, SHA-256)
  'clipboard.transferred', // a clipboard content crossed an RDP session (direction, mimetype, size, SHA-256; never the content)
  'file.changed', // a file or directory was removed, renamed, created or had its attributes set over SFTP
  'command.executed', // a command was captured and allowed
  'command.alerted', // a command matched an alert rule
  'command.blocked', // a command matched a block rule and was not sent to the target
  'plc.alerted', // a PLC operation in a forward matched a PLC rule and was let through (alert mode, or an alert rule)
  'plc.blocked', // a PLC operation was refused with the protocol's own error (enforce, block rule)
  'plc.held', // a PLC operation waits for a supervisor's confirmation (enforce, confirm rule)
  'plc.approved', // a supervisor approved a held PLC operation; it went on to the device
  'plc.denied', // a held PLC operation was refused: by a supervisor, by timeout, or because the session ended
  'plc.unparsed', // a forward's PLC protocol could not be read (S7comm-plus, TLS, another protocol): passed opaque or closed
  'recording.sealed', // a session recording was closed and its SHA-256 recorded
  'recording.incomplete', // a recording was found unsealed after a crash and sealed as incomplete
  'recording.failed', // a recording could not be written (the session is closed: no unrecorded access)
  'recording.viewed', // someone replayed or downloaded a recording
  'evidence.exported', // an evidence pack was written (period, file hash)
  'rdp.token_refused', // an RDP websocket token was unknown, used twice or expired
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

const eventTypes: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);
export const isAuditEventType = (v: unknown): v is AuditEventType => typeof v === 'string' && eventTypes.has(v);

// Every event type has its data shape (core/audit-events.ts) and every shape an event type: this fails to compile otherwise.
const everyEventHasItsData: [AuditEventType, keyof AuditEventData] extends [keyof AuditEventData, AuditEventType]
  ? true
  : never = true;
void everyEventHasItsData;

/** One event to append: its `data` is checked against its type's shape (a union over the types, so `type` picks it). */
export type AuditInput<T extends AuditEventType = AuditEventType> = T extends AuditEventType
  ? {
      type: T;
      actor: Actor;
      /** What the event is about: ids (requestId, sessionId, targetId, userId…). */
      subject?: Record<string, unknown>;
      /** Details, as `AuditEventData[T]` says. */
      data?: AuditEventData[T];
    }
  : never;

export interface AuditRecord {
  seq: number;
  at: string;
  type: AuditEventType;
  actor: Actor;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
  prev: string;
  hash: string;
}

/**
 * Any record as the chain sees it. The format hashes and links whatever data it is given; which data an event may
 * carry is the writers' rule (AuditInput, checked where the store and the log take records).
 */
export interface ChainInput {
  type: AuditEventType;
  actor: Actor;
  subject?: Record<string, unknown>;
  data?: object;
}

/** Where a chain link starts: the previous record, or GENESIS before the first. */
export interface ChainHead {
  seq: number;
  hash: string;
}
export const GENESIS: ChainHead = { seq: 0, hash: GENESIS_HASH };

const isPlainObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** sha256hex(prev + canonicalJson(record without hash)). */
export function hashRecord(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = record;
  return sha256hex(record.prev + canonicalJson(rest));
}

/**
 * Links `input` after `prev` and returns the record with the exact line to write. Each part is encoded
 * once and the same text goes into both the hash and the line, so the two cannot disagree.
 */
export function sealRecord(prev: ChainHead, input: ChainInput, at: string): { record: AuditRecord; line: string } {
  if (!isAuditEventType(input.type)) throw new TypeError(`unknown audit event type: ${String(input.type)}`);
  if (!isPlainObject(input.actor)) throw new TypeError('audit event needs an actor object');
  if (input.subject !== undefined && !isPlainObject(input.subject)) throw new TypeError('subject must be an object');
  if (input.data !== undefined && !isPlainObject(input.data)) throw new TypeError('data must be an object');
  const parts: LineParts = {
    seq: prev.seq + 1,
    at: JSON.stringify(at),
    type: JSON.stringify(input.type),
    actor: canonicalJson(input.actor),
    subject: input.subject === undefined ? undefined : canonicalJson(input.subject),
    data: input.data === undefined ? undefined : canonicalJson(input.data),
    prev: prev.hash,
  };
  const hash = sha256hex(hashInput(parts));
  // The returned record is what a reader of the line gets back (JSON round trip of the canonical text),
  // never the caller's objects, which the caller may still mutate.
  const record: AuditRecord = {
    seq: parts.seq,
    at,
    type: input.type,
    actor: JSON.parse(parts.actor),
    ...(parts.subject === undefined ? {} : { subject: JSON.parse(parts.subject) }),
    ...(parts.data === undefined ? {} : { data: JSON.parse(parts.data) }),
    prev: prev.hash,
    hash,
  };
  return { record, line: formatLine(parts, hash) };
}

/** The pure link step: the record that follows `prev` (GENESIS for the first). */
export function linkRecord(prev: ChainHead, input: ChainInput, at: string): AuditRecord {
  return sealRecord(prev, input, at).record;
}

/** What code that only records events is given: `append`, durable when it resolves. No checkpoints, no verifying, no closing. */
export interface AuditAppend {
  append(input: AuditInput): Promise<AuditRecord>;
}
