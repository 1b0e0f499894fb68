// Reads what the gateway recorded, to hold it against what the client received: byte-exact or not.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';

/** Every .cast file under `<storageDir>/sessions`. */
export async function castFiles(storageDir: string): Promise<string[]> {
  const root = join(storageDir, 'sessions');
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith('.cast')).map((e) => join(root, e));
}

export const sessionIdOf = (castPath: string) => basename(castPath, '.cast');

export interface CastSummary {
  path: string;
  sessionId: string;
  /** Labels of the `m` events (an exec's command text, captured shell commands). */
  markers: string[];
  /** SHA-256 and length of the `o` stream as UTF-8 bytes: what the vendor was sent. */
  outputSha256: string;
  outputBytes: number;
}

/** Streams a cast file line by line (recordings can be large). */
export async function summarizeCast(path: string): Promise<CastSummary> {
  const hash = createHash('sha256');
  const markers: string[] = [];
  let bytes = 0;
  let header = true;
  for await (const line of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
    if (header) {
      header = false;
      continue;
    }
    if (!line) continue;
    const [, kind, data] = JSON.parse(line) as [number, string, string];
    if (kind === 'o') {
      const b = Buffer.from(data, 'utf8');
      hash.update(b);
      bytes += b.length;
    } else if (kind === 'm') markers.push(data);
  }
  return { path, sessionId: sessionIdOf(path), markers, outputSha256: hash.digest('hex'), outputBytes: bytes };
}

type AuditRecord = { type: string; subject?: { sessionId?: string } };

export async function auditRecords(storageDir: string): Promise<AuditRecord[]> {
  const text = await readFile(join(storageDir, 'audit.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);
}

/** Waits (bounded) until every session in `ids` has a `recording.sealed` audit record. */
export async function waitSealed(storageDir: string, ids: Iterable<string>, ms = 120_000): Promise<void> {
  const want = new Set(ids);
  const end = Date.now() + ms;
  for (;;) {
    const sealed = new Set(
      (await auditRecords(storageDir)).filter((r) => r.type === 'recording.sealed').map((r) => r.subject?.sessionId),
    );
    const missing = [...want].filter((id) => !sealed.has(id));
    if (missing.length === 0) return;
    if (Date.now() > end) throw new Error(`${missing.length} recordings not sealed within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits (bounded) until every session.started has its session.ended: the gateway is done with the last phase. */
export async function waitSessionsEnded(storageDir: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const records = await auditRecords(storageDir);
    const ended = new Set(records.filter((r) => r.type === 'session.ended').map((r) => r.subject?.sessionId));
    const open = records.filter((r) => r.type === 'session.started' && !ended.has(r.subject?.sessionId)).length;
    if (open === 0) return;
    if (Date.now() > end) throw new Error(`${open} sessions still open after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Casts that appeared since `before` (a castFiles() result), once all of them are sealed. */
export async function newCasts(storageDir: string, before: string[]): Promise<string[]> {
  const known = new Set(before);
  const fresh = (await castFiles(storageDir)).filter((p) => !known.has(p));
  await waitSealed(storageDir, fresh.map(sessionIdOf));
  return fresh;
}

/** Removes recordings the bench no longer needs (a 1 GiB transfer leaves a 1 GiB cast). */
export async function dropCasts(paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true })));
}
