// AES-256-GCM encryption at rest for TOTP secrets; the key is `<storage>/keys/totp.key`, 32 random bytes, 0600.
import crypto from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { internal } from '../errors.js';

export const TOTP_KEY_FILE = 'totp.key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface SecretBox {
  /** base64(iv | tag | ciphertext). `aad` binds the sealed text to its owner (the user id). */
  seal(plaintext: string, aad: string): string;
  /** The plaintext, or an internal error (wrong key, wrong owner, tampered): never a silent garbage value. */
  open(sealed: string, aad: string): string;
}

export function secretBoxFromKey(key: Buffer): SecretBox {
  if (key.length !== KEY_BYTES) throw internal('totp_key_invalid', `TOTP key must be ${KEY_BYTES} bytes`);
  return {
    seal(plaintext, aad) {
      // A fresh random 96-bit IV per seal: GCM breaks completely if an IV repeats under one key.
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
    },
    open(sealed, aad) {
      try {
        const raw = Buffer.from(sealed, 'base64');
        if (raw.length <= IV_BYTES + TAG_BYTES) throw new Error('sealed text too short');
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch (err) {
        // The cause names only the crypto failure; the sealed text and key never enter the message.
        throw internal('totp_secret_unreadable', 'stored TOTP secret cannot be decrypted', err);
      }
    },
  };
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

/** Reads the key file, creating it (32 random bytes, 0600, in a 0700 folder) on first use. */
export async function loadOrCreateTotpKey(storageDir: string): Promise<Buffer> {
  const keyDir = join(storageDir, 'keys');
  const path = join(keyDir, TOTP_KEY_FILE);
  let key: Buffer;
  try {
    key = await readFile(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
    await mkdir(keyDir, { recursive: true, mode: 0o700 });
    key = crypto.randomBytes(KEY_BYTES);
    // Written whole to a private temp name, then published with link(): link fails if the name exists,
    // so two first uses cannot overwrite each other's key, and no reader ever sees a half-written file.
    const tmp = join(keyDir, `${TOTP_KEY_FILE}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(key);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
      const dh = await open(keyDir, 'r');
      await dh.sync().finally(() => dh.close());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      key = await readFile(path);
    } finally {
      await unlink(tmp);
    }
  }
  if (key.length !== KEY_BYTES)
    // Refuse rather than guess: a truncated key would make every stored secret unreadable or weak.
    throw internal('totp_key_invalid', `${path} must hold exactly ${KEY_BYTES} bytes (has ${key.length})`);
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return key;
}

const boxes = new Map<string, Promise<SecretBox>>();

/** One SecretBox per storage folder, loaded once per process. */
export function secretBoxFor(storageDir: string): Promise<SecretBox> {
  const dir = resolve(storageDir);
  let box = boxes.get(dir);
  if (!box) {
    box = loadOrCreateTotpKey(dir).then(secretBoxFromKey);
    // A failed load (permissions, bad file) is retried next time rather than cached forever.
    box.catch(() => boxes.delete(dir));
    boxes.set(dir, box);
  }
  return box;
}
