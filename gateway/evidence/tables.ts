// What goes into the pack's CSVs: the period's rows picked from db.json, commands.jsonl and the config, and their columns.
import type { TargetConfig } from '../config.js';
import { dataOf } from '../core/audit-events.js';
import type { AccessRequest, CommandRecord, SessionRecord, User } from '../core/model.js';
import type { DbData } from '../store.js';
import type { AuditLine } from './audit-slice.js';
import type { Cell } from './csv.js';
import { inPeriod, type Period } from './period.js';
import { recordingState, recordsKeystrokes } from './recordings.js';

/** One row of the asset inventory; name and zone are unknown when exported from a storage folder alone. */
export interface InventoryTarget {
  id: string;
  name?: string;
  zone?: string;
  securityLevel?: number;
  config?: TargetConfig;
}

export interface PeriodRows {
  requests: AccessRequest[];
  sessions: SessionRecord[];
  commands: CommandRecord[];
  users: ReadonlyMap<string, User>;
  targets: InventoryTarget[];
  /** Session id → commands captured in it (whole session, not only the period). */
  commandCounts: ReadonlyMap<string, { total: number; alerted: number; blocked: number }>;
}

const t = (iso: string | undefined) => (iso === undefined ? Number.NaN : Date.parse(iso));
const byTime =
  <T>(key: (x: T) => string) =>
  (a: T, b: T) =>
    key(a).localeCompare(key(b));

/**
 * Requests that existed in the period and were touched or had their window open in it; sessions that
 * overlap it (a live one counts up to `now`); commands captured in it.
 */
export function selectRows(
  db: Readonly<DbData>,
  allCommands: readonly CommandRecord[],
  period: Period,
  targets: InventoryTarget[],
): PeriodRows {
  const { fromMs, toMs } = period;
  const requests = db.requests
    .filter((r) => t(r.createdAt) < toMs && (t(r.updatedAt) >= fromMs || t(r.endsAt) >= fromMs))
    .sort(byTime((r) => r.createdAt));
  const sessions = db.sessions
    .filter((s) => t(s.startedAt) < toMs && (s.endedAt === undefined || t(s.endedAt) >= fromMs))
    .sort(byTime((s) => s.startedAt));
  const commands = allCommands.filter((c) => inPeriod(period, t(c.at))).sort(byTime((c) => c.at));
  const wanted = new Set(sessions.map((s) => s.id));
  const commandCounts = new Map<string, { total: number; alerted: number; blocked: number }>();
  for (const c of allCommands) {
    if (!wanted.has(c.sessionId)) continue;
    const n = commandCounts.get(c.sessionId) ?? { total: 0, alerted: 0, blocked: 0 };
    n.total++;
    if (c.verdict === 'alerted') n.alerted++;
    if (c.verdict === 'blocked') n.blocked++;
    commandCounts.set(c.sessionId, n);
  }
  return { requests, sessions, commands, users: new Map(db.users.map((u) => [u.id, u])), targets, commandCounts };
}

/** The inventory from the config, or (no config) every target id the state or the log names. */
export function inventoryOf(
  db: Readonly<DbData>,
  configured: readonly TargetConfig[] | undefined,
  logged: Iterable<string> = [],
): InventoryTarget[] {
  if (configured)
    return configured.map((c) => ({ id: c.id, name: c.name, zone: c.zone, securityLevel: c.securityLevel, config: c }));
  const ids = new Set<string>(logged);
  for (const r of db.requests) ids.add(r.targetId);
  for (const s of db.sessions) ids.add(s.targetId);
  return [...ids].sort().map((id) => ({ id }));
}

const userCells = (users: ReadonlyMap<string, User>, id: string): Cell[] => {
  const u = users.get(id);
  return [id, u?.name, u?.email, u?.org];
};

export const REQUEST_COLUMNS = [
  'request_id',
  'created_at',
  'user_id',
  'user_name',
  'user_email',
  'org',
  'target_id',
  'protocol',
  'window_start',
  'window_end',
  'duration_minutes',
  'purpose',
  'ticket',
  'emergency',
  'emergency_reason',
  'state',
  'approvals_required',
  'decisions',
  'grant_id',
  'closed_reason',
  'updated_at',
] as const;

