// Where another node is reached: the one question the watch relay asks of the cluster's node list.
import type pg from 'pg';

/** Answers with a node's internal URL (config `node.internalUrl`), or undefined for a node it does not know. */
export interface NodeDirectory {
  internalUrlOf(nodeId: string): Promise<string | undefined> | string | undefined;
}

/**
 * Reads gh_nodes (id, internal_url), the table every node of a PostgreSQL cluster announces itself in. Asked per
 * watch opened, never cached: a node that restarted elsewhere is found at its new address at once.
 */
export class PgNodeDirectory implements NodeDirectory {
  constructor(private readonly pool: Pick<pg.Pool, 'query'>) {}

  async internalUrlOf(nodeId: string): Promise<string | undefined> {
    const r = await this.pool.query<{ internal_url: string | null }>(
      'SELECT internal_url FROM gh_nodes WHERE id = $1',
      [nodeId],
    );
    return r.rows[0]?.internal_url ?? undefined;
  }
}
