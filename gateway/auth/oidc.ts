// The OIDC relying party (openid-client v6): lazy cached discovery, authorization code + PKCE + state + nonce.
import * as client from 'openid-client';
import type { Config } from '../config.js';
import { GatehouseError, unavailable } from '../errors.js';
import type { Logger } from '../log.js';

export const SCOPES = 'openid profile email groups';

export interface OidcOptions {
  oidc: Pick<Config['oidc'], 'issuer' | 'clientId'>;
  /** `${publicUrl}/auth/callback`: also the base of the URL handed to the code exchange. */
  redirectUri: string;
  /** Read when discovery runs, so the secret lives in the Config only as a ref. */
  clientSecret(): string;
  logger: Logger;
  /** Seconds per IdP request (discovery, token, JWKS). Default 10. */
  timeoutSeconds?: number;
}

export interface AuthorizationRequest {
  url: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface CallbackChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Why a callback was refused: `reason` goes into auth.login_failed, `code` to the client. */
export class LoginRefused extends GatehouseError {
  constructor(
    readonly reason: string,
    message: string,
    cause?: unknown,
  ) {
    super('invalid_input', 'login_failed', message, { cause });
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface OidcClient {
  readonly issuer: string;
  /** Builds an authorization URL with fresh state, nonce and PKCE verifier (S256). */
  startLogin(): Promise<AuthorizationRequest>;
  /** Exchanges the code in `search` (the callback's query string) and returns the verified ID token claims. */
  finishLogin(search: string, checks: CallbackChecks): Promise<Record<string, unknown>>;
}

export function createOidcClient(opts: OidcOptions): OidcClient {
  const issuerUrl = new URL(opts.oidc.issuer);
  // Plain http only to an IdP on this machine (the demo and tests); anything else must be TLS.
  const insecureOk = issuerUrl.protocol === 'http:' && LOOPBACK_HOSTS.has(issuerUrl.hostname);
  let discovered: Promise<client.Configuration> | undefined;

  const discover = (): Promise<client.Configuration> => {
    if (discovered) return discovered;
    const attempt = (async () => {
      if (issuerUrl.protocol === 'http:' && !insecureOk)
        throw unavailable('idp_unavailable', `oidc.issuer ${opts.oidc.issuer} must use https (http only on loopback)`);
      let secret: string;
      try {
        secret = opts.clientSecret();
      } catch (err) {
        // The reason (which variable or file) goes to the log, not to the person trying to sign in.
        opts.logger.error({ err }, 'the OIDC client secret cannot be read');
        throw unavailable('idp_unavailable', 'sign-in is misconfigured (OIDC client secret); tell an administrator');
      }
      try {
        return await client.discovery(issuerUrl, opts.oidc.clientId, undefined, client.ClientSecretPost(secret), {
          timeout: opts.timeoutSeconds ?? 10,
          ...(insecureOk ? { execute: [client.allowInsecureRequests] } : {}),
        });
      } catch (err) {
        opts.logger.warn({ err, issuer: opts.oidc.issuer }, 'OIDC discovery failed');
        throw unavailable(
          'idp_unavailable',
          `the identity provider (${opts.oidc.issuer}) cannot be reached right now; try again in a moment`,
          err,
        );
      }
    })();
    // Concurrent logins share one attempt; a failure is not cached, so the next login tries again.
    discovered = attempt;
    attempt.catch(() => {
      if (discovered === attempt) discovered = undefined;
    });
    return attempt;
  };

  return {
    issuer: opts.oidc.issuer,

    async startLogin() {
      const config = await discover();
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: opts.redirectUri,
        scope: SCOPES,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      return { url, state, nonce, codeVerifier };
    },

    async finishLogin(search, checks) {
      const config = await discover();
      // Why the configured redirect URI and not the request's Host: the token request must name the exact
      // URI the IdP registered, and Host is attacker-controlled.
      const current = new URL(opts.redirectUri);
      current.search = search;
      // openid-client also checks this (RFC 9207); doing it first gives the refusal its own reason.
      const iss = current.searchParams.get('iss');
      if (iss !== null && iss !== config.serverMetadata().issuer)
        throw new LoginRefused('issuer_mismatch', 'the sign-in response came from another identity provider');
      try {
        const tokens = await client.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        if (!claims) throw new LoginRefused('no_id_token', 'the identity provider returned no ID token');
        return { ...claims };
      } catch (err) {
        throw classify(err, opts.logger);
      }
    },
  };
}

/** openid-client errors → an IdP outage (503) or a refused login with a reason for the audit trail. */
function classify(err: unknown, logger: Logger): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const code = (err as { code?: string }).code;
  const unreachable =
    (err instanceof TypeError && err.message === 'fetch failed') ||
    code === 'OAUTH_TIMEOUT' ||
    code === 'OAUTH_RESPONSE_IS_NOT_CONFORM';
  if (unreachable) {
    logger.warn({ err }, 'OIDC token request failed');
    return unavailable(
      'idp_unavailable',
      'the identity provider cannot be reached right now; try again in a moment',
      err,
    );
  }
  if (err instanceof client.ResponseBodyError)
    // invalid_grant: the code was used already, expired, or the PKCE verifier does not match it.
    return new LoginRefused(`token_${err.error}`, 'the identity provider refused the sign-in code', err);
  // openid-client wraps oauth4webapi's error, whose `cause` names the claim that failed.
  const inner = (err as { cause?: { message?: string; cause?: { claim?: string } } }).cause;
  const claim = inner?.cause?.claim;
  if (claim === 'nonce') return new LoginRefused('nonce_mismatch', 'the ID token does not belong to this sign-in', err);
  if (/"iss".*missing/.test(inner?.message ?? ''))
    return new LoginRefused('issuer_missing', 'the sign-in response does not name its issuer', err);
  if (claim === 'iss' || /"iss"/.test(inner?.message ?? ''))
    return new LoginRefused('issuer_mismatch', 'the sign-in response came from another issuer', err);
  if (/"state"/.test(inner?.message ?? ''))
    return new LoginRefused('state_mismatch', 'the sign-in response does not belong to this sign-in', err);
  return new LoginRefused('token_invalid', 'the sign-in response could not be verified', err);
}
