// TOTP rules over the store: enrol, confirm, verify (one step of drift, no replay, lockout), reset.
import { generateSecret, generateURI, verifySync } from 'otplib';
import { isoTime } from '../clock.js';
import { type Actor, type User, userActor } from '../core/model.js';
import type { Config } from '../config.js';
import { formatLocal } from '../core/windows-tz.js';
import { conflict, GatehouseError, invalidInput, notFound } from '../errors.js';
import type { AuditSink } from '../audit-sink.js';
import type { AuditAppend, StatePort } from '../storage/storage.js';
import type { DbData } from '../store.js';
import { otpauthQrSvg } from './qr.js';
import { type SecretBox, secretBoxFor } from './secret-box.js';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_MAX_FAILURES = 5;
export const TOTP_LOCK_MINUTES = 15;
const SECRET_BYTES = 20;

export type TotpPurpose = 'step-up' | 'confirm' | 'ssh';
export type TotpFailureCode = 'totp_invalid' | 'totp_replayed' | 'totp_locked' | 'totp_not_enrolled';
export type TotpResult =
  { ok: true; step: number } | { ok: false; code: TotpFailureCode; lockedUntil?: string; triesLeft?: number };
/**
 * What the TOTP rules are given: the state to read and update (the user's secret, failures, lock, a web
 * session's step-up, each with its audit record), the audit log for refusals outside an update, and the
 * storage folder (the secret box's key). config (optional): the site's time zone names the end of a lockout
 * in the site's own time.
 */
export interface TotpPorts {
  store: Pick<StatePort, 'data' | 'update'>;
  audit: AuditAppend;
  storageDir: string;
  config?: { site: { timezone: string } } | undefined;
}

export interface Enrolment {
  otpauthUri: string;
  qrSvg: string;
  /** Base32, for typing into an app by hand: returned by enrolment only, never afterwards. */
  secret: string;
}

/** A user may use TOTP only once a first code proved the secret is in their app. */
export const isTotpEnrolled = (user: Pick<User, 'totp'>): boolean => user.totp?.confirmed === true;

export { userActor };

/** Makes a new secret (stored encrypted) and its otpauth URI; allowed again and again until confirmed. */
export async function enrolTotp(
  deps: TotpPorts & { config: { site: Pick<Config['site'], 'name' | 'timezone'> } },
  userId: string,
  now: number,
  actor?: Actor,
): Promise<Enrolment> {
  const box = await secretBoxFor(deps.storageDir);
  const secret = generateSecret({ length: SECRET_BYTES });
  // AAD = user id: a secretEnc copied into another user's record does not decrypt there.
  const secretEnc = box.seal(secret, userId);
  let email = '';
  await deps.store.update((d, audit) => {
    const u = d.users.find((x) => x.id === userId);
    if (!u) throw notFound('user_not_found', 'no such user');
    // Why: once confirmed, only an admin reset may replace the secret; otherwise a stolen web
    // session could swap in an attacker's authenticator.
    if (u.totp?.confirmed)
      throw conflict('totp_already_enrolled', 'your authenticator is already set up; an administrator can reset it');
    const restarted = u.totp !== undefined;
    // A lock carries over: restarting enrolment must not be a way around it.
    u.totp = {
      secretEnc,
      confirmed: false,
      failures: u.totp?.failures ?? 0,
      ...(u.totp?.lockedUntil ? { lockedUntil: u.totp.lockedUntil } : {}),
      enrolledAt: isoTime(now),
    };
    audit.record({
      type: 'totp.enrolled',
      actor: actor ?? userActor({ id: u.id, name: u.name, email: u.email }),
      subject: { userId },
      data: { restarted },
    });
    email = u.email;
  });
  const otpauthUri = generateURI({
    issuer: `Gatehouse (${deps.config.site.name})`,
    label: email,
    secret,
  });
  const qrSvg = await otpauthQrSvg(otpauthUri);
  return { otpauthUri, qrSvg, secret };
}

/** Confirms a pending enrolment with a first valid code. */
export async function confirmTotp(deps: TotpPorts, userId: string, code: string, now: number, actor?: Actor) {
  if (deps.store.data.users.find((u) => u.id === userId)?.totp?.confirmed)
    throw conflict('totp_already_enrolled', 'your authenticator is already set up');
  return verifyTotp(deps, userId, code, now, 'confirm', actor);
}

