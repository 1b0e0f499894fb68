// The sessions library API (mounted at /api): sessions, their commands, command search, terminate, recordings, audit trail.
import { type Request, Router } from 'express';
import { type AuthContext, requireAuth, requireFreshStepUp, requireRole } from '../../auth/auth.js';
import { actorOf, auditRefusal, type Broker, type Caller } from '../../broker.js';
import type { SessionRecord } from '../../core/model.js';
import type { Clock } from '../../clock.js';
import { notFound } from '../../errors.js';
import {
  type CommandHit,
  findSession,
  type LibraryContext,
  listSessions,
  searchCommands,
  sessionCommands,
  type SessionDetail,
  sessionDetail,
} from '../../library/library.js';
import { SESSION_ID_PATTERN } from '../../recording/recording.js';
import type { RemoteSessions, SessionRegistry } from '../../sessions.js';
import type { AuditPort, CommandPort, PlcPort, StateView } from '../../storage/storage.js';
import type { Logger } from '../../log.js';
import { mountAuditRoutes } from './audit.js';
import { mountPlcRoutes } from './plc.js';
import { mountRecordingRoutes } from './recording.js';
import { type ClosedBy, findClosedBy, findLateEnd, type LateEnd } from './session-closer.js';
import { parseCommandsQuery, parseSessionsQuery, parseTerminate } from './session-queries.js';

/**
 * What the library routes and the routes they mount use: state and history, commands and PLC operations to read;
 * the audit log to append refusals and views to and to read the trail from. No store update: a terminate goes
 * through the broker.
 */
export interface SessionsRouterPorts {
  store: StateView;
  audit: Pick<AuditPort, 'append' | 'verify' | 'keyId' | 'linesBackward'>;
  commands: Pick<CommandPort, 'records'>;
  plc?: Pick<PlcPort, 'records'> | undefined;
  clock: Clock;
  config: { stepUp: { maxAgeMinutes: number } };
  logger: Logger;
  storageDir: string;
}

export interface SessionsRouterDeps {
  deps: SessionsRouterPorts;
  broker: Pick<Broker, 'targets' | 'terminate'>;
  /** The live-session registry: the truth for which sessions are live, and how one is closed. */
  sessions: SessionRegistry;
  /** Several nodes: sessions live on another node count as live here too. */
  remote?: RemoteSessions | undefined;
  /** How long one viewing of a recording lasts for the audit trail (default 5 min). */
  viewedPeriodMs?: number;
}

/** A session as its page shows it: the library's detail, and who ended it and why where a person did. */
export type SessionPageView = SessionDetail & { closedBy: ClosedBy | null; lateEnd: LateEnd | null };
/** A captured command with the reason of the rule that alerted on or blocked it (null when none, or gone from the config). */
export type CommandWithReason = CommandHit & { reason: string | null };

/** One session's captured commands in one answer, at most this many (the search pages through more). */
const MAX_SESSION_COMMANDS = 10_000;

const callerOf = (ctx: AuthContext, req: Request): Caller => ({
  user: ctx.user,
  ...(req.socket.remoteAddress ? { ip: req.socket.remoteAddress } : {}),
});

/**
 * Who sees what is core/session-access.ts: every route filters by it, and a session the caller may not
 * see answers exactly like one that does not exist (404, audited with whether it exists).
 */
