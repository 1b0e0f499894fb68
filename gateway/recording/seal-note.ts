// The seal note: `<recording>.seal` next to a recording, written when the gateway seals it, so the crash sweep knows the
// file is whole even when the session's end never reached the store (a crash right after the seal, a node cut off from
// its database that closed its sessions before the others declared it dead).
import { open, readFile, rename, unlink } from 'node:fs/promises';
import type { Logger } from '../log.js';

export interface SealNote {
  sha256: string;
  bytes: number;
  incomplete: boolean;
}

/** A note is never larger than this; anything bigger was not written by the gateway. */
const MAX_NOTE_BYTES = 1024;

export const sealNotePath = (recording: string): string => `${recording}.seal`;

/**
 * Writes the note durably and whole (a temporary file, fsynced, renamed over): a note that exists names a seal that
 * completed, since the recording was closed and fsynced before.
 */
export async function writeSealNote(recording: string, seal: SealNote): Promise<void> {
  const path = sealNotePath(recording);
  const tmp = `${path}.tmp`;
  const body = `${JSON.stringify({ sha256: seal.sha256, bytes: seal.bytes, incomplete: seal.incomplete })}\n`;
  const fh = await open(tmp, 'w', 0o640);
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path).catch(async (err: unknown) => {
    await unlink(tmp).catch(() => undefined);
    throw err;
  });
}

/** writeSealNote that never rejects: without the note the seal still stands, only a crash before its end is recorded
 * would then see the file as unsealed. */
export async function leaveSealNote(recording: string, seal: SealNote, logger: Logger): Promise<void> {
  await writeSealNote(recording, seal).catch((err: unknown) =>
    logger.warn({ err, recording }, 'could not write the seal note of a sealed recording'),
  );
}

/** The note, or undefined when there is none or it is not one the gateway wrote (never throws). */
export async function readSealNote(recording: string): Promise<SealNote | undefined> {
  const text = await readFile(sealNotePath(recording), 'utf8').catch(() => undefined);
  if (text === undefined || text.length > MAX_NOTE_BYTES) return undefined;
  try {
    const v = JSON.parse(text) as Partial<SealNote> | null;
    if (
      typeof v?.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(v.sha256) &&
      Number.isSafeInteger(v.bytes) &&
      (v.bytes as number) >= 0 &&
      typeof v.incomplete === 'boolean'
    )
      return { sha256: v.sha256, bytes: v.bytes as number, incomplete: v.incomplete };
  } catch {
    // Not JSON: not a note (a torn one cannot exist, see writeSealNote).
  }
  return undefined;
}
