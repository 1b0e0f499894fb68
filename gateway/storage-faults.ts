// Storage faults (full disk, file too large, I/O error, read-only): one error, one reason line, one registry of what is failing now.
import { basename } from 'node:path';
import { GatehouseError, isGatehouseError } from './errors.js';

/** errno codes that mean "the disk cannot take this write now", not "the gateway has a bug". */
const STORAGE_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EIO', 'EROFS', 'EACCES', 'EPERM']);

export const STORAGE_UNAVAILABLE = 'storage_unavailable';
/** The PostgreSQL engine's fault: its database cannot be reached or refuses writes. */
export const DATABASE_FAULT = 'database';

/** The errno code anywhere in an error's cause chain. */
export function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

/** A one-line reason a vendor or a monitoring system may see: the file's name and the errno, no paths. */
export function faultReason(file: string, err: unknown): string {
  const code = errnoOf(err) ?? 'error';
  const what: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EFBIG: 'file too large',
    EIO: 'I/O error',
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
  };
  return `storage unavailable: cannot write ${basename(file)} (${code}${what[code] ? `: ${what[code]}` : ''})`;
}

/** The error an action is refused with when its state or evidence cannot be written (HTTP 503 storage_unavailable). */
export function storageUnavailable(file: string, err: unknown): GatehouseError {
  return new GatehouseError('unavailable', STORAGE_UNAVAILABLE, faultReason(file, err), { cause: err });
}

/** Which file a typed write failure is about. */
const FILE_OF_CODE: Record<string, string> = {
  audit_write_failed: 'audit.jsonl',
  command_log_write_failed: 'commands.jsonl',
  plc_log_write_failed: 'plc.jsonl',
  storage_write_failed: 'db.json',
};

/**
 * The storage_unavailable error for any error that says a write failed (ours, or a raw errno), else
 * undefined: what http/errors.ts answers 503 storage_unavailable with, and what the SSH front shows.
 */
export function asStorageError(err: unknown): GatehouseError | undefined {
  if (isGatehouseError(err)) {
    if (err.code === STORAGE_UNAVAILABLE) return err;
    const file = FILE_OF_CODE[err.code];
    return file ? storageUnavailable(file, err) : undefined;
  }
  const code = errnoOf(err);
  const path = (err as NodeJS.ErrnoException | undefined)?.path;
  return code !== undefined && STORAGE_ERRNOS.has(code) ? storageUnavailable(path ?? 'a file', err) : undefined;
}

/**
 * One line for a log about a step that failed: a storage fault's reason (file name and errno, no paths), else the
 * error's kind and message, cut short (what a library puts in a message is not ours to log at length).
 */
export function failureLine(err: unknown): string {
  const fault = asStorageError(err);
  if (fault) return fault.message;
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return 'unknown error';
}

/** Cleared faults kept for the monitor to record at most (storage/monitor.ts). */
const MAX_CLEARED = 100;

export interface Fault {
  /** Which file: db.json, audit.jsonl, commands.jsonl, plc.jsonl, a recording. */
  file: string;
  code: string;
  reason: string;
  since: string;
}

/**
 * What is failing now, by file. Writers report a failure and clear it on their next success, so
 * /healthz, the metric and new actions see the same picture and it heals when space returns.
 */
export class StorageFaults {
  private readonly faults = new Map<string, Fault>();
  private readonly cleared: Fault[] = [];
  private readonly listeners = new Set<(faults: readonly Fault[]) => void>();

  report(file: string, err: unknown, now = new Date()): void {
    const name = basename(file);
    const code = errnoOf(err) ?? 'error';
    const had = this.faults.get(name);
    if (had && had.code === code) return;
    this.faults.set(name, { file: name, code, reason: faultReason(name, err), since: had?.since ?? now.toISOString() });
    this.changed();
  }

  clear(file: string): void {
    const name = basename(file);
    const had = this.faults.get(name);
    if (!had) return;
    this.faults.delete(name);
    this.cleared.push(had);
    this.changed();
  }

  /**
   * The faults cleared since the last call, whoever cleared them. Why: a writer clears its own fault on its next
   * success (db.json's store does), often before the monitor's next round looks; the recovery must be audited all
   * the same (storage/monitor.ts records each one taken here).
   */
  takeCleared(): Fault[] {
    return this.cleared.splice(0);
  }

  /** Cleared faults whose recovery could not be recorded yet: taken again next time. */
  requeueCleared(faults: readonly Fault[]): void {
    // Bounded: a file that fails and heals again and again while the audit log is down keeps its newest recoveries.
    this.cleared.unshift(...faults);
    if (this.cleared.length > MAX_CLEARED) this.cleared.splice(0, this.cleared.length - MAX_CLEARED);
  }

  list(): Fault[] {
    return [...this.faults.values()];
  }

  get ok(): boolean {
    return this.faults.size === 0;
  }

  /** The first fault's reason, for a one-line refusal. */
  reason(): string | undefined {
    return this.faults.values().next().value?.reason;
  }

  onChange(listener: (faults: readonly Fault[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    const now = this.list();
    for (const l of this.listeners) l(now);
  }
}
