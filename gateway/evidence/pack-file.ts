// Writes a pack to a file that appears whole or not at all, and never replaces an existing one.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { conflict } from '../errors.js';
import { type PackInput, type PackResult, writePack } from './pack.js';

/**
 * Streams the pack into a hidden temp file beside `path`, fsyncs it, then hard-links it into place:
 * link() fails if `path` exists, so an earlier pack (perhaps already handed to an assessor) is never
 * overwritten, and a crash leaves at most the temp file, never a half pack under the real name.
 */
export async function writePackFile(input: PackInput, path: string): Promise<PackResult> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  // Opened before anything else: the cleanup below must not race a file that appears after it.
  await once(out, 'open');
  try {
    const result = await writePack(input, out);
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw conflict('pack_exists', `${path} already exists: choose another --out (a pack is never overwritten)`);
      throw err;
    }
    return result;
  } finally {
    if (!out.closed) await new Promise<void>((resolve) => out.destroy().once('close', () => resolve()));
    await unlink(tmp).catch(() => {});
  }
}
