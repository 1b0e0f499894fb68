// The node registry: each node's row in gh_nodes (where other nodes reach it, when it started, its heartbeat),
// and what other code asks of it: which nodes are live and where a node is reached.
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { NodeDirectory as NodeAddresses } from './directory.js';

export interface NodeInfo {
  id: string;
  /** node.internalUrl: where the other nodes reach this one (absent on a node started without `node`). */
  internalUrl: string | undefined;
  startedAt: string;
  heartbeatAt: string;
}

/**
 * The read side other modules use (the session close across nodes; the live-watch relay needs only
 * `internalUrlOf`, its directory.ts interface, which this one extends).
 */
export interface NodeDirectory extends NodeAddresses {
  /** This node's id. */
  readonly self: string;
  /** A live node's internal URL; undefined for an unknown, dead or URL-less node. */
  internalUrlOf(nodeId: string): string | undefined;
  /** The nodes whose heartbeat is recent (this one included), as of the last heartbeat. */
  liveNodes(): readonly NodeInfo[];
  isLive(nodeId: string): boolean;
}

export interface RegistryTuning {
  /** How often a node writes its heartbeat (default 3 s). */
  heartbeatMs?: number;
  /** A node whose heartbeat is older than this is dead (default 15 s: five missed heartbeats). */
  deadAfterMs?: number;
}

/** A heartbeat that has not answered after this is given up (the next one tries again). */
const BEAT_TIMEOUT_MS = 5000;

/** The holder of a session record: its `node`, or the single node's id for records made without one. */
export const holderOf = (rec: { node?: string | undefined }): string => rec.node ?? 'gateway';

interface NodeRow {
  id: string;
  internal_url: string | null;
  started_at: Date;
  heartbeat_at: Date;
  live: boolean;
}

/**
 * Times are the database's (`now()`), never a node's own clock: two nodes whose clocks disagree still agree on
 * which heartbeat is stale.
 */
export class NodeRegistry implements NodeDirectory {
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  private live: NodeInfo[] = [];
  /**
   * When the last heartbeat that was written had been sent (this process's monotonic clock). Sent, not answered:
   * the row's time is the database's at the statement, never earlier than this, so the fence (fence.ts) measured
   * from here falls before the others' deadline measured from the row.
   */
  private beatSentAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    readonly self: string,
    private readonly internalUrl: string | undefined,
    private readonly logger: Logger,
    tuning: RegistryTuning = {},
  ) {
    this.heartbeatMs = tuning.heartbeatMs ?? 3000;
    this.deadAfterMs = tuning.deadAfterMs ?? 15_000;
  }

  /** Writes this node's row (a restart with the same id takes its row over) and reads the others. */
  async join(): Promise<void> {
    await this.pool.query(
      `INSERT INTO gh_nodes (id, internal_url, started_at, heartbeat_at, stopped_at) VALUES ($1, $2, now(), now(), NULL)
       ON CONFLICT (id) DO UPDATE SET internal_url = excluded.internal_url, started_at = now(), heartbeat_at = now(),
         stopped_at = NULL`,
      [this.self, this.internalUrl ?? null],
    );
    await this.reload();
  }

  /** Heartbeats every heartbeatMs; a failed one is logged and the next one tries again. */
  start(): void {
    this.timer ??= setInterval(() => {
      if (this.beating) return;
      this.beating = this.beat()
        .catch((err: unknown) =>
          this.logger.warn({ err: { message: (err as Error).message } }, 'cluster: heartbeat failed'),
        )
        .finally(() => (this.beating = undefined));
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** A clean stop: the row says so, so no survivor mistakes this node for a crashed one. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.pool
      .query('UPDATE gh_nodes SET stopped_at = now() WHERE id = $1', [this.self])
      .catch((err: unknown) =>
        this.logger.warn({ err: { message: (err as Error).message } }, 'cluster: could not record the stop'),
      );
  }

  internalUrlOf(nodeId: string): string | undefined {
    return this.live.find((n) => n.id === nodeId)?.internalUrl;
  }

  liveNodes(): readonly NodeInfo[] {
    return this.live;
  }

  isLive(nodeId: string): boolean {
    return nodeId === this.self || this.live.some((n) => n.id === nodeId);
  }

  /** The live node ids as the database says now (the crash sweep must not trust a list up to one heartbeat old). */
  async reload(): Promise<ReadonlySet<string>> {
    const r = await this.pool.query<NodeRow>(
      `SELECT id, internal_url, started_at, heartbeat_at,
              (stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1)) AS live
         FROM gh_nodes ORDER BY id`,
      [this.deadAfterMs / 1000],
    );
    this.live = r.rows
      .filter((n) => n.live)
      .map((n) => ({
        id: n.id,
        internalUrl: n.internal_url ?? undefined,
        startedAt: n.started_at.toISOString(),
        heartbeatAt: n.heartbeat_at.toISOString(),
      }));
    return new Set(this.live.map((n) => n.id));
  }

  /** Milliseconds since the last heartbeat that was written was sent. */
  sinceLastBeat(): number {
    return performance.now() - this.beatSentAt;
  }

  private async beat(): Promise<void> {
    const sent = performance.now();
    // query_timeout: honoured by pg, missing from its types.
    await this.pool.query({
      text: 'UPDATE gh_nodes SET heartbeat_at = now(), stopped_at = NULL WHERE id = $1',
      values: [this.self],
      query_timeout: BEAT_TIMEOUT_MS,
    } as pg.QueryConfig);
    this.beatSentAt = sent;
    await this.reload();
  }
}
