// returnTo after login: same-origin relative paths only, everything else lands on `/`.
import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../gateway/auth/login-flow.js';

describe('safeReturnTo', () => {
  it.each([
    ['/', '/'],
    ['/requests?x=1', '/requests?x=1'],
    ['/sessions/ses_1#live', '/sessions/ses_1#live'],
    ['/a/../b', '/b'],
    ['/caf%C3%A9', '/caf%C3%A9'],
  ])('keeps %s as %s', (input, out) => {
    expect(safeReturnTo(input)).toBe(out);
  });

  it.each([
    '//evil.example',
    '///evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/path\\with-backslash',
    'https://evil.example',
    'http:/evil.example',
    'javascript:alert(1)',
    'evil.example',
    '',
    '/%2F%2Fevil.example',
    '/%2fevil.example',
    '/%5Cevil.example',
    '/a\nSet-Cookie: x=1',
    '/a\u0000b',
    '/\tevil',
    '/auth/login',
    '/auth/logout',
    '/auth',
    `/${'a'.repeat(3000)}`,
  ])('refuses %j', (input) => {
    expect(safeReturnTo(input)).toBe('/');
  });

  it.each([undefined, null, 42, ['/a', '/b'], { a: 1 }])('refuses a non-string %j', (input) => {
    expect(safeReturnTo(input)).toBe('/');
  });
});
