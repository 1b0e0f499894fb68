// Picks the storage engine the config names and opens it: the one place that knows both engines.
import { AuditLog } from '../audit-log.js';
import { FileBacklog } from '../audit/audit.js';
import type { Clock } from '../clock.js';
import { CommandLog } from '../command-log.js';
import { PlcLog } from '../conduit/conduit.js';
import { type Config, resolveConfigPath } from '../config.js';
import type { Logger } from '../log.js';
import { DEFAULT_HISTORY_AFTER_DAYS, Store } from '../store.js';
import type { StorageFaults } from '../storage-faults.js';
import type { Storage } from './port.js';
import { openPostgres } from './postgres/engine.js';

export interface OpenStorageOptions {
  config: Pick<Config, 'storage' | 'node'> & { audit?: Partial<Config['audit']> };
  /** Absolute storage.dir. */
  storageDir: string;
  clock: Clock;
  logger: Logger;
  cwd?: string;
  faults?: StorageFaults;
  /** Overrides audit.checkpointEverySeconds (tests: 0, off). */
  checkpointIntervalMs?: number;
  /** Records between signed checkpoints (default 1000). */
  checkpointEvery?: number;
  acceptMissingAuditHead?: boolean;
  /** lowdb: when the first move of old requests and sessions to history runs (default a minute after start). */
  archiveFirstMs?: number;
}

/** The lowdb engine's own objects, for what only it has (the storage monitor, the SIEM stream of audit.jsonl). */
export interface LowdbParts {
  store: Store;
  audit: AuditLog;
  commands: CommandLog;
  plc: PlcLog;
}

export type OpenedStorage = Storage & { lowdb?: LowdbParts };

/** The node's id in a cluster; one gateway alone is `gateway`. */
export const nodeIdOf = (config: Pick<Config, 'node'>): string => config.node?.id ?? 'gateway';

const intervalOf = (o: OpenStorageOptions): number | undefined =>
  o.checkpointIntervalMs ??
  (o.config.audit?.checkpointEverySeconds !== undefined ? o.config.audit.checkpointEverySeconds * 1000 : undefined);

/** audit.signingKey's file, absolute; undefined when the key lives in `<storage.dir>/keys/`. */
export const signingKeyFileOf = (o: Pick<OpenStorageOptions, 'config' | 'cwd'>): string | undefined => {
  const key = o.config.audit?.signingKey;
  return key ? resolveConfigPath(key.file, o.cwd) : undefined;
};

export async function openStorage(o: OpenStorageOptions): Promise<OpenedStorage> {
  const interval = intervalOf(o);
  const signingKeyFile = signingKeyFileOf(o);
  if (o.config.storage.engine === 'postgres') {
    return openPostgres({
      postgres: o.config.storage.postgres!,
      storageDir: o.storageDir,
      clock: o.clock,
      logger: o.logger,
      nodeId: nodeIdOf(o.config),
      ...(signingKeyFile !== undefined && { signingKeyFile }),
      ...(o.cwd !== undefined && { cwd: o.cwd }),
      ...(interval !== undefined && { checkpointIntervalMs: interval }),
      ...(o.checkpointEvery !== undefined && { checkpointEvery: o.checkpointEvery }),
    });
  }
  return openLowdb(o, interval, signingKeyFile);
}

/** db.json under its lock, commands.jsonl, audit.jsonl (verified), then the store's audit journal; a failure closes what opened. */
async function openLowdb(
  o: OpenStorageOptions,
  interval: number | undefined,
  signingKeyFile: string | undefined,
): Promise<OpenedStorage> {
  const store = await Store.open({ dir: o.storageDir, logger: o.logger });
  let commands: CommandLog;
  try {
    // Opened under the store's lock: it also finishes moving a v1 db.json's commands.
    commands = await CommandLog.open({ store, logger: o.logger });
  } catch (err) {
    await store.close();
    throw err;
  }
  let audit: AuditLog;
  try {
    audit = await AuditLog.open({
      dir: o.storageDir,
      clock: o.clock,
      logger: o.logger,
      ...(interval !== undefined && { checkpointIntervalMs: interval }),
      ...(o.checkpointEvery !== undefined && { checkpointEvery: o.checkpointEvery }),
      ...(signingKeyFile ? { signingKeyFile } : {}),
      acceptMissingHead: o.acceptMissingAuditHead === true,
    });
  } catch (err) {
    // A broken chain must stop start-up, and must not leave the store locked behind it.
    await commands.close();
    await store.close();
    throw err;
  }
  let plc: PlcLog;
  try {
    // plc.jsonl beside commands.jsonl, under the same lock.
    plc = await PlcLog.open(o.storageDir, o.logger);
  } catch (err) {
    await audit.close();
    await commands.close();
    await store.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await plc.close();
      await audit.close();
      await commands.close();
      await store.close();
    })();
    return closing;
  };
  try {
    // Every change's records go through the store from here; a crash between the two writes is repaired now.
    await store.attachAudit(audit, o.faults);
  } catch (err) {
    await close();
    throw err;
  }
  // db.json stays the size of the recent state: older closed requests and ended sessions move to history/.
  store.startArchiving({
    afterDays: o.config.storage.historyAfterDays ?? DEFAULT_HISTORY_AFTER_DAYS,
    now: () => o.clock.now(),
    ...(o.archiveFirstMs !== undefined && { firstMs: o.archiveFirstMs }),
  });
  return {
    engine: 'lowdb',
    state: store,
    audit,
    commands,
    plc,
    lowdb: { store, audit, commands, plc },
    // audit.jsonl itself, with the cursor in audit.syslog.json beside it.
    syslogBacklog: () => new FileBacklog(o.storageDir, audit),
    close,
  };
}
