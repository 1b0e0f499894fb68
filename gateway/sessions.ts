// The live-session registry: every open SSH/web/RDP session registers here so revoke, window end and terminate can close it.
import type { WebSocket } from 'ws';
import type { CommandAlert } from './command-alerts.js';
import type { PlcLiveEvent, SessionConduit } from './conduit/conduit.js';
import type { Protocol, SessionEndReason, SessionRecord } from './core/model.js';
import { conflict, unavailable } from './errors.js';
import { type Logger, silentLogger } from './log.js';

/**
 * What a protocol adapter (SSH relay, browser terminal, RDP) hands the registry for one connection.
 * `close` must be idempotent and must cut the vendor off even if the target side hangs: the registry
 * waits for it only up to a bound (see LiveSessionsOptions.closeTimeoutMs).
 */
/** A read-only live viewer of a terminal session (the monitor websocket). */
export interface TerminalWatcher {
  /** The screen as it is when the viewer joins (escape sequences that redraw it). */
  screen(s: { data: string; cols: number; rows: number }): void;
  /** Every byte the vendor receives from then on. Must not block: a slow viewer drops itself. */
  output(buf: Buffer): void;
  resize(cols: number, rows: number): void;
  ended(reason: SessionEndReason): void;
  /** PLC operations in the session's forwards that alert, are refused or wait for a supervisor. */
  plc?(event: PlcLiveEvent): void;
  /** Relayed live views only (a session on another node): its alerts, which this node's alert feed never sees. */
  alert?(a: CommandAlert): void;
  /** Relayed live views only: the view stopped without the session ending (the holding node went away). */
  lost?(message: string): void;
}

/** Who joins an RDP desktop read-only: the name guacd shows and logs, and the screen asked for (checked by rdp/). */
export interface DesktopViewRequest {
  name: string;
  size: { width: number; height: number; dpi: number };
}

/**
 * A read-only join of an RDP desktop, prepared (guacd dialled, or the holding node reached) before the viewer's
 * socket opens: `open` relays the desktop to that socket, `abandon` undoes the preparation if it never opens.
 */
export interface DesktopView {
  open(ws: WebSocket): void;
  abandon(): void;
}

export interface LiveSession {
  id: string; // ses_…
  grantId: string;
  userId: string;
  targetId: string;
  protocol: Protocol;
  /** How the vendor came in: native SSH client, browser terminal, browser RDP. */
  via?: 'ssh' | 'web' | 'rdp';
  startedAt: string;
  /** Set when another node holds the session (its config `node.id`) and watching it is relayed from there. */
  heldBy?: string;
  /** Ends the session, telling the vendor `message` first where the protocol can (banner, stderr line). */
  close(reason: SessionEndReason, message: string): Promise<void>;
  /** Shows the vendor a one-line notice without ending the session (window-end warnings). */
  warn?(message: string): void;
  /** Terminal sessions: adds a read-only viewer; resolves with the function that removes it. */
  watch?(w: TerminalWatcher): Promise<() => void>;
  /** RDP sessions: a read-only join of the desktop; throws the refusal (not connected yet, guacd unreachable). */
  viewDesktop?(v: DesktopViewRequest): Promise<DesktopView>;
  /** SSH sessions: PLC operations held for a supervisor's confirmation, and the decision on one. */
  plc?: Pick<SessionConduit, 'pending' | 'decide'>;
}

export interface SessionRegistry {
  /**
   * Adds a session; returns the function the adapter calls when the session ends by itself.
   * Throws 409 `grant_closed` if its grant was revoked or ended meanwhile: the adapter must then close it.
   */
  register(session: LiveSession): () => void;
  /** Closes every live session of a grant; resolves with how many were asked to close. */
  closeForGrant(grantId: string, reason: SessionEndReason, message?: string): Promise<number>;
  /** Closes one session; false if it was not live. */
  close(sessionId: string, reason: SessionEndReason, message?: string): Promise<boolean>;
  list(): LiveSession[];
  get(sessionId: string): LiveSession | undefined;
  /** Why this node takes no new session now (it lost its database: cluster fencing), or undefined. */
  refusing?(): string | undefined;
  /** Refuses every new session with `why` (register throws 503 node_fenced) until `resume`. */
  suspend?(why: string): void;
  resume?(): void;
}

/**
 * Sessions live on other gateway nodes (several nodes on one database): who holds one, and asking that node
 * to close it. Absent on a single node.
 */
export interface RemoteSessions {
  /** The other live node that holds this live session, or undefined (this node's, ended, or its holder is dead). */
  holderOf(session: Pick<SessionRecord, 'id' | 'node' | 'endedAt'>): string | undefined;
  /** Asks `node` to close the session; resolves true once the store shows it ended (bounded wait). */
  close(node: string, sessionId: string, reason: SessionEndReason, message: string): Promise<boolean>;
}

