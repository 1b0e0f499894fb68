// Several gateway nodes on one PostgreSQL database: the node joins (its lock, its row, its heartbeat), one node
// leads the timed work, live sessions close wherever they are held, request changes reach every node's event
// streams, and a dead node's live sessions are ended by the leader. app.ts wires this; nothing else starts it.
import type { WebSessions } from '../auth/auth.js';
import type { Broker, RequestChange } from '../broker.js';
import { detach } from '../background.js';
import type { Config } from '../config.js';
import type { RequestEventType } from '../core/access.js';
import type { SessionRecord } from '../core/model.js';
import type { Deps } from '../deps.js';
import type { Logger } from '../log.js';
import { recoverInterruptedSessions } from '../recording/recording.js';
import type { Scheduler } from '../scheduler.js';
import type { RemoteSessions, SessionRegistry } from '../sessions.js';
import { nodeIdOf, poolOptions, type PostgresStorage, type Storage } from '../storage/storage.js';
import { ClusterBus, type ClusterMessage } from './bus.js';
import { ClusterConnection } from './connection.js';
import { NodeFence } from './fence.js';
import { Leadership } from './leader.js';
import { holderOf, type NodeDirectory, NodeRegistry, type RegistryTuning } from './registry.js';

export { type ClusterConnection, NodeIdInUseError } from './connection.js';
export { holderOf, type NodeDirectory, type NodeInfo } from './registry.js';

export interface ClusterTuning extends RegistryTuning {
  /** How often a follower tries to become the leader, and the leader looks for dead nodes (default 2 s). */
  leaderEveryMs?: number;
  /** How long terminate waits for another node to report the session ended (default 3 s). */
  remoteCloseMs?: number;
  /**
   * A node that has not written its heartbeat for this long closes its sessions and refuses new ones until it
   * does (default 10 s, or two thirds of deadAfterMs if that is shorter): safely before the others call it dead.
   */
  fenceAfterMs?: number;
}

export interface ClaimOptions {
  config: Pick<Config, 'node' | 'storage'>;
  cwd?: string;
  logger: Logger;
}

export interface JoinOptions {
  /** The node's own connection, holding its lock (claimNode). */
  claim: ClusterConnection;
  storage: PostgresStorage;
  config: Pick<Config, 'node' | 'storage'>;
  logger: Logger;
  tuning?: ClusterTuning;
}

/** What the rest of the gateway gets once the parts it serves exist (after the broker and the scheduler). */
export interface ClusterParts {
  deps: Pick<Deps, 'store' | 'audit' | 'clock' | 'logger' | 'storageDir' | 'alerts'>;
  broker: Broker;
  scheduler: Scheduler;
  liveSessions: SessionRegistry;
  webSessions: Pick<WebSessions, 'endedElsewhere'>;
}

export interface Cluster {
  readonly self: string;
  readonly directory: NodeDirectory;
  leads(): boolean;
  /** Whether this node is fenced (no heartbeat written for the fence time): it serves no sessions meanwhile. */
  fenced(): boolean;
  /** This node's own sessions a crash left open: the start-up recovery ends only these. */
  ownLeftover(rec: SessionRecord): boolean;
  /** Terminate across nodes (the broker's `remote`). */
  remote: RemoteSessions;
  start(parts: ClusterParts): void;
  /** Stops leading and heartbeating, records the clean stop, releases the node lock. */
  stop(): Promise<void>;
}

/** The PostgreSQL engine's parts, when the storage is PostgreSQL. */
export function postgresOf(storage: Storage): PostgresStorage | undefined {
  return storage.engine === 'postgres' ? (storage as PostgresStorage) : undefined;
}

/**
 * Takes the node's lock on a connection of its own, before the storage opens: a second process with a running
 * node's id is refused (NodeIdInUseError) before it writes anything, not even an audit checkpoint.
 */
