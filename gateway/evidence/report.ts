// report.html: one self-contained page summarising the pack by the IEC 62443-2-1 areas it evidences.
//
// Every value that came from a person, a target or a recording is hostile until escaped: commands,
// purposes, target names and titles go through esc() and nothing else. The page has no script at all,
// and its own CSP forbids any, so a missed escape still could not run code on the assessor's machine.
import { endReasonText } from '../core/end-reasons.js';
import type { SessionRecord } from '../core/model.js';
import { formatLocal } from '../core/windows-tz.js';
import type { AuditLine, AuditSlice } from './audit-slice.js';
import type { Period } from './period.js';
import { recordingState, recordsKeystrokes } from './recordings.js';
import { actorLabel, incidentDetail, type PeriodRows } from './tables.js';

export interface ReportInput {
  site: { name: string; timezone: string } | null;
  period: Period;
  generatedAt: string;
  version: string;
  keyId: string;
  exportedBy: string;
  slice: AuditSlice;
  rows: PeriodRows;
  /** Every stored session: a command in the period may belong to one that started before it. */
  allSessions: readonly SessionRecord[];
  alerts: { sample: AuditLine[]; total: number };
  transfers: { sample: AuditLine[]; total: number };
  recordings: { included: boolean; count: number };
  notes: string[];
  /** The "PLC operations" table (evidence/plc-table.ts), rendered and escaped there; shown under change control. */
  plcSection?: string;
}

