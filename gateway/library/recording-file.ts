// A stored session's recording on disk: its path (from the store, never from a request), opened safely, and its hash re-checked.
import { constants } from 'node:fs';
import { createHash } from 'node:crypto';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import { basename, isAbsolute, relative, resolve } from 'node:path';
import type { SessionRecord } from '../core/model.js';
import { isGatehouseError, notFound } from '../errors.js';
import { SESSION_ID_PATTERN, sessionsRoot } from '../recording/recording.js';

export interface OpenRecording {
  fh: FileHandle;
  path: string;
  size: number;
  mtimeMs: number;
  kind: 'cast' | 'guac';
}

const inside = (root: string, p: string) => {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/**
 * The recording's absolute path, or undefined. The path comes from the store, and still must lie under
 * `<storage>/sessions` and be named after the session itself: a store entry pointing elsewhere (a bug,
 * an edited db.json) never turns into a file read.
 */
export function storedRecordingPath(
  storageDir: string,
  s: Pick<SessionRecord, 'id' | 'recording'>,
): string | undefined {
  const rel = s.recording?.path;
  if (!rel || !SESSION_ID_PATTERN.test(s.id)) return undefined;
  const abs = resolve(storageDir, rel);
  const name = basename(abs);
  if (name !== `${s.id}.cast` && name !== `${s.id}.guac`) return undefined;
  return inside(sessionsRoot(storageDir), abs) ? abs : undefined;
}

/**
 * Opens the recording read-only. O_NOFOLLOW refuses a symlink planted as the file; the real path is
 * then checked to be under the real sessions folder, so a symlinked directory cannot lead out either.
 * Missing or refused → 404 `recording_missing` (the caller has already been allowed to see the session).
 */
export async function openRecording(
  storageDir: string,
  s: Pick<SessionRecord, 'id' | 'recording'>,
): Promise<OpenRecording> {
  const missing = () => notFound('recording_missing', 'this session has no recording on disk');
  const path = storedRecordingPath(storageDir, s);
  if (!path) throw missing();
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    throw missing();
  }
  try {
    const st = await fh.stat();
    const [real, root] = await Promise.all([realpath(path), realpath(sessionsRoot(storageDir))]);
    if (!st.isFile() || !inside(root, real)) throw missing();
    return { fh, path, size: st.size, mtimeMs: st.mtimeMs, kind: path.endsWith('.guac') ? 'guac' : 'cast' };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw isGatehouseError(err) ? err : missing();
  }
}

export type IntegrityState = 'verified' | 'mismatch' | 'unsealed' | 'missing';

export interface Integrity {
  state: IntegrityState;
  /** What the gateway recorded when it sealed the file. */
  sealedSha256: string | null;
  /** What the file hashes to now (null when it is missing or not hashed because unsealed). */
  actualSha256: string | null;
  sealedBytes: number | null;
  actualBytes: number | null;
  checkedAt: string;
}

interface Cached {
  key: string;
  result: Promise<{ sha256: string; bytes: number }>;
}

/**
 * Re-hashes recordings on demand, remembering the answer per file while its size, mtime and inode stay
 * the same: a replay page asks on every open, and a GB recording should be read once, not every time.
 * At most `max` files are remembered (oldest dropped first).
 */
export class IntegrityChecker {
  private readonly cache = new Map<string, Cached>();
  constructor(
    private readonly storageDir: string,
    private readonly now: () => number,
    private readonly max = 500,
  ) {}

  async check(s: SessionRecord): Promise<Integrity> {
    const sealed = s.recording?.sha256 ?? null;
    const base = {
      sealedSha256: sealed,
      sealedBytes: s.recording?.bytes ?? null,
      checkedAt: new Date(this.now()).toISOString(),
    };
    let rec: OpenRecording;
    try {
      rec = await openRecording(this.storageDir, s);
    } catch {
      return { ...base, state: 'missing', actualSha256: null, actualBytes: null };
    }
    // A live or crashed-unsealed recording has nothing to compare with (and may still grow).
    if (!sealed) {
      await rec.fh.close();
      return { ...base, state: 'unsealed', actualSha256: null, actualBytes: rec.size };
    }
    const st = await rec.fh.stat();
    const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    let entry = this.cache.get(rec.path);
    if (entry?.key !== key) {
      entry = { key, result: hashHandle(rec.fh) };
      this.cache.delete(rec.path);
      this.cache.set(rec.path, entry);
      while (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value!);
      // A failed read must not be remembered as the file's hash.
      entry.result.catch(() => this.cache.delete(rec.path));
    }
    try {
      const { sha256, bytes } = await entry.result;
      return { ...base, state: sha256 === sealed ? 'verified' : 'mismatch', actualSha256: sha256, actualBytes: bytes };
    } finally {
      await rec.fh.close().catch(() => undefined);
    }
  }
}

/** Streams the open file through SHA-256 from byte 0 (positional reads: the handle's offset is not shared). */
async function hashHandle(fh: FileHandle): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { sha256: hash.digest('hex'), bytes: pos };
}