export function requestCells(rows: PeriodRows) {
  return (r: AccessRequest): Cell[] => [
    r.id,
    r.createdAt,
    ...userCells(rows.users, r.userId),
    r.targetId,
    r.protocol,
    r.startsAt,
    r.endsAt,
    r.durationMinutes,
    r.purpose,
    r.ticket,
    r.emergency,
    r.emergencyReason,
    r.state,
    r.approvalsRequired,
    r.decisions
      .map(
        (d) =>
          `${d.verdict} by ${rows.users.get(d.by)?.name ?? d.by} (${d.by}) at ${d.at}${d.reason ? `: ${d.reason}` : ''}`,
      )
      .join('; '),
    r.grantId,
    r.closedReason,
    r.updatedAt,
  ];
}

export const SESSION_COLUMNS = [
  'session_id',
  'started_at',
  'ended_at',
  'end_reason',
  'user_id',
  'user_name',
  'user_email',
  'org',
  'target_id',
  'zone',
  'protocol',
  'via',
  'source_ip',
  'request_id',
  'grant_id',
  'commands',
  'commands_alerted',
  'commands_blocked',
  'recording_state',
  'recording_path',
  'recording_sha256',
  'recording_bytes',
  'recording_in_pack',
  'recording_keystrokes',
] as const;

export function sessionCells(rows: PeriodRows, inPack: ReadonlyMap<string, string>) {
  const zones = new Map(rows.targets.map((x) => [x.id, x.zone]));
  return (s: SessionRecord): Cell[] => {
    const n = rows.commandCounts.get(s.id);
    return [
      s.id,
      s.startedAt,
      s.endedAt,
      s.endReason,
      ...userCells(rows.users, s.userId),
      s.targetId,
      zones.get(s.targetId),
      s.protocol,
      s.via,
      s.sourceIp,
      s.requestId,
      s.grantId,
      n?.total ?? 0,
      n?.alerted ?? 0,
      n?.blocked ?? 0,
      recordingState(s),
      s.recording?.path,
      s.recording?.sha256,
      s.recording?.bytes,
      inPack.get(s.id),
      s.recording ? (recordsKeystrokes(s) ? 'yes' : 'no') : '',
    ];
  };
}

export const COMMAND_COLUMNS = [
  'command_id',
  'at',
  'session_id',
  'user_id',
  'user_name',
  'target_id',
  'verdict',
  'rule',
  'command',
] as const;

export function commandCells(rows: PeriodRows, allSessions: readonly SessionRecord[]) {
  const sessions = new Map(allSessions.map((s) => [s.id, s]));
  return (c: CommandRecord): Cell[] => {
    const s = sessions.get(c.sessionId);
    return [
      c.id,
      c.at,
      c.sessionId,
      s?.userId,
      s ? rows.users.get(s.userId)?.name : undefined,
      s?.targetId,
      c.verdict,
      c.rule,
      c.text,
    ];
  };
}

export const TARGET_COLUMNS = [
  'target_id',
  'name',
  'zone',
  'security_level',
  'protocols',
  'ssh_address',
  'rdp_address',
  'approver_groups',
  'approvals_required',
  'max_duration_minutes',
  'maintenance_windows',
  'command_mode',
  'command_rules',
  'file_transfer',
  'forwarding',
  'source',
] as const;

export function targetCells(x: InventoryTarget): Cell[] {
  const c = x.config;
  if (!c)
    return [
      x.id,
      x.name,
      x.zone,
      x.securityLevel,
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      'state/audit log (no config given)',
    ];
  const windows =
    c.maintenanceWindows === undefined
      ? 'always'
      : c.maintenanceWindows.map((w) => `${w.days.join(',')} ${w.from}-${w.to}`).join('; ') || 'none (emergency only)';
  return [
    c.id,
    c.name,
    c.zone,
    c.securityLevel,
    [c.ssh && 'ssh', c.rdp && 'rdp'].filter(Boolean).join(' '),
    c.ssh ? `${c.ssh.host}:${c.ssh.port}` : '',
    c.rdp ? `${c.rdp.host}:${c.rdp.port}` : '',
    c.approvers.join(' '),
    c.approvalsRequired,
    c.maxDurationMinutes,
    windows,
    c.commands.mode,
    c.commands.rules.length,
    c.fileTransfer,
    c.forwarding.join(' '),
    'config',
  ];
}

