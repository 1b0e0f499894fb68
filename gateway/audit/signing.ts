// The gateway's Ed25519 signing key (audit checkpoints, signed head, evidence packs): created once, kept 0600.
import crypto, { type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { unavailable } from '../errors.js';
import { syncDir, writeDurably } from './durable.js';

export const KEY_DIR = 'keys';
export const PRIVATE_KEY_FILE = 'audit-ed25519.pem';
export const PUBLIC_KEY_FILE = 'audit-ed25519.pub.pem';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  /** First 16 hex of sha256 over the raw 32-byte public key: names the key in checkpoints. */
  keyId: string;
  /** Base64 Ed25519 signature over the UTF-8 text. */
  sign(message: string): string;
}

export interface VerifyKey {
  publicKey: KeyObject;
  publicKeyPem: string;
  keyId: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  return crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function verifySignature(publicKey: KeyObject, message: string, sigBase64: string): boolean {
  try {
    return crypto.verify(null, Buffer.from(message), publicKey, Buffer.from(sigBase64, 'base64'));
  } catch {
    return false;
  }
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

function signingKeyFrom(privateKey: KeyObject): SigningKey {
  const publicKey = crypto.createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
    sign: (message) => crypto.sign(null, Buffer.from(message), privateKey).toString('base64'),
  };
}

/**
 * Loads the private key (`keyFile`, or `<dir>/keys/audit-ed25519.pem`), creating the key pair at first
 * start. The private key stays 0600 (tightened if someone loosened it); the public key goes to
 * `<dir>/keys/audit-ed25519.pub.pem`, which is what auditors verify with. Why a key file outside the
 * storage folder: whoever can read the folder could otherwise re-sign a forged log.
 */
export async function loadOrCreateSigningKey(dir: string, keyFile?: string): Promise<SigningKey> {
  const keyDir = join(dir, KEY_DIR);
  const privatePath = keyFile ?? join(keyDir, PRIVATE_KEY_FILE);
  let pem: string;
  try {
    pem = await readFile(privatePath, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    // Only a fresh storage folder gets a new key. A lost key with a log or public key still present
    // must stop start-up: a new key would overwrite the public key that verifies the old checkpoints.
    const leftovers = await Promise.all([
      stat(join(keyDir, PUBLIC_KEY_FILE)).then(
        () => PUBLIC_KEY_FILE,
        () => undefined,
      ),
      stat(join(dir, 'audit.jsonl')).then(
        (s) => (s.size > 0 ? 'audit.jsonl' : undefined),
        () => undefined,
      ),
    ]);
    const found = leftovers.filter(Boolean);
    if (found.length > 0)
      throw unavailable(
        'audit_key_missing',
        `the audit signing key ${privatePath} is missing but ${found.join(' and ')} exist: restore the key` +
          (keyFile ? '' : ' (or name it with audit.signingKey: { file } in the config)'),
      );
    const parent = keyFile ? dirname(keyFile) : keyDir;
    await mkdir(parent, { recursive: true, mode: 0o700 });
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      // 'wx': two processes starting at once must not overwrite each other's key.
      await writeDurably(privatePath, pem, 0o600, 'wx');
      await syncDir(parent);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      pem = await readFile(privatePath, 'utf8');
    }
  }
  if (((await stat(privatePath)).mode & 0o077) !== 0) await chmod(privatePath, 0o600);
  const key = signingKeyFrom(crypto.createPrivateKey(pem));
  const publicPath = join(keyDir, PUBLIC_KEY_FILE);
  const existing = await readFile(publicPath, 'utf8').catch((e) => (isMissing(e) ? undefined : Promise.reject(e)));
  if (existing !== key.publicKeyPem) {
    await mkdir(keyDir, { recursive: true, mode: 0o700 });
    await writeDurably(publicPath, key.publicKeyPem, 0o644, 'w');
  }
  return key;
}

/** True when a private key file sits in the storage folder although the config keeps the key elsewhere. */
export function keyCopyInStorage(dir: string, keyFile: string | undefined): Promise<boolean> {
  const inStorage = join(dir, KEY_DIR, PRIVATE_KEY_FILE);
  if (!keyFile || keyFile === inStorage) return Promise.resolve(false);
  return stat(inStorage).then(
    () => true,
    () => false,
  );
}

/**
 * The key a verifier checks signatures with: `publicKeyPem` if given (pinned by the auditor), else the
 * public key file, cross-checked against the private key when that is readable (a swapped public key
 * file would otherwise let forged signatures pass). Undefined when there is no key at all.
 */
export async function loadVerifyKey(
  dir: string,
  publicKeyPem?: string,
  privateKeyFile?: string,
): Promise<VerifyKey | undefined> {
  const keyDir = join(dir, KEY_DIR);
  const readIfThere = (path: string) =>
    readFile(path, 'utf8').catch((e) => (isMissing(e) || e?.code === 'EACCES' ? undefined : Promise.reject(e)));
  // With audit.signingKey the private key is that file: the cross-check below uses it, wherever it is kept.
  const [pubPem, privPem] = await Promise.all([
    readIfThere(join(keyDir, PUBLIC_KEY_FILE)),
    readIfThere(privateKeyFile ?? join(keyDir, PRIVATE_KEY_FILE)),
  ]);
  const fromPrivate = privPem ? signingKeyFrom(crypto.createPrivateKey(privPem)) : undefined;
  const pem = publicKeyPem ?? pubPem ?? fromPrivate?.publicKeyPem;
  if (!pem) return undefined;
  const publicKey = crypto.createPublicKey(pem);
  const keyId = keyIdOf(publicKey);
  if (fromPrivate && !publicKeyPem && fromPrivate.keyId !== keyId)
    throw new Error(`${PUBLIC_KEY_FILE} does not match the gateway's signing key (it was replaced)`);
  return { publicKey, publicKeyPem: pem, keyId };
}
