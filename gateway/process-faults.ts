// The process-wide policy for stray errors: log, count and audit them, and keep serving; never exit silently.
import type { AuditLog } from './audit-log.js';
import { systemActor } from './core/model.js';
import type { Metrics } from './http/http.js';
import type { Logger } from './log.js';
import { oneLine } from './text.js';

export interface FaultHandlerDeps {
  logger: Logger;
  audit: Pick<AuditLog, 'append'>;
  metrics?: Pick<Metrics, 'strayErrors'>;
  /** Audit records a minute at most (default 10): a rejection in a loop must not fill the disk; all are logged. */
  perMinute?: number;
}

/**
 * Why keep running: every live vendor session, recording and timer is in this process, and the errors
 * seen here so far were refused writes (a full disk) on one connection's path, not a corrupt gateway.
 * Exiting would end every session of the site to stop one. The state is safe either way: it changes only
 * through the store's serialised, audited updates. Returns a function that removes the handlers.
 */
export function installFaultHandlers(d: FaultHandlerDeps): () => void {
  const limit = d.perMinute ?? 10;
  let windowStart = 0;
  let inWindow = 0;
  let notAudited = 0;
  const handle = (kind: 'rejection' | 'exception', err: unknown) => {
    d.logger.error({ err, kind }, `stray ${kind} caught; the gateway keeps running`);
    d.metrics?.strayErrors.inc({ kind });
    const now = Date.now();
    if (now - windowStart >= 60_000) {
      windowStart = now;
      inWindow = 0;
    }
    if (++inWindow > limit) {
      notAudited++;
      return;
    }
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const code = (err as { code?: unknown } | undefined)?.code;
    const data = {
      kind,
      error: oneLine(error, 300),
      ...(typeof code === 'string' ? { code } : {}),
      ...(notAudited ? { notAudited } : {}),
    };
    notAudited = 0;
    d.audit
      .append({ type: 'gateway.fault', actor: systemActor('gateway'), data })
      .catch((e: unknown) => d.logger.error({ err: e }, 'could not audit a stray error'));
  };
  const onRejection = (reason: unknown) => handle('rejection', reason);
  const onException = (err: Error) => handle('exception', err);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