export function sessionsRouter(o: SessionsRouterDeps): Router {
  const { store, audit, clock, config, logger, storageDir, commands } = o.deps;
  const registry = o.sessions;
  const router = Router();
  const isLiveElsewhere = (id: string) => {
    const rec = o.remote && store.data.sessions.find((s) => s.id === id);
    return rec !== undefined && o.remote?.holderOf(rec) !== undefined;
  };
  // The engine's audit lines where it has its own (PostgreSQL), else audit.jsonl in the storage folder.
  const auditSource = audit.linesBackward?.bind(audit) ?? storageDir;
  /** The matching rule's reason, as the target's rules say it now (a hit records the rule's pattern). */
  const withReason = (c: CommandHit): CommandWithReason => {
    const rule =
      c.rule === null ? undefined : o.broker.targets.get(c.target.id)?.commands.rules.find((r) => r.match === c.rule);
    return { ...c, reason: rule?.reason ?? null };
  };
  const context = (ctx: AuthContext): LibraryContext => ({
    viewer: ctx.user,
    targets: o.broker.targets,
    isLive: (id) => registry.get(id) !== undefined || isLiveElsewhere(id),
    now: clock.now(),
    commands: commands.records,
  });

  async function visibleSession(req: Request, action: string): Promise<SessionRecord> {
    const ctx = requireAuth(req);
    const id = String(req.params.id);
    // Only ids the gateway mints reach the store lookup: `..`, `%2f`, `.cast`/`.json` suffixes are none.
    const s = SESSION_ID_PATTERN.test(id) ? findSession(store.withHistory, context(ctx), id) : undefined;
    if (s) return s;
    const exists = store.withHistory.sessions.some((x) => x.id === id);
    const err = notFound('not_found', 'no such session');
    await auditRefusal(
      audit,
      logger,
      actorOf(callerOf(ctx, req)),
      action,
      err,
      { sessionId: id.slice(0, 100) },
      { exists },
    );
    throw err;
  }

  router.get('/sessions', (req, res) => {
    const ctx = requireAuth(req);
    const { limit, offset, ...filter } = parseSessionsQuery(req.query);
    const page = listSessions(store.withHistory, context(ctx), filter, { limit, offset });
    res.json({ sessions: page.items, total: page.total, offset: page.offset, limit: page.limit });
  });

  router.get('/sessions/:id', async (req, res) => {
    const ctx = requireAuth(req);
    const s = await visibleSession(req, 'session.read');
    const view: SessionPageView = {
      ...sessionDetail(store.withHistory, context(ctx), s),
      closedBy: await findClosedBy(auditSource, s),
      lateEnd: await findLateEnd(auditSource, s),
    };
    res.json(view);
  });

  router.get('/sessions/:id/commands', async (req, res) => {
    const ctx = requireAuth(req);
    const s = await visibleSession(req, 'session.commands');
    const all = sessionCommands(store.withHistory, context(ctx), s);
    res.json({ commands: all.slice(0, MAX_SESSION_COMMANDS).map(withReason), total: all.length });
  });

  router.get('/commands', (req, res) => {
    const ctx = requireAuth(req);
    const { limit, offset, ...filter } = parseCommandsQuery(req.query);
    const page = searchCommands(store.withHistory, context(ctx), filter, { limit, offset });
    res.json({ commands: page.items.map(withReason), total: page.total, offset: page.offset, limit: page.limit });
  });

  /**
   * Guards in order: role (403), fresh step-up (403 stepup_required), a reason (400), then the broker:
   * visibility (404), approver of the target (403 not_approver), live (409 not_live), audit, close.
   */
  router.post('/sessions/:id/terminate', async (req, res) => {
    const ctx = requireRole(req, 'supervisor', 'admin');
    requireFreshStepUp(ctx, clock.now(), config.stepUp.maxAgeMinutes);
    const caller = callerOf(ctx, req);
    const id = String(req.params.id);
    let reason: string;
    try {
      reason = parseTerminate(req.body);
    } catch (err) {
      await auditRefusal(audit, logger, actorOf(caller), 'session.terminate', err, { sessionId: id.slice(0, 100) });
      throw err;
    }
    const { closed, session } = await o.broker.terminate(caller, id, reason);
    res.json({ closed, session: sessionDetail(store.withHistory, context(ctx), session) });
  });

  mountRecordingRoutes(router, {
    audit,
    logger,
    storageDir,
    now: () => clock.now(),
    visibleSession,
    viewedPeriodMs: o.viewedPeriodMs,
  });
  mountAuditRoutes(router, { audit, storageDir, now: () => clock.now(), users: () => store.data.users });
  mountPlcRoutes(router, {
    audit,
    logger,
    plc: o.deps.plc,
    registry,
    targets: o.broker.targets,
    now: () => clock.now(),
    stepUpMaxAgeMinutes: config.stepUp.maxAgeMinutes,
    visibleSession,
  });
  return router;
}
