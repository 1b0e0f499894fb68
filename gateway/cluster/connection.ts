// The node's own PostgreSQL connection: it holds the node's lock (proof that this node id runs) and, on the
// leader, the leader lock. Both are session advisory locks, so they die with the connection, and with the process.
import pg from 'pg';
import { GatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { NODE_LOCK_SPACE } from '../storage/storage.js';

/** Another running process already uses this node id on this database. */
export class NodeIdInUseError extends GatehouseError {
  constructor(nodeId: string) {
    super(
      'conflict',
      'node_in_use',
      `node ${nodeId} is already running on this database (another process holds its lock): ` +
        'give every node its own node.id, or stop the other process first',
    );
  }
}

type Listener = () => void;

/**
 * Why one dedicated connection and not the pool: a session advisory lock belongs to the connection that took
 * it, and a pooled connection is handed to other work. Lost (server restart, network): the locks are gone with
 * it, `onLost` listeners hear so at once, and it reconnects every second, taking the node lock again.
 */
export class ClusterConnection {
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly lost = new Set<Listener>();
  private readonly restored = new Set<Listener>();

  constructor(
    private readonly options: pg.ClientConfig,
    readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  get up(): boolean {
    return this.client !== undefined;
  }

  onLost(l: Listener): void {
    this.lost.add(l);
  }

  onRestored(l: Listener): void {
    this.restored.add(l);
  }

  /** Connects and takes the node lock; throws NodeIdInUseError if a live process holds it. */
  async open(): Promise<void> {
    const client = new pg.Client({ ...this.options, application_name: `gatehouse-node:${this.nodeId}` });
    client.on('error', () => this.drop(client));
    client.on('end', () => this.drop(client));
    await client.connect();
    try {
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
        NODE_LOCK_SPACE,
        this.nodeId,
      ]);
      if (!r.rows[0]?.ok) throw new NodeIdInUseError(this.nodeId);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
    this.client = client;
  }

  /** A query on this connection (the lock statements); rejects while it is down. */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (!this.client) throw new Error('the cluster connection is down');
    return this.client.query<R>(sql, params);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
    }
  }

  private drop(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => {});
    if (this.closed) return;
    this.logger.warn({ node: this.nodeId }, 'cluster: the node connection to PostgreSQL was lost; reconnecting');
    for (const l of this.lost) l();
    this.reconnect();
  }

  private reconnect(): void {
    if (this.closed) return;
    this.retry = setTimeout(() => {
      this.open().then(
        () => {
          this.logger.warn({ node: this.nodeId }, 'cluster: the node connection is back');
          for (const l of this.restored) l();
        },
        (err: unknown) => {
          if (err instanceof NodeIdInUseError)
            this.logger.error({ node: this.nodeId }, 'cluster: another process took this node id while we were away');
          this.reconnect();
        },
      );
    }, 1000);
    this.retry.unref();
  }
}
