// TOTP step-up for sensitive actions: prove a fresh code on this web session; the guard checks its age.
import { isoTime } from '../clock.js';
import type { Actor } from '../core/model.js';
import { denied, unauthenticated } from '../errors.js';
import type { WebSessionRecord } from '../store.js';
import type { AuthContext } from './context.js';
import { isTotpEnrolled, type TotpPorts, totpError, userActor, verifyTotp } from './totp.js';

/** When this session's step-up stops counting as fresh, or null if it never stepped up. */
export function stepUpUntil(session: Pick<WebSessionRecord, 'stepUpAt'>, maxAgeMinutes: number): string | null {
  if (!session.stepUpAt) return null;
  const at = Date.parse(session.stepUpAt);
  return Number.isNaN(at) ? null : isoTime(at + maxAgeMinutes * 60_000);
}

/**
 * The guard for every sensitive action (request, approve, revoke, terminate, connect, admin reset):
 * throws 403 `stepup_required` unless this session passed a TOTP step-up within `maxAgeMinutes`.
 */
export function requireFreshStepUp(ctx: AuthContext, now: number, maxAgeMinutes: number): void {
  const at = ctx.session.stepUpAt ? Date.parse(ctx.session.stepUpAt) : Number.NaN;
  // Why the enrolment check: a reset authenticator voids step-ups made with it (defence in depth;
  // the reset also clears stepUpAt). A step-up stamped in the future (clock set back) is not trusted.
  const fresh =
    isTotpEnrolled(ctx.user) &&
    !Number.isNaN(at) &&
    at <= now &&
    ctx.session.userId === ctx.user.id &&
    now - at <= maxAgeMinutes * 60_000;
  if (!fresh)
    throw denied(
      'stepup_required',
      `this action needs a fresh verification code (step-up within the last ${maxAgeMinutes} minutes)`,
    );
}

/**
 * Verifies `code` and marks THIS web session as stepped up at `now` (other sessions of the user stay as
 * they are). Audits stepup.succeeded / stepup.failed; throws the refused code's error.
 */
export async function performStepUp(
  deps: TotpPorts,
  ctx: AuthContext,
  code: string,
  now: number,
  maxAgeMinutes: number,
  actor: Actor = userActor(ctx.user),
): Promise<{ stepUpUntil: string }> {
  const subject = { userId: ctx.user.id };
  const result = await verifyTotp(deps, ctx.user.id, code, now, 'step-up', actor);
  if (!result.ok) {
    // The session id is the cookie's bearer value: it never goes into the audit trail.
    await deps.audit.append({ type: 'stepup.failed', actor, subject, data: { reason: result.code } });
    throw totpError(result, deps.config?.site.timezone);
  }
  const stepUpAt = isoTime(now);
  const until = stepUpUntil({ stepUpAt }, maxAgeMinutes)!;
  const found = await deps.store.update((d, audit) => {
    const s = d.webSessions.find((x) => x.id === ctx.session.id && x.userId === ctx.user.id);
    if (s) s.stepUpAt = stepUpAt;
    audit.record(
      s
        ? { type: 'stepup.succeeded', actor, subject, data: { stepUpUntil: until } }
        : { type: 'stepup.failed', actor, subject, data: { reason: 'session_ended' } },
    );
    return s !== undefined;
  });
  if (!found) throw unauthenticated('login_required', 'your session has ended; sign in again');
  return { stepUpUntil: until };
}
