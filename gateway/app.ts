// Wires the gateway together: the only module that knows all the others. Start order is the
// order of trust: state (locked), then the audit log (verified), then the doors (HTTP, later SSH).
import { resolve } from 'node:path';
import { AuditLog } from './audit-log.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { systemActor } from './core/model.js';
import { createHttpApp, type RunningHttp, startHttpServer } from './http/server.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { createLogger, type Logger } from './log.js';
import { Store } from './store.js';
import { version } from './version.js';

export interface GatewayOptions {
  config: Config;
  /** Relative paths in the config resolve against this folder. */
  cwd?: string;
  clock?: Clock;
  logger?: Logger;
  /** Override listen addresses (tests bind port 0). */
  httpListen?: string;
}

export interface Gateway {
  config: Config;
  storageDir: string;
  store: Store;
  audit: AuditLog;
  metrics: Metrics;
  http: RunningHttp;
  stop(reason?: string): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger();
  const storageDir = resolve(opts.cwd ?? process.cwd(), config.storage.dir);
  const metrics = createMetrics();

  const store = await Store.open({ dir: storageDir, logger });
  let audit: AuditLog;
  try {
    audit = await AuditLog.open({ dir: storageDir, clock, logger });
  } catch (err) {
    // A broken chain must stop start-up, and must not leave the store locked behind it.
    await store.close();
    throw err;
  }

  let stopping = false;
  const app = createHttpApp({
    logger,
    metrics,
    health: () => ({ ok: !stopping, detail: { site: config.site.name, version, auditSeq: audit.head().seq } }),
  });
  let http: RunningHttp;
  try {
    http = await startHttpServer(app, opts.httpListen ?? config.http.listen);
  } catch (err) {
    await audit.close();
    await store.close();
    throw err;
  }

  await audit.append({
    type: 'gateway.started',
    actor: systemActor(),
    data: { version, pid: process.pid, http: http.url, targets: config.targets.map((t) => t.id) },
  });
  logger.info({ http: http.url, storageDir }, 'gateway started');

  let stopped: Promise<void> | undefined;
  const stop = (reason = 'stopped') => {
    stopped ??= (async () => {
      stopping = true;
      await http.close();
      // The stop is evidence too; it goes in before the log's final checkpoint is signed.
      await audit.append({ type: 'gateway.stopped', actor: systemActor(), data: { reason } });
      await audit.close();
      await store.close();
      logger.info({ reason }, 'gateway stopped');
    })();
    return stopped;
  };
  return { config, storageDir, store, audit, metrics, http, stop };
}
