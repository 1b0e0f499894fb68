// One line of plain English per audit record ("Sam Supervisor approved Vera Vendor's request for eng-ws-01"),
// for every event type the gateway writes. Pure text in, text out: the page puts it in as textContent.
import type { AuditEventType, AuditRecord } from '../gateway/core/audit.js';
import { endReasonText } from '../gateway/core/end-reasons.js';

/** Names the page knows: people by user id (from the audit route), targets by id (from /api/targets). */
export interface SummaryNames {
  person(id: string): string | undefined;
  target(id: string): string | undefined;
}

type Rec = Pick<AuditRecord, 'type' | 'actor' | 'subject' | 'data'>;
interface Parts {
  who: string;
  /** The person the record is about (subject.userId), e.g. the vendor whose request was approved. */
  vendor: string;
  /** "eng-ws-01" or "Engineering workstation 01 (eng-ws-01)". */
  target: string;
  d: Record<string, unknown>;
  /** A data field as text ('' when absent); objects as JSON, cut short. */
  s(key: string): string;
  /** " — reason" (or comment) when there is one. */
  why(key?: string): string;
}

const cut = (v: string, n = 120) => (v.length > n ? `${v.slice(0, n - 1)}…` : v);

function actorName(a: Rec['actor']): string {
  const x = a as { kind?: string; id?: string; name?: string; ip?: string };
  if (x.kind === 'user') return x.name ?? x.id ?? 'someone';
  if (x.kind === 'system') return x.id === 'cli' ? 'An operator (command line)' : 'Gatehouse';
  return x.ip ? `Someone at ${x.ip}` : 'Someone';
}

const possessive = (name: string) => (name.endsWith('s') ? `${name}'` : `${name}'s`);