export async function claimNode(o: ClaimOptions): Promise<ClusterConnection> {
  const conn = new ClusterConnection(
    poolOptions(o.config.storage.postgres!, o.cwd ? { cwd: o.cwd } : {}),
    nodeIdOf(o.config),
    o.logger,
  );
  await conn.open();
  return conn;
}

/** Writes the node's row; `start` then heartbeats, elects, relays and sweeps. */
export async function joinCluster(o: JoinOptions): Promise<Cluster> {
  const self = nodeIdOf(o.config);
  const { storage, logger, claim: conn } = o;
  const tuning = o.tuning ?? {};
  const registry = new NodeRegistry(storage.pool, self, o.config.node?.internalUrl, logger, tuning);
  const fenceAfterMs = tuning.fenceAfterMs ?? Math.min(10_000, Math.floor((registry.deadAfterMs * 2) / 3));
  // Why below: the fenced node must have closed its sessions before the leader ends them as crashed. The fence
  // looks once a second and a close waits up to a second: two seconds of margin at least.
  if (fenceAfterMs + 2000 > registry.deadAfterMs) {
    await conn.close();
    throw new Error(
      `cluster: the fence time (${fenceAfterMs} ms) must be at least 2 s below the dead-node time (${registry.deadAfterMs} ms)`,
    );
  }
  try {
    await registry.join();
  } catch (err) {
    await conn.close();
    throw err;
  }
  const leadership = new Leadership(conn, logger, tuning.leaderEveryMs);
  const bus = new ClusterBus(storage.pool, storage.listener, self, logger);
  const store = storage.state;

  const remote: RemoteSessions = {
    holderOf(rec) {
      if (rec.endedAt) return undefined;
      const h = holderOf(rec);
      return h !== self && registry.isLive(h) ? h : undefined;
    },
    async close(node, sid, reason, msg) {
      await bus.publish({ k: 'close', from: self, to: node, sid, reason, msg });
      const ended = () => store.data.sessions.find((s) => s.id === sid)?.endedAt !== undefined;
      const until = Date.now() + (tuning.remoteCloseMs ?? 3000);
      while (!ended() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      return ended();
    },
  };

  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let stopped = false;
  let relayChain: Promise<void> = Promise.resolve();
  let offAlerts: (() => void) | undefined;
  let fence: NodeFence | undefined;

  const start = (parts: ClusterParts) => {
    const { broker, scheduler, liveSessions, webSessions, deps } = parts;
    // Request changes made here reach the other nodes' event streams; theirs reach ours.
    broker.onChange((c: RequestChange) => {
      if (c.remote) return;
      bus
        .publish({ k: 'request', from: self, id: c.request.id, type: c.type })
        .catch((err: unknown) => logger.warn({ err }, 'cluster: could not announce a request change'));
    });
    bus.on((m: ClusterMessage) => {
      if (m.k === 'request') {
        if (!/^(request|grant)\.[a-z_]+$/.test(m.type)) return;
        // In order, after the cache holds the commit the message names.
        relayChain = relayChain
          .then(() => store.refresh())
          .then(() => {
            const request = store.data.requests.find((r) => r.id === m.id);
            if (request) broker.relayed({ type: m.type as RequestEventType, request });
          })
          .catch((err: unknown) => logger.warn({ err }, 'cluster: could not relay a request change'));
      } else if (m.k === 'alert') {
        // Told only about a session the store shows open under that node, target and vendor: a NOTIFY alone
        // cannot raise a badge about a session that is not there.
        const a = m.a;
        const matches = () =>
          store.data.sessions.some(
            (s) =>
              s.id === a.sessionId &&
              !s.endedAt &&
              holderOf(s) === m.from &&
              s.targetId === a.targetId &&
              s.userId === a.userId,
          );
        relayChain = relayChain
          .then(async () => {
            if (!matches()) await store.refresh();
            if (matches()) deps.alerts?.relayed(a);
            else logger.warn({ sessionId: a.sessionId, node: m.from }, 'cluster: dropped an alert for no such session');
          })
          .catch((err: unknown) => logger.warn({ err }, 'cluster: could not relay a command alert'));
      } else if (m.to === self && liveSessions.get(m.sid)) {
        // A hint, never an order: the terminate is on the session's record (broker/terminate.ts), which the sweep
        // reads anyway; this reads it now. A message alone closes nothing.
        relayChain = relayChain
          .then(() => store.refresh())
          .then(() => scheduler.enforceNow())
          .then(() => undefined)
          .catch((err: unknown) => logger.error({ err, sessionId: m.sid }, 'cluster: could not close a session'));
      }
    });
    // This node's alerted and blocked commands reach the other nodes' event streams; theirs reach ours (above).
    offAlerts = deps.alerts?.subscribe((a) => {
      if (stopped) return;
      bus
        .publish({ k: 'alert', from: self, a })
        .catch((err: unknown) => logger.warn({ err }, 'cluster: could not announce a command alert'));
    });
    // A revoke or a window end committed on another node: this node's sessions under that grant close now.
    const previous = store.onRemoteChange;
    store.onRemoteChange = (changed) => {
      previous?.(changed);
      // A sign-out or an expiry on another node: the streams and websockets here under that web session end too.
      if (changed.has('webSessions')) webSessions.endedElsewhere();
      // A revoke or a window end (requests), a terminate (the session's record): checked against the state now.
      if ((changed.has('requests') || changed.has('sessions')) && liveSessions.list().length > 0)
        scheduler
          .enforceNow()
          .catch((err: unknown) => logger.error({ err }, 'cluster: could not close withdrawn sessions'));
    };

    const sweepCrashed = async () => {
      if (!leadership.isLeader) return;
      const open = store.data.sessions.filter((s) => !s.endedAt && holderOf(s) !== self);
      if (open.length === 0) return;
      // Read after the sessions: a node that registered before opening a session is in this answer.
      const live = await registry.reload();
      const dead = new Set(open.map(holderOf).filter((h) => !live.has(h)));
      if (dead.size === 0 || !leadership.isLeader) return;
      logger.warn({ nodes: [...dead] }, 'cluster: ending the live sessions of nodes that stopped heartbeating');
      await recoverInterruptedSessions(deps, (rec) => dead.has(holderOf(rec)));
    };
    registry.start();
    fence = new NodeFence({
      node: self,
      sinceLastBeat: () => registry.sinceLastBeat(),
      sessions: liveSessions,
      audit: deps.audit,
      now: () => deps.clock.now(),
      logger,
      afterMs: fenceAfterMs,
    });
    fence.start();
    // A new leader catches up on what fell due while nobody led.
    leadership.onGained(() => detach(scheduler.sweepNow(), logger, 'cluster: the first sweep as leader failed'));
    detach(leadership.start(), logger, 'cluster: leader election failed');
    sweepTimer = setInterval(() => {
      if (stopped || sweeping) return;
      sweeping = sweepCrashed()
        .catch((err: unknown) => logger.error({ err }, 'cluster: the crashed-node sweep failed'))
        .finally(() => (sweeping = undefined));
    }, tuning.leaderEveryMs ?? 2000);
    sweepTimer.unref();
  };

  let stopping: Promise<void> | undefined;
  return {
    self,
    directory: registry,
    leads: () => leadership.isLeader,
    fenced: () => fence?.isFenced ?? false,
    ownLeftover: (rec) => holderOf(rec) === self,
    remote,
    start,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearInterval(sweepTimer);
        await fence?.stop();
        offAlerts?.();
        await sweeping;
        bus.close();
        await leadership.stop();
        await registry.leave();
        await relayChain;
        await conn.close();
      })();
      return stopping;
    },
  };
}

export { type ClusterWatch, clusterWatch } from './watch-relay.js';
export { clusterHandoffs, type Handoffs } from './handoffs.js';
