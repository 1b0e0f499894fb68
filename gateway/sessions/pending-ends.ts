// Session ends the state or the audit log refused (a full disk, a database away): kept in memory and recorded once
// storage is back, with the time, reason and seal they had, so a session that ended does not look live until a restart.
import type { Logger } from '../log.js';

/** One session's end that could not be recorded yet. */
export interface PendingEnd {
  sessionId: string;
  /** Records the end as it was when it happened; rejects while storage still refuses it. */
  record(): Promise<void>;
}

export interface PendingEndsOptions {
  logger: Logger;
  /** How many ends are kept (default 1000); beyond it the oldest is dropped and the next start ends it as crashed. */
  max?: number;
}

/**
 * The gateway's queue of unrecorded ends. Memory only, on purpose: if the process dies with ends still here, start-up
 * recovery finds those sessions live in the state and ends them as `gateway_crashed`, which is the one end they then get.
 */
export class PendingEnds {
  private readonly ends = new Map<string, PendingEnd>();
  private readonly max: number;
  private running: Promise<void> | undefined;

  constructor(private readonly o: PendingEndsOptions) {
    this.max = o.max ?? 1000;
  }

  get size(): number {
    return this.ends.size;
  }

  /** Keeps an end for the next retry. Bounded: a disk that never heals must not grow memory without end. */
  add(end: PendingEnd): void {
    this.ends.delete(end.sessionId);
    this.ends.set(end.sessionId, end);
    while (this.ends.size > this.max) {
      const oldest = this.ends.keys().next().value;
      if (oldest === undefined) break;
      this.ends.delete(oldest);
      this.o.logger.error(
        { sessionId: oldest, max: this.max },
        'too many unrecorded session ends: this one is dropped; the next start records it as gateway_crashed',
      );
    }
  }

  /**
   * Tries every kept end once, oldest first; those storage still refuses stay for the next try. One round at a time:
   * a round asked for while one runs joins it. Never rejects.
   */
  retry(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(): Promise<void> {
    for (const end of [...this.ends.values()]) {
      try {
        await end.record();
        if (this.ends.get(end.sessionId) === end) this.ends.delete(end.sessionId);
        this.o.logger.warn({ sessionId: end.sessionId }, 'recorded a session end that storage had refused');
      } catch (err) {
        this.o.logger.error({ err, sessionId: end.sessionId }, 'a session end is still not recorded; kept for later');
      }
    }
  }
}
