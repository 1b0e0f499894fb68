// Small durable-write helpers: data and the directory entry that names it both reach the disk.
import { open, rename } from 'node:fs/promises';

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