type Match = { kind: 'new'; step: number } | { kind: 'old' } | { kind: 'none' };

/** Which time step `code` matches, at most one step away from `now`'s; never throws. */
function matchStep(secret: string, code: string, now: number, lastStep: number | undefined): Match {
  // Only 6 digits reach otplib: its format errors must not surface as exceptions or 500s.
  if (!/^[0-9]{6}$/.test(code)) return { kind: 'none' };
  const epoch = Math.floor(now / 1000);
  const current = Math.floor(epoch / TOTP_PERIOD_SECONDS);
  // epochTolerance = one period: exactly the steps current-1 … current+1 are tried.
  const opts = {
    secret,
    token: code,
    epoch,
    period: TOTP_PERIOD_SECONDS,
    epochTolerance: TOTP_PERIOD_SECONDS,
  };
  try {
    const fresh = verifySync(lastStep === undefined ? opts : { ...opts, afterTimeStep: lastStep });
    if (fresh.valid && 'timeStep' in fresh && Math.abs(fresh.timeStep - current) <= 1)
      return { kind: 'new', step: fresh.timeStep };
    if (lastStep !== undefined && verifySync(opts).valid) return { kind: 'old' };
  } catch {
    // A malformed secret or token is a failed attempt, not a server error.
  }
  return { kind: 'none' };
}

interface Attempt {
  result: TotpResult;
  user?: { id: string; name: string; email: string };
  reason?: 'invalid' | 'replayed' | 'locked' | 'not_enrolled';
  failures?: number;
  lockedNow?: boolean;
  confirmedNow?: boolean;
}

/** The whole check-and-set on one draft: runs inside ONE store.update so concurrent submits serialise. */
function attempt(d: DbData, box: SecretBox, userId: string, code: string, now: number, purpose: TotpPurpose): Attempt {
  const u = d.users.find((x) => x.id === userId);
  const totp = u?.totp;
  // An unconfirmed secret was never shown to be in the user's app: it opens nothing but confirmation.
  if (!u || !totp || (!totp.confirmed && purpose !== 'confirm'))
    return { result: { ok: false, code: 'totp_not_enrolled' }, reason: 'not_enrolled' };
  const user = { id: u.id, name: u.name, email: u.email };
  if (totp.lockedUntil) {
    // While locked not even a right code is checked: the lock must not become a guessing oracle.
    if (now < Date.parse(totp.lockedUntil))
      return {
        result: { ok: false, code: 'totp_locked', lockedUntil: totp.lockedUntil },
        user,
        reason: 'locked',
      };
    delete totp.lockedUntil; // the lock ended by itself: a fresh set of attempts
    totp.failures = 0;
  }
  const match = matchStep(box.open(totp.secretEnc, userId), code, now, totp.lastStep);
  if (match.kind === 'new') {
    // Why: lastStep only moves forward, so a step (and any older one) is accepted at most once.
    totp.lastStep = match.step;
    totp.failures = 0;
    const confirmedNow = !totp.confirmed;
    totp.confirmed = true;
    return { result: { ok: true, step: match.step }, user, confirmedNow };
  }
  // A replay proves knowledge of a past code, not a guess: refused, but it does not feed the lockout
  // (a double-clicked submit must not lock the user out).
  if (match.kind === 'old') return { result: { ok: false, code: 'totp_replayed' }, user, reason: 'replayed' };
  totp.failures += 1;
  if (totp.failures >= TOTP_MAX_FAILURES) {
    totp.lockedUntil = isoTime(now + TOTP_LOCK_MINUTES * 60_000);
    const result: TotpResult = { ok: false, code: 'totp_locked', lockedUntil: totp.lockedUntil };
    return { result, user, reason: 'invalid', failures: totp.failures, lockedNow: true };
  }
  return {
    result: { ok: false, code: 'totp_invalid', triesLeft: TOTP_MAX_FAILURES - totp.failures },
    user,
    reason: 'invalid',
    failures: totp.failures,
  };
}

