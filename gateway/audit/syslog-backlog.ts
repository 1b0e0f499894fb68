// What the SIEM stream reads from: the committed audit records after its cursor, and where the cursor is kept.
// Two kinds: audit.jsonl with a cursor file (syslog-file.ts), and the PostgreSQL chain with a cursor row.
import type { SyslogCursor } from './syslog-cursor.js';

/** Frames the whole lines in buf[0, lastNewline]; `offset` is only for naming a skipped line. */
export type SyslogFramer = (
  buf: Buffer,
  lastNewline: number,
  offset: number,
) => { text: Buffer; count: number; last: { seq: number; hash: string } | undefined; end: number };

export interface SyslogBatch {
  text: Buffer;
  count: number;
  /** The batch's last record and the position after it. */
  last: SyslogCursor;
}

/**
 * Positions (`bytes` of a cursor) belong to the backlog: byte offsets in audit.jsonl, or seq in a
 * database. The stream only compares them and hands them back.
 */
export interface SyslogBacklog {
  /** Where to begin: the saved cursor where it still fits the log, else the start and why. */
  load(): Promise<{ cursor: SyslogCursor; reset?: string }>;
  /** The last record this stream may send now, and the position after it. */
  durable(): SyslogCursor;
  /**
   * Calls back when more became durable; with `resume`, the stream must go on from there instead (another
   * node's cursor, taken over with the stream).
   */
  onChange(listener: (resume?: SyslogCursor) => void): () => void;
  /** Frames of the whole records after `from`, up to durable(); undefined when there is nothing whole yet. */
  read(from: SyslogCursor, frame: SyslogFramer): Promise<SyslogBatch | undefined>;
  /** The stream went back to `to` (a lost connection): anything kept ahead of it is void. */
  rewind(to: SyslogCursor): void;
  /** Keeps the confirmed cursor durably (a failure rejects; the stream logs it and goes on). */
  save(c: SyslogCursor): Promise<void>;
  close(): Promise<void>;
}
