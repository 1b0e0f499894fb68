// At start-up, before any door opens: sessions the store still shows as live were cut off by a crash
// (the gateway is the only process that runs them). Each is ended as `gateway_crashed` and its
// recording repaired so it still plays, marked incomplete, and audited. A recording that was sealed (its hash on the
// record, or its seal note beside it) is left byte for byte as it was sealed: only unsealed files are repaired.
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { AuditEventData } from '../core/audit-events.js';
import type { SessionRecord } from '../core/model.js';
import type { Deps } from '../deps.js';
import { endInterrupted } from '../sessions.js';
import { sessionsRoot } from './files.js';
import { repairGuac } from './guac-repair.js';
import { repairCast } from './incomplete.js';
import { hashFile } from './file-hash.js';
import { readSealNote } from './seal-note.js';

export type RecoveredRecording =
  | { status: 'repaired'; sha256: string; bytes: number; droppedBytes: number }
  /** Sealed before the crash (the end was not recorded): untouched, and the record takes the seal's hash. */
  | { status: 'sealed'; sha256: string; bytes: number; incomplete: boolean }
  | { status: 'missing' }
  | { status: 'unrepairable'; error: string }
  | { status: 'none' };

export interface RecoveredSession {
  sessionId: string;
  recording: RecoveredRecording;
}

/** The recording's absolute path (.cast, or guacd's .guac for RDP), only if it lies inside `<storage>/sessions` (a stored path is never trusted to leave it). */
function castPath(storageDir: string, rec: SessionRecord): string | undefined {
  if (!rec.recording?.path) return undefined;
  const abs = resolve(storageDir, rec.recording.path);
  const rel = relative(sessionsRoot(storageDir), abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || !/\.(cast|guac)$/.test(abs)) return undefined;
  return abs;
}

async function repair(storageDir: string, rec: SessionRecord): Promise<RecoveredRecording> {
  if (!rec.recording) return { status: 'none' };
  const path = castPath(storageDir, rec);
  if (!path) return { status: 'unrepairable', error: 'recording path outside the sessions folder' };
  const st = await stat(path).catch(() => undefined);
  if (!st) return { status: 'missing' };
  if (!st.isFile()) return { status: 'unrepairable', error: 'recording path is not a regular file' };
  // Sealed: the record says so (its end lost on the way, or read stale by another node), or the note the seal leaves.
  const r = rec.recording;
  const seal =
    r.sha256 !== undefined && r.bytes !== undefined
      ? { sha256: r.sha256, bytes: r.bytes, incomplete: r.incomplete === true }
      : await readSealNote(path);
  if (seal) {
    const now = await hashFile(path).catch(() => undefined);
    if (now?.sha256 === seal.sha256 && now.bytes === seal.bytes) return { status: 'sealed', ...seal };
    // Changed since its seal: repairing would re-hash whatever it now holds and hide that. Left as it is, and said.
    return { status: 'unrepairable', error: 'the recording differs from its seal; left as it is' };
  }
  try {
    const r = await (path.endsWith('.guac') ? repairGuac(path) : repairCast(path));
    return { status: 'repaired', sha256: r.sha256, bytes: r.bytes, droppedBytes: r.droppedBytes };
  } catch (err) {
    return { status: 'unrepairable', error: err instanceof Error ? err.message : String(err) };
  }
}

/** `recording.incomplete`'s details: the repaired hash, or why there is none. */
function incompleteData(
  recording: Exclude<RecoveredRecording, { status: 'none' | 'sealed' }>,
): AuditEventData['recording.incomplete'] {
  return recording.status === 'repaired'
    ? {
        sha256: recording.sha256,
        bytes: recording.bytes,
        droppedBytes: recording.droppedBytes,
        reason: 'gateway_crashed',
      }
    : {
        status: recording.status,
        ...(recording.status === 'unrepairable' ? { error: recording.error } : {}),
        reason: 'gateway_crashed',
      };
}

/**
 * Ends every session with no `endedAt` as `gateway_crashed`. Idempotent: a recovered session has
 * `endedAt`, so a second run finds nothing; a crash in the middle of a run leaves the rest for the
 * next start (and repairCast does not add a second marker). Never throws for one bad recording.
 */
export async function recoverInterruptedSessions(
  deps: Pick<Deps, 'store' | 'audit' | 'clock' | 'logger' | 'storageDir'>,
  /** Which open sessions were cut off (several nodes: only a dead node's, or this node's own at its start); default all. */
  select: (rec: SessionRecord) => boolean = () => true,
): Promise<RecoveredSession[]> {
  const { store, clock, logger, storageDir } = deps;
  const open = store.data.sessions.filter((s) => !s.endedAt && select(s));
  const out: RecoveredSession[] = [];
  for (const rec of open) {
    const recording = await repair(storageDir, rec);
    await endInterrupted({ store, clock }, rec, {
      ...(recording.status === 'repaired' ? { repaired: { sha256: recording.sha256, bytes: recording.bytes } } : {}),
      ...(recording.status === 'sealed'
        ? { sealed: { sha256: recording.sha256, bytes: recording.bytes, incomplete: recording.incomplete } }
        : {}),
      ...(recording.status === 'none' || recording.status === 'sealed'
        ? {}
        : { incomplete: incompleteData(recording) }),
    });
    if (recording.status === 'missing' || recording.status === 'unrepairable')
      logger.warn({ sessionId: rec.id, recording }, 'interrupted session: recording could not be repaired');
    out.push({ sessionId: rec.id, recording });
  }
  if (out.length)
    logger.warn({ sessions: out.map((s) => s.sessionId) }, 'sessions interrupted by a gateway crash were ended');
  return out;
}
