// Heals storage faults without a restart: while anything is failing, retries it every interval and says when it works again.
import { join } from 'node:path';
import type { AuditLog } from '../audit-log.js';
import { probeRoom } from '../audit/audit.js';
import { systemActor } from '../core/model.js';
import type { Logger } from '../log.js';
import type { Store } from '../store.js';
import { DATABASE_FAULT, type Fault, type StorageFaults } from '../storage-faults.js';
import type { AuditPort } from './port.js';

/** An append log that refuses every append after a failed write until recover() cuts it back (jsonl-log.ts, the audit log). */
export interface RecoverableLog {
  readonly failure: (Error & { cause?: unknown }) | undefined;
  recover(): Promise<boolean>;
}

export interface StorageMonitorDeps {
  /** Where recoveries are recorded (either engine's audit log). */
  audit: AuditPort;
  /** The lowdb engine's files: db.json, audit.jsonl, commands.jsonl, plc.jsonl (absent on PostgreSQL). */
  lowdb?: { store: Store; audit: AuditLog; commands: RecoverableLog; plc?: RecoverableLog };
  /** PostgreSQL: resolves when the database answers, rejects when it cannot be reached (absent on lowdb). */
  probeDatabase?: () => Promise<void>;
  faults: StorageFaults;
  logger: Logger;
  storageDir: string;
  /** Called after a round in which a fault cleared, once its recovery is recorded: what waited for storage goes now. */
  onRecovered?: () => Promise<void>;
  /** How often to look and retry (default 1 s). */
  intervalMs?: number;
}

/** Recordings live under here; a probe file there (probeRoom) tells whether a new one could be written. */
export const RECORDINGS_FAULT = 'sessions';
export { DATABASE_FAULT };

/**
 * Why a loop: a failed append log (audit.jsonl, commands.jsonl, plc.jsonl) refuses everything until it is cut back
 * to its last durable byte, and db.json or a recording folder only shows it can be written by writing.
 * Nobody else would retry while the gateway refuses every action, so this does, once a second. On
 * PostgreSQL the files are not there: it asks the database instead (a fault named `database` while it
 * cannot be reached), and still watches the recordings folder, which stays on disk.
 */
export class StorageMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly d: StorageMonitorDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.check()
        .catch((err: unknown) => this.d.logger.error({ err }, 'storage check failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.d.intervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One round: notice failed logs and an unreachable database, retry every fault, record each one that cleared. */
  async check(): Promise<void> {
    const { faults, lowdb } = this.d;
    // The audit log first: every other recovery is recorded in it.
    const logs: Array<[string, RecoverableLog]> = lowdb
      ? [
          ['audit.jsonl', lowdb.audit],
          ['commands.jsonl', lowdb.commands],
          ...(lowdb.plc ? [['plc.jsonl', lowdb.plc] as [string, RecoverableLog]] : []),
        ]
      : [];
    for (const [file, log] of logs) if (log.failure) faults.report(file, log.failure.cause ?? log.failure);
    // Nothing else notices a database that went away while no one writes: it is asked every round.
    const database =
      this.d.probeDatabase &&
      (await this.d.probeDatabase().then(
        () => undefined,
        (err: unknown) => err ?? new Error('unreachable'),
      ));
    if (database !== undefined) faults.report(DATABASE_FAULT, database);
    const before = new Map(faults.list().map((f) => [f.file, f]));
    if (before.size === 0) return this.recordCleared();
    if (this.d.probeDatabase && database === undefined) faults.clear(DATABASE_FAULT);
    for (const [file, log] of logs) if (before.has(file) && (await log.recover())) faults.clear(file);
    // An update that changes nothing still writes db.json: the store clears the fault when that works.
    if (lowdb && before.has('db.json')) await lowdb.store.update(() => undefined).catch(() => undefined);
    if (before.has(RECORDINGS_FAULT) && (await this.canWrite(join(this.d.storageDir, RECORDINGS_FAULT))))
      faults.clear(RECORDINGS_FAULT);
    await this.recordCleared();
  }

  /**
   * Records every fault cleared since the last round, by this round or by a writer's own success in between (the
   * store clears db.json's fault when a write works). A recovery the audit log refused is tried again next round.
   */
  private async recordCleared(): Promise<void> {
    const cleared = this.d.faults.takeCleared();
    if (cleared.length === 0) return;
    const unrecorded: Fault[] = [];
    for (const f of cleared) if (!(await this.recovered(f))) unrecorded.push(f);
    this.d.faults.requeueCleared(unrecorded);
    await this.d.onRecovered?.();
  }

  private async recovered(f: Fault): Promise<boolean> {
    this.d.logger.warn({ file: f.file, code: f.code, since: f.since }, 'storage writable again');
    return this.d.audit
      .append({
        type: 'storage.recovered',
        actor: systemActor('gateway'),
        data: { file: f.file, code: f.code, since: f.since },
      })
      .then(
        () => true,
        (err: unknown) => {
          this.d.logger.error({ err }, 'could not record a storage recovery');
          return false;
        },
      );
  }

  /** The same proof of room the logs ask for: a small file would fit a disk that fails the next recording at once. */
  private canWrite(dir: string): Promise<boolean> {
    return probeRoom(dir).then(
      () => true,
      () => false,
    );
  }
}
