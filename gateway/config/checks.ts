// Value checks for config strings (addresses, times, zones, URLs, fingerprints, patterns). Pure: no I/O.
import { isIP, isIPv6 } from 'node:net';

const hostnamePattern =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A DNS name or a literal IP address (IPv6 without brackets), as a target's `host`. */
export function isHost(s: string): boolean {
  if (isIP(s) !== 0) return true;
  // All-numeric dotted names would be read as IPv4 by resolvers: reject them unless isIPv4 accepted them.
  if (/^[\d.]+$/.test(s)) return false;
  return hostnamePattern.test(s);
}

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `host:port`, `1.2.3.4:port` or `[::1]:port`. Port 0 (any free port) only where
 * `allowPortZero` is set — listen addresses in tests; a destination needs a real port.
 */
export function parseHostPort(s: string, opts: { allowPortZero?: boolean } = {}): HostPort | { error: string } {
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return { error: 'missing "]" after the IPv6 address' };
    host = s.slice(1, close);
    if (!isIPv6(host)) return { error: `"${host}" is not an IPv6 address` };
    if (s[close + 1] !== ':') return { error: 'expected ":port" after "]"' };
    portText = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return { error: 'expected host:port' };
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) return { error: 'an IPv6 address needs brackets, e.g. [::1]:8080' };
    if (!isHost(host)) return { error: `"${host}" is not a hostname or IPv4 address` };
  }
  if (!/^\d{1,5}$/.test(portText)) return { error: `port "${portText}" is not a number` };
  const port = Number(portText);
  const min = opts.allowPortZero ? 0 : 1;
  if (port < min || port > 65535) return { error: `port ${port} is outside ${min}..65535` };
  return { host, port };
}

/** `HH:MM` → minutes after midnight, 0..1440; the same rule the window arithmetic applies. */
export { clockMinutes as parseClockTime } from '../core/windows-tz.js';

/** An IANA zone name the runtime's ICU knows (what window checks will use). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Why `s` is not an http(s) URL, or undefined if it is. */
export function httpUrlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected http:// or https://, got ${url.protocol}`;
  // Credentials in a URL end up in logs and in `ps`; secrets go through env/file refs.
  if (url.username || url.password) return 'must not contain a user name or password';
  return undefined;
}

/**
 * Why `s` is not an OpenSSH SHA-256 fingerprint (`SHA256:` + 43 base64 chars, no padding),
 * or undefined. The round trip rejects strings whose last character carries stray bits.
 */
export function hostKeyFingerprintProblem(s: string): string | undefined {
  const m = /^SHA256:([A-Za-z0-9+/]{43})$/.exec(s);
  const expected = 'expected "SHA256:" and 43 base64 characters without "=" (as `ssh-keygen -lf` prints)';
  if (!m) return expected;
  const bytes = Buffer.from(m[1]!, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64').slice(0, 43) !== m[1]) return expected;
  return undefined;
}

/**
 * An RDP certificate's SHA-256 as lower-case hex pairs joined by ":" (FreeRDP's form), from that form in
 * any case, with an optional "sha256:" prefix, or from 64 plain hex digits; undefined if it is none of these.
 */
export function normalizeCertSha256(s: string): string | undefined {
  const bare = s.trim().replace(/^sha256:/i, '');
  const hex = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/i.test(bare)
    ? bare.replaceAll(':', '')
    : /^[0-9a-f]{64}$/i.test(bare)
      ? bare
      : undefined;
  return hex?.toLowerCase().match(/../g)!.join(':');
}

/** The RegExp constructor's complaint about `pattern`, or undefined if it compiles. */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
