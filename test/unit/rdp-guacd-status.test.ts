// guacd's `error` read as an end reason and a sentence (guacd 1.6's messages and codes, src/protocols/rdp/error.c),
// and the first-frame rule that decides when a desktop is on the screen.
import { describe, expect, it } from 'vitest';
import { firstFrameStep } from '../../gateway/guac/wire.js';
import { certCheckOf, GUAC_STATUS as S, meaningOfGuacdError } from '../../gateway/rdp/guacd-status.js';

describe('meaningOfGuacdError', () => {
  it('519 with the TLS message is the certificate: named as the pin when there is one', () => {
    const tls = 'SSL/TLS connection failed (untrusted/self-signed certificate?)';
    expect(meaningOfGuacdError(S.UPSTREAM_NOT_FOUND, tls, 'pinned')).toEqual({
      reason: 'error',
      message: expect.stringMatching(/^the workstation's certificate does not match the pinned one/),
    });
    expect(meaningOfGuacdError(S.UPSTREAM_NOT_FOUND, tls, 'trust-store').message).toMatch(
      /^the workstation's certificate is not trusted/,
    );
  });

  it('519 otherwise is an unreachable workstation or a failed name lookup, with guacd words kept', () => {
    expect(
      meaningOfGuacdError(S.UPSTREAM_NOT_FOUND, 'Connection failed (server unreachable?)', 'pinned').message,
    ).toMatch(/^the workstation could not be reached.*\(Connection failed \(server unreachable\?\)\)$/);
    expect(
      meaningOfGuacdError(S.UPSTREAM_NOT_FOUND, 'DNS lookup failed (incorrect hostname?)', 'pinned').message,
    ).toMatch(/name could not be resolved/);
  });

  it('the workstation ending the session is target_closed; refusals and failures are error', () => {
    for (const s of [S.SUCCESS, S.SESSION_CLOSED, S.SESSION_TIMEOUT, S.SESSION_CONFLICT])
      expect(meaningOfGuacdError(s, 'Logged off.', 'pinned').reason).toBe('target_closed');
    for (const s of [
      S.CLIENT_UNAUTHORIZED,
      S.CLIENT_FORBIDDEN,
      S.UPSTREAM_ERROR,
      S.UPSTREAM_TIMEOUT,
      S.UPSTREAM_UNAVAILABLE,
      S.SERVER_ERROR,
      0x7777,
    ])
      expect(meaningOfGuacdError(s, 'x', 'pinned').reason).toBe('error');
    expect(
      meaningOfGuacdError(S.CLIENT_UNAUTHORIZED, 'Authentication failure (invalid credentials?)', 'pinned').message,
    ).toMatch(/refused the sign-in Gatehouse holds/);
    expect(meaningOfGuacdError(0x7777, '', 'pinned').message).toBe(
      'the remote desktop service (guacd) ended the connection (no reason given, status 30583)',
    );
  });

  it('keeps a long guacd message bounded', () => {
    expect(meaningOfGuacdError(S.UPSTREAM_ERROR, 'y'.repeat(10_000), 'pinned').message.length).toBeLessThan(300);
  });

  it('reads the check from the target config', () => {
    expect(certCheckOf({ certSha256: 'ab', ignoreCert: false })).toBe('pinned');
    expect(certCheckOf({ ignoreCert: true })).toBe('ignored');
    expect(certCheckOf({ ignoreCert: false })).toBe('trust-store');
  });
});

describe('firstFrameStep', () => {
  const ins = (opcode: string, ...args: string[]) => ({ opcode, args });
  it('is drawn only at a sync after the default layer was sized', () => {
    // A stuck FreeRDP 2 still gets a cursor and a sync from guacd, but never a size.
    let at = firstFrameStep('none', ins('sync', '1'));
    expect(at).toBe('none');
    at = firstFrameStep(at, ins('size', '1', '10', '10'));
    expect(at).toBe('none');
    at = firstFrameStep(at, ins('size', '0', '1024', '768'));
    expect(at).toBe('sized');
    expect(firstFrameStep(at, ins('img', '1'))).toBe('sized');
    expect(firstFrameStep(at, ins('sync', '2'))).toBe('drawn');
  });
});
