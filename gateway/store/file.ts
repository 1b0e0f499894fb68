// db.json on disk: a lowdb adapter whose writes are atomic and durable, and a loud refusal to parse junk.
import { type FileHandle, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { StoreOpenError } from './errors.js';
import { migrate } from './migrations.js';
import { checkDbShape, type DbData } from './schema.js';

export const DB_FILE = 'db.json';
/** Our temp files: `db.json.tmp-<pid>` and, during a migration, `db.json.v<N>.bak.tmp-<pid>`. */
const TEMP_FILE = /^db\.json(\.v\d+(-\d+)?\.bak)?\.tmp-\d+$/;

/** The file's text, or null when it does not exist yet. */
export async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Parses db.json or refuses. Why refuse rather than start empty: db.json is audit evidence, and
 * starting empty would overwrite it on the first write. (lowdb's own `Low.read` keeps its default
 * data when a file parses to a falsy value such as `null` — the same silent reset, so we check.)
 */
export function parseDbText(text: string, file: string): Record<string, unknown> {
  const hint = 'refusing to start so the data in it is not overwritten; restore it from a backup or move it aside';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new StoreOpenError('storage_corrupt', `${file} is not valid JSON (${(e as Error).message}); ${hint}`, e);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new StoreOpenError('storage_corrupt', `${file} does not hold a JSON object; ${hint}`);
  return value as Record<string, unknown>;
}

/** Parses, migrates in memory and checks a db.json text: what a reader gets. */
export function loadDbText(text: string, file: string): { data: DbData; from: number } {
  const raw = parseDbText(text, file);
  const { from } = migrate(raw, undefined, file);
  return { data: checkDbShape(raw, file), from };
}

/** Compact: at 10,000 records pretty-printing cost 40% more time and size per write (`jq .` reads it). */
export const serializeDb = (data: DbData): string => `${JSON.stringify(data)}\n`;

/**
 * Replaces `file` so that a crash at any instant leaves either the old or the new content, and
 * the new content survives power loss once this resolves: temp file, fsync, rename, fsync dir. `text` may come
 * in pieces (db.json: store/file-text.ts).
 */
export async function writeFileDurably(file: string, text: string | readonly Buffer[]): Promise<void> {
  const tmp = join(dirname(file), `${basename(file)}.tmp-${process.pid}`);
  // 0600: db.json holds user records and (encrypted) TOTP secrets.
  const fh = await open(tmp, 'w', 0o600);
  try {
    // Pieces are written one after another (the encoding of each was done where it was cached).
    if (typeof text === 'string') await fh.writeFile(text, 'utf8');
    else await writeAll(fh, text);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dirname(file));
}

/** Writes the pieces in order: writev in groups (an iovec list has a limit), finishing any short write. */
async function writeAll(fh: FileHandle, pieces: readonly Buffer[]): Promise<void> {
  for (let i = 0; i < pieces.length; i += 256) {
    const group = pieces.slice(i, i + 256);
    const total = group.reduce((n, b) => n + b.length, 0);
    let done = (await fh.writev(group)).bytesWritten;
    if (done === total) continue;
    const rest = Buffer.concat(group).subarray(done);
    for (let at = 0; at < rest.length; at += done) done = (await fh.write(rest, at)).bytesWritten;
  }
}

/** Makes a rename durable: the new directory entry is only on disk once the directory is synced. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some platforms cannot fsync a directory (Windows: EPERM/EISDIR); the rename still happened.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EINVAL') throw e;
  } finally {
    await fh.close();
  }
}

/** Deletes temp files a crashed writer left behind; call only while holding the lock. */
export async function removeLeftoverTemps(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => TEMP_FILE.test(n));
  for (const n of names) await unlink(join(dir, n)).catch(() => {});
  return names;
}

/**
 * The lowdb adapter for db.json. Unlike lowdb's JSONFile (steno: rename without fsync) a write
 * is durable when it resolves, and a read refuses junk instead of yielding defaults.
 */
export class DurableJsonFile implements Adapter<DbData> {
  readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  async read(): Promise<DbData | null> {
    const text = await readText(this.file);
    return text === null ? null : loadDbText(text, this.file).data;
  }

  write(data: DbData): Promise<void> {
    return writeFileDurably(this.file, serializeDb(data));
  }
}
