// Time-driven access control: expire undecided requests, end grants at window end, warn and close live sessions.
import type { AuditPort } from './storage/storage.js';
import type { Broker } from './broker.js';
import type { Clock } from './clock.js';
import { grantStatus, ms } from './core/access.js';
import type { SessionEndReason, TerminateRequest } from './core/model.js';
import { systemActor } from './core/model.js';
import { formatLocal } from './core/windows.js';
import { type Logger, silentLogger } from './log.js';
import type { LiveSession, SessionRegistry } from './sessions.js';

export interface SchedulerOptions {
  broker: Pick<Broker, 'closeDue' | 'requestsByGrant'>;
  sessions: SessionRegistry;
  audit: Pick<AuditPort, 'append'>;
  clock: Clock;
  timeZone: string;
  logger?: Logger;
  /** Sweep period (default 1000 ms): the most a window end or a warning can be late. */
  everyMs?: number;
  /** Minutes before the end at which live sessions are warned (default 5 and 1). */
  warnAtMinutes?: readonly number[];
  /**
   * Several nodes on one database: whether this node leads. Only the leader records what time decided
   * (expiries, window ends); every node closes its own live sessions whose grant is no longer active.
   */
  leads?: () => boolean;
  /**
   * The terminate recorded on a live session's record, if any (`terminateRequested`): whichever node recorded it,
   * the sweep closes the session here, so a close never hangs on the one message that announced it.
   */
  terminationOf?: (sessionId: string) => TerminateRequest | undefined;
  /**
   * Several nodes: takes in what other nodes committed, before each sweep (one `SELECT version` when nothing
   * changed). Why: the notifications that normally bring it can be lost to a LISTEN connection that died without
   * an error; this bounds a revoke's or a terminate's delay here to one sweep. Waited for at most one period.
   */
  catchUp?: () => Promise<void>;
}

export interface SweepResult {
  expired: string[];
  /** Grant ids whose end was recorded in this sweep. */
  ended: string[];
  /** Live sessions closed because their grant is no longer active. */
  closed: string[];
  warned: Array<{ sessionId: string; minutesLeft: number }>;
}

