// At start-up, makes the recordings of sessions the gateway never sealed (crash, kill, power loss) playable again.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { internal } from '../errors.js';
import { SESSION_ID_PATTERN, sessionsRoot } from './files.js';

export const INCOMPLETE_MARKER = 'recording incomplete: gateway stopped unexpectedly';

export interface RepairResult {
  sha256: string;
  /** File size after the repair. */
  bytes: number;
  /** Bytes cut from the end: a partial last line, or everything from the first line that is not valid. */
  droppedBytes: number;
}

/** A partial "line" longer than this is garbage (the writer's lines are at most a few MiB). */
const MAX_LINE = 64 * 1024 * 1024;

type Checked = { t: number; marker: boolean } | undefined;

/** A complete line is kept only if asciinema would read it: valid UTF-8, JSON, the v2 shape. */
function checkLine(line: Buffer, isHeader: boolean): Checked {
  if (!isUtf8(line)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined;
  }
  if (isHeader) {
    const h = v as { version?: unknown; width?: unknown; height?: unknown } | null;
    const ok = typeof h === 'object' && h !== null && h.version === 2;
    return ok && typeof h.width === 'number' && typeof h.height === 'number' ? { t: 0, marker: false } : undefined;
  }
  if (!Array.isArray(v) || v.length !== 3) return undefined;
  const [t, kind, data] = v as [unknown, unknown, unknown];
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || typeof kind !== 'string' || typeof data !== 'string')
    return undefined;
  return { t, marker: kind === 'm' && data === INCOMPLETE_MARKER };
}

/**
 * Keeps the longest prefix of whole, valid lines, cuts the rest, appends one `m` event saying the
 * recording is incomplete (unless a previous repair already did), fsyncs, and returns the new hash.
 * Why cut from the first bad line rather than skip it: after a crash only the tail can be torn, and
 * a file that is a prefix of what was written is evidence we can explain; a spliced one is not.
 */
export async function repairCast(path: string): Promise<RepairResult> {
  const fh = await open(path, 'r+');
  try {
    const size = (await fh.stat()).size;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let partial: Buffer[] = [];
    let partialBytes = 0;
    let kept = 0;
    let lines = 0;
    let lastT = 0;
    let endsWithMarker = false;
    let pos = 0;
    scan: while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, nl + 1);
        const line = partial.length > 0 ? Buffer.concat([...partial, piece]) : piece;
        partial = [];
        partialBytes = 0;
        const ok = checkLine(line.subarray(0, line.length - 1), lines === 0);
        if (!ok) break scan;
        hash.update(line);
        kept += line.length;
        lines++;
        lastT = Math.max(lastT, ok.t);
        endsWithMarker = ok.marker;
        start = nl + 1;
      }
      partial.push(Buffer.from(chunk.subarray(start)));
      partialBytes += bytesRead - start;
      if (partialBytes > MAX_LINE) break;
    }
    if (lines === 0) throw internal('recording_unrepairable', `no valid asciicast header in ${path}`);
    const droppedBytes = size - kept;
    if (droppedBytes === 0 && endsWithMarker) return { sha256: hash.digest('hex'), bytes: kept, droppedBytes: 0 };
    const marker = Buffer.from(`[${lastT}, "m", ${JSON.stringify(INCOMPLETE_MARKER)}]\n`);
    await fh.truncate(kept);
    await fh.write(marker, 0, marker.length, kept);
    await fh.sync();
    hash.update(marker);
    return { sha256: hash.digest('hex'), bytes: kept + marker.length, droppedBytes };
  } finally {
    await fh.close();
  }
}

const entries = async (dir: string): Promise<Dirent[]> => readdir(dir, { withFileTypes: true }).catch(() => []);

/**
 * The `.cast` files under `<storageDir>/sessions/YYYY/MM/DD/` whose session id is in `unsealed` (the
 * store's sessions with a recording but no sha256). Why only plain files with well-formed names:
 * repair writes to what it finds, so a symlink or stray name planted in sessions/ is never followed.
 */
export async function findUnsealedCasts(
  storageDir: string,
  unsealed: ReadonlySet<string>,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const root = sessionsRoot(storageDir);
  for (const y of await entries(root)) {
    if (!y.isDirectory() || !/^\d{4}$/.test(y.name)) continue;
    for (const m of await entries(join(root, y.name))) {
      if (!m.isDirectory() || !/^\d{2}$/.test(m.name)) continue;
      for (const d of await entries(join(root, y.name, m.name))) {
        if (!d.isDirectory() || !/^\d{2}$/.test(d.name)) continue;
        const dayDir = join(root, y.name, m.name, d.name);
        for (const f of await entries(dayDir)) {
          const id = f.name.endsWith('.cast') ? f.name.slice(0, -5) : '';
          if (f.isFile() && SESSION_ID_PATTERN.test(id) && unsealed.has(id)) found.set(id, join(dayDir, f.name));
        }
      }
    }
  }
  return found;
}

export type UnsealedOutcome =
  { sessionId: string; path: string; repaired: RepairResult } | { sessionId: string; path: string; error: Error };

/** findUnsealedCasts + repairCast for each; one broken file does not stop the others. */
export async function repairUnsealed(storageDir: string, unsealed: ReadonlySet<string>): Promise<UnsealedOutcome[]> {
  const out: UnsealedOutcome[] = [];
  for (const [sessionId, path] of await findUnsealedCasts(storageDir, unsealed)) {
    try {
      out.push({ sessionId, path, repaired: await repairCast(path) });
    } catch (err) {
      out.push({ sessionId, path, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }
  return out;
}
