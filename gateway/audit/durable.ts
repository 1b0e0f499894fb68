// Small durable-write helpers: data and the directory entry that names it both reach the disk.
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A batch just became durable: its last record and the file's durable length. */
export interface DurableMark {
  seq: number;
  hash: string;
  bytes: number;
  /** The batch's own bytes (they end at `bytes`): a reader that is caught up need not read the file. */
  batch?: Buffer;
}
/** Writes `text` to `path` and fsyncs it before closing. */
export async function writeDurably(path: string, text: string, mode: number, flag: 'wx' | 'w'): Promise<void> {
  const fh = await open(path, flag, mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a directory, so a file created or renamed in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Atomically replaces `path`: readers see the old file or the new one, never a mix. */
export async function replaceDurably(dir: string, path: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeDurably(tmp, text, mode, 'w');
  await rename(tmp, path);
  await syncDir(dir);
}

/** What probeRoom writes: more than a part-used block can hold, so only free blocks let it through. */
const PROBE_BYTES = 64 * 1024;

/**
 * Throws unless PROBE_BYTES can be written and synced in a fresh file in `dir` (removed either way). Why a fresh
 * file of that size: cutting a file back always works on a full disk (it frees bytes), and so does a small write
 * into a file's last, part-used block, so neither shows there is room again; a log that called itself recovered
 * on them would fail at its next append and flap between failed and recovered.
 */
export async function probeRoom(dir: string): Promise<void> {
  const probe = join(dir, `.probe-${process.pid}`);
  try {
    const fh = await open(probe, 'w', 0o600);
    try {
      await fh.writeFile(Buffer.alloc(PROBE_BYTES));
      await fh.sync();
    } finally {
      await fh.close();
    }
  } finally {
    await unlink(probe).catch(() => undefined);
  }
}
