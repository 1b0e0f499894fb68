// The SIEM stream's persisted cursor (`<storage>/audit.syslog.json`): the last record known delivered, and where it ends.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GENESIS_HASH, lineFields } from '../core/audit-line.js';
import { replaceDurably } from './durable.js';

export const CURSOR_FILE = 'audit.syslog.json';
/** A cursor line longer than this is not looked for: the stream starts over (at-least-once allows that). */
const WINDOW = 1 << 20;

export interface SyslogCursor {
  seq: number;
  hash: string;
  /** Byte length of audit.jsonl up to and including that record's newline. */
  bytes: number;
}

export const CURSOR_START: SyslogCursor = { seq: 0, hash: GENESIS_HASH, bytes: 0 };

export function writeCursor(dir: string, c: SyslogCursor): Promise<void> {
  return replaceDurably(dir, join(dir, CURSOR_FILE), `${JSON.stringify(c)}\n`, 0o640);
}

/**
 * The saved cursor when the log still holds that record at that place; otherwise the start, with the
 * reason (a missing cursor is not a problem, a mismatching one means the log was replaced).
 */
export async function readCursor(dir: string, logPath: string): Promise<{ cursor: SyslogCursor; reset?: string }> {
  let c: Partial<SyslogCursor>;
  try {
    c = JSON.parse(await readFile(join(dir, CURSOR_FILE), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cursor: CURSOR_START };
    return { cursor: CURSOR_START, reset: `${CURSOR_FILE} is unreadable` };
  }
  if (!Number.isSafeInteger(c.seq) || !Number.isSafeInteger(c.bytes) || typeof c.hash !== 'string' || c.seq! < 0)
    return { cursor: CURSOR_START, reset: `${CURSOR_FILE} is malformed` };
  const cursor = c as SyslogCursor;
  if (cursor.seq === 0) return { cursor: CURSOR_START };
  const fh = await open(logPath, 'r');
  try {
    const from = Math.max(0, cursor.bytes - WINDOW);
    const buf = Buffer.alloc(cursor.bytes - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    const end = bytesRead - 1;
    if (bytesRead === buf.length && buf[end] === 10) {
      const start = buf.lastIndexOf(10, end - 1) + 1;
      const f = lineFields(buf, start, end);
      if (f && (start > 0 || from === 0) && f.seq === cursor.seq && f.hash === cursor.hash) return { cursor };
    }
  } finally {
    await fh.close();
  }
  return {
    cursor: CURSOR_START,
    reset: `audit.jsonl does not hold record seq ${cursor.seq} where ${CURSOR_FILE} says`,
  };
}
