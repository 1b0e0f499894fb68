// Reads a JSON-lines file (the audit trail, the command log) in big chunks and hands each complete line's bytes to
// the caller; the bytes after the last newline are a line whose write was cut off (a crash), reported, not read.
import { open } from 'node:fs/promises';

const CHUNK = 1 << 20;

export interface LineScan {
  exists: boolean;
  /** Bytes read. */
  size: number;
  /** Bytes after the last newline read: a line whose write was cut off. */
  partialBytes: number;
}

export interface LineScanOptions {
  /** Longer than this without a newline: not a line of ours; `tooLong` is called and the scan stops. */
  maxLine: number;
  /** Read no further than this many bytes (default: the whole file). */
  limitBytes?: number;
  /** A complete line: buf[start, end) without its newline. Return false to stop. */
  line(buf: Buffer, start: number, end: number): boolean;
  tooLong(): void;
}

/** A missing file is `exists: false`, not an error. */
export async function scanLines(path: string, o: LineScanOptions): Promise<LineScan> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, size: 0, partialBytes: 0 };
    throw err;
  }
  const limitBytes = o.limitBytes ?? Number.POSITIVE_INFINITY;
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let carried = 0; // bytes of an unfinished line kept at the front of buf
    let size = 0;
    for (;;) {
      if (carried > o.maxLine) {
        o.tooLong();
        break;
      }
      if (buf.length - carried < CHUNK / 2) buf = Buffer.concat([buf.subarray(0, carried)], buf.length * 2);
      const want = Math.min(buf.length - carried, limitBytes - size);
      const { bytesRead } = want > 0 ? await fh.read(buf, carried, want, null) : { bytesRead: 0 };
      if (bytesRead === 0) break;
      size += bytesRead;
      const filled = carried + bytesRead;
      const lastNewline = buf.lastIndexOf(10, filled - 1);
      // Splitting bytes at 0x0A is safe: no UTF-8 multi-byte sequence contains that byte.
      for (let start = 0; start <= lastNewline;) {
        const nl = buf.indexOf(10, start);
        if (!o.line(buf, start, nl)) return { exists: true, size, partialBytes: 0 };
        start = nl + 1;
      }
      carried = filled - (lastNewline + 1);
      buf.copyWithin(0, lastNewline + 1, filled);
    }
    return { exists: true, size, partialBytes: carried };
  } finally {
    await fh.close();
  }
}