/**
 * Why a periodic sweep rather than one timer per grant: a sweep reads the store each time, so it is
 * right after a restart (nothing to rebuild: the state is the schedule), after a clock jump (it asks the
 * injected Clock, not a timer armed hours earlier), and after a revoke or an approval raced it. The cost
 * is one pass over due requests and live sessions a second, and at most `everyMs` of lateness.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  /** Sweeps run one after another; `busy` counts the queued and running ones. */
  private chain: Promise<unknown> = Promise.resolve();
  private busy = 0;
  /** The smallest warning threshold already sent per live session (sessions are in memory, so is this). */
  private readonly warned = new Map<string, number>();
  private readonly logger: Logger;
  private readonly thresholds: number[];
  private catchUpFailing = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.thresholds = [...(opts.warnAtMinutes ?? [5, 1])].sort((a, b) => b - a);
  }

  /** Sweeps at once (catching up on whatever happened while the gateway was down), then every `everyMs`. */
  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.everyMs ?? 1000);
    this.timer.unref(); // never keeps the process alive on its own
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  /** One sweep now, after any running one (tests drive the scheduler with this and a ManualClock). */
  sweepNow(): Promise<SweepResult> {
    this.busy++;
    const next = this.chain.then(() => this.sweep()).finally(() => this.busy--);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Checks this node's live sessions against their grants now (another node's commit changed a grant). */
  enforceNow(): Promise<Pick<SweepResult, 'closed' | 'warned'>> {
    this.busy++;
    const next = this.chain.then(() => this.enforceLive()).finally(() => this.busy--);
    this.chain = next.catch(() => {});
    return next;
  }

  private tick(): void {
    // A slow sweep (a busy store) is not stacked up behind itself: the next tick simply catches up.
    if (this.busy > 0) return;
    this.sweepNow().catch((err) => this.logger.error({ err }, 'access sweep failed'));
  }

  private async sweep(): Promise<SweepResult> {
    await this.caughtUp();
    const leads = this.opts.leads?.() ?? true;
    const { expired, ended } = leads ? await this.opts.broker.closeDue() : { expired: [], ended: [] };
    const { closed, warned } = await this.enforceLive();
    return { expired, ended, closed, warned };
  }

  /** Bounded: a database that does not answer delays the sweep one period at most (the cache is then as it was). */
  private async caughtUp(): Promise<void> {
    const { catchUp } = this.opts;
    if (!catchUp) return;
    const done = catchUp().then(
      () => {
        if (this.catchUpFailing) this.logger.warn('access sweep: the state is read from the database again');
        this.catchUpFailing = false;
      },
      (err: unknown) => {
        // Once per outage: the storage monitor reports the database itself every second.
        if (!this.catchUpFailing)
          this.logger.warn({ err: { message: (err as Error).message } }, 'access sweep: could not read the state');
        this.catchUpFailing = true;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => {
      timer = setTimeout(r, this.opts.everyMs ?? 1000);
      timer.unref();
    });
    await Promise.race([done, bound]);
    clearTimeout(timer);
  }

  /**
   * Every live session is checked against its grant on every sweep, not only when a grant ends: a
   * session that registered while its grant was being revoked or ending is still closed within a sweep.
   * A terminate recorded on the session's record closes it the same way.
   */
  private async enforceLive(): Promise<Pick<SweepResult, 'closed' | 'warned'>> {
    const { sessions, clock } = this.opts;
    const live = sessions.list();
    const closed: string[] = [];
    const warned: SweepResult['warned'] = [];
    for (const id of this.warned.keys()) if (!sessions.get(id)) this.warned.delete(id);
    if (live.length === 0) return { closed, warned };
    const grants = this.opts.broker.requestsByGrant();
    const now = clock.now();
    const work: Promise<unknown>[] = [];
    for (const s of live) {
      const asked = this.opts.terminationOf?.(s.id);
      if (asked) {
        closed.push(s.id);
        this.warned.delete(s.id);
        work.push(sessions.close(s.id, 'terminated', asked.message));
        continue;
      }
      const r = grants.get(s.grantId);
      const status = r && r.userId === s.userId && r.targetId === s.targetId ? grantStatus(r, now) : 'none';
      if (status !== 'active') {
        const reason: SessionEndReason =
          status === 'ended' ? 'window_ended' : status === 'revoked' ? 'revoked' : 'error';
        closed.push(s.id);
        this.warned.delete(s.id);
        work.push(sessions.close(s.id, reason));
        continue;
      }
      const left = ms(r!.endsAt) - now;
      const due = this.thresholds.filter((m) => left <= m * 60_000).pop();
      if (due === undefined || due >= (this.warned.get(s.id) ?? Number.POSITIVE_INFINITY)) continue;
      this.warned.set(s.id, due);
      const minutesLeft = Math.ceil(left / 60_000);
      warned.push({ sessionId: s.id, minutesLeft });
      work.push(this.warn(s, minutesLeft, r!.endsAt));
    }
    await Promise.all(work);
    return { closed, warned };
  }

  private async warn(s: LiveSession, minutesLeft: number, endsAt: string): Promise<void> {
    const at = formatLocal(ms(endsAt), this.opts.timeZone);
    const message =
      `your access to ${s.targetId} ends in ${minutesLeft} minute${minutesLeft === 1 ? '' : 's'} ` +
      `(${at}); save your work.`;
    try {
      s.warn?.(message);
    } catch (err) {
      this.logger.warn({ err, sessionId: s.id }, 'could not warn a live session');
    }
    try {
      await this.opts.audit.append({
        type: 'session.warned',
        actor: systemActor('scheduler'),
        subject: { sessionId: s.id, grantId: s.grantId, userId: s.userId, targetId: s.targetId },
        data: { minutesLeft, endsAt, delivered: typeof s.warn === 'function' },
      });
    } catch (err) {
      this.logger.error({ err, sessionId: s.id }, 'could not audit a session warning');
    }
  }
}
