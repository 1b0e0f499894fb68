// Where a pack's audit lines come from: audit.jsonl in the storage folder (lowdb) or the engine's chain (PostgreSQL).
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type HeadFile, LOG_FILE, readHead } from '../audit/audit.js';
import { unavailable } from '../errors.js';
import type { AuditPort } from '../storage/storage.js';
import { readLines } from './lines.js';

/** One committed line and its place: [start, end) in the source's own positions. */
export interface SourceLine {
  bytes: Buffer;
  start: number;
  end: number;
}

/**
 * Positions are opaque to the slice: byte offsets in audit.jsonl, or for a database `seq - 1` to `seq`. The
 * slice only remembers them and hands them back, so the same streaming pass works on either engine.
 */
export interface AuditSource {
  /** The lines whose positions lie in [start, end), in seq order. */
  lines(range?: { start?: number; end?: number }): AsyncIterable<SourceLine>;
  /** The lines in [start, end) as the bytes audit.jsonl holds (newline-terminated). */
  stream(start: number, end: number): Readable;
  /** Bytes in [start, end) where the source knows them without reading (a file). */
  size(start: number, end: number): number | undefined;
  signedHead(): Promise<HeadFile | undefined>;
}

/** `<storageDir>/audit.jsonl` and `audit.head.json`: positions are byte offsets. */
export function fileAuditSource(storageDir: string): AuditSource {
  const path = join(storageDir, LOG_FILE);
  if (!existsSync(path)) throw unavailable('audit_log_missing', `no audit log at ${path}`);
  return {
    async *lines(range = {}) {
      for await (const { bytes, offset } of readLines(path, range))
        yield { bytes, start: offset, end: offset + bytes.length + 1 };
    },
    stream: (start, end) => (end > start ? createReadStream(path, { start, end: end - 1 }) : Readable.from([])),
    size: (start, end) => end - start,
    signedHead: () => readHead(storageDir),
  };
}

/** The engine's chain (PostgreSQL): the line with seq n sits at [n - 1, n). */
export function chainAuditSource(chain: {
  linesForward(after: number, upTo?: number): AsyncIterable<Buffer>;
  readSignedHead(): Promise<HeadFile | undefined>;
}): AuditSource {
  const lines = async function* (range: { start?: number; end?: number } = {}): AsyncGenerator<SourceLine> {
    const after = range.start ?? 0;
    if (range.end !== undefined && range.end <= after) return;
    let seq = after;
    // Seq is contiguous in the chain (every append locks its head); the slice re-checks every link anyway.
    for await (const bytes of chain.linesForward(after, range.end)) {
      seq++;
      yield { bytes, start: seq - 1, end: seq };
    }
  };
  return {
    lines,
    stream: (start, end) =>
      Readable.from(
        (async function* () {
          for await (const { bytes } of lines({ start, end })) yield Buffer.concat([bytes, NEWLINE]);
        })(),
      ),
    size: () => undefined,
    signedHead: () => chain.readSignedHead(),
  };
}

const NEWLINE = Buffer.from('\n');

/** The running gateway's audit log as a pack source: its engine's chain, else audit.jsonl. */
export function auditSourceOf(
  audit: Pick<AuditPort, 'linesForward' | 'readSignedHead'>,
  storageDir: string,
): AuditSource {
  if (audit.linesForward && audit.readSignedHead)
    return chainAuditSource({
      linesForward: audit.linesForward.bind(audit),
      readSignedHead: audit.readSignedHead.bind(audit),
    });
  return fileAuditSource(storageDir);
}
