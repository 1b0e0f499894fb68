// The broker: the one place that turns access decisions (core/requests.ts) into store writes, audit events, notices and session closes.
import { type Applied, auditRefusal, recordEvents, refusalError, transact } from './broker/transact.js';
import { type Caller, actorOf, factsOf, randomId, targetsById } from './broker/facts.js';
import { NOTIFIED, requestNotice } from './broker/notice.js';
import { applyDue, dueIds } from './broker/sweep.js';
import { type TargetView, targetViews } from './broker/targets.js';
import { type Terminated, terminateSession } from './broker/terminate.js';
import { type RequestView, requestView, type ViewContext } from './broker/views.js';
import type { TargetConfig } from './config.js';
import type { NewId, RequestEventType } from './core/access.js';
import { type AccessRequest, type Actor, type RequestState, systemActor, type User } from './core/model.js';
import { visibleTo } from './core/policy.js';
import { approve, cancel, createRequest, deny, type RequestInput, revoke } from './core/requests.js';
import type { Deps } from './deps.js';
import { conflict, invalidInput, notFound } from './errors.js';
import { type Notifier, noNotify } from './notify.js';
import type { RemoteSessions, SessionRegistry } from './sessions.js';

export type { Caller } from './broker/facts.js';
export type { Terminated } from './broker/terminate.js';
export type { TargetView } from './broker/targets.js';
export type { RequestView } from './broker/views.js';

export interface BrokerDeps extends Pick<Deps, 'config' | 'store' | 'audit' | 'clock' | 'logger'> {
  sessions: SessionRegistry;
  /** Live sessions held by other nodes of a cluster (terminate reaches them); absent on a single node. */
  remote?: RemoteSessions;
  notifier?: Notifier;
  newId?: NewId;
  /** Open (pending) requests one vendor may have at a time (default 20): a bound on queue spam. */
  maxPendingPerUser?: number;
}

export type CreateInput = RequestInput & { targetId: string };
export interface RequestChange {
  type: RequestEventType;
  request: AccessRequest;
  /** Committed on another node of the cluster and relayed here (its webhooks went out there). */
  remote?: boolean;
}
export type ChangeListener = (change: RequestChange) => void;

const NOTHING_DUE = Symbol('nothing due');

export class Broker {
  readonly targets: ReadonlyMap<string, TargetConfig>;
  private readonly listeners = new Set<ChangeListener>();
  private readonly newId: NewId;
  private readonly notifier: Notifier;

  constructor(private readonly deps: BrokerDeps) {
    this.targets = targetsById(deps.config);
    this.newId = deps.newId ?? randomId;
    this.notifier = deps.notifier ?? noNotify;
  }

  /** Called after each change is durable and audited (the SSE stream listens here). */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The user as the store knows them now (roles are rewritten at each sign-in), or undefined once removed. */
  currentUser(id: string): User | undefined {
    return this.deps.store.data.users.find((u) => u.id === id);
  }

  canSee(user: User, request: AccessRequest): boolean {
    return visibleTo(factsOf(user), request, this.targets);
  }

  view(user: User, request: AccessRequest): RequestView {
    return requestView(user, request, this.viewContext());
  }

  /** Visible requests, newest first; `states` filters (none = all). */
  list(caller: Caller, states: readonly RequestState[] = [], limit = 500): RequestView[] {
    const ctx = this.viewContext();
    return this.deps.store.withHistory.requests
      .filter((r) => (states.length === 0 || states.includes(r.state)) && this.canSee(caller.user, r))
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
      .slice(0, limit)
      .map((r) => requestView(caller.user, r, ctx));
  }

  /**
   * One page of the visible requests that `match` keeps, newest first, with the total: the request history.
   * Filtered before anything is rendered, so a long history costs a scan, not a view per request.
   */
  search(
    caller: Caller,
    match: (r: AccessRequest) => boolean,
    page: { offset: number; limit: number },
  ): { requests: RequestView[]; total: number } {
    const hits = this.deps.store.withHistory.requests
      .filter((r) => match(r) && this.canSee(caller.user, r))
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
    const ctx = this.viewContext();
    return {
      requests: hits.slice(page.offset, page.offset + page.limit).map((r) => requestView(caller.user, r, ctx)),
      total: hits.length,
    };
  }

