// Vendor authentication on the SSH front: registered public key, then keyboard-interactive TOTP, then the grant check.
import { oneLine } from '../text.js';
import type { AuthContext, KeyboardAuthContext, PublicKeyAuthContext } from 'ssh2';
import { utils } from './ssh2.js';
import { isTotpEnrolled, totpError, verifyTotp } from '../auth/auth.js';
import type { Config, TargetConfig } from '../config.js';
import { type AccessRequest, type Actor, type SshKey, type User, userActor } from '../core/model.js';
import { admitConnect, type ConnectProof, TARGET_ID } from '../admission/admission.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuditAppend, StatePort } from '../storage/storage.js';
import { asStorageError } from '../storage-faults.js';
import { sshFingerprint } from './host-keys.js';

/** What a successful authentication hands the session: who, where, under which grant. */
export interface Authenticated {
  user: User;
  key: SshKey;
  target: TargetConfig & { ssh: NonNullable<TargetConfig['ssh']> };
  request: AccessRequest & { grantId: string };
}

/** A refusal the vendor sees as one line; `code` goes to the audit log. */
/** What SSH authentication uses: keys, users and TOTP state, the audit log (TOTP), the time, the config and a log. */
export interface SshAuthPorts {
  /** Keys and users read; TOTP failures, locks and confirmations written with their audit records. */
  store: Pick<StatePort, 'data' | 'update'>;
  audit: AuditAppend;
  /** TOTP secrets are sealed with a key kept under storage.dir. */
  storageDir: string;
  clock: Clock;
  logger: Logger;
  /** The public URL (the pages named in refusals), the site's time zone and the targets (the connect check). */
  config: Pick<Config, 'http' | 'site' | 'targets'>;
}

export interface Refusal {
  code: string;
  line: string;
  actor: Actor;
  subject: Record<string, unknown>;
  data?: Record<string, unknown>;
}

export interface AuthHooks {
  /** After TOTP and the grant check: connect the target with `proof` (or answer the refusal). */
  admit(a: Authenticated, proof: ConnectProof<'ssh'>): Promise<Refusal | undefined>;
  /** Tell the vendor `r.line`, audit it, disconnect. */
  refuse(r: Refusal, ctx?: KeyboardAuthContext): void;
  /** Why this node takes no session now (it lost its database), asked before the code is: no code is spent on it. */
  refusing?(): string | undefined;
}

/** Per-connection authentication state machine (ssh2's `authentication` events). */
export class SshAuth {
  private verified: { user: User; key: SshKey; username: string } | undefined;
  private offeredUnknown: string | undefined;
  private busy = false;
  done: Authenticated | undefined;

  constructor(
    private readonly deps: SshAuthPorts,
    private readonly ip: string,
    private readonly hooks: AuthHooks,
  ) {}

  handle(ctx: AuthContext): void {
    if (this.busy || this.done) return ctx.reject();
    if (ctx.method === 'publickey') return this.publicKey(ctx);
    if (ctx.method === 'keyboard-interactive') {
      this.busy = true;
      this.keyboard(ctx)
        .catch((err: unknown) => this.failed(err, ctx))
        .finally(() => {
          this.busy = false;
        });
      return;
    }
    ctx.reject(['publickey', 'keyboard-interactive']);
  }

  /**
   * A login that threw (the TOTP check or the admission could not be written: a full disk) is refused with
   * its one-line reason; it must never become an unhandled rejection, which would take every session down.
   */
  private failed(err: unknown, ctx: KeyboardAuthContext): void {
    const storage = asStorageError(err);
    this.deps.logger.error({ err, ip: this.ip }, 'SSH login failed inside the gateway');
    const line = storage
      ? `the gateway cannot record this login now (${storage.message}); try again later`
      : 'the gateway could not check this login; try again later';
    this.hooks.refuse(
      {
        code: storage ? 'storage_unavailable' : 'internal_error',
        line,
        actor: { kind: 'anonymous', ip: this.ip },
        subject: {},
      },
      ctx,
    );
  }

  private requestUrl(targetId: string): string {
    const base = `${this.deps.config.http.publicUrl}/requests/new`;
    return TARGET_ID.test(targetId) ? `${base}?target=${targetId}` : base;
  }