/** The audit events that are incidents: alerts and blocks (commands, PLC operations), and supervisors cutting access. */
export const ALERT_TYPES: ReadonlySet<string> = new Set([
  'command.alerted',
  'command.blocked',
  'plc.alerted',
  'plc.blocked',
  // A held PLC operation refused (by a supervisor, the wait running out, or the session ending): a block too.
  'plc.denied',
  'session.terminated',
  'grant.revoked',
  'hostkey.mismatch',
  'recording.failed',
  'session.ended',
  // The holder's node ended a session after it was recorded as crashed: it went on while its node was cut off.
  'session.ended_late',
]);
/** session.ended is an incident only when someone or something cut it off. */
const CUT_OFF = new Set(['revoked', 'terminated', 'recording_failed', 'gateway_fenced']);
export const isAlert = (a: AuditLine): boolean => {
  const ended = dataOf(a, 'session.ended');
  return !ended || CUT_OFF.has(String(ended.reason));
};

/** What an incident says, read by field from its own event's shape (core/audit-events.ts). */
export interface AlertFacts {
  verdict?: string | undefined;
  rule?: string | undefined;
  /** The stated reason: the rule's, the supervisor's, or why the session ended. */
  reason?: string | undefined;
  /** What failed (a recording). */
  error?: string | undefined;
  /** The command line, or the PLC operation (function, addresses, values). */
  text?: string | undefined;
  /** The sentence the vendor was given when the session ended. */
  message?: string | undefined;
}

export function alertFacts(a: AuditLine): AlertFacts {
  const command = dataOf(a, 'command.alerted') ?? dataOf(a, 'command.blocked') ?? dataOf(a, 'command.executed');
  if (command) return { verdict: command.verdict, rule: command.rule, reason: command.reason, text: command.text };
  const plc = dataOf(a, 'plc.alerted') ?? dataOf(a, 'plc.blocked') ?? dataOf(a, 'plc.denied');
  if (plc)
    return {
      verdict: plc.verdict,
      rule: plc.rule,
      reason: str(plc.reason ?? plc.error ?? plc.code),
      text: incidentDetail(plc),
    };
  const closed = dataOf(a, 'session.terminated') ?? dataOf(a, 'grant.revoked');
  if (closed) return { reason: closed.reason };
  const failed = dataOf(a, 'recording.failed');
  if (failed) return { error: failed.error };
  const ended = dataOf(a, 'session.ended') ?? dataOf(a, 'session.ended_late');
  if (ended) return { reason: ended.reason, message: ended.message };
  return {}; // hostkey.mismatch: the event itself is the story
}

export const ALERT_COLUMNS = [
  'audit_seq',
  'at',
  'type',
  'actor',
  'user_id',
  'session_id',
  'target_id',
  'request_id',
  'grant_id',
  'verdict',
  'rule',
  'reason',
  'detail',
] as const;

const str = (v: unknown) => (v === undefined || v === null ? undefined : typeof v === 'string' ? v : JSON.stringify(v));

export function actorLabel(a: Record<string, unknown>): string {
  if (a.kind === 'user')
    return [a.name, a.email ? `<${String(a.email)}>` : undefined, `(${String(a.id)})`].filter(Boolean).join(' ');
  if (a.kind === 'system') return `system:${String(a.id)}`;
  return `anonymous${a.ip ? ` from ${String(a.ip)}` : ''}`;
}

export function alertCells(a: AuditLine): Cell[] {
  const s = a.subject ?? {};
  const d = alertFacts(a);
  return [
    a.seq,
    a.at,
    a.type,
    actorLabel(a.actor),
    str(s.userId),
    str(s.sessionId),
    str(s.targetId),
    str(s.requestId),
    str(s.grantId),
    str(d.verdict),
    str(d.rule),
    str(d.reason ?? d.error),
    str(d.text ?? d.message),
  ];
}

/** What happened, in one line: the command's text, the message, or the PLC operation (function, addresses, values). */
export function incidentDetail(d: Record<string, unknown>): string | undefined {
  if (d.text !== undefined || d.message !== undefined) return str(d.text ?? d.message);
  if (typeof d.function !== 'string') return undefined;
  const values = d.values === undefined ? '' : ` = ${str(d.values)}`;
  return [d.protocol, d.function, d.target].filter((v) => typeof v === 'string').join(' ') + values;
}
