// What one node begins and another may finish, on a cluster: a sign-in (the IdP's callback may reach any node) and a
// /ws/rdp token (minted by POST on one node, redeemed by the websocket on another). Both live in the database there,
// so no load balancer has to be sticky; on one node (lowdb) they stay in the process (app.ts).
import type { KeyObject } from 'node:crypto';
import { loadOrCreateSigningKey } from '../audit/audit.js';
import { secretBoxFromKey } from '../auth/auth.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { OpenedStorage, PostgresStorage } from '../storage/storage.js';
import { clusterKeyFrom } from './internal-auth.js';
import { PgPendingLogins } from './pending-logins.js';
import { PgRdpTokens } from './rdp-tokens.js';

export interface Handoffs {
  logins: PgPendingLogins;
  rdpTokens: PgRdpTokens;
}

/**
 * The audit signing key the storage opened with (audit.signingKey's file, else storage.dir/keys): every node holds
 * the same one, so the keys derived from it (internal-auth.ts) are the same on every node.
 */
export async function clusterSigningKey(storageDir: string, storage: PostgresStorage): Promise<KeyObject> {
  return (await loadOrCreateSigningKey(storageDir, storage.audit.signingKeyFile)).privateKey;
}

/** Undefined unless this node is one of several on PostgreSQL (engine postgres and `node` configured). */
export async function clusterHandoffs(o: {
  config: Pick<Config, 'node'>;
  storage: OpenedStorage;
  storageDir: string;
  clock: Clock;
  logger: Logger;
}): Promise<Handoffs | undefined> {
  if (o.storage.engine !== 'postgres' || !o.config.node) return undefined;
  const storage = o.storage as PostgresStorage;
  const key = clusterKeyFrom(await clusterSigningKey(o.storageDir, storage), 'pending sign-ins v1');
  return {
    logins: new PgPendingLogins({ pool: storage.pool, box: secretBoxFromKey(key), clock: o.clock, logger: o.logger }),
    rdpTokens: new PgRdpTokens({ pool: storage.pool, now: () => o.clock.now() }),
  };
}
