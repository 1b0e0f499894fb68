// Messages between nodes on the gatehouse_cluster NOTIFY channel: a request changed (for the event streams), and
// "close this session you hold" (terminate). Small, and only pointers: the state itself travels through the store.
import type pg from 'pg';
import type { SessionEndReason } from '../core/model.js';
import type { Logger } from '../log.js';
import type { Listener } from '../storage/storage.js';

export const CLUSTER_CHANNEL = 'gatehouse_cluster';

export type ClusterMessage =
  /** A request changed on node `from`: `type` is its audit event (request.approved, …). */
  | { k: 'request'; from: string; id: string; type: string }
  /** Node `to` is asked to close session `sid` it holds. */
  | { k: 'close'; from: string; to: string; sid: string; reason: SessionEndReason; msg: string };

/** NOTIFY payloads stay far below PostgreSQL's 8000 bytes: the message text is cut to this. */
const MAX_TEXT = 1000;
const CLOSE_REASONS: ReadonlySet<string> = new Set(['terminated', 'revoked', 'window_ended']);
const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/**
 * Anyone who can connect to the database can NOTIFY on this channel, so what arrives is checked like any
 * input: a malformed message is dropped (and logged), never acted on, and never throws.
 */
export function parseMessage(payload: string): ClusterMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  if (!text(o.from, 63)) return undefined;
  if (o.k === 'request' && text(o.id, 100) && text(o.type, 60))
    return { k: 'request', from: o.from, id: o.id, type: o.type };
  if (
    o.k === 'close' &&
    text(o.to, 63) &&
    text(o.sid, 100) &&
    typeof o.reason === 'string' &&
    CLOSE_REASONS.has(o.reason) &&
    typeof o.msg === 'string' &&
    o.msg.length <= MAX_TEXT
  )
    return { k: 'close', from: o.from, to: o.to, sid: o.sid, reason: o.reason as SessionEndReason, msg: o.msg };
  return undefined;
}

export class ClusterBus {
  private readonly handlers = new Set<(m: ClusterMessage) => void>();
  private readonly off: () => void;

  constructor(
    private readonly pool: pg.Pool,
    listener: Listener,
    private readonly self: string,
    private readonly logger: Logger,
  ) {
    this.off = listener.on(CLUSTER_CHANNEL, (payload) => {
      if (payload === undefined) return; // a reconnect: nothing to catch up on, the state does that itself
      const m = parseMessage(payload);
      if (!m) {
        this.logger.warn({ bytes: payload.length }, 'cluster: dropped a malformed message');
        return;
      }
      if (m.from === this.self) return; // PostgreSQL delivers a node's own NOTIFY back to it
      for (const h of this.handlers) h(m);
    });
  }

  on(handler: (m: ClusterMessage) => void): void {
    this.handlers.add(handler);
  }

  async publish(m: ClusterMessage): Promise<void> {
    const out = m.k === 'close' ? { ...m, msg: m.msg.slice(0, MAX_TEXT) } : m;
    await this.pool.query('SELECT pg_notify($1, $2)', [CLUSTER_CHANNEL, JSON.stringify(out)]);
  }

  close(): void {
    this.off();
    this.handlers.clear();
  }
}
