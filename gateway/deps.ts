// What request handlers and services are given: built once in app.ts, never imported as globals.
import type { Clock } from './clock.js';
import type { CommandAlerts } from './command-alerts.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { PendingEnds } from './sessions.js';
import type { StorageFaults } from './storage-faults.js';
import type { AuditPort, CommandPort, PlcPort, StatePort } from './storage/storage.js';

export interface Deps {
  config: Config;
  store: StatePort;
  audit: AuditPort;
  /** Captured shell commands (commands.jsonl): appended here, never through the store. */
  commands: CommandPort;
  /** PLC operations seen in SSH forwards (plc.jsonl or gh_plc); absent: inspected and judged, not stored. */
  plc?: PlcPort;
  clock: Clock;
  logger: Logger;
  /** Absolute path of storage.dir (db.json, audit.jsonl, commands.jsonl, keys/, sessions/). */
  storageDir: string;
  /** Alerted and blocked commands as they happen (live viewers, the event stream, webhooks). */
  alerts?: CommandAlerts;
  /** What storage is failing now (healthz, the metric, refusals); recordings report theirs here. */
  faults?: StorageFaults;
  /** Session ends storage refused: recorded when the storage monitor sees it recover, and at a clean stop. */
  pendingEnds?: PendingEnds;
}
