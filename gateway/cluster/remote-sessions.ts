// Sessions live on another node, as the live views see them: the session record (which names its holder) and a
// watch (a terminal) or a read-only join (an RDP desktop) relayed from the holder. Only the live views are given
// this registry (and RDP sessions register through it, into this node's own); revoke and terminate act on this
// node's own sessions.
import type { SessionRecord } from '../core/model.js';
import { conflict } from '../errors.js';
import type { LiveSession, SessionRegistry } from '../sessions.js';
import type { StatePort } from '../storage/storage.js';
import type { DesktopRelay, WatchRelay } from './watch-relay-client.js';

/** How a view of another node's session is relayed, by kind. */
export interface Relays {
  terminal: WatchRelay;
  desktop: DesktopRelay;
}

/** A LiveSession for a record another node holds; undefined if the record is ended, ours, or names no node. */
export function remoteSession(
  record: SessionRecord | undefined,
  nodeId: string,
  relays: Relays,
): LiveSession | undefined {
  if (!record || record.endedAt || !record.node || record.node === nodeId) return undefined;
  const holder = record.node;
  return {
    id: record.id,
    grantId: record.grantId,
    userId: record.userId,
    targetId: record.targetId,
    protocol: record.protocol,
    via: record.via,
    startedAt: record.startedAt,
    heldBy: holder,
    close: () => Promise.reject(conflict('held_elsewhere', `the session is held by node ${holder}`)),
    // The browser terminal and native SSH have a terminal to watch; an RDP desktop is joined through the holder's guacd.
    ...(record.protocol === 'ssh' ? { watch: (w) => relays.terminal(holder, record.id, w) } : {}),
    ...(record.protocol === 'rdp' ? { viewDesktop: (v) => relays.desktop(holder, record.id, v) } : {}),
  };
}

/** This node's registry, where `get` also finds sessions live on other nodes (for the live view only). */
export function withRemoteSessions(
  local: SessionRegistry,
  store: Pick<StatePort, 'data'>,
  nodeId: string,
  relays: Relays,
): SessionRegistry {
  return {
    register: (s) => local.register(s),
    closeForGrant: (grantId, reason, message) => local.closeForGrant(grantId, reason, message),
    close: (sessionId, reason, message) => local.close(sessionId, reason, message),
    list: () => local.list(),
    refusing: () => local.refusing?.(),
    get: (sessionId) =>
      local.get(sessionId) ??
      remoteSession(
        store.data.sessions.find((s) => s.id === sessionId),
        nodeId,
        relays,
      ),
  };
}