/** Every type has its sentence: the Record type makes a new event type a compile error here until it has one. */
const SENTENCES: Record<AuditEventType, (p: Parts) => string> = {
  'gateway.started': (p) => `Gatehouse started${p.s('version') ? ` (version ${p.s('version')})` : ''}`,
  'gateway.stopped': (p) => `Gatehouse stopped${p.why()}`,
  'gateway.fenced': (p) =>
    `A Gatehouse node lost its database and stopped serving from ${p.s('from')} to ${p.s('to')}, closing ${Array.isArray(p.d.sessionsClosed) ? p.d.sessionsClosed.length : 0} session(s)`,
  'gateway.fault': (p) => `Gatehouse caught an unexpected ${p.s('kind') || 'error'}${p.why('message')}`,
  'storage.archived': (p) =>
    `Gatehouse moved ${p.s('requests') || '0'} closed requests and ${p.s('sessions') || '0'} ended sessions older than ${p.s('afterDays')} days to the history files`,
  'storage.recovered': (p) => `Storage is writable again${p.s('file') ? ` (${p.s('file')})` : ''}`,
  'change.reverted': () => 'A change was undone: the state file could not be written',
  'config.loaded': () => 'The configuration was loaded',
  'audit.checkpoint': (p) => `Signed checkpoint of the audit chain up to record ${p.s('upToSeq')}`,
  'audit.recovered': () => 'The audit log was recovered after an unclean stop',
  'audit.missing_head_accepted': () => 'A missing audit head was accepted by an operator',
  'audit.syslog_behind': () => 'The audit stream to the SIEM fell behind',
  'audit.syslog_caught_up': () => 'The audit stream to the SIEM caught up',
  'audit.viewed': (p) => `${p.who} viewed the audit trail`,
  'audit.verified': (p) =>
    p.d.ok === false
      ? `${p.who} verified the audit chain: BROKEN at record ${p.s('seq')}`
      : `${p.who} verified the audit chain: intact`,
  'auth.login': (p) => `${p.who} signed in`,
  'auth.login_failed': (p) => `A sign-in failed${p.why()}`,
  'auth.logout': (p) =>
    `${p.vendor} signed out${p.s('reason') && p.s('reason') !== 'logout' ? ` (${p.s('reason')})` : ''}`,
  'totp.enrolled': (p) => `${p.who} began setting up an authenticator for ${p.vendor}`,
  'totp.confirmed': (p) => `${p.who} confirmed their authenticator`,
  'totp.failed': (p) => `${p.who} entered a wrong verification code${p.s('purpose') ? ` (${p.s('purpose')})` : ''}`,
  'totp.locked': (p) => `${possessive(p.who)} verification was locked after ${p.s('failures')} wrong codes`,
  'totp.reset': (p) => `${p.who} reset ${possessive(p.vendor)} authenticator`,
  'stepup.succeeded': (p) => `${p.who} verified with their authenticator`,
  'stepup.failed': (p) => `${p.who} failed to verify${p.why()}`,
  'access.denied': (p) =>
    `${p.who} was refused ${p.s('action') || p.s('path') || 'an action'}${p.s('code') ? ` (${p.s('code')})` : ''}`,
  'key.added': (p) => `${p.who} added the SSH key ${p.s('fingerprint')}`,
  'key.removed': (p) => `${p.who} removed the SSH key ${p.s('fingerprint')}`,
  'request.created': (p) =>
    `${p.who} requested ${p.s('protocol').toUpperCase() || 'access'} access to ${p.target}${p.d.emergency ? ' (emergency)' : ''}`,
  'request.approval_recorded': (p) =>
    `${p.who} approved ${possessive(p.vendor)} request for ${p.target} (${p.s('approvals')} of ${p.s('required')})${p.why('comment')}`,
  'request.approved': (p) => `${p.who} approved ${possessive(p.vendor)} request for ${p.target}${p.why('comment')}`,
  'request.denied': (p) => `${p.who} denied ${possessive(p.vendor)} request for ${p.target}${p.why()}`,
  'request.cancelled': (p) =>
    `${p.who} cancelled ${p.who === p.vendor ? 'their' : possessive(p.vendor)} request for ${p.target}`,
  'request.expired': (p) => `${possessive(p.vendor)} request for ${p.target} expired undecided`,
  'grant.revoked': (p) => `${p.who} revoked ${possessive(p.vendor)} access to ${p.target}${p.why()}`,
  'grant.ended': (p) => `${possessive(p.vendor)} access window on ${p.target} ended`,
  'notify.failed': (p) =>
    `A notice to ${p.s('host') || 'a webhook'} failed${p.s('tries') ? ` after ${p.s('tries')} tries` : ''}`,
  'session.started': (p) => `${p.who} started a session on ${p.target}${p.s('via') ? ` (${p.s('via')})` : ''}`,
  'session.refused': (p) => `${possessive(p.who)} connection${p.target ? ` to ${p.target}` : ''} was refused${p.why()}`,
  'session.warned': (p) => `${p.vendor} was warned: ${p.s('minutesLeft')} min left on ${p.target}`,
  'session.ended': (p) =>
    `${possessive(p.vendor)} session on ${p.target} ended: ${endReasonText(p.s('reason'))}${p.d.recordedLate ? ` (recorded late, once storage was back; it ended at ${p.s('endedAt')})` : ''}`,
  'session.ended_late': (p) =>
    `${possessive(p.vendor)} session on ${p.target} went on after it was recorded as ended; its node ended it later: ${endReasonText(p.s('reason'))}`,
  'session.terminated': (p) => `${p.who} terminated ${possessive(p.vendor)} session on ${p.target}${p.why()}`,
  'session.monitored': (p) => `${p.who} watched ${possessive(p.vendor)} session on ${p.target} live`,
  'hostkey.mismatch': (p) => `The host key of ${p.target} did not match its pin: the connection was stopped`,
  'channel.refused': (p) => `${possessive(p.vendor)} ${p.s('kind') || 'channel'} request on ${p.target} was refused`,
  'forward.opened': (p) => `${p.vendor} opened a forward to ${p.s('destination')} through ${p.target}`,
  'file.transferred': (p) =>
    `${p.vendor} ${p.s('direction') === 'download' ? 'downloaded' : 'uploaded'} ${p.s('name') || 'a file'} on ${p.target}`,
  'clipboard.transferred': (p) => `${p.vendor} used the clipboard on ${p.target}`,
  'file.changed': (p) => `${p.vendor} changed files on ${p.target}: ${p.s('op')} ${p.s('path')}`,
  'command.executed': (p) => `${p.vendor} ran “${p.s('text')}” on ${p.target}`,
  'command.alerted': (p) => `${p.vendor} ran “${p.s('text')}” on ${p.target}: alerted${p.why()}`,
  'command.blocked': (p) => `${p.vendor} tried “${p.s('text')}” on ${p.target}: blocked${p.why()}`,
  'plc.alerted': (p) =>
    `${possessive(p.vendor)} PLC operation ${p.s('function')} on ${p.target} was alerted on${p.why()}`,
  'plc.blocked': (p) => `${possessive(p.vendor)} PLC operation ${p.s('function')} on ${p.target} was blocked${p.why()}`,
  'plc.held': (p) => `${possessive(p.vendor)} PLC operation ${p.s('function')} on ${p.target} is held for a supervisor`,
  'plc.approved': (p) => `${p.who} let ${possessive(p.vendor)} PLC operation ${p.s('function')} on ${p.target} through`,
  'plc.denied': (p) =>
    `${possessive(p.vendor)} PLC operation ${p.s('function')} on ${p.target} was refused${p.s('decided') ? ` (${p.s('decided')})` : ` by ${p.who}`}`,
  'plc.unparsed': (p) => `A PLC stream on ${p.target} could not be read`,
  'recording.sealed': (p) => `${possessive(p.vendor)} session recording on ${p.target} was sealed`,
  'recording.incomplete': (p) => `${possessive(p.vendor)} session recording on ${p.target} is incomplete`,
  'recording.failed': (p) => `${possessive(p.vendor)} session recording on ${p.target} failed${p.why('error')}`,
  'recording.viewed': (p) => `${p.who} replayed ${possessive(p.vendor)} session on ${p.target}`,
  'evidence.exported': (p) =>
    `${p.who} exported an evidence pack for ${p.s('from').slice(0, 10)} to ${p.s('to').slice(0, 10)}${p.d.withRecordings ? ' with recordings' : ''}`,
  'rdp.token_refused': (p) => `${p.who} was refused a remote desktop connection${p.why()}`,
};

