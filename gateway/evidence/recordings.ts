// Sealed session recordings on disk: where each one is (never outside <storage>/sessions) and whether it still matches its seal.
import { lstat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { SessionRecord } from '../core/model.js';
import { hashFile, sessionsRoot } from '../recording/recording.js';

export type RecordingState = 'sealed' | 'incomplete' | 'live' | 'unsealed' | 'none';

/** sealed: hash recorded at the end; incomplete: sealed after a crash or failure; live: still being written. */
export function recordingState(s: SessionRecord): RecordingState {
  if (!s.recording) return 'none';
  if (s.recording.sha256) return s.recording.incomplete ? 'incomplete' : 'sealed';
  return s.endedAt ? 'unsealed' : 'live';
}

/**
 * Does the recording hold the vendor's keystrokes? Terminal recordings made before keystrokes were a per-target
 * choice always did (no flag stored); RDP recordings never do (guacd is told not to include keys).
 */
export function recordsKeystrokes(s: SessionRecord): boolean {
  if (!s.recording) return false;
  return s.recording.keystrokes ?? s.protocol === 'ssh';
}

/**
 * The recording's absolute path, or undefined if the stored path would leave `<storage>/sessions`.
 * Why checked: db.json is state, not a capability — an edited path must not make an export read /etc/shadow.
 */
export function recordingFile(storageDir: string, s: SessionRecord): string | undefined {
  if (!s.recording?.path) return undefined;
  const abs = resolve(storageDir, s.recording.path);
  const rel = relative(sessionsRoot(storageDir), abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  if (!/\.(cast|guac)$/.test(abs)) return undefined;
  return abs;
}

/** `recordings/YYYY/MM/DD/<sessionId>.cast`: the path inside a pack, from the checked storage path. */
export function packPathOf(storageDir: string, file: string): string {
  return `recordings/${relative(sessionsRoot(storageDir), file).split(sep).join('/')}`;
}

export type RecordingCheck =
  | { sessionId: string; status: 'ok'; path: string; bytes: number; incomplete: boolean }
  | {
      sessionId: string;
      status: 'mismatch';
      path: string;
      expected: string;
      actual: string;
      expectedBytes?: number;
      bytes: number;
    }
  | { sessionId: string; status: 'missing' | 'not_a_file' | 'bad_path'; path: string }
  | { sessionId: string; status: 'unsealed' | 'live'; path: string };

/** Re-hashes one sealed recording against the SHA-256 recorded when it was sealed. */
export async function checkRecording(storageDir: string, s: SessionRecord): Promise<RecordingCheck | undefined> {
  const state = recordingState(s);
  if (state === 'none') return undefined;
  const stored = s.recording!.path;
  const file = recordingFile(storageDir, s);
  if (!file) return { sessionId: s.id, status: 'bad_path', path: stored };
  if (state === 'live' || state === 'unsealed') return { sessionId: s.id, status: state, path: stored };
  const st = await lstat(file).catch(() => undefined);
  if (!st) return { sessionId: s.id, status: 'missing', path: stored };
  // lstat: a symlink put in place of a recording is not the recording.
  if (!st.isFile()) return { sessionId: s.id, status: 'not_a_file', path: stored };
  const { sha256, bytes } = await hashFile(file);
  const expected = s.recording!.sha256!;
  const expectedBytes = s.recording!.bytes;
  if (sha256 !== expected || (expectedBytes !== undefined && bytes !== expectedBytes))
    return { sessionId: s.id, status: 'mismatch', path: stored, expected, actual: sha256, expectedBytes, bytes };
  return { sessionId: s.id, status: 'ok', path: stored, bytes, incomplete: state === 'incomplete' };
}
