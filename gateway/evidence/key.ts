// The key that signs evidence packs: the gateway's audit signing key (the one its checkpoints carry), read, never created.
import crypto, { type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KEY_DIR, keyIdOf, PRIVATE_KEY_FILE } from '../audit/audit.js';
import { unavailable } from '../errors.js';

export interface PackKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  keyId: string;
  /** Raw 64-byte Ed25519 signature over `bytes`. */
  sign(bytes: Buffer): Buffer;
}

/**
 * Why never create: a pack signed by a fresh key would verify on its own yet match none of the log's
 * checkpoints; the signature is only worth something if it is the key the auditors already pinned.
 */
export async function loadPackKey(storageDir: string, keyFile?: string): Promise<PackKey> {
  // audit.signingKey may keep the key outside the storage folder; the pack is signed with the same key.
  const path = keyFile ?? join(storageDir, KEY_DIR, PRIVATE_KEY_FILE);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw unavailable(
      'signing_key_unreadable',
      code === 'ENOENT'
        ? `the gateway's signing key ${path} is missing: a pack can only be signed with it (restore the key)`
        : `cannot read the gateway's signing key ${path} (${code ?? 'error'}): run the export as the gateway's user`,
      err,
    );
  }
  const privateKey = crypto.createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw unavailable('signing_key_invalid', `${path} is not an Ed25519 key`);
  const publicKey = crypto.createPublicKey(privateKey);
  return {
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
    sign: (bytes) => crypto.sign(null, bytes, privateKey),
  };
}
