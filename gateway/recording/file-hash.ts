// SHA-256 and size of a recording as it is on disk, streamed (recordings can be large): one function for the seal
// checks, the crash sweep, RDP recordings and evidence packs.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 and size of the first `limit` bytes of a file (all of it by default). */
export async function hashFile(path: string, limit?: number): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(path, {
    highWaterMark: 1024 * 1024,
    ...(limit === undefined ? {} : { end: limit - 1 }),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