  async get(caller: Caller, id: string): Promise<RequestView> {
    return this.view(caller.user, await this.findVisible(caller, id, 'request.read'));
  }

  listTargets(caller: Caller): TargetView[] {
    const { config, clock } = this.deps;
    return targetViews(caller.user, config.targets, config.site.timezone, clock.now());
  }

  async create(caller: Caller, input: CreateInput): Promise<RequestView> {
    const { store, config, clock } = this.deps;
    const actor = actorOf(caller);
    const max = this.deps.maxPendingPerUser ?? 20;
    let applied: Applied;
    try {
      const target = this.targets.get(input.targetId);
      if (!target) throw invalidInput('unknown_target', `there is no target ${input.targetId}`);
      applied = await store.update((d, audit) => {
        const now = clock.now();
        const open = d.requests.filter((r) => r.userId === caller.user.id && r.state === 'pending');
        if (open.length >= max)
          throw conflict('too_many_pending', `you already have ${open.length} open requests; cancel some first`);
        const t = createRequest(input, target, factsOf(caller.user), now, this.newId, config.site.timezone);
        if (!t.ok) throw refusalError(t);
        d.requests.push(t.next);
        recordEvents(audit, actor, t.events);
        return t;
      });
    } catch (err) {
      await this.refused(actor, 'request.create', err, { targetId: input.targetId });
      throw err;
    }
    this.finish(applied, caller.user);
    return this.view(caller.user, applied.next);
  }

  approve(caller: Caller, id: string, comment?: string): Promise<RequestView> {
    return this.act(caller, id, 'request.approve', (r, t, now) =>
      approve(r, factsOf(caller.user), t, now, this.newId, comment),
    );
  }

  deny(caller: Caller, id: string, reason: string): Promise<RequestView> {
    return this.act(caller, id, 'request.deny', (r, t, now) => deny(r, factsOf(caller.user), t, reason, now));
  }

  async cancel(caller: Caller, id: string): Promise<RequestView> {
    const view = await this.act(caller, id, 'request.cancel', (r, _t, now) => cancel(r, caller.user.id, now));
    // A cancelled grant had not started, so no session runs under it; marking it closed in the registry
    // still stops a connection that checked the grant a moment before the cancel from registering.
    if (view.grantId) await this.deps.sessions.closeForGrant(view.grantId, 'revoked', 'the access was cancelled');
    return view;
  }

  /** Revokes a grant and closes its live sessions before answering (the promise: within a second). */
  async revoke(caller: Caller, id: string, reason: string): Promise<RequestView & { sessionsClosed: number }> {
    const view = await this.act(caller, id, 'request.revoke', (r, t, now) =>
      revoke(r, factsOf(caller.user), t, reason, now),
    );
    const message = `your access has been revoked by ${caller.user.name}: ${view.closedReason ?? reason}`;
    const sessionsClosed = view.grantId ? await this.deps.sessions.closeForGrant(view.grantId, 'revoked', message) : 0;
    return { ...view, sessionsClosed };
  }

  /** Terminates a live session (supervisors of its target, admins): audited, then closed before answering. */
  terminate(caller: Caller, sessionId: string, reason: string): Promise<Terminated> {
    return terminateSession(this.deps, this.targets, caller, sessionId, reason);
  }

  /**
   * Records what time decided: pending requests whose window passed → expired; grants at endsAt →
   * grant.ended, and their live sessions closed. Idempotent (state says what was already recorded), so
   * a restart or a clock jump only means the next call catches up. Called by the scheduler.
   */
  async closeDue(): Promise<{ expired: string[]; ended: string[] }> {
    const { store, clock } = this.deps;
    const ids = dueIds(store.data.requests, clock.now());
    if (ids.length === 0) return { expired: [], ended: [] };
    const actor = systemActor('scheduler');
    const applied = await store
      .update((d, audit) => {
        const out = applyDue(d, ids, clock.now());
        // Throwing keeps the store from writing an unchanged file when a racing decision took them all.
        if (out.length === 0) throw NOTHING_DUE;
        for (const a of out) recordEvents(audit, actor, a.events);
        return out;
      })
      .catch((err) => {
        if (err === NOTHING_DUE) return [];
        throw err;
      });
    for (const a of applied) this.finish(a);
    const ended = applied.filter((a) => a.next.state === 'approved').map((a) => a.next);
    for (const r of ended)
      await this.deps.sessions.closeForGrant(r.grantId!, 'window_ended', 'your access window has ended');
    return {
      expired: applied.filter((a) => a.next.state === 'expired').map((a) => a.next.id),
      ended: ended.map((r) => r.grantId!),
    };
  }

