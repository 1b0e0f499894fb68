// The evidence pack's PLC operations: plc.csv and the report's "PLC operations" table, a self-contained piece.
import type { PlcOperationRecord } from '../conduit/conduit.js';
import type { SessionRecord } from '../core/model.js';
import type { Cell } from './csv.js';
import type { Period } from './period.js';
import { esc, REPORT_ROWS } from './report.js';

export const PLC_FILE_IN_PACK = 'plc.csv';

export const PLC_COLUMNS = [
  'id',
  'at',
  'session_id',
  'user_id',
  'target_id',
  'destination',
  'protocol',
  'unit',
  'function',
  'class',
  'code',
  'addresses',
  'count',
  'values',
  'verdict',
  'would_be',
  'rule',
  'decided_by',
  'result',
  'ok',
  'malformed',
] as const;

/** The period's operations (from <= at < to), in the order they were recorded. */
export function plcInPeriod(records: readonly PlcOperationRecord[], period: Period): PlcOperationRecord[] {
  return records.filter((r) => {
    const at = Date.parse(r.at);
    return at >= period.fromMs && at < period.toMs;
  });
}

export const plcCells =
  (sessions: ReadonlyMap<string, SessionRecord>) =>
  (r: PlcOperationRecord): Cell[] => {
    const s = sessions.get(r.sessionId);
    return [
      r.id,
      r.at,
      r.sessionId,
      s?.userId ?? '',
      s?.targetId ?? '',
      r.destination,
      r.protocol,
      r.unit,
      r.function,
      r.class,
      r.code ?? '',
      r.target ?? '',
      r.count ?? '',
      r.values ?? '',
      r.verdict,
      r.wouldBe ?? '',
      r.rule ?? '',
      r.decidedBy ?? '',
      r.result,
      r.ok ? 'true' : 'false',
      r.malformed ?? '',
    ];
  };

/**
 * The report's section: counts by verdict, then the operations that changed or could have changed the
 * controller (everything but plain reads) before the reads, so a long poll loop never hides a write.
 */
export function renderPlcSection(
  ops: readonly PlcOperationRecord[],
  sessions: ReadonlyMap<string, SessionRecord>,
  nameOf: (userId: string) => string,
): string {
  const intro = `<h3>PLC operations</h3>
<p class="area">Operations read off SSH forwards to PLCs (Modbus/TCP, S7comm), with the PLC rule verdict and the device's answer (plc.csv).</p>`;
  if (ops.length === 0) return `${intro}<p class="muted">No PLC operations in this period.</p>`;
  const by = new Map<string, number>();
  for (const o of ops) by.set(o.verdict, (by.get(o.verdict) ?? 0) + 1);
  const counts = [...by]
    .sort()
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const ordered = [...ops.filter((o) => o.class !== 'read'), ...ops.filter((o) => o.class === 'read')].slice(
    0,
    REPORT_ROWS,
  );
  const head = ['At', 'Vendor', 'Target', 'PLC', 'Operation', 'Addresses / block', 'Values', 'Verdict', 'Result'];
  const rows = ordered.map((o) => {
    const s = sessions.get(o.sessionId);
    return [
      o.at,
      s ? nameOf(s.userId) : o.sessionId,
      s?.targetId ?? '',
      `${o.destination} ${o.protocol} ${o.unit}`.trim(),
      o.function,
      o.target ?? '',
      o.values ?? '',
      `${o.verdict}${o.rule ? ` (${o.rule})` : ''}${o.decidedBy ? ` by ${nameOf(o.decidedBy)}` : ''}`,
      o.result,
    ];
  });
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  const more =
    ops.length > ordered.length
      ? `<p class="muted">Showing ${ordered.length} of ${ops.length} (writes and control first); all are in <code>plc.csv</code>.</p>`
      : '';
  return `${intro}<p>${esc(`${ops.length} operations (${counts})`)}</p>
<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>${more}`;
}