/**
 * Checks a code for `userId` (web step-up, confirmation, SSH keyboard-interactive). Audits every
 * failure (totp.failed, totp.locked) and a confirmation; the code itself is never logged or audited.
 */
export async function verifyTotp(
  deps: TotpPorts,
  userId: string,
  code: string,
  now: number,
  purpose: TotpPurpose,
  actor?: Actor,
): Promise<TotpResult> {
  const box = await secretBoxFor(deps.storageDir);
  const a = await deps.store.update((d, audit) => {
    const out = attempt(d, box, userId, String(code), now, purpose);
    recordAttempt(
      audit,
      out,
      actor ?? (out.user ? userActor(out.user) : { kind: 'user', id: userId }),
      userId,
      purpose,
    );
    return out;
  });
  return a.result;
}

/** totp.confirmed, or totp.failed (+ totp.locked): recorded with the attempt's own state change. */
function recordAttempt(audit: AuditSink, a: Attempt, who: Actor, userId: string, purpose: TotpPurpose): void {
  const subject = { userId };
  if (a.result.ok) {
    if (a.confirmedNow) audit.record({ type: 'totp.confirmed', actor: who, subject, data: { purpose } });
    return;
  }
  const data = { purpose, reason: a.reason, ...(a.failures === undefined ? {} : { failures: a.failures }) };
  audit.record({ type: 'totp.failed', actor: who, subject, data });
  if (a.lockedNow)
    audit.record({
      type: 'totp.locked',
      actor: who,
      subject,
      data: { purpose, failures: a.failures, lockedUntil: a.result.lockedUntil },
    });
}

/** The error a client sees for a refused code. */
export function totpError(result: Extract<TotpResult, { ok: false }>, timeZone = 'UTC'): GatehouseError {
  switch (result.code) {
    case 'totp_invalid': {
      const left = result.triesLeft;
      // Warned before it happens: the last tries say that a lock follows, and for how long.
      const warn =
        left !== undefined && left <= 2
          ? `; ${left} ${left === 1 ? 'try' : 'tries'} left before verification is locked for ${TOTP_LOCK_MINUTES} minutes`
          : '';
      return invalidInput(
        'totp_invalid',
        `wrong verification code${warn}. Check that your device's clock is right and use the code shown now`,
      );
    }
    case 'totp_replayed':
      return invalidInput('totp_replayed', 'this code was already used; wait for the next one');
    case 'totp_locked':
      return new GatehouseError(
        'rate_limited',
        'totp_locked',
        `too many wrong codes: verification is locked until ${result.lockedUntil ? formatLocal(Date.parse(result.lockedUntil), timeZone) : 'later'}. ` +
          'Wait until then and try again with a new code, or ask an administrator to reset your authenticator',
      );
    case 'totp_not_enrolled':
      return conflict('totp_not_enrolled', 'set up your authenticator first');
  }
}

/**
 * Clears a user's TOTP on a draft (admin API and CLI) and ends their standing step-ups: a step-up
 * proven with the old authenticator must not outlive it. Returns undefined for an unknown user.
 */
export function clearTotp(d: DbData, userId: string): { hadTotp: boolean; wasConfirmed: boolean } | undefined {
  const u = d.users.find((x) => x.id === userId);
  if (!u) return undefined;
  const out = { hadTotp: u.totp !== undefined, wasConfirmed: u.totp?.confirmed === true };
  delete u.totp;
  for (const s of d.webSessions) if (s.userId === userId) delete s.stepUpAt;
  return out;
}

/** Admin reset: the user must enrol again. Audited as totp.reset. */
export async function resetTotp(deps: Pick<TotpPorts, 'store' | 'audit'>, userId: string, actor: Actor) {
  const out = await deps.store.update((d, audit) => {
    const cleared = clearTotp(d, userId);
    if (cleared) audit.record({ type: 'totp.reset', actor, subject: { userId }, data: cleared });
    return cleared;
  });
  if (!out) {
    // An admin aiming a second-factor reset at no one is still a privileged attempt (a typo, or probing ids).
    await deps.audit.append({
      type: 'access.denied',
      actor,
      subject: { userId },
      data: { code: 'user_not_found', action: 'totp.reset' },
    });
    throw notFound('user_not_found', 'no such user');
  }
  return out;
}
