// Audit records as RFC 5424 syslog messages, octet-counted (RFC 6587) for TCP and TLS; docs/siem.md describes them.
import { hostname as osHostname } from 'node:os';
import { type LineFields, lineFields } from '../core/audit-line.js';

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

const WARNING =
  /\.(denied|refused|failed|blocked|alerted|locked|mismatch|terminated|revoked|incomplete|syslog_behind|missing_head_accepted)$|_failed$/;

/** 4 (warning) for refusals, failures and alerts; 5 (notice) for checkpoints; 6 (informational) otherwise. */
export function severityOf(type: string): number {
  if (type === 'audit.checkpoint') return 5;
  return WARNING.test(type) ? 4 : 6;
}

/**
 * The message up to MSG, with its octet count: `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] `.
 * All of it is ASCII; the audit.jsonl line (`lineBytes` long) follows byte for byte as MSG, so a receiver
 * holds records it can re-hash and chain on its own.
 */
export function syslogHeader(f: LineFields, id: SyslogIdentity, lineBytes: number): string {
  const pri = FACILITY * 8 + severityOf(f.type);
  const msgId = f.type.slice(0, 32);
  const sd = `[${SD_ID} seq="${f.seq}" hash="${f.hash}" prev="${f.prev}"]`;
  const head = `<${pri}>1 ${f.at} ${id.hostname} ${id.appName} ${id.procId} ${msgId} ${sd} `;
  return `${head.length + lineBytes} ${head}`;
}

/** One whole framed message as text. */
export function syslogFrame(line: string, f: LineFields, id: SyslogIdentity): string {
  return syslogHeader(f, id, Buffer.byteLength(line)) + line;
}

/**
 * Frames every whole line in buf[0, lastNewline] into one buffer, copying the lines' bytes as they are
 * (no decoding and re-encoding). `skip` is told about a line that is not an audit record.
 */
export function syslogFrames(
  buf: Buffer,
  lastNewline: number,
  id: SyslogIdentity,
  skip: (start: number) => void,
): { frames: Buffer; count: number; last: { fields: LineFields; end: number } | undefined; end: number } {
  const parts: { header: string; start: number; end: number }[] = [];
  let size = 0;
  let last: { fields: LineFields; end: number } | undefined;
  for (let start = 0; start <= lastNewline;) {
    const nl = buf.indexOf(10, start);
    const f = lineFields(buf, start, nl);
    if (f) {
      const header = syslogHeader(f, id, nl - start);
      parts.push({ header, start, end: nl });
      size += header.length + nl - start;
      last = { fields: f, end: nl + 1 };
    } else skip(start);
    start = nl + 1;
  }
  const frames = Buffer.allocUnsafe(size);
  let off = 0;
  for (const p of parts) {
    off += frames.write(p.header, off, 'latin1');
    off += buf.copy(frames, off, p.start, p.end);
  }
  return { frames, count: parts.length, last, end: lastNewline + 1 };
}
