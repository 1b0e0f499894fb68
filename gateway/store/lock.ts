// The lock file that keeps a second Gatehouse (or a second Store in this process) off one db.json.
import { readFileSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import { StoreLockedError } from './errors.js';

export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Linux boot id: a lock from before a reboot is stale whatever its pid now names. */
  bootId?: string;
}

/**
 * Lock files this process holds or is taking, with when. Checked and set with no await between,
 * so two Stores in one process cannot race; it also tells "a second Store here" apart from a
 * stale lock that merely carries our (recycled) pid.
 */
const heldHere = new Map<string, string>();

/** A lock just created with O_EXCL is empty until its owner writes it; give the owner this long. */
const UNWRITTEN_GRACE_MS = 10_000;

function currentBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    // pid must be a positive integer: kill(0 or negative, 0) would probe a whole process group.
    if (!Number.isInteger(v.pid) || (v.pid as number) <= 0 || typeof v.hostname !== 'string') return null;
    return v as LockInfo;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user — still alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Verdict = { stale: false; message: string } | { stale: true; reason: string };

function judge(info: LockInfo | null, ageMs: number, lockFile: string, dir: string): Verdict {
  const stopFirst = 'stop it first or use another storage.dir';
  if (!info) {
    if (ageMs < UNWRITTEN_GRACE_MS)
      return {
        stale: false,
        message: `storage ${dir} is being opened by another Gatehouse process; ${stopFirst}`,
      };
    return { stale: true, reason: 'lock file is unreadable' };
  }
  const who = `pid ${info.pid}, started ${info.startedAt}`;
  if (info.hostname !== hostname())
    // We cannot probe a pid on another machine (shared storage); only a person can decide.
    return {
      stale: false,
      message:
        `storage ${dir} is in use by a Gatehouse process on host ${info.hostname} (${who}); ${stopFirst}. ` +
        `If that host no longer runs Gatehouse, delete ${lockFile}`,
    };
  const boot = currentBootId();
  if (info.bootId && boot && info.bootId !== boot) return { stale: true, reason: 'left from before a reboot' };
  // Not held by a Store here (acquire checked heldHere first), so our pid in it is a recycled one.
  if (info.pid === process.pid) return { stale: true, reason: 'carries our own pid, left by an earlier run' };
  if (pidAlive(info.pid))
    return {
      stale: false,
      message: `storage ${dir} is in use by another Gatehouse process (${who}); ${stopFirst}`,
    };
  return { stale: true, reason: `pid ${info.pid} is not running` };
}

/**
 * Deletes a lock judged stale, but only if it still holds what we judged. Why the guard file:
 * two starters that both judged the same stale lock must not each delete it, or the second would
 * delete the first one's fresh lock and both would run.
 */
async function removeStale(lockFile: string, judgedText: string, dir: string): Promise<void> {
  const guard = `${lockFile}.takeover`;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(guard, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const age = Date.now() - (await stat(guard).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    // A guard this old belongs to a starter that died mid-takeover: clear it, let the caller retry.
    if (age > UNWRITTEN_GRACE_MS) return void (await unlink(guard).catch(() => {}));
    throw new StoreLockedError(`storage ${dir} is being taken over by another Gatehouse process`, lockFile);
  }
  try {
    const now = await readFile(lockFile, 'utf8').catch(() => null);
    if (now === judgedText) await unlink(lockFile);
  } finally {
    await fh.close();
    await unlink(guard).catch(() => {});
  }
}

export class StoreLock {
  readonly file: string;
  private readonly text: string;
  private released = false;

  private constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
  }

  /** Takes `lockFile` (for storage folder `dir`) or throws StoreLockedError. */
  static async acquire(lockFile: string, dir: string, logger: Logger): Promise<StoreLock> {
    const since = heldHere.get(lockFile);
    if (since !== undefined)
      throw new StoreLockedError(
        `storage ${dir} is in use by another Store in this process (pid ${process.pid}, started ${since}); close it first`,
        lockFile,
      );
    heldHere.set(lockFile, new Date().toISOString());
    try {
      return await StoreLock.take(lockFile, dir, logger);
    } catch (e) {
      heldHere.delete(lockFile);
      throw e;
    }
  }

  private static async take(lockFile: string, dir: string, logger: Logger): Promise<StoreLock> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const info: LockInfo = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
      const bootId = currentBootId();
      if (bootId) info.bootId = bootId;
      const text = `${JSON.stringify(info)}\n`;
      try {
        // O_EXCL: creation is the atomic test-and-set; whoever creates the file owns the folder.
        const fh = await open(lockFile, 'wx', 0o644);
        try {
          await fh.writeFile(text, 'utf8');
          await fh.sync();
        } catch (e) {
          // An empty lock would block the next start for UNWRITTEN_GRACE_MS for nothing.
          await fh.close().catch(() => {});
          await unlink(lockFile).catch(() => {});
          throw e;
        }
        await fh.close();
        return new StoreLock(lockFile, text);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const existing = await readFile(lockFile, 'utf8').catch(() => null);
      if (existing === null) continue; // released meanwhile: try again
      const ageMs = Date.now() - (await stat(lockFile).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      const verdict = judge(parseLock(existing), ageMs, lockFile, dir);
      if (!verdict.stale) throw new StoreLockedError(verdict.message, lockFile);
      logger.warn({ lockFile, stale: existing.trim(), reason: verdict.reason }, 'removing a stale storage lock');
      await removeStale(lockFile, existing, dir);
    }
    throw new StoreLockedError(`storage ${dir}: could not take ${lockFile}; is another Gatehouse starting?`, lockFile);
  }

  /** Deletes the lock if it is still ours; idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const now = await readFile(this.file, 'utf8').catch(() => null);
    if (now === this.text) await unlink(this.file).catch(() => {});
    // Only now: a Store opened here meanwhile must find the file gone, not judge it stale.
    heldHere.delete(this.file);
  }
}
