// Messages between nodes on the gatehouse_cluster NOTIFY channel: a request changed (for the event streams),
// "close this session you hold" (terminate), and a command alert on a session this node holds (the streams' badge).
// Small, and pointers where they can be: the state itself travels through the store.
import type pg from 'pg';
import type { CommandAlert } from '../command-alerts.js';
import type { SessionEndReason } from '../core/model.js';
import type { Logger } from '../log.js';
import type { Listener } from '../storage/storage.js';

export const CLUSTER_CHANNEL = 'gatehouse_cluster';

export type ClusterMessage =
  /** A request changed on node `from`: `type` is its audit event (request.approved, …). */
  | { k: 'request'; from: string; id: string; type: string }
  /** Node `to` is asked to close session `sid` it holds. */
  | { k: 'close'; from: string; to: string; sid: string; reason: SessionEndReason; msg: string }
  /** A command on session `a.sessionId`, held by node `from`, was alerted on or blocked. */
  | { k: 'alert'; from: string; a: CommandAlert };

/** NOTIFY payloads stay far below PostgreSQL's 8000 bytes: the message text is cut to this. */
const MAX_TEXT = 1000;
const CLOSE_REASONS: ReadonlySet<string> = new Set(['terminated', 'revoked', 'window_ended']);
const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
/** An alert's command line and rule reason are cut to these on the way out (the record keeps them whole). */
const MAX_COMMAND = 1000;
const MAX_REASON = 500;
const upTo = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

function parseAlert(v: unknown): CommandAlert | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const a = v as Record<string, unknown>;
  if (
    !text(a.sessionId, 100) ||
    !text(a.targetId, 100) ||
    !text(a.userId, 100) ||
    !upTo(a.userName, 200) ||
    (a.verdict !== 'alerted' && a.verdict !== 'blocked') ||
    !upTo(a.text, MAX_COMMAND) ||
    (a.reason !== undefined && !upTo(a.reason, MAX_REASON)) ||
    typeof a.at !== 'string' ||
    !ISO_TIME.test(a.at)
  )
    return undefined;
  const { sessionId, targetId, userId, userName, verdict, text: line, reason, at } = a;
  return { sessionId, targetId, userId, userName, verdict, text: line, ...(reason !== undefined && { reason }), at };
}

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
  if (o.k === 'alert') {
    const a = parseAlert(o.a);
    return a && { k: 'alert', from: o.from, a };
  }
  return undefined;
}

/** The reason cut to size (spread after the alert, so it replaces the whole one). */
const cut = (reason: string | undefined) => (reason === undefined ? {} : { reason: reason.slice(0, MAX_REASON) });

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
    const out =
      m.k === 'close'
        ? { ...m, msg: m.msg.slice(0, MAX_TEXT) }
        : m.k === 'alert'
          ? { ...m, a: { ...m.a, text: m.a.text.slice(0, MAX_COMMAND), ...cut(m.a.reason) } }
          : m;
    await this.pool.query('SELECT pg_notify($1, $2)', [CLUSTER_CHANNEL, JSON.stringify(out)]);
  }

  close(): void {
    this.off();
    this.handlers.clear();
  }
}
