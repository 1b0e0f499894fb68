// Self-fencing: a node that cannot write its heartbeat cannot read a revoke or a terminate either, and the other
// nodes will soon declare it dead. Before they do, it stops serving: it closes the sessions it holds and refuses new
// ones until a heartbeat is written again; then it records how long it was fenced.
import { isoTime } from '../clock.js';
import type { AuditEventData } from '../core/audit-events.js';
import type { AuditAppend } from '../core/audit.js';
import { systemActor } from '../core/model.js';
import type { Logger } from '../log.js';
import type { SessionRegistry } from '../sessions.js';

/** What the vendor is told, and what a new login is refused with, while the node is fenced. */
export const FENCED_MESSAGE =
  'this gateway node has lost its connection to the database and serves no sessions until it is back; ' +
  'try again in a minute';

export interface FenceOptions {
  /** This node's id, named in the record. */
  node: string;
  /** Milliseconds since the last heartbeat that was written was sent (registry.ts). */
  sinceLastBeat(): number;
  sessions: Pick<SessionRegistry, 'list' | 'close' | 'suspend' | 'resume'>;
  audit: AuditAppend;
  now(): number;
  logger: Logger;
  /** Fenced after this long without a written heartbeat: below the time after which the others call it dead. */
  afterMs: number;
  /** How often the fence looks (default 1 s). */
  everyMs?: number;
}

export class NodeFence {
  private timer: NodeJS.Timeout | undefined;
  /** While fenced: since when (monotonic, for the lift) and the wall time (for the record), and what it closed. */
  private fenced: { at: number; from: string; sinceBeatMs: number; closed: Set<string> } | undefined;
  /** The record of the last fence, until the audit log takes it (the database may still be flapping). */
  private unrecorded: AuditEventData['gateway.fenced'] | undefined;
  private recording: Promise<void> | undefined;

  constructor(private readonly o: FenceOptions) {}

  get isFenced(): boolean {
    return this.fenced !== undefined;
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.o.everyMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.recording;
  }

  /** One look: fence, keep closing while fenced, or lift once a heartbeat sent after the fence began was written. */
  check(): void {
    const { sessions, logger } = this.o;
    const since = this.o.sinceLastBeat();
    const f = this.fenced;
    if (!f) {
      if (this.unrecorded) this.record();
      if (since <= this.o.afterMs) return;
      this.fenced = {
        at: performance.now(),
        from: isoTime(this.o.now()),
        sinceBeatMs: Math.round(since),
        closed: new Set(),
      };
      sessions.suspend?.(FENCED_MESSAGE);
      logger.error(
        { sinceHeartbeatMs: Math.round(since), sessions: sessions.list().length },
        'cluster: no heartbeat written for too long: this node closes its sessions and refuses new ones until it reaches the database again',
      );
    } else if (since < performance.now() - f.at) {
      this.fenced = undefined;
      sessions.resume?.();
      logger.warn({ closed: f.closed.size }, 'cluster: the heartbeat is written again: this node serves again');
      this.unrecorded = {
        node: this.o.node,
        from: f.from,
        to: isoTime(this.o.now()),
        sinceHeartbeatMs: f.sinceBeatMs,
        sessionsClosed: [...f.closed],
      };
      this.record();
      return;
    }
    // Fenced: whatever is live here closes, a session that registered just before the fence included.
    const fence = this.fenced!;
    for (const s of sessions.list()) {
      fence.closed.add(s.id);
      sessions
        .close(s.id, 'gateway_fenced', FENCED_MESSAGE)
        .catch((err: unknown) => logger.error({ err, sessionId: s.id }, 'cluster: could not close a fenced session'));
    }
  }

  private record(): void {
    const data = this.unrecorded;
    if (!data || this.recording) return;
    this.recording = this.o.audit
      .append({ type: 'gateway.fenced', actor: systemActor(), data })
      .then(
        () => {
          if (this.unrecorded === data) this.unrecorded = undefined;
        },
        (err: unknown) =>
          this.o.logger.warn({ err: { message: (err as Error).message } }, 'cluster: could not record the fence yet'),
      )
      .finally(() => (this.recording = undefined));
  }
}
