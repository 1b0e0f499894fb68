// Live views across nodes: on a PostgreSQL cluster (config `node`), a session held by another node is watched
// here by relaying it from its holder: a terminal's screen and output, or an RDP desktop's Guacamole stream from a
// read-only join the holder makes on its own guacd. Admission stays this node's (the same rules, the same audit).
import type { Server } from 'node:http';
import type { Deps } from '../deps.js';
import type { RefusalHook } from '../http/http.js';
import type { SessionRegistry } from '../sessions.js';
import type { OpenedStorage, PostgresStorage } from '../storage/storage.js';
import { type NodeDirectory, PgNodeDirectory } from './directory.js';
import { clusterSigningKey } from './handoffs.js';
import { clusterKeyFrom, WatchTokenVerifier } from './internal-auth.js';
import { withRemoteSessions } from './remote-sessions.js';
import { desktopRelay, type RelayClientOptions, watchRelay } from './watch-relay-client.js';
import { attachInternalWatch, INTERNAL_PREFIX, type InternalWatchDoor } from './watch-relay-route.js';

export interface ClusterWatch {
  /** The registry the live views are given: this node's sessions, and other nodes' ones relayed. */
  registry: SessionRegistry;
  /** Paths the public websocket door leaves to the internal one. */
  isInternal(pathname: string): boolean;
  /** Serves this node's sessions to other nodes on `server`; call once the HTTP listener is up. */
  attach(server: Server, onRefusal: RefusalHook): InternalWatchDoor;
}

export interface ClusterWatchOptions {
  deps: Deps;
  storage: OpenedStorage;
  registry: SessionRegistry;
  /** Defaults to gh_nodes through the engine's pool. */
  directory?: NodeDirectory;
  tuning?: Pick<RelayClientOptions, 'connectTimeoutMs' | 'pingEveryMs'>;
}

/** Undefined unless this node is one of several on PostgreSQL (engine postgres and `node` configured). */
export async function clusterWatch(o: ClusterWatchOptions): Promise<ClusterWatch | undefined> {
  const { deps, storage, registry } = o;
  const node = deps.config.node;
  if (storage.engine !== 'postgres' || !node) return undefined;
  // The signing key the engine opened with (shared by every node); it exists by now.
  const key = clusterKeyFrom(await clusterSigningKey(deps.storageDir, storage as PostgresStorage));
  const directory = o.directory ?? new PgNodeDirectory((storage as PostgresStorage).pool);
  const client = { nodeId: node.id, key, directory, clock: deps.clock, logger: deps.logger, ...o.tuning };
  const relays = { terminal: watchRelay(client), desktop: desktopRelay(client) };
  const verifier = new WatchTokenVerifier({ key, nodeId: node.id, now: () => deps.clock.now() });
  return {
    registry: withRemoteSessions(registry, deps.store, node.id, relays),
    isInternal: (pathname) => pathname.startsWith(INTERNAL_PREFIX),
    // The holder serves its own sessions only (the local registry): a node never relays a relay.
    attach: (server, onRefusal) => attachInternalWatch(server, { deps, registry, verifier, onRefusal }),
  };
}