  /** Approved (or revoked) requests by grant id: what the scheduler checks live sessions against. */
  requestsByGrant(): Map<string, AccessRequest> {
    const out = new Map<string, AccessRequest>();
    for (const r of this.deps.store.data.requests) if (r.grantId) out.set(r.grantId, r);
    return out;
  }

  /** A change another node committed (the cluster relays it): told to this node's listeners only. */
  relayed(change: Omit<RequestChange, 'remote'>): void {
    this.tell({ ...change, remote: true });
  }

  private tell(change: RequestChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.deps.logger.warn({ err }, 'a request-change listener failed');
      }
    }
  }

  /** Notifies webhooks and tells listeners about one applied transition (its events are already audited with it). */
  private finish(applied: Applied, by?: User): void {
    const users = this.usersById();
    for (const e of applied.events) {
      if (NOTIFIED.has(e.type)) {
        const { config } = this.deps;
        const target = this.targets.get(applied.next.targetId);
        const context = { site: config.site.name, timeZone: config.site.timezone, target, users };
        this.notifier.notify(
          e.type,
          requestNotice(e.type, applied.next, e.type === 'request.created' ? context : { ...context, by }),
        );
      }
      this.tell({ type: e.type, request: applied.next });
    }
  }

  private async act(
    caller: Caller,
    id: string,
    action: string,
    step: (r: AccessRequest, target: TargetConfig, now: number) => ReturnType<typeof approve>,
  ): Promise<RequestView> {
    const actor = actorOf(caller);
    await this.findVisible(caller, id, action);
    let applied: Applied;
    try {
      applied = await transact(this.deps.store, id, actor, (r) => {
        const target = this.targets.get(r.targetId);
        if (!target)
          throw conflict('target_unknown', `target ${r.targetId} is no longer configured; nothing to decide`);
        return step(r, target, this.deps.clock.now());
      });
    } catch (err) {
      await this.refused(actor, action, err, { requestId: id });
      throw err;
    }
    this.finish(applied, caller.user);
    return this.view(caller.user, applied.next);
  }

  /**
   * The request if the caller may see it. Why one answer for "no such id" and "not yours": a 403 would
   * confirm that the id exists. Both are audited, so both take the same time too.
   */
  private async findVisible(caller: Caller, id: string, action: string): Promise<AccessRequest> {
    const { store } = this.deps;
    let r = store.withHistory.requests.find((x) => x.id === id);
    // Made on another node a moment ago: this node's copy may not have it yet. (Also when it is not the caller's:
    // a 404 takes the same path either way.)
    if ((!r || !this.canSee(caller.user, r)) && store.refresh) {
      await store.refresh();
      r = store.withHistory.requests.find((x) => x.id === id);
    }
    if (r && this.canSee(caller.user, r)) return r;
    const err = notFound('not_found', `no request ${id}`);
    await this.refused(actorOf(caller), action, err, { requestId: id }, { exists: r !== undefined });
    throw err;
  }

  private refused(
    actor: Actor,
    action: string,
    err: unknown,
    subject: Record<string, unknown>,
    extra?: Record<string, unknown>,
  ) {
    return auditRefusal(this.deps.audit, this.deps.logger, actor, action, err, subject, extra);
  }

  private usersById(): Map<string, User> {
    return new Map(this.deps.store.data.users.map((u) => [u.id, u]));
  }

  private viewContext(): ViewContext {
    const { store, config, clock } = this.deps;
    return {
      now: clock.now(),
      timeZone: config.site.timezone,
      targets: this.targets,
      users: this.usersById(),
      sessions: store.withHistory.sessions,
    };
  }
}

export { actorOf, factsOf } from './broker/facts.js';
export { auditRefusal } from './broker/transact.js';
