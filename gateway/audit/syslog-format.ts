// Audit records as RFC 5424 syslog messages, octet-counted (RFC 6587) for TCP and TLS; docs/siem.md describes them.
import { hostname as osHostname } from 'node:os';
import type { LineFields } from '../core/audit-line.js';

/** Structured-data id: `gatehouse` under 32473, the enterprise number RFC 5612 sets aside for examples. */
export const SD_ID = 'gatehouse@32473';
/** Facility 13, "log audit". */
const FACILITY = 13;

export interface SyslogIdentity {
  hostname: string;
  appName: string;
  procId: string;
}

/** HOSTNAME and PROCID as RFC 5424 allows them: printable ASCII without spaces, bounded, else "-". */
export function syslogIdentity(appName: string, hostname = osHostname(), pid = process.pid): SyslogIdentity {
  const clean = (s: string, max: number) => s.replace(/[^!-~]/g, '').slice(0, max) || '-';
  return { hostname: clean(hostname, 255), appName: clean(appName, 48), procId: String(pid) };
}

const WARNING = /\.(denied|refused|failed|blocked|alerted|locked|mismatch|terminated|revoked|incomplete|syslog_behind|missing_head_accepted)$|_failed$/;

/** 4 (warning) for refusals, failures and alerts; 5 (notice) for checkpoints; 6 (informational) otherwise. */
export function severityOf(type: string): number {
  if (type === 'audit.checkpoint') return 5;
  return WARNING.test(type) ? 4 : 6;
}

/**
 * One framed message: `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`. MSG is the
 * audit.jsonl line byte for byte, so a receiver holds records it can re-hash and chain on its own.
 */
export function syslogFrame(line: string, f: LineFields, id: SyslogIdentity): string {
  const pri = FACILITY * 8 + severityOf(f.type);
  const msgId = f.type.slice(0, 32);
  const sd = `[${SD_ID} seq="${f.seq}" hash="${f.hash}" prev="${f.prev}"]`;
  const msg = `<${pri}>1 ${f.at} ${id.hostname} ${id.appName} ${id.procId} ${msgId} ${sd} ${line}`;
  return `${Buffer.byteLength(msg)} ${msg}`;
}
