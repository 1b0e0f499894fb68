// How refusals reach the vendor (one line, during authentication) and the audit log (once per burst for floods).
import type { Connection, KeyboardAuthContext } from 'ssh2';
import { auditRefused } from '../admission/admission.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuditAppend } from '../storage/storage.js';
import { oneLine } from '../text.js';
import type { Authenticated, Refusal } from './auth.js';
import type { RelayError, RelayFailure } from './relay.js';
import { disconnectSaying } from './wire.js';

/**
 * Shows `line` and disconnects. Why a keyboard-interactive round with no prompts: OpenSSH prints an
 * info request's instruction on stderr (at its default LogLevel) and PuTTY shows it in the terminal,
 * per connection — unlike ssh2's static `banner`, and unlike a failure reply, which carries no text.
 * The disconnect says it again (wire.ts): every client prints that description, with or without a terminal.
 * Without a keyboard-interactive context (flood, grace time) only the disconnect carries it.
 */
export function showRefusal(client: Connection, line: string, ctx?: KeyboardAuthContext): void {
  const said = `Gatehouse: ${oneLine(line, 600)}`;
  const bye = setTimeout(() => disconnectSaying(client, said), 5000);
  bye.unref();
  if (!ctx) return void disconnectSaying(client, said);
  // No failure reply before the disconnect: PuTTY stops at "no supported authentication methods" and never
  // reads the disconnect that follows it.
  ctx.prompt([], '', `${said}\n`, () => {
    clearTimeout(bye);
    disconnectSaying(client, said);
  });
}

/** The vendor's line (and a hostkey.mismatch audit record) for a target connection that failed. */
export async function refusalFor(
  deps: { audit: AuditAppend; logger: Logger },
  a: Pick<Authenticated, 'user' | 'target'>,
  err: RelayError,
): Promise<Refusal & { code: RelayFailure['code'] }> {
  const t = a.target;
  const base = { actor: { kind: 'anonymous' as const }, subject: { targetId: t.id, userId: a.user.id } };
  const f = err.failure;
  deps.logger.warn({ targetId: t.id, failure: f }, 'could not connect to the SSH target');
  switch (f.code) {
    case 'hostkey_mismatch':
      await deps.audit.append({
        type: 'hostkey.mismatch',
        actor: { kind: 'system', id: 'gateway' },
        subject: { targetId: t.id, userId: a.user.id },
        data: { host: t.ssh.host, port: t.ssh.port, expected: t.ssh.hostKeySha256, presented: f.presented },
      });
      return {
        ...base,
        code: f.code,
        line: `the host key of ${t.id} does not match the pinned one: the gateway did not connect (the site administrators have been told)`,
      };
    case 'target_auth_failed':
      return { ...base, code: f.code, line: `the gateway could not log in to ${t.id}; ask the site administrators` };
    default:
      return { ...base, code: f.code, line: `${t.id} cannot be reached right now; try again later` };
  }
}

/** The vendor hung up while the gateway dialled the target (`client_left`): nobody is left to tell. */
export const abandoned = (a: Pick<Authenticated, 'user' | 'target'>): Refusal => ({
  code: 'client_left',
  line: 'the connection closed before the session started',
  actor: { kind: 'anonymous' },
  subject: { targetId: a.target.id, userId: a.user.id },
});

const BURST_MS = 60_000;

/**
 * Refusals before authentication (caps, grace time) audited once per source IP and burst: the first
 * one at once, the rest counted and reported with the next burst's first or at stop. Why: a flood
 * must not turn into a flood of audit records (disk, and the chain's fsyncs).
 */
export class BurstAudit {
  private readonly bursts = new Map<string, { start: number; count: number; reasons: Set<string> }>();
  constructor(private readonly deps: { audit: AuditAppend; clock: Clock }) {}

  async refused(ip: string, reason: string): Promise<void> {
    const now = this.deps.clock.now();
    const b = this.bursts.get(ip);
    if (b && now - b.start < BURST_MS) {
      b.count++;
      b.reasons.add(reason);
      return;
    }
    if (b) this.report(ip, b);
    if (this.bursts.size >= 1000) this.flush();
    this.bursts.set(ip, { start: now, count: 0, reasons: new Set() });
    await auditRefused(this.deps.audit, {
      actor: { kind: 'anonymous', ip },
      code: reason,
      via: 'ssh',
      ip,
      data: { burst: 'first' },
    }).catch(() => undefined);
  }

  /** Reports every burst's suppressed count (at stop, or when the table is full). */
  flush(): void {
    for (const [ip, b] of this.bursts) this.report(ip, b);
    this.bursts.clear();
  }

  private report(ip: string, b: { count: number; reasons: Set<string> }): void {
    if (b.count === 0) return;
    const code = [...b.reasons].join(',');
    void auditRefused(this.deps.audit, {
      actor: { kind: 'anonymous', ip },
      code,
      via: 'ssh',
      ip,
      data: { burst: 'summary', count: b.count },
    }).catch(() => undefined);
    b.count = 0;
  }
}
