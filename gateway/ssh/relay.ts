// The gateway's side towards the target: one ssh2 Client per vendor connection, with the injected credential and the pinned host key.
import { timingSafeEqual } from 'node:crypto';
import type { ParsedKey, PublicKeyAuthMethod } from 'ssh2';
import { Client, utils } from './ssh2.js';
import { resolveSecret, type SshTargetConfig } from '../config.js';
import { sshFingerprint } from './host-keys.js';
import { type ConnectProof, requireProof } from '../admission/admission.js';

export type RelayFailure =
  | { code: 'hostkey_mismatch'; presented: string }
  | { code: 'target_unreachable'; detail: string }
  | { code: 'target_auth_failed'; detail: string }
  | { code: 'credential_unavailable'; detail: string };

export class RelayError extends Error {
  constructor(readonly failure: RelayFailure) {
    super(failure.code);
    this.name = 'RelayError';
  }
}

export interface RelayOptions {
  /** Relative credential files resolve against this folder. */
  cwd?: string;
  readyTimeoutMs?: number;
}

const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Target keys parsed once, by their text. Why: handed a key as text, ssh2 parses it at every connect and each
 * session's client keeps that parse alive for its whole life (native key objects, and small Buffers that pin the
 * 8 KiB pool slabs they were cut from). Parsed here, all sessions of a target share one. Keyed by the text, so a
 * rotated credential file gives a new entry; bounded, the oldest entry goes first.
 */
const parsedKeys = new Map<string, ParsedKey>();
const MAX_PARSED_KEYS = 64;

function parsedKeyOf(secret: string): ParsedKey | undefined {
  const known = parsedKeys.get(secret);
  if (known) return known;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secret)) return undefined;
  const parsed = utils.parseKey(secret);
  if (parsed instanceof Error || !parsed.isPrivateKey()) return undefined;
  if (parsedKeys.size >= MAX_PARSED_KEYS) parsedKeys.delete(parsedKeys.keys().next().value!);
  parsedKeys.set(secret, parsed);
  return parsed;
}

/** A secret that parses as a private key is used as one; anything else is a password. */
function credentialOf(ssh: SshTargetConfig, cwd?: string): { key: ParsedKey } | { password: string } {
  const secret = resolveSecret(ssh.credential, cwd ? { cwd } : {});
  const key = parsedKeyOf(secret);
  return key ? { key } : { password: secret };
}

/**
 * Opens and authenticates the connection to the admitted target; rejects with RelayError (never a half-open
 * client). Why a proof and not the target's settings: no path reaches a target without admission/connect.ts.
 */
export function connectTarget(proof: ConnectProof<'ssh'>, opts: RelayOptions = {}): Promise<Client> {
  requireProof(proof, 'ssh');
  const ssh = proof.target.ssh;
  let credential: ReturnType<typeof credentialOf>;
  try {
    credential = credentialOf(ssh, opts.cwd);
  } catch (err) {
    return Promise.reject(new RelayError({ code: 'credential_unavailable', detail: (err as Error).message }));
  }
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: string | undefined;
    let mismatch = false;
    const fail = (f: RelayFailure) => {
      client.removeAllListeners('ready');
      client.on('error', () => undefined);
      client.end();
      reject(new RelayError(f));
    };
    client.once('ready', () => {
      client.removeAllListeners('error');
      // Late errors (target reset) surface as 'close' on the session; keep them from crashing the process.
      client.on('error', () => undefined);
      resolve(client);
    });
    client.once('error', (err: Error & { level?: string }) => {
      if (mismatch) return fail({ code: 'hostkey_mismatch', presented: presented ?? '' });
      if (err.level === 'client-authentication') return fail({ code: 'target_auth_failed', detail: err.message });
      fail({ code: 'target_unreachable', detail: err.message || String((err as { code?: string }).code) });
    });
    client.on('connect', () => {
      // Nagle delays every keystroke echo by up to 40 ms (ARCHITECTURE.md); turn it off on this socket.
      (client as unknown as { _sock?: { setNoDelay?: (v: boolean) => void } })._sock?.setNoDelay?.(true);
    });
    client.connect({
      host: ssh.host,
      port: ssh.port,
      username: ssh.username,
      // A key goes in as the one auth method, already parsed (parsedKeyOf); ssh2 takes a parsed key as it is.
      ...('key' in credential
        ? { authHandler: [{ type: 'publickey', username: ssh.username, key: credential.key } as PublicKeyAuthMethod] }
        : credential),
      readyTimeout: opts.readyTimeoutMs ?? 15_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      // Why pin: without it, whoever answers on the target's address gets the session and the credential.
      hostVerifier: (key: Buffer) => {
        presented = sshFingerprint(key);
        mismatch = !sameText(presented, ssh.hostKeySha256);
        return !mismatch;
      },
    });
  });
}
