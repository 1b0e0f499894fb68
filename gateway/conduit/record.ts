// The stored shape of one PLC operation (plc.jsonl), and the check a line must pass to be read back as one.
import type { OperationClass, PlcProtocol } from './operation.js';

/** How an operation ended at the gateway: passed (allowed, alerted, approved) or refused (blocked, denied). */
export type PlcOutcome = 'allowed' | 'alerted' | 'blocked' | 'approved' | 'denied';
export const PLC_OUTCOMES: readonly PlcOutcome[] = ['allowed', 'alerted', 'blocked', 'approved', 'denied'];

export interface PlcOperationRecord {
  id: string; // plc_…
  sessionId: string;
  /** When the request crossed the gateway. */
  at: string;
  /** The forward's destination, host:port. */
  destination: string;
  protocol: PlcProtocol;
  unit: string;
  /** The operation's name (read-holding-registers, plc-stop…); `unparsed` for a stream that could not be read. */
  function: string;
  class: OperationClass;
  code?: number;
  target?: string;
  count?: number;
  values?: string;
  malformed?: string;
  verdict: PlcOutcome;
  /** What enforce mode would have decided, where the mode let it pass. */
  wouldBe?: string;
  /** The deciding rule's reason. */
  rule?: string;
  /** The device's answer ("ok", "exception 2 (…)"), or what the gateway did instead. */
  result: string;
  ok: boolean;
  /** Who approved or denied a held operation. */
  decidedBy?: string;
}

const str = (v: unknown) => typeof v === 'string';
const optStr = (v: unknown) => v === undefined || typeof v === 'string';
const optNum = (v: unknown) => v === undefined || typeof v === 'number';

export function isPlcRecord(v: unknown): v is PlcOperationRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  return (
    str(r.id) &&
    str(r.sessionId) &&
    str(r.at) &&
    str(r.destination) &&
    (r.protocol === 'modbus' || r.protocol === 's7') &&
    str(r.unit) &&
    str(r.function) &&
    str(r.class) &&
    (PLC_OUTCOMES as readonly unknown[]).includes(r.verdict) &&
    str(r.result) &&
    typeof r.ok === 'boolean' &&
    optNum(r.code) &&
    optStr(r.target) &&
    optNum(r.count) &&
    optStr(r.values) &&
    optStr(r.rule)
  );
}
