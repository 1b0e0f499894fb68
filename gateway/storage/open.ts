// Picks the storage engine the config names and opens it: the one place that knows both engines.
import { AuditLog } from '../audit-log.js';
import type { Clock } from '../clock.js';
import { CommandLog } from '../command-log.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { Store } from '../store.js';
import { LowdbState } from './lowdb.js';
import type { Storage } from './port.js';
import { openPostgres } from './postgres/engine.js';

export interface OpenStorageOptions {
  config: Pick<Config, 'storage' | 'node'>;
  /** Absolute storage.dir. */
  storageDir: string;
  clock: Clock;
  logger: Logger;
  cwd?: string;
  checkpointIntervalMs?: number;
  /** Records between signed checkpoints (default 1000). */
  checkpointEvery?: number;
}

/** The node's id in a cluster; one gateway alone is `gateway`. */
export const nodeIdOf = (config: Pick<Config, 'node'>): string => config.node?.id ?? 'gateway';

export async function openStorage(o: OpenStorageOptions): Promise<Storage> {
  if (o.config.storage.engine === 'postgres') {
    return openPostgres({
      postgres: o.config.storage.postgres!,
      storageDir: o.storageDir,
      clock: o.clock,
      logger: o.logger,
      nodeId: nodeIdOf(o.config),
      ...(o.cwd !== undefined && { cwd: o.cwd }),
      ...(o.checkpointIntervalMs !== undefined && { checkpointIntervalMs: o.checkpointIntervalMs }),
      ...(o.checkpointEvery !== undefined && { checkpointEvery: o.checkpointEvery }),
    });
  }
  return openLowdb(o);
}

/** db.json under its lock, then commands.jsonl, then audit.jsonl (verified); a failure closes what opened. */
async function openLowdb(o: OpenStorageOptions): Promise<Storage> {
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
      ...(o.checkpointIntervalMs !== undefined && { checkpointIntervalMs: o.checkpointIntervalMs }),
      ...(o.checkpointEvery !== undefined && { checkpointEvery: o.checkpointEvery }),
    });
  } catch (err) {
    // A broken chain must stop start-up, and must not leave the store locked behind it.
    await commands.close();
    await store.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    engine: 'lowdb',
    state: new LowdbState(store, audit),
    audit,
    commands,
    close() {
      closing ??= (async () => {
        await audit.close();
        await commands.close();
        await store.close();
      })();
      return closing;
    },
  };
}
