// The .guac recording of an RDP session: guacd writes it (recording-path/recording-name), Gatehouse places it,
// checks it appears (no recording, no session), waits for guacd to finish it, and seals it with its SHA-256.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, posix, relative } from 'node:path';
import { resolveRecording, sessionsRoot } from '../recording/recording.js';

export interface GuacRecordingPlace {
  /** Absolute path on the gateway's side. */
  path: string;
  /** Relative to the storage folder, as the session record keeps it. */
  stored: string;
  /** The folder and file name as guacd sees them (they differ when guacd runs in a container). */
  guacdDir: string;
  name: string;
  /** The folder a redirected drive would use, as guacd sees it (next to the recording, so evidence stays together). */
  guacdDrive: string;
}

/**
 * Creates `<storage>/sessions/YYYY/MM/DD/` (guacd's create-recording-path makes one level only) and names the
 * file `<sessionId>.guac`, built from the checked id and date only (recording/files.ts).
 */
export async function placeRecording(
  storageDir: string,
  sessionId: string,
  startedAt: number,
  guacdRecordingDir?: string,
): Promise<GuacRecordingPlace> {
  const path = resolveRecording(storageDir, sessionId, startedAt, 'guac');
  const dir = dirname(path);
  // At most 0770 (the umask applies): a guacd running as another member of the gatehouse group may write here.
  await mkdir(dir, { recursive: true, mode: 0o770 });
  const day = relative(sessionsRoot(storageDir), dir).split(/[\\/]/);
  const guacdDir = guacdRecordingDir ? posix.join(guacdRecordingDir, ...day) : dir;
  return {
    path,
    stored: relative(storageDir, path),
    guacdDir,
    name: basename(path),
    guacdDrive: posix.join(guacdDir, `${sessionId}.drive`),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** True once `path` exists as a regular file; false if it does not within `timeoutMs` or `stop()` says so. */
export async function waitForRecording(path: string, timeoutMs: number, stop: () => boolean): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile()) return true;
    if (stop() || Date.now() >= end) return false;
    await sleep(100);
  }
}

/**
 * Whether some process holds a POSIX lock on the file (guacd locks its recording while it writes). Linux only,
 * and only visible when guacd shares our PID namespace; elsewhere the answer is "no", and settle() relies on
 * the file being quiet instead.
 */
async function lockedByWriter(ino: number): Promise<boolean> {
  const locks = await readFile('/proc/locks', 'utf8').catch(() => '');
  return locks.split('\n').some((l) => l.includes('POSIX') && l.split(/\s+/).some((f) => f.endsWith(`:${ino}`)));
}

export type Settled = 'settled' | 'still_writing' | 'missing';

/**
 * Waits until guacd has finished the file after its connection closed: no writer lock and size and mtime
 * unchanged for `quietMs`, at most `maxMs`. Why wait at all: hashing while guacd still flushes its last frames
 * would seal a hash the finished file no longer has.
 */
export async function settleRecording(path: string, o: { quietMs: number; maxMs: number }): Promise<Settled> {
  const end = Date.now() + o.maxMs;
  let last = '';
  let quietSince = Date.now();
  for (;;) {
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) return 'missing';
    const now = Date.now();
    const sig = `${st.size}:${st.mtimeMs}`;
    if (sig !== last) {
      last = sig;
      quietSince = now;
    } else if (now - quietSince >= o.quietMs && !(await lockedByWriter(st.ino))) return 'settled';
    if (now >= end) return 'still_writing';
    await sleep(Math.min(100, o.quietMs));
  }
}
