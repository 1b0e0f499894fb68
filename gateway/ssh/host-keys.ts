// The gateway's own SSH host keys: read from ssh.hostKeys; a missing file gets a new ed25519 key (mode 0600) at first start.
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { utils } from './ssh2.js';
import type { Logger } from '../log.js';

export interface HostKey {
  path: string;
  privateKey: Buffer;
  /** `SHA256:…` as `ssh-keygen -lf` prints it: what vendors compare on first connect. */
  fingerprint: string;
  /** OpenSSH one-line public key (known_hosts material). */
  publicKey: string;
  created: boolean;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of a raw SSH public key blob (OpenSSH's format). */
export const sshFingerprint = (blob: Buffer): string =>
  `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

async function readOrCreate(path: string): Promise<{ text: Buffer; created: boolean }> {
  try {
    return { text: await readFile(path), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // ssh2 1.17 writes a malformed key when the public half starts with a zero byte (~1 in 256, measured
  // here: it drops the leading zero), so a new key is parsed back and made again if it does not load.
  let pair = utils.generateKeyPairSync('ed25519');
  for (let i = 0; i < 5 && utils.parseKey(pair.private) instanceof Error; i++)
    pair = utils.generateKeyPairSync('ed25519');
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // Why 'wx' + 0600: never overwrite a key another process just wrote, and never leave a private key readable.
    await writeFile(path, pair.private, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { text: await readFile(path), created: false };
  }
  await writeFile(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 }).catch(() => undefined);
  return { text: Buffer.from(pair.private), created: true };
}

/** Loads every configured host key (creating missing ones); throws naming the file when one is unusable. */
export async function loadHostKeys(paths: readonly string[], logger?: Logger): Promise<HostKey[]> {
  const keys: HostKey[] = [];
  for (const path of paths) {
    const { text, created } = await readOrCreate(path);
    const parsed = utils.parseKey(text);
    if (parsed instanceof Error || !parsed.isPrivateKey())
      throw new Error(
        `ssh.hostKeys: ${path} is not an unencrypted private key (${parsed instanceof Error ? parsed.message : 'public key'})`,
      );
    if (created) await chmod(path, 0o600);
    const blob = parsed.getPublicSSH();
    const key: HostKey = {
      path,
      privateKey: text,
      fingerprint: sshFingerprint(blob),
      publicKey: `${parsed.type} ${blob.toString('base64')}`,
      created,
    };
    if (created) logger?.warn({ path, fingerprint: key.fingerprint }, 'created a new SSH host key');
    keys.push(key);
  }
  return keys;
}
