// An append-only JSON-lines log in the storage folder (commands.jsonl, plc.jsonl): one frozen record a line, all of them
// kept in memory, written by group commit, cut back after a crash or a failed write, read back in big chunks.
import { type FileHandle, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GroupCommit, probeRoom, syncDir } from './audit/audit.js';
import { type ErrorCode, unavailable } from './errors.js';
import { scanLines } from './jsonl-scan.js';
import type { Logger } from './log.js';
import { StoreOpenError } from './store.js';

/** What one log holds and how it names itself in messages and error codes. */
export interface JsonLinesKind<T> {
  /** The file's name in the storage folder. */
  file: string;
  /** "command log": in log lines and refusals. */
  name: string;
  /** "command record": what a line must be. */
  record: string;
  /** "commands": what is lost while writes fail. */
  plural: string;
  /** A line longer than this is garbage, not a record. */
  maxLine: number;
  is(value: unknown): value is T;
  /** Error codes: a write failed (every append refused until recover()), the log is closed. */
  codes: { writeFailed: ErrorCode; closed: ErrorCode };
}

/** The refusal for a stored value that is not a record: nothing may be appended after it. */
export function notARecord(where: string, record: string): StoreOpenError {
  return new StoreOpenError(
    'storage_corrupt',
    `${where} is not a ${record}; refusing to start so nothing is appended after it: repair or move it aside`,
  );
}

/** A log's file opened for appending, its durable records read: what a JsonLinesLog is made from. */
export interface OpenedLines<T> {
  kind: JsonLinesKind<T>;
  fh: FileHandle;
  file: string;
  records: T[];
  durableBytes: number;
  logger: Logger;
}

/**
 * Opens `<dir>/<kind.file>` for appending (the caller holds the storage lock): cuts a torn last line, refuses a
 * corrupt one. 0600 like db.json: a command line can carry a typed password, a PLC write a recipe.
 */
export async function openLines<T>(kind: JsonLinesKind<T>, dir: string, logger: Logger): Promise<OpenedLines<T>> {
  const file = join(dir, kind.file);
  const scan = await scanFile(kind, file);
  const fh = await open(file, 'a', 0o600);
  try {
    if (!scan.exists) await syncDir(dir);
    // A line without its newline was never acknowledged (append resolves after the full write and fdatasync),
    // so cutting it off loses nothing anyone was told is stored.
    if (scan.partialBytes > 0) {
      await fh.truncate(scan.size - scan.partialBytes);
      await fh.sync();
      logger.warn(
        { file, droppedBytes: scan.partialBytes },
        `${kind.name}: cut off a partial last line left by a crash`,
      );
    }
  } catch (err) {
    await fh.close();
    throw err;
  }
  return { kind, fh, file, records: scan.records, durableBytes: scan.size - scan.partialBytes, logger };
}

/** A log's complete lines, read-only and without the lock (offline evidence export while a gateway may run). */
export async function readLines<T>(kind: JsonLinesKind<T>, dir: string): Promise<T[]> {
  return (await scanFile(kind, join(dir, kind.file))).records;
}

/**
 * append() resolves once the record is written and fdatasync'd, and only then does it show in `records`: readers
 * never see a record a crash could still take back. Records are written, and become visible, in call order; appends
 * made while a write is in flight share the next one (GroupCommit), which keeps a 10 Hz poll loop cheap. A record
 * never changes once stored, so nothing is rewritten: an append costs its bytes and a share of one fdatasync.
 */
export class JsonLinesLog<T extends object> {
  readonly file: string;
  private readonly fh: FileHandle;
  private readonly list: T[];
  private readonly writer: GroupCommit<T>;
  /** Appended, not yet durable: the front of GroupCommit's queue, in the same order. */
  private queued: T[] = [];
  private closing: Promise<void> | undefined;
  private readonly kind: JsonLinesKind<T>;

  protected constructor(o: OpenedLines<T>) {
    const { kind, file, logger } = o;
    this.kind = kind;
    this.fh = o.fh;
    this.file = file;
    this.list = o.records;
    this.writer = new GroupCommit<T>(
      o.fh,
      {
        durable: (last) => {
          const n = this.queued.indexOf(last) + 1;
          for (let i = 0; i < n; i++) this.list.push(this.queued[i]!);
          this.queued.splice(0, n);
        },
        afterBarrier: async () => {},
        failed: (err) => {
          this.queued.length = 0;
          logger.error({ err, file }, `${kind.name} write failed; further ${kind.plural} are not stored`);
          return unavailable(kind.codes.writeFailed, `the ${kind.name} cannot be written`, err);
        },
      },
      o.durableBytes,
    );
  }

  /** Every durable record, in the order appended. Read-only: the log appends to it. */
  get records(): readonly T[] {
    return this.list;
  }

  /** Resolves with the (frozen) record once it is durable; rejects after close() or a failed write. */
  append(record: T): Promise<T> {
    if (this.closing) return Promise.reject(unavailable(this.kind.codes.closed, `the ${this.kind.name} is closed`));
    if (this.writer.failure) return Promise.reject(this.writer.failure);
    const r = Object.freeze({ ...record });
    this.queued.push(r);
    return this.writer.push(JSON.stringify(r), r);
  }

  /** The error appends are refused with since a write failed, until recover() succeeds. */
  get failure(): Error | undefined {
    return this.writer.failure;
  }

  /**
   * After a failed write: once a fresh file shows there is room again (probeRoom: a nearly full disk must not flap),
   * cut the torn tail and accept appends again (false: the disk still refuses).
   */
  async recover(): Promise<boolean> {
    if (this.closing) return false;
    try {
      await probeRoom(dirname(this.file));
      await this.writer.reset();
      return true;
    } catch {
      return false;
    }
  }

  /** Finishes queued writes and closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.idle();
      await this.fh.close();
    })();
    return this.closing;
  }
}

interface Scan<T> {
  exists: boolean;
  records: T[];
  size: number;
  /** Bytes after the last newline: a line whose write was cut off. */
  partialBytes: number;
}

/** Reads the file in big chunks; a complete line that is not a record is refused, never skipped. */
async function scanFile<T>(kind: JsonLinesKind<T>, file: string): Promise<Scan<T>> {
  const records: T[] = [];
  let line = 0;
  const r = await scanLines(file, {
    maxLine: kind.maxLine,
    line: (buf, start, end) => {
      line++;
      if (end === start) return true;
      let value: unknown;
      try {
        value = JSON.parse(buf.toString('utf8', start, end));
      } catch {
        value = undefined;
      }
      if (!kind.is(value)) throw notARecord(`${file} line ${line}`, kind.record);
      records.push(Object.freeze(value));
      return true;
    },
    tooLong: () => {
      throw new StoreOpenError(
        'storage_corrupt',
        `${file} line ${line + 1} is far too long to be a ${kind.record}; repair or move it aside`,
      );
    },
  });
  return { ...r, records };
}
