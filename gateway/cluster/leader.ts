// Leader election: the node that holds the leader advisory lock on its own connection runs the timed work.
import type { Logger } from '../log.js';
import { LOCKS } from '../storage/storage.js';
import type { ClusterConnection } from './connection.js';

/**
 * Why a session advisory lock: PostgreSQL releases it the moment the holder's connection ends, which a
 * killed process's does at once (its socket closes), so a survivor's next try wins without any lease to
 * expire. A node that loses its connection stops leading at once, before it could know whether the lock
 * is still its own.
 */
export class Leadership {
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private trying: Promise<void> | undefined;
  private readonly gained = new Set<() => void>();

  constructor(
    private readonly conn: ClusterConnection,
    private readonly logger: Logger,
    private readonly everyMs = 2000,
  ) {
    conn.onLost(() => {
      if (!this.leading) return;
      this.leading = false;
      this.logger.warn({ node: conn.nodeId }, 'cluster: this node no longer leads (its connection was lost)');
    });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Called each time this node becomes the leader. */
  onGained(l: () => void): void {
    this.gained.add(l);
  }

  /** Tries at once, then every `everyMs` while another node leads. */
  async start(): Promise<void> {
    await this.tryLead();
    this.timer ??= setInterval(() => {
      this.trying ??= this.tryLead().finally(() => (this.trying = undefined));
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.trying;
    if (this.leading) {
      this.leading = false;
      await this.conn.query('SELECT pg_advisory_unlock($1)', [LOCKS.leader]).catch(() => {});
    }
  }

  private async tryLead(): Promise<void> {
    if (this.leading || !this.conn.up) return;
    try {
      const r = await this.conn.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCKS.leader]);
      if (!r.rows[0]?.ok) return;
    } catch {
      return; // the connection is going; onLost and the reconnect take it from here
    }
    this.leading = true;
    this.logger.info({ node: this.conn.nodeId }, 'cluster: this node leads (timed work runs here)');
    for (const l of this.gained) {
      try {
        l();
      } catch (err) {
        this.logger.error({ err }, 'cluster: a leadership listener failed');
      }
    }
  }
}