/** The record's one-line summary; a type this page does not know yet still gets a readable line. */
export function summarise(rec: Rec, names: SummaryNames): string {
  const subject = rec.subject ?? {};
  const d = rec.data ?? {};
  const who = actorName(rec.actor);
  const userId = typeof subject.userId === 'string' ? subject.userId : undefined;
  const targetId = typeof subject.targetId === 'string' ? subject.targetId : undefined;
  const actor = rec.actor as { id?: string };
  const vendor = userId ? (names.person(userId) ?? (actor.id === userId ? who : userId)) : who;
  const targetName = targetId ? names.target(targetId) : undefined;
  const target = targetId ? (targetName && targetName !== targetId ? `${targetName} (${targetId})` : targetId) : '';
  const s = (k: string) => {
    const v = d[k];
    if (v === undefined || v === null) return '';
    return cut(typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));
  };
  const why = (k = 'reason') => (s(k) ? ` — ${s(k)}` : '');
  const sentence = SENTENCES[rec.type as AuditEventType];
  if (!sentence) return `${who}: ${rec.type}${target ? ` on ${target}` : ''}`;
  return sentence({ who, vendor, target: target || 'an unnamed target', d, s, why });
}

/** The types that have a sentence (the unit test holds this against the gateway's list). */
export const SUMMARISED_TYPES = Object.keys(SENTENCES);