export interface LiveSessionsOptions {
  logger?: Logger;
  /** How long close() waits for one session before giving up on it (default 1000 ms: "within a second"). */
  closeTimeoutMs?: number;
  /** How many closed grant ids are remembered against late registrations (default 10,000). */
  rememberClosedGrants?: number;
}

const DEFAULT_MESSAGES: Record<SessionEndReason, string> = {
  client_closed: 'session closed',
  target_closed: 'the target closed the session',
  window_ended: 'your access window has ended',
  revoked: 'your access has been revoked by a supervisor',
  terminated: 'a supervisor terminated this session',
  recording_failed: 'the session recording failed; the session is closed',
  gateway_stopped: 'the gateway is stopping',
  gateway_crashed: 'the gateway stopped unexpectedly',
  gateway_fenced: 'this gateway node lost its database and closes its sessions; connect again in a moment',
  error: 'the session was closed after an error',
};

/** Throws 503 `node_fenced` while the registry refuses new sessions: the browser doors ask before they dial. */
export function refuseWhileFenced(registry: Pick<SessionRegistry, 'refusing'> | undefined): void {
  const why = registry?.refusing?.();
  if (why) throw unavailable('node_fenced', why);
}

/** The in-memory registry: live sessions do not survive a gateway restart, so memory is the truth for them. */
export class LiveSessions implements SessionRegistry {
  private readonly live = new Map<string, LiveSession>();
  /** Insertion-ordered, so the oldest entry is dropped first when the bound is reached. */
  private readonly closedGrants = new Map<string, SessionEndReason>();
  private readonly logger: Logger;
  private readonly closeTimeoutMs: number;
  private readonly remember: number;
  /** Set while this node may not serve (cluster/fence.ts): new sessions are refused with it. */
  private suspended: string | undefined;

  constructor(opts: LiveSessionsOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 1000;
    this.remember = opts.rememberClosedGrants ?? 10_000;
  }

  suspend(why: string): void {
    this.suspended = why;
  }

  resume(): void {
    this.suspended = undefined;
  }

  refusing(): string | undefined {
    return this.suspended;
  }

  register(session: LiveSession): () => void {
    // Deny by default: a node that cannot reach the database cannot learn of a revoke, so it serves nobody.
    refuseWhileFenced(this);
    // Why: an adapter checks the grant, then registers. A revoke committed between the two finds nothing
    // to close; remembering closed grants makes the late registration fail instead of living on.
    const closedAs = this.closedGrants.get(session.grantId);
    if (closedAs)
      throw conflict(
        'grant_closed',
        closedAs === 'window_ended' ? 'the access window has ended' : 'this access has been withdrawn',
      );
    if (this.live.has(session.id)) throw conflict('session_exists', `session ${session.id} is already live`);
    this.live.set(session.id, session);
    return () => {
      if (this.live.get(session.id) === session) this.live.delete(session.id);
    };
  }

  async closeForGrant(grantId: string, reason: SessionEndReason, message?: string): Promise<number> {
    if (reason === 'revoked' || reason === 'window_ended') this.rememberClosed(grantId, reason);
    const ids = [...this.live.values()].filter((s) => s.grantId === grantId).map((s) => s.id);
    const results = await Promise.all(ids.map((id) => this.close(id, reason, message)));
    return results.filter(Boolean).length;
  }

  async close(sessionId: string, reason: SessionEndReason, message?: string): Promise<boolean> {
    const s = this.live.get(sessionId);
    if (!s) return false;
    // Removed before closing: a second close (sweep + revoke at once) must not call close twice.
    this.live.delete(sessionId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.closeTimeoutMs);
      timer.unref();
    });
    try {
      const outcome = await Promise.race([s.close(reason, message ?? DEFAULT_MESSAGES[reason]), timeout]);
      if (outcome === 'timeout')
        this.logger.error({ sessionId, reason }, 'a live session did not close in time; its adapter must cut it');
    } catch (err) {
      this.logger.error({ err, sessionId, reason }, 'closing a live session failed');
    } finally {
      clearTimeout(timer);
    }
    return true;
  }

  list(): LiveSession[] {
    return [...this.live.values()];
  }

  get(sessionId: string): LiveSession | undefined {
    return this.live.get(sessionId);
  }

  private rememberClosed(grantId: string, reason: SessionEndReason): void {
    this.closedGrants.delete(grantId);
    this.closedGrants.set(grantId, reason);
    while (this.closedGrants.size > this.remember) {
      const oldest = this.closedGrants.keys().next().value;
      if (oldest === undefined) break;
      this.closedGrants.delete(oldest);
    }
  }
}

export {
  endInterrupted,
  type RecordingOutcome,
  requestTermination,
  SessionJournal,
  terminationOf,
} from './sessions/journal.js';
export { journalPorts, type SessionPorts } from './sessions/ports.js';
export { PendingEnds } from './sessions/pending-ends.js';
