// Who may open a target connection (native SSH, browser terminal, remote desktop), decided once from server state,
// and the one writer of `session.refused`. A yes is a proof object only this module mints; the functions that dial
// a target take it, so a new way in cannot skip the check.
import type { AuditLog } from '../audit-log.js';
import { type AuthContext, requireFreshStepUp } from '../auth/auth.js';
import { type Caller, factsOf } from '../broker.js';
import type { Clock } from '../clock.js';
import type { Config, RdpTargetConfig, SshTargetConfig, TargetConfig } from '../config.js';
import type { AccessRequest, Actor, Protocol, User } from '../core/model.js';
import { canConnect, pickRequestForConnect } from '../core/policy.js';
import { denied, type ErrorCode } from '../errors.js';
import type { StateView } from '../storage/storage.js';

/** What the connect check reads, and nothing it could write: the committed state, the targets and the site's time zone. */
export interface ConnectPorts {
  store: Pick<StateView, 'data'>;
  config: Pick<Config, 'targets' | 'site'>;
}

/** The browser pages' share: the connect check's ports, the clock and the step-up age. */
export interface BrowserConnectPorts {
  store: Pick<StateView, 'data'>;
  config: Pick<Config, 'targets' | 'site' | 'stepUp'>;
  clock: Clock;
}

/** What an SSH login may name as its target; anything else is never echoed back (nor put in a URL). */
export const TARGET_ID = /^[a-z0-9-]{1,63}$/;

type TargetFor<P extends Protocol> = TargetConfig &
  (P extends 'ssh' ? { ssh: SshTargetConfig } : { rdp: RdpTargetConfig });

/**
 * The admission itself. Not exported as a value: outside this module nothing can construct one, and the private
 * field makes the type nominal, so an object literal with the same fields does not type-check as a proof either.
 */
class Proof<P extends Protocol> {
  readonly #admitted = true;
  constructor(
    /** The user as the store knows them at admission. */
    readonly user: User,
    readonly request: AccessRequest & { grantId: string },
    readonly target: TargetFor<P>,
    readonly protocol: P,
  ) {
    Object.freeze(this);
  }

  static holds(x: unknown): x is Proof<Protocol> {
    return typeof x === 'object' && x !== null && #admitted in x && (x as Proof<Protocol>).#admitted;
  }
}

/** Held by whoever may open a `P` connection to `target` under `request` for `user`. */
export type ConnectProof<P extends Protocol = Protocol> = Proof<P>;

/** A refused connect: the code for the audit trail, one human line, and what it was about. */
export interface ConnectRefusal {
  code: ErrorCode;
  reason: string;
  subject: Record<string, unknown>;
}

export type Admitted<P extends Protocol> =
  { ok: true; proof: ConnectProof<P> } | { ok: false; refusal: ConnectRefusal };

/** Which connection is asked for: a target by id (native SSH: the login name) or one grant (the browser pages). */
export type ConnectAsk = { targetId: string } | { grantId: string };

const offers = <P extends Protocol>(t: TargetConfig | undefined, p: P): t is TargetFor<P> =>
  t !== undefined && (p === 'ssh' ? t.ssh !== undefined : t.rdp !== undefined);

/**
 * May `caller` open a `protocol` connection now? By target id the grant is picked (pickRequestForConnect) and a
 * missing one reads "no approved access to <target>" whatever its state; by grant id only the caller's own grant
 * counts. Why the same words for "unknown", "not yours" and "no grant": a refusal must not reveal which targets
 * or grant ids exist.
 */
export function admitConnect<P extends Protocol>(
  deps: ConnectPorts,
  caller: Caller,
  ask: ConnectAsk,
  protocol: P,
  now: number,
): Admitted<P> {
  const { store, config } = deps;
  // The user as the server knows them now (roles may have changed at their last sign-in).
  const user = store.data.users.find((u) => u.id === caller.user.id) ?? caller.user;
  const no = (code: ErrorCode, reason: string, subject: Record<string, unknown>): Admitted<P> => ({
    ok: false,
    refusal: { code, reason, subject },
  });
  let request: AccessRequest | undefined;
  let target: TargetConfig | undefined;
  if ('targetId' in ask) {
    const named = TARGET_ID.test(ask.targetId) ? ask.targetId : undefined;
    const subject = { userId: user.id, ...(named ? { targetId: named } : {}) };
    target = config.targets.find((t) => t.id === ask.targetId);
    if (!offers(target, protocol)) return no('no_grant', `no approved access to ${named ?? 'that target'}`, subject);
    request = pickRequestForConnect(store.data.requests, user.id, target.id, protocol, now);
    const decision = canConnect(factsOf(user), request, target, protocol, now, config.site.timezone);
    if (!decision.allow)
      return no(
        decision.code,
        decision.code === 'no_grant' ? `no approved access to ${target.id}` : decision.reason,
        subject,
      );
    if (!request?.grantId) return no('no_grant', `no approved access to ${target.id}`, subject);
  } else {
    const subject = { userId: user.id, grantId: ask.grantId.slice(0, 100) };
    request = store.data.requests.find((r) => r.grantId === ask.grantId && r.userId === user.id);
    if (!request?.grantId) return no('no_grant', 'no approved access under this grant', subject);
    target = config.targets.find((t) => t.id === request!.targetId);
    if (!offers(target, protocol))
      return no(
        'no_grant',
        protocol === 'rdp'
          ? 'no approved remote desktop access under this grant'
          : 'no approved access under this grant',
        subject,
      );
    const decision = canConnect(factsOf(user), request, target, protocol, now, config.site.timezone);
    if (!decision.allow) return no(decision.code, decision.reason, subject);
  }
  return { ok: true, proof: new Proof(user, request as AccessRequest & { grantId: string }, target, protocol) };
}

/**
 * The browser pages' admission (terminal, remote desktop): a fresh TOTP step-up, then admitConnect on the grant
 * the page names. Throws the refusal as a 403, which the websocket door and the HTTP error hook audit as
 * `access.denied`.
 */
export function admitFromBrowser<P extends Protocol>(
  deps: BrowserConnectPorts,
  auth: AuthContext,
  grantId: string,
  protocol: P,
): ConnectProof<P> {
  const now = deps.clock.now();
  requireFreshStepUp(auth, now, deps.config.stepUp.maxAgeMinutes);
  const a = admitConnect(deps, { user: auth.user }, { grantId }, protocol, now);
  if (!a.ok) throw denied(a.refusal.code, a.refusal.reason);
  return a.proof;
}

/** What a target-dialling function calls first: a forged or wrong-protocol proof is a bug, never a connection. */
export function requireProof<P extends Protocol>(proof: ConnectProof<P>, protocol: P): void {
  if (!Proof.holds(proof) || proof.protocol !== protocol)
    throw new Error(`a ${protocol} target connection needs a connect admission`);
}

/** One refused connection attempt, as `session.refused` records it. */
export interface RefusedConnect {
  actor: Actor;
  subject?: Record<string, unknown>;
  code: string;
  /** The line the vendor was given (absent for pre-authentication refusals counted in bursts). */
  reason?: string;
  via: 'ssh' | 'web' | 'rdp';
  ip: string;
  data?: Record<string, unknown>;
}

/** The one place `session.refused` is written. */
export function auditRefused(audit: Pick<AuditLog, 'append'>, r: RefusedConnect): Promise<unknown> {
  return audit.append({
    type: 'session.refused',
    actor: r.actor,
    ...(r.subject ? { subject: r.subject } : {}),
    data: { code: r.code, ...(r.reason !== undefined ? { reason: r.reason } : {}), via: r.via, ip: r.ip, ...r.data },
  });
}
