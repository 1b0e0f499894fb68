// The tokens one node shows another on the internal watch routes: HMAC-SHA256 under a key only nodes hold, one
// session and one kind of live view each (the MAC covers the kind), short-lived, used once. Why derived from the audit signing key: every node of a cluster must hold
// that key already (the shared audit chain refuses a node with another one), it lives in the best-guarded place
// of a node (keys/, 0600), and no new secret has to be made, stored or rotated. HKDF makes the derived key useless
// for signing and the signing key unrecoverable from it; rotating the audit key rotates this one too.
import { createHmac, hkdfSync, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatehouseError, unauthenticated } from '../errors.js';

/** How long a token is good for: the time to dial the holder, no more. */
export const TOKEN_TTL_MS = 30_000;
/** How far ahead of ours another node's clock may be. */
const CLOCK_SKEW_MS = 30_000;
/** Longer than any token we mint could be; larger input is refused before it is decoded. */
const MAX_TOKEN_CHARS = 1024;
/** Tokens remembered against replay at once (each only until it expires). */
const MAX_REMEMBERED = 10_000;

const NODE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * What a token opens: a terminal's live view (`watch`) or a read-only join of an RDP desktop (`rdp`). Why in the
 * MAC and not only a claim: a token minted for one kind can never be read as the other, whatever its body says.
 */
export type RelayPurpose = 'watch' | 'rdp';
const PURPOSES: readonly RelayPurpose[] = ['watch', 'rdp'];

export interface WatchClaims {
  /** The session to watch. */
  sid: string;
  /** The node that asks (the viewer's node) and the node that must serve (the holder). */
  from: string;
  to: string;
  iat: number;
  exp: number;
  /** Random, once: the replay check's key. */
  jti: string;
}

/**
 * A 32-byte key every node derives from the shared audit signing key, one per purpose (HKDF's info): the watch
 * relay's MAC by default, `pending sign-ins v1` for the sealed sign-ins of cluster/pending-logins.ts.
 */
export function clusterKeyFrom(signingKey: KeyObject, purpose = 'internal watch relay v1'): Buffer {
  const ikm = signingKey.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(hkdfSync('sha256', ikm, 'gatehouse-cluster', purpose, 32));
}

/** The terminal view's input is the one it always had, so its tokens read the same on nodes not yet upgraded. */
const mac = (key: Buffer, purpose: RelayPurpose, body: string) =>
  createHmac('sha256', key)
    .update(purpose === 'watch' ? `v1.${body}` : `v1.${purpose}.${body}`)
    .digest();

/** A token for `to` to serve `sid` to `from` (a terminal view unless `purpose` says), valid for TOKEN_TTL_MS from `now`. */
export function mintWatchToken(
  key: Buffer,
  c: { sid: string; from: string; to: string; now: number; purpose?: RelayPurpose },
): string {
  const claims: WatchClaims = {
    sid: c.sid,
    from: c.from,
    to: c.to,
    iat: c.now,
    exp: c.now + TOKEN_TTL_MS,
    jti: randomBytes(16).toString('base64url'),
  };
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `v1.${body}.${mac(key, c.purpose ?? 'watch', body).toString('base64url')}`;
}

const bad = (message: string) => unauthenticated('relay_token_invalid', message);

/** Checks a token's form, MAC (for `purpose`) and claims; the replay check is the verifier's (it holds state). */
export function readWatchToken(key: Buffer, token: string, purpose: RelayPurpose = 'watch'): WatchClaims {
  if (token.length > MAX_TOKEN_CHARS) throw bad('the internal token is too long');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'v1') throw bad('the internal token is malformed');
  const [, body = '', sig = ''] = parts;
  const given = Buffer.from(sig, 'base64url');
  const signed = (p: RelayPurpose) => {
    const want = mac(key, p, body);
    return given.length === want.length && timingSafeEqual(given, want);
  };
  // Why before decoding the body: nothing an outsider wrote is parsed unless a node wrote it.
  if (!signed(purpose)) {
    if (PURPOSES.some((p) => p !== purpose && signed(p)))
      throw unauthenticated('relay_token_wrong_purpose', 'the internal token is for another kind of live view');
    throw bad('the internal token is not signed by a node of this cluster');
  }
  let c: Partial<WatchClaims>;
  try {
    c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<WatchClaims>;
  } catch {
    throw bad('the internal token is malformed');
  }
  const ok =
    typeof c === 'object' &&
    c !== null &&
    typeof c.sid === 'string' &&
    SESSION_ID.test(c.sid) &&
    typeof c.from === 'string' &&
    NODE_ID.test(c.from) &&
    typeof c.to === 'string' &&
    NODE_ID.test(c.to) &&
    Number.isSafeInteger(c.iat) &&
    Number.isSafeInteger(c.exp) &&
    typeof c.jti === 'string' &&
    c.jti.length >= 16 &&
    c.jti.length <= 64;
  if (!ok) throw bad('the internal token is malformed');
  return c as WatchClaims;
}

/**
 * The holder's side: a token must be ours (MAC), for this node, for this session, fresh, and never seen before.
 * Each refusal is a 401 with its own code, so the audit record says which check failed.
 */
export class WatchTokenVerifier {
  private readonly seen = new Map<string, number>();

  constructor(private readonly o: { key: Buffer; nodeId: string; now: () => number }) {}

  verify(token: string | undefined, sessionId: string, purpose: RelayPurpose = 'watch'): WatchClaims {
    if (!token) throw unauthenticated('relay_token_missing', 'the internal route needs a node token');
    const c = readWatchToken(this.o.key, token, purpose);
    const now = this.o.now();
    if (c.to !== this.o.nodeId)
      throw unauthenticated('relay_token_wrong_node', 'the internal token is for another node');
    if (c.sid !== sessionId)
      throw unauthenticated('relay_token_wrong_session', 'the internal token is for another session');
    if (c.exp - c.iat > TOKEN_TTL_MS || c.iat > now + CLOCK_SKEW_MS)
      throw unauthenticated('relay_token_invalid', 'the internal token has an impossible lifetime');
    if (c.exp <= now) throw unauthenticated('relay_token_expired', 'the internal token has expired');
    this.prune(now);
    if (this.seen.has(c.jti)) throw unauthenticated('relay_token_replayed', 'the internal token was used already');
    // Why refuse rather than forget the oldest: a forgotten token that has not expired could be replayed.
    if (this.seen.size >= MAX_REMEMBERED)
      throw new GatehouseError(
        'rate_limited',
        'relay_busy',
        'too many internal watch requests at once; try again shortly',
      );
    this.seen.set(c.jti, c.exp);
    return c;
  }

  /** Oldest first, stopping at the first live one: tokens arrive in about expiry order, so this stays cheap. */
  private prune(now: number): void {
    for (const [jti, exp] of this.seen) {
      if (exp > now) break;
      this.seen.delete(jti);
    }
  }
}
