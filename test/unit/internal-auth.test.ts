// Node tokens for the internal watch route, and the relay's frames: what is accepted, and every way it is not.
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  clusterKeyFrom,
  mintWatchToken,
  TOKEN_TTL_MS,
  WatchTokenVerifier,
} from '../../gateway/cluster/internal-auth.js';
import { decodeFrame } from '../../gateway/cluster/relay-frames.js';
import { GatehouseError } from '../../gateway/errors.js';

const key = clusterKeyFrom(generateKeyPairSync('ed25519').privateKey);
const T0 = Date.parse('2026-12-06T08:00:00.000Z');
const SID = 'ses_abcdefghijklmnop';

/** A token signed as a node would, with claims of the test's choosing (an independent HMAC, not ours). */
const craft = (claims: unknown, k = key) => {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `v1.${body}.${createHmac('sha256', k).update(`v1.${body}`).digest('base64url')}`;
};
const claims = (over: Record<string, unknown> = {}) => ({
  sid: SID,
  from: 'gw-b',
  to: 'gw-a',
  iat: T0,
  exp: T0 + TOKEN_TTL_MS,
  jti: randomBytes(16).toString('base64url'),
  ...over,
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatehouseError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('node tokens', () => {
  const verifier = (now = T0) => {
    const clock = { now };
    return { v: new WatchTokenVerifier({ key, nodeId: 'gw-a', now: () => clock.now }), clock };
  };

  it('derives the same key from the same signing key, another from another', () => {
    const pair = generateKeyPairSync('ed25519');
    expect(clusterKeyFrom(pair.privateKey).equals(clusterKeyFrom(pair.privateKey))).toBe(true);
    expect(clusterKeyFrom(pair.privateKey).equals(key)).toBe(false);
    expect(clusterKeyFrom(pair.privateKey)).toHaveLength(32);
  });

  it('accepts a fresh token once, for its node and session only', () => {
    const { v } = verifier();
    const t = mintWatchToken(key, { sid: SID, from: 'gw-b', to: 'gw-a', now: T0 });
    expect(v.verify(t, SID)).toMatchObject({ sid: SID, from: 'gw-b', to: 'gw-a' });
    expect(codeOf(() => v.verify(t, SID))).toBe('relay_token_replayed');
    expect(codeOf(() => v.verify(mintWatchToken(key, { sid: SID, from: 'gw-b', to: 'gw-c', now: T0 }), SID))).toBe(
      'relay_token_wrong_node',
    );
    expect(codeOf(() => v.verify(mintWatchToken(key, { sid: SID, from: 'gw-b', to: 'gw-a', now: T0 }), 'ses_x'))).toBe(
      'relay_token_wrong_session',
    );
  });

  it('opens only the kind of live view it was minted for: the MAC covers the kind', () => {
    const { v } = verifier();
    const rdp = mintWatchToken(key, { sid: SID, from: 'gw-b', to: 'gw-a', now: T0, purpose: 'rdp' });
    const terminal = mintWatchToken(key, { sid: SID, from: 'gw-b', to: 'gw-a', now: T0, purpose: 'watch' });
    expect(codeOf(() => v.verify(rdp, SID, 'watch'))).toBe('relay_token_wrong_purpose');
    expect(codeOf(() => v.verify(rdp, SID))).toBe('relay_token_wrong_purpose');
    expect(codeOf(() => v.verify(terminal, SID, 'rdp'))).toBe('relay_token_wrong_purpose');
    // Refused before it was remembered: the same tokens still open their own kind, once.
    expect(codeOf(() => v.verify(rdp, SID, 'rdp'))).toBe('accepted');
    expect(codeOf(() => v.verify(terminal, SID, 'watch'))).toBe('accepted');
    expect(codeOf(() => v.verify(rdp, SID, 'rdp'))).toBe('relay_token_replayed');
    // The kind is in the MAC's input, not only in the body: an RDP MAC over a terminal token's body is no terminal token.
    const body = craft(claims()).split('.')[1]!;
    const rdpMac = createHmac('sha256', key).update(`v1.rdp.${body}`).digest('base64url');
    expect(codeOf(() => v.verify(`v1.${body}.${rdpMac}`, SID, 'rdp'))).toBe('accepted');
    expect(codeOf(() => v.verify(`v1.${body}.${rdpMac}`, SID, 'watch'))).toBe('relay_token_wrong_purpose');
  });

  it('refuses what a node did not sign, and malformed or oversized input, before decoding it', () => {
    const { v } = verifier();
    expect(codeOf(() => v.verify(undefined, SID))).toBe('relay_token_missing');
    expect(codeOf(() => v.verify('', SID))).toBe('relay_token_missing');
    expect(codeOf(() => v.verify(craft(claims(), randomBytes(32)), SID))).toBe('relay_token_invalid');
    const good = craft(claims());
    const [, body, sig] = good.split('.');
    const swapped = Buffer.from(JSON.stringify(claims({ sid: 'ses_other' }))).toString('base64url');
    expect(codeOf(() => v.verify(`v1.${swapped}.${sig}`, SID))).toBe('relay_token_invalid');
    expect(codeOf(() => v.verify(`v2.${body}.${sig}`, SID))).toBe('relay_token_invalid');
    expect(codeOf(() => v.verify(`v1.${body}`, SID))).toBe('relay_token_invalid');
    expect(codeOf(() => v.verify('x'.repeat(100_000), SID))).toBe('relay_token_invalid');
    for (const bad of [
      'not json',
      claims({ sid: '../../etc' }),
      claims({ to: 'GW-A' }),
      claims({ iat: '1' }),
      claims({ jti: 'short' }),
      null,
      [],
    ]) {
      const t =
        typeof bad === 'string'
          ? `v1.${Buffer.from(bad).toString('base64url')}.${createHmac('sha256', key)
              .update(`v1.${Buffer.from(bad).toString('base64url')}`)
              .digest('base64url')}`
          : craft(bad);
      expect(codeOf(() => v.verify(t, SID))).toBe('relay_token_invalid');
    }
  });

  it('refuses an expired token, one from too far ahead, and one that would live too long', () => {
    const { v, clock } = verifier();
    clock.now = T0 + TOKEN_TTL_MS;
    expect(codeOf(() => v.verify(craft(claims()), SID))).toBe('relay_token_expired');
    clock.now = T0;
    expect(codeOf(() => v.verify(craft(claims({ iat: T0 + 60_000, exp: T0 + 80_000 })), SID))).toBe(
      'relay_token_invalid',
    );
    expect(codeOf(() => v.verify(craft(claims({ exp: T0 + 24 * 3600_000 })), SID))).toBe('relay_token_invalid');
  });

  it('remembers used tokens only until they expire, and refuses rather than forgets when full', () => {
    const { v, clock } = verifier();
    for (let i = 0; i < 10_000; i++) v.verify(craft(claims()), SID);
    expect(codeOf(() => v.verify(craft(claims()), SID))).toBe('relay_busy');
    clock.now = T0 + TOKEN_TTL_MS + 1;
    expect(codeOf(() => v.verify(craft(claims({ iat: clock.now, exp: clock.now + 1000 })), SID))).toBe('accepted');
  });
});

describe('relay frames', () => {
  it('reads the frames a holder sends and nothing else', () => {
    expect(decodeFrame('{"t":"screen","data":"x","cols":80,"rows":24}')).toEqual({
      t: 'screen',
      data: 'x',
      cols: 80,
      rows: 24,
    });
    expect(decodeFrame('{"t":"ended","reason":"terminated"}')).toEqual({ t: 'ended', reason: 'terminated' });
    for (const bad of [
      '',
      'null',
      '[]',
      '{"t":"screen","data":1,"cols":80,"rows":24}',
      '{"t":"resize","cols":-1,"rows":2}',
      '{"t":"ended","reason":"because"}',
      '{"t":"alert","alert":{"text":"x","verdict":"maybe"}}',
      '{"t":"plc","event":"x"}',
      '{"t":"exec","cmd":"rm"}',
      '{"t":"screen"',
    ])
      expect(decodeFrame(bad)).toBeUndefined();
  });
});
