// Session ends the state or the audit log refused (a full disk, a database away): kept in memory and recorded once
// storage is back, with the time, reason and seal they had, so a session that ended does not look live until a restart.
// The one place such an end waits: tried when the storage monitor recovers, at a clean stop, and on a timer while any
// wait, because a node cut off from its database may never see the monitor recover (docs/storage-faults.md).
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
  /** How often the kept ends are tried while any wait (default 2 s). */
  everyMs?: number;
  /** How long one end is tried before it is left to the crash sweep or start-up recovery (default 15 minutes). */
  forMs?: number;
  /** Monotonic enough for the give-up time; tests pass their own. */
  now?: () => number;
}

interface Kept extends PendingEnd {
  until: number;
}

/**
 * The gateway's queue of unrecorded ends. Memory only, on purpose: if the process dies with ends still here, start-up
 * recovery finds those sessions live in the state and ends them as `gateway_crashed`, which is the one end they then get.
 * One end is never written twice at once: rounds never overlap, and a success removes the end.
 */
export class PendingEnds {
  private readonly ends = new Map<string, Kept>();
  private readonly max: number;
  private readonly everyMs: number;
  private readonly forMs: number;
  private readonly now: () => number;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: PendingEndsOptions) {
    this.max = o.max ?? 1000;
    this.everyMs = o.everyMs ?? 2000;
    this.forMs = o.forMs ?? 15 * 60_000;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.ends.size;
  }

  /** Keeps an end for the next retry. Bounded: a disk that never heals must not grow memory without end. */
  add(end: PendingEnd): void {
    this.ends.delete(end.sessionId);
    this.ends.set(end.sessionId, { ...end, until: this.now() + this.forMs });
    while (this.ends.size > this.max) {
      const oldest = this.ends.keys().next().value;
      if (oldest === undefined) break;
      this.ends.delete(oldest);
      this.o.logger.error(
        { sessionId: oldest, max: this.max },
        'too many unrecorded session ends: this one is dropped; the next start records it as gateway_crashed',
      );
    }
    this.schedule();
  }

  /**
   * Tries every kept end once, oldest first; those storage still refuses stay for the next try, until their time is
   * up. One round at a time: asked for while one runs, it runs once more after it (storage may have just come back),
   * and every such ask shares that one next round. Never rejects.
   */
  retry(): Promise<void> {
    if (!this.running) {
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.retry();
    });
    return this.next;
  }

  /** No more timed rounds (the gateway is stopping); `retry` still works. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped || this.timer || this.ends.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const next = () => this.schedule();
      this.retry().then(next, next); // retry never rejects; the next round is set either way
    }, this.everyMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    for (const end of [...this.ends.values()]) {
      try {
        await end.record();
        if (this.ends.get(end.sessionId) === end) this.ends.delete(end.sessionId);
        this.o.logger.warn({ sessionId: end.sessionId }, 'recorded a session end that storage had refused');
      } catch (err) {
        if (this.now() < end.until) {
          // Debug: a timed round runs every few seconds, and the storage fault itself is already logged and audited.
          this.o.logger.debug({ err, sessionId: end.sessionId }, 'a session end is still not recorded; kept for later');
        } else if (this.ends.get(end.sessionId) === end) {
          this.ends.delete(end.sessionId);
          this.o.logger.error(
            { err, sessionId: end.sessionId },
            'gave up recording a session end; the crash sweep or the next start ends the session',
          );
        }
      }
    }
  }
}
