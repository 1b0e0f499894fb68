// AES-256-GCM at rest for TOTP secrets: bound to the owner (AAD), tamper-evident, key file created 0600.
import crypto from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateTotpKey, secretBoxFor, secretBoxFromKey } from '../../gateway/auth/secret-box.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let tmp: TempDir;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.remove();
});

describe('secret box', () => {
  const box = secretBoxFromKey(crypto.randomBytes(32));

  it('round-trips for the same owner and never contains the plaintext', () => {
    const sealed = box.seal(SECRET, 'usr_a');
    expect(sealed).not.toContain(SECRET);
    expect(Buffer.from(sealed, 'base64').toString('latin1')).not.toContain(SECRET);
    expect(box.open(sealed, 'usr_a')).toBe(SECRET);
    // A fresh IV each time: the same secret never seals to the same text.
    expect(box.seal(SECRET, 'usr_a')).not.toBe(sealed);
  });

  it("refuses another user's id as AAD, a flipped bit, a truncated text and another key", () => {
    const sealed = box.seal(SECRET, 'usr_a');
    const unreadable = expect.objectContaining({ code: 'totp_secret_unreadable' });
    expect(() => box.open(sealed, 'usr_b')).toThrow(unreadable);
    const raw = Buffer.from(sealed, 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => box.open(raw.toString('base64'), 'usr_a')).toThrow(unreadable);
    expect(() => box.open(sealed.slice(0, 20), 'usr_a')).toThrow(unreadable);
    expect(() => secretBoxFromKey(crypto.randomBytes(32)).open(sealed, 'usr_a')).toThrow(unreadable);
    // The error never carries the sealed text or the key.
    try {
      box.open(sealed, 'usr_b');
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(sealed);
    }
  });
});

describe('key file', () => {
  it('is created once with 32 random bytes, mode 0600, in a 0700 folder, and reused', async () => {
    const key = await loadOrCreateTotpKey(tmp.path);
    const path = join(tmp.path, 'keys', 'totp.key');
    expect(key).toHaveLength(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(tmp.path, 'keys'))).mode & 0o777).toBe(0o700);
    expect(Buffer.compare(await readFile(path), key)).toBe(0);
    expect(Buffer.compare(await loadOrCreateTotpKey(tmp.path), key)).toBe(0);
  });

  it('refuses a key file of the wrong length rather than guess', async () => {
    await loadOrCreateTotpKey(tmp.path);
    await writeFile(join(tmp.path, 'keys', 'totp.key'), Buffer.alloc(16));
    await expect(loadOrCreateTotpKey(tmp.path)).rejects.toMatchObject({ code: 'totp_key_invalid' });
  });

  it('concurrent first uses agree on one key', async () => {
    const boxes = await Promise.all([loadOrCreateTotpKey(tmp.path), loadOrCreateTotpKey(tmp.path)]);
    expect(Buffer.compare(boxes[0]!, boxes[1]!)).toBe(0);
    const box = await secretBoxFor(tmp.path);
    expect(secretBoxFromKey(boxes[0]!).open(box.seal(SECRET, 'u'), 'u')).toBe(SECRET);
  });
});