  private publicKey(ctx: PublicKeyAuthContext): void {
    const fingerprint = sshFingerprint(ctx.key.data);
    const key = this.deps.store.data.sshKeys.find((k) => k.fingerprint === fingerprint);
    const user = key && this.deps.store.data.users.find((u) => u.id === key.userId);
    const parsed = key ? utils.parseKey(key.publicKey) : undefined;
    // Why compare the blob too: the fingerprint found the record; the bytes prove it is this key.
    if (!key || !user || !parsed || parsed instanceof Error || !parsed.getPublicSSH().equals(ctx.key.data)) {
      this.offeredUnknown ??= fingerprint;
      return ctx.reject(['publickey', 'keyboard-interactive']);
    }
    // OpenSSH first asks "would this key do?" without a signature: answer yes, it then signs.
    if (!ctx.signature || !ctx.blob) return ctx.accept();
    // verify() returns true, false or an Error: only `true` is a valid signature.
    if (parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true)
      return ctx.reject(['publickey', 'keyboard-interactive']);
    this.verified = { user, key, username: ctx.username };
    // Partial success: the key is only the first factor.
    ctx.reject(['keyboard-interactive'], true);
  }

  private async keyboard(ctx: KeyboardAuthContext): Promise<void> {
    const login = ctx.username;
    const anonymous: Actor = { kind: 'anonymous', ip: this.ip };
    const url = this.requestUrl(login);
    const v = this.verified;
    if (!v || v.username !== login) {
      const keys = `${this.deps.config.http.publicUrl}/keys`;
      const line = this.offeredUnknown
        ? `your SSH key ${this.offeredUnknown} is not registered; add it at ${keys} and request access at ${url}`
        : `no registered SSH key was offered; add yours at ${keys} and request access at ${url}`;
      const subject = TARGET_ID.test(login) ? { targetId: login } : {};
      return this.hooks.refuse(
        { code: 'unknown_key', line, actor: anonymous, subject, data: { fingerprint: this.offeredUnknown ?? null } },
        ctx,
      );
    }
    const actor = userActor(v.user, this.ip);
    const subject: Record<string, unknown> = {
      userId: v.user.id,
      ...(TARGET_ID.test(login) ? { targetId: login } : {}),
    };
    const refuse = (code: string, reason: string, withUrl = true) =>
      this.hooks.refuse(
        { code, line: withUrl ? `${oneLine(reason)}. Request access at ${url}` : oneLine(reason), actor, subject },
        ctx,
      );
    if (!isTotpEnrolled(v.user))
      return refuse(
        'totp_not_enrolled',
        `set up your authenticator first at ${this.deps.config.http.publicUrl}/`,
        false,
      );
    const fenced = this.hooks.refusing?.();
    if (fenced) return refuse('node_fenced', fenced, false);
    const code = await new Promise<string | undefined>((resolve) =>
      ctx.prompt([{ prompt: 'Verification code: ', echo: false }], (answers) =>
        resolve(Array.isArray(answers) ? String(answers[0] ?? '').trim() : undefined),
      ),
    );
    if (code === undefined) return ctx.reject();
    const totp = await verifyTotp(this.deps, v.user.id, code, this.deps.clock.now(), 'ssh', actor);
    if (!totp.ok) {
      const why =
        totp.code === 'totp_replayed'
          ? 'this verification code was already used; wait for the next one'
          : totp.code === 'totp_locked'
            ? totpError(totp, this.deps.config.site.timezone).message // the end in site time, and what to do
            : 'wrong verification code';
      return refuse(totp.code, why, false);
    }
    // The grant check is admission/connect.ts's, with the user as of now (roles may have changed at their last login).
    const a = admitConnect(this.deps, { user: v.user }, { targetId: login }, 'ssh', this.deps.clock.now());
    if (!a.ok) return refuse(a.refusal.code, a.refusal.reason);
    const { user, target, request } = a.proof;
    const admitted: Authenticated = { user, key: v.key, target, request };
    const refusal = await this.hooks.admit(admitted, a.proof);
    if (refusal) return this.hooks.refuse({ ...refusal, actor, subject: { ...subject, ...refusal.subject } }, ctx);
    this.done = admitted;
    ctx.accept();
  }
}