/** Rows shown per table; the CSVs always hold all of them. */
export const REPORT_ROWS = 200;

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text and shows control characters (terminal escapes) as visible \xNN instead of passing them on. */
export function esc(value: unknown): string {
  const s = value === undefined || value === null ? '' : String(value);
  return s
    .replace(/[&<>"']/g, (c) => ESC[c]!)
    .replace(
      /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:2px solid #d0d7de;padding-bottom:.2rem}
h3{font-size:1rem;margin-top:1.2rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top;overflow-wrap:break-word;hyphens:none}
.tok{word-break:break-all}th{white-space:nowrap}
th{background:#f3f5f7}code,.mono{font-family:ui-monospace,monospace;font-size:.92em}
.kv th{width:16rem}.muted{color:#57606a}.warn{color:#9a3412;font-weight:600}.area{color:#57606a;font-size:.9rem}`;

const num = (n: number) => String(n);

function table(head: string[], rows: unknown[][], total: number, what: string, csv: string): string {
  if (total === 0) return `<p class="muted">No ${esc(what)} in this period.</p>`;
  // Ids and hashes are one long token: they alone may break anywhere; words never break inside.
  const cell = (c: unknown) =>
    typeof c === 'string' && /^\S{24,}$/.test(c) ? `<td class="tok">${esc(c)}</td>` : `<td>${esc(c)}</td>`;
  const body = rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
  const more =
    total > rows.length
      ? `<p class="muted">Showing ${rows.length} of ${total}; all are in <code>${esc(csv)}</code>.</p>`
      : '';
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${body}\n</tbody></table>${more}`;
}

function kv(pairs: Array<[string, unknown]>): string {
  return `<table class="kv"><tbody>${pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`;
}

const countBy = <T>(xs: readonly T[], key: (x: T) => string) => {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return [...m].sort((a, b) => a[0].localeCompare(b[0]));
};

/** "2026-12-06 05:51:07" on the site's clock; the zone is named once per table heading and in the header. */
function localClock(tz: string): (iso: string | number | undefined) => string {
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  return (iso) => {
    if (iso === undefined) return '';
    const ms = typeof iso === 'number' ? iso : Date.parse(iso);
    return Number.isNaN(ms) ? String(iso) : f.format(ms).replace(',', '');
  };
}

/** Who revoked a request or terminated a session, and why, from the period's audit lines (keyed by request/grant/session id). */
function closers(lines: readonly AuditLine[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of lines) {
    if (a.type !== 'grant.revoked' && a.type !== 'session.terminated') continue;
    const text = `${a.type === 'grant.revoked' ? 'revoked' : 'terminated'} by ${actorLabel(a.actor)}${a.data?.reason ? `: ${String(a.data.reason)}` : ''}`;
    for (const id of [a.subject?.requestId, a.subject?.grantId, a.subject?.sessionId])
      if (typeof id === 'string') out.set(id, text);
  }
  return out;
}

/** A section of the report: a function of the input, so a conduit (PLC operations…) adds its own without touching the rest. */
export type ReportSection = (r: ReportInput) => string;

export function renderReport(r: ReportInput, extra: readonly ReportSection[] = []): string {
  const { rows, slice, period } = r;
  const tz = r.site?.timezone ?? 'UTC';
  const when = (ms: number) => `${formatLocal(ms, tz)} (${new Date(ms).toISOString()})`;
  const local = localClock(tz);
  const closedBy = closers(r.alerts.sample);
  const zoneNote = `<p class="muted">Times are site time (${esc(tz)}).</p>`;
  const c = (type: string) => slice.counts[type] ?? 0;
  const name = (id: string) => rows.users.get(id)?.name ?? id;
  const zoneOf = new Map(rows.targets.map((t) => [t.id, t.zone ?? '']));
  const sessionOf = new Map(r.allSessions.map((s) => [s.id, s]));
  const checkpoint = slice.checkpoint
    ? `seq ${slice.checkpoint.seq}, signing records up to seq ${slice.checkpoint.upToSeq} (key ${slice.checkpoint.keyId})`
    : 'none yet: the last records are signed by this pack’s manifest only';

  const header = `<h1>Gatehouse evidence pack${r.site ? ` — ${esc(r.site.name)}` : ''}</h1>
${kv([
  ['Period (from, inclusive)', when(period.fromMs)],
  ['Period (to, exclusive)', when(period.toMs)],
  ['Generated', when(Date.parse(r.generatedAt))],
  ['Exported by', r.exportedBy],
  ['Gateway version', r.version],
  ['Signing key (Ed25519)', r.keyId],
  [
    'Site',
    r.site ? `${r.site.name} (${r.site.timezone})` : 'not known (exported from a storage folder without its config)',
  ],
])}
${r.notes.length ? `<ul>${r.notes.map((n) => `<li class="warn">${esc(n)}</li>`).join('')}</ul>` : ''}
<h3>Checking this pack</h3>
<p>Every file is listed with its SHA-256 in <code>manifest.json</code>, which is signed (<code>manifest.sig</code>, raw Ed25519) with the gateway's audit key (<code>public-key.pem</code>). Compare that key with the one the site holds, then run
<code>gatehouse evidence verify pack.zip --key site-key.pem</code>, or without Gatehouse:
<code>openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.sig</code> and <code>sha256sum</code> each file.</p>`;

  const access = `<h2>1. Remote and vendor access control</h2>
<p class="area">Who asked for access to what, who approved it, and which sessions ran under each grant (requests.csv, sessions.csv).</p>
${kv([
  [
    'Access requests',
    `${rows.requests.length} (${
      countBy(rows.requests, (x) => x.state)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ') || 'none'
    })`,
  ],
  ['Emergency requests', num(rows.requests.filter((x) => x.emergency).length)],
  [
    'Recordings that hold keystrokes (what was typed, passwords included)',
    `${rows.sessions.filter(recordsKeystrokes).length} of ${rows.sessions.filter((x) => x.recording).length}`,
  ],
  [
    'Sessions',
    `${rows.sessions.length} (${
      countBy(rows.sessions, (x) => `${x.protocol} via ${x.via}`)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ') || 'none'
    })`,
  ],
  [
    'Vendor organisations',
    countBy(rows.sessions, (x) => rows.users.get(x.userId)?.org ?? '?')
      .map(([k, n]) => `${k} (${n})`)
      .join(', ') || 'none',
  ],
  ['Web logins / failed logins', `${c('auth.login')} / ${c('auth.login_failed')}`],
  [
    'TOTP step-ups / failures / lockouts',
    `${c('stepup.succeeded')} / ${c('stepup.failed') + c('totp.failed')} / ${c('totp.locked')}`,
  ],
  ['Refused connections / refused API calls', `${c('session.refused')} / ${c('access.denied')}`],
])}
<h3>Requests</h3>
${zoneNote}
${table(
  ['Request', 'Created', 'Vendor', 'Target', 'Window', 'Purpose', 'State', 'Decisions'],
  rows.requests
    .slice(0, REPORT_ROWS)
    .map((x) => [
      x.id,
      local(x.createdAt),
      `${name(x.userId)} (${rows.users.get(x.userId)?.org ?? ''})`,
      x.targetId,
      `${local(x.startsAt)} – ${local(x.endsAt)}${x.emergency ? ' EMERGENCY' : ''}`,
      x.purpose,
      x.state,
      [
        ...x.decisions.map(
          (d) =>
            `${d.verdict === 'approve' ? 'approved' : 'denied'} by ${name(d.by)} at ${local(d.at)}${d.reason ? `: ${d.reason}` : ''}`,
        ),
        ...(x.state === 'revoked'
          ? [
              closedBy.get(x.id) ??
                (x.grantId && closedBy.get(x.grantId)) ??
                `revoked${x.closedReason ? `: ${x.closedReason}` : ''}`,
            ]
          : []),
        ...(x.state !== 'revoked' && x.closedReason ? [x.closedReason] : []),
      ].join('; '),
    ]),
  rows.requests.length,
  'access requests',
  'requests.csv',
)}
<h3>Sessions</h3>
${table(
  ['Session', 'Vendor', 'Target', 'Zone', 'Started', 'Ended', 'How it ended', 'Commands', 'Recording', 'Keystrokes'],
  rows.sessions
    .slice(0, REPORT_ROWS)
    .map((s) => [
      s.id,
      name(s.userId),
      s.targetId,
      zoneOf.get(s.targetId),
      local(s.startedAt),
      s.endedAt ? local(s.endedAt) : 'live',
      s.endReason === 'terminated' && closedBy.has(s.id) ? closedBy.get(s.id) : endReasonText(s.endReason),
      rows.commandCounts.get(s.id)?.total ?? 0,
      recordingState(s),
      s.recording ? (recordsKeystrokes(s) ? 'recorded' : 'not recorded') : '',
    ]),
  rows.sessions.length,
  'sessions',
  'sessions.csv',
)}`;

  const types = Object.entries(slice.counts).sort((a, b) => a[0].localeCompare(b[0]));
  const logging = `<h2>2. Event logging and review</h2>
<p class="area">The audit trail of the period, hash-chained and signed (audit.jsonl, verbatim lines).</p>
${kv([
  ['Audit records in the period', num(slice.records)],
  ['Lines in audit.jsonl', slice.firstSeq === null ? 'none' : `seq ${slice.firstSeq} to ${slice.lastSeq}`],
  ['First record links to (prev)', slice.prev ?? '—'],
  ['Signed checkpoint closing the file', slice.firstSeq === null ? '—' : checkpoint],
  ['Chain', 'every line re-hashed and linked when the pack was made; checkpoint signatures checked'],
  ['Audit log head at export', `seq ${slice.head.seq} ${slice.head.hash}`],
  [
    'Reviews in the period (audit views / recording replays / packs exported)',
    `${c('audit.viewed')} / ${c('recording.viewed')} / ${c('evidence.exported')}`,
  ],
])}
${table(['Event type', 'Records'], types, types.length, 'audit records', 'audit.jsonl')}`;

  const incident = `<h2>3. Incident handling: alerts and terminations</h2>
<p class="area">Commands and PLC operations that matched alert or block rules, sessions terminated and grants revoked by supervisors, host key mismatches (alerts.csv).</p>
${kv([
  ['Commands alerted / blocked', `${c('command.alerted')} / ${c('command.blocked')}`],
  ['PLC operations alerted / blocked / denied', `${c('plc.alerted')} / ${c('plc.blocked')} / ${c('plc.denied')}`],
  ['Sessions terminated / grants revoked', `${c('session.terminated')} / ${c('grant.revoked')}`],
  ['Target host key mismatches / recording failures', `${c('hostkey.mismatch')} / ${c('recording.failed')}`],
])}
${table(
  ['Seq', 'At', 'Event', 'By', 'Session', 'Target', 'Detail'],
  r.alerts.sample.map((a) => [
    a.seq,
    local(a.at),
    a.type,
    actorLabel(a.actor),
    a.subject?.sessionId,
    a.subject?.targetId,
    [incidentDetail(a.data ?? {}), a.data?.reason ?? a.data?.rule].filter((v) => v !== undefined).join(' — '),
  ]),
  r.alerts.total,
  'incidents',
  'alerts.csv',
)}`;

  const change = `<h2>4. Change control: commands and file transfers</h2>
<p class="area">Every command captured on a target, with the rule verdict, and every file or clipboard content that crossed the gateway (commands.csv, audit.jsonl).</p>
${kv([
  [
    'Commands captured',
    `${rows.commands.length} (${
      countBy(rows.commands, (x) => x.verdict)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ') || 'none'
    })`,
  ],
  [
    'File and clipboard transfers / file changes (remove, rename, mkdir…)',
    `${r.transfers.total} / ${c('file.changed')}`,
  ],
  [
    'Recordings',
    r.recordings.included
      ? `${r.recordings.count} included under recordings/`
      : 'not included (export with --with-recordings)',
  ],
])}
<h3>Commands</h3>
${table(
  ['At', 'Session', 'Vendor', 'Target', 'Verdict', 'Command'],
  rows.commands.slice(0, REPORT_ROWS).map((x) => {
    const s = sessionOf.get(x.sessionId);
    return [local(x.at), x.sessionId, s ? name(s.userId) : '', s?.targetId, x.verdict, x.text];
  }),
  rows.commands.length,
  'commands',
  'commands.csv',
)}
<h3>File and clipboard transfers</h3>
${table(
  ['At', 'By', 'Session', 'Target', 'File', 'Direction', 'Bytes', 'SHA-256'],
  r.transfers.sample.map((a) => [
    local(a.at),
    actorLabel(a.actor),
    a.subject?.sessionId,
    a.subject?.targetId,
    a.type === 'clipboard.transferred'
      ? `(clipboard, ${String(a.data?.mimetype ?? '')})`
      : (a.data?.name ?? a.data?.path),
    a.data?.direction,
    a.data?.size ?? a.data?.bytes,
    a.data?.sha256,
  ]),
  r.transfers.total,
  'file and clipboard transfers',
  'audit.jsonl',
)}
${r.plcSection ?? ''}`;

  const zones = countBy(rows.targets, (t) => t.zone ?? '(unknown)');
  const assets = `<h2>5. Asset inventory: targets and zones</h2>
<p class="area">The targets reachable through this gateway (the conduit) with their IEC 62443 zone and target security level (targets.csv).</p>
${table(['Zone', 'Targets'], zones, zones.length, 'zones', 'targets.csv')}
${table(
  ['Target', 'Name', 'Zone', 'SL-T', 'Protocols', 'Approvers', 'Command mode'],
  rows.targets
    .slice(0, REPORT_ROWS)
    .map((t) => [
      t.id,
      t.name ?? '',
      t.zone ?? '',
      t.securityLevel ?? '',
      t.config ? [t.config.ssh && 'ssh', t.config.rdp && 'rdp'].filter(Boolean).join(' ') : '',
      t.config?.approvers.join(', ') ?? '',
      t.config?.commands.mode ?? '',
    ]),
  rows.targets.length,
  'targets',
  'targets.csv',
)}`;

  const title = `Gatehouse evidence ${new Date(period.fromMs).toISOString()} – ${new Date(period.toMs).toISOString()}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="referrer" content="no-referrer">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
${header}
${access}
${logging}
${incident}
${change}
${assets}
${extra.map((section) => section(r)).join('\n')}
</body></html>
`;
}
