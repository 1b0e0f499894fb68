// Work nobody waits for (an event handler's close, a timer's flush): its failure is logged, never an unhandled rejection.
import type { Logger } from './log.js';

/**
 * Starts `work` without awaiting it; a rejection is logged as `what`. Why not `void work`: on a full disk
 * that rejection reached the process as unhandled and took every session of the site down with it.
 */
export function detach(work: Promise<unknown> | undefined, logger: Pick<Logger, 'error'>, what: string): void {
  work?.catch((err: unknown) => logger.error({ err }, what));
}
