// At start-up, after a crash: cuts a guacd recording (.guac, Guacamole instructions) back to its last whole
// instruction so it still plays, and hashes what is kept. The file is guacd's; we only ever shorten it.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { parseInstructions } from '../guac/wire.js';
import type { RepairResult } from './incomplete.js';

/**
 * Keeps the longest prefix of whole, well-formed instructions (why a prefix and not a splice: see repairCast),
 * truncates the rest, fsyncs and returns the hash of what is left. A Guacamole recording has no room for a
 * marker a player would show, so "incomplete" lives in the session record and the audit trail instead.
 */
export async function repairGuac(path: string): Promise<RepairResult> {
  const fh = await open(path, 'r+');
  try {
    const size = (await fh.stat()).size;
    const decoder = new StringDecoder('utf8');
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let pending = '';
    let kept = 0;
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const text = pending + decoder.write(buf.subarray(0, bytesRead));
      const r = parseInstructions(text);
      if (!r.ok) break;
      kept += Buffer.byteLength(text.slice(0, r.consumed), 'utf8');
      pending = text.slice(r.consumed);
    }
    if (kept < size) {
      await fh.truncate(kept);
      await fh.sync();
    }
    const hash = createHash('sha256');
    for (let at = 0; at < kept;) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, kept - at), at);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    return { sha256: hash.digest('hex'), bytes: kept, droppedBytes: size - kept };
  } finally {
    await fh.close();
  }
}
