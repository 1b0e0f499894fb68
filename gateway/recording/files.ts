// Where a session's recording lives: built only from a checked session id and a date, never from user input.
import { isAbsolute, join, relative, resolve } from 'node:path';
import { invalidInput } from '../errors.js';

export type RecordingExt = 'cast' | 'guac';

/**
 * Why this strict: the id becomes a file name. Only the gateway mints ids (`ses_` + random), so
 * anything else (`..`, `/`, NUL, a drive letter) means a bug or an attack, never a session.
 */
export const SESSION_ID_PATTERN = /^ses_[A-Za-z0-9_-]{8,64}$/;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `<storageDir>/sessions`: the only folder recordings are written to or served from. */
export const sessionsRoot = (storageDir: string): string => resolve(storageDir, 'sessions');

export function assertSessionId(sessionId: string): void {
  if (typeof sessionId !== 'string' || !SESSION_ID_PATTERN.test(sessionId))
    throw invalidInput('invalid_session_id', 'not a session id');
}

function toMs(startedAt: number | string | Date): number {
  const ms = startedAt instanceof Date ? startedAt.getTime() : new Date(startedAt).getTime();
  // Why bounded: a 5-digit or negative year would produce a path outside the YYYY/MM/DD scheme.
  if (!Number.isFinite(ms) || ms < 0 || ms >= Date.UTC(10000, 0, 1))
    throw invalidInput('invalid_session_start', 'the session start is not a valid time');
  return ms;
}

/** `<storageDir>/sessions/YYYY/MM/DD/<sessionId>.<ext>` with the UTC date the session started. */
export function recordingPath(storageDir: string, sessionId: string, startedAtMs: number, ext: RecordingExt): string {
  assertSessionId(sessionId);
  if (ext !== 'cast' && ext !== 'guac') throw invalidInput('invalid_recording_kind', 'unknown recording kind');
  const d = new Date(toMs(startedAtMs));
  return join(
    sessionsRoot(storageDir),
    pad(d.getUTCFullYear(), 4),
    pad(d.getUTCMonth() + 1),
    pad(d.getUTCDate()),
    `${sessionId}.${ext}`,
  );
}

/**
 * The recording path of a stored session, double-checked to stay under `<storageDir>/sessions`
 * (defence in depth: the id pattern already excludes separators and dots-only names).
 */
export function resolveRecording(
  storageDir: string,
  sessionId: string,
  startedAt: number | string | Date,
  ext: RecordingExt = 'cast',
): string {
  const path = resolve(recordingPath(storageDir, sessionId, toMs(startedAt), ext));
  const rel = relative(sessionsRoot(storageDir), path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw invalidInput('invalid_recording_path', 'recording path escapes the sessions folder');
  return path;
}
