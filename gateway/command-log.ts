// Captured shell commands (`<storage>/commands.jsonl`): append-only, one CommandRecord a line, all of them
// kept in memory for the library and the evidence tables. A command never changes once captured, so unlike
// db.json nothing is rewritten: an append costs that record's bytes and a share of one fdatasync.
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './audit/durable.js';
import { GroupCommit } from './audit/group-commit.js';
import { scanLines } from './jsonl-scan.js';
import type { CommandRecord } from './core/model.js';
import { unavailable } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import type { DbData, Store } from './store.js';
import { StoreOpenError } from './store/errors.js';
import { COMMANDS_TO_MOVE } from './store/schema.js';

export const COMMANDS_FILE = 'commands.jsonl';

/** No captured command is anywhere near this; a "line" this long is garbage, not a record. */
const MAX_LINE = 16 << 20;
const VERDICTS: ReadonlySet<unknown> = new Set(['allowed', 'alerted', 'blocked']);

/**
 * append() resolves once the record is written and fdatasync'd, and only then does it show in `records`:
 * readers never see a command a crash could still take back. Records are written, and become visible,
 * in call order; appends made while a write is in flight share the next one (GroupCommit).
 */
export class CommandLog {
  private readonly writer: GroupCommit<CommandRecord>;
  /** Appended, not yet durable: the front of GroupCommit's queue, in the same order. */
  private queued: CommandRecord[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly fh: FileHandle,
    readonly file: string,
    private readonly list: CommandRecord[],
    durableBytes: number,
    logger: Logger,
  ) {
    this.writer = new GroupCommit<CommandRecord>(
      fh,
      {
        durable: (last) => {
          const n = this.queued.indexOf(last) + 1;
          for (let i = 0; i < n; i++) this.list.push(this.queued[i]!);
          this.queued.splice(0, n);
        },
        afterBarrier: async () => {},
        failed: (err) => {
          this.queued.length = 0;
          logger.error({ err, file }, 'command log write failed; further commands are not stored');
          return unavailable('command_log_write_failed', 'the command log cannot be written', err);
        },
      },
      durableBytes,
    );
  }

  /**
   * Opens `<store.dir>/commands.jsonl` for appending; the open Store is the proof that this process holds
   * the storage lock. Cuts a torn last line, refuses a corrupt one, then finishes moving the commands a
   * v1 db.json held (schema migration to v2) before anything new is appended.
   */
  static async open(opts: { store: Store; logger?: Logger }): Promise<CommandLog> {
    const logger = opts.logger ?? silentLogger;
    const file = join(opts.store.dir, COMMANDS_FILE);
    const scan = await scanCommands(file);
    // 0600 like db.json, where these records lived: a command line can carry a typed password.
    const fh = await open(file, 'a', 0o600);
    try {
      if (!scan.exists) await syncDir(opts.store.dir);
      // A line without its newline was never acknowledged (append resolves after the full write and
      // fdatasync), so cutting it off loses nothing anyone was told is stored.
      if (scan.partialBytes > 0) {
        await fh.truncate(scan.size - scan.partialBytes);
        await fh.sync();
        logger.warn(
          { file, droppedBytes: scan.partialBytes },
          'command log: cut off a partial last line left by a crash',
        );
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    const log = new CommandLog(fh, file, scan.records, scan.size - scan.partialBytes, logger);
    try {
      await log.finishMove(opts.store, logger);
    } catch (err) {
      await log.close().catch(() => {});
      throw err;
    }
    return log;
  }

  /**
   * The commands of a storage folder, read-only and without the lock (offline evidence export while a
   * gateway may be running): the file's complete lines, then any `db` still holds from before v2.
   */
  static async read(dir: string, db: Readonly<DbData>): Promise<CommandRecord[]> {
    const file = join(dir, COMMANDS_FILE);
    const { records } = await scanCommands(file);
    for (const r of stillToMove(db, records, file)) records.push(r);
    return records;
  }

  /** Every durable record, in the order appended. Read-only: the log appends to it. */
  get records(): readonly CommandRecord[] {
    return this.list;
  }

  /** Resolves with the (frozen) record once it is durable; rejects after close() or a failed write. */
  append(record: CommandRecord): Promise<CommandRecord> {
    if (this.closing) return Promise.reject(unavailable('commands_closed', 'the command log is closed'));
    if (this.writer.failure) return Promise.reject(this.writer.failure);
    const r = Object.freeze({ ...record });
    this.queued.push(r);
    return this.writer.push(JSON.stringify(r), r);
  }

  /** The error appends are refused with since a write failed, until recover() succeeds. */
  get failure(): Error | undefined {
    return this.writer.failure;
  }

  /** After a failed write: cut the torn tail and accept appends again (false: the disk still refuses). */
  async recover(): Promise<boolean> {
    if (this.closing) return false;
    try {
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

  /**
   * The v1→v2 migration left db.json's commands in `meta.commandsToMove`. commands.jsonl gets them first
   * (fdatasync'd), db.json loses them after: killed in between, both hold them and the next start skips
   * the ids already in the file, so every command ends up there once, in its original order.
   */
  private async finishMove(store: Store, logger: Logger): Promise<void> {
    const moving = store.data.meta[COMMANDS_TO_MOVE];
    if (moving === undefined) return;
    const todo = stillToMove(store.data, this.list, this.file);
    await Promise.all(todo.map((r) => this.append(r)));
    await store.update((d) => {
      delete d.meta[COMMANDS_TO_MOVE];
    });
    const total = (moving as unknown[]).length;
    logger.warn(
      { file: this.file, moved: todo.length, alreadyThere: total - todo.length },
      'moved captured commands from db.json to the command log',
    );
  }
}

/** What db.json still holds for the command log (see finishMove), minus the ids `have` has already. */
function stillToMove(db: Readonly<DbData>, have: readonly CommandRecord[], file: string): CommandRecord[] {
  const moving = db.meta[COMMANDS_TO_MOVE];
  if (moving === undefined) return [];
  if (!Array.isArray(moving))
    throw new StoreOpenError(
      'storage_invalid',
      `db.json: meta.${COMMANDS_TO_MOVE} is not a list; is this a Gatehouse db.json?`,
    );
  const ids = new Set(have.map((r) => r.id));
  const out: CommandRecord[] = [];
  moving.forEach((value: unknown, i) => {
    const r = asCommand(value, () => `db.json: meta.${COMMANDS_TO_MOVE}[${i}] (for ${file})`);
    if (!ids.has(r.id)) out.push(r);
  });
  return out;
}

function asCommand(value: unknown, where: () => string): CommandRecord {
  const r = value as Partial<Record<keyof CommandRecord, unknown>> | null;
  const ok =
    r !== null &&
    typeof r === 'object' &&
    !Array.isArray(r) &&
    typeof r.id === 'string' &&
    typeof r.sessionId === 'string' &&
    typeof r.at === 'string' &&
    typeof r.text === 'string' &&
    VERDICTS.has(r.verdict) &&
    (r.rule === undefined || typeof r.rule === 'string');
  if (!ok)
    throw new StoreOpenError(
      'storage_corrupt',
      `${where()} is not a command record; refusing to start so nothing is appended after it: repair or move it aside`,
    );
  return Object.freeze(r as CommandRecord);
}

interface Scan {
  exists: boolean;
  records: CommandRecord[];
  size: number;
  /** Bytes after the last newline: a line whose write was cut off. */
  partialBytes: number;
}

/** Reads the file in big chunks; a complete line that is not a command record is refused, never skipped. */
async function scanCommands(file: string): Promise<Scan> {
  const records: CommandRecord[] = [];
  let line = 0;
  const r = await scanLines(file, {
    maxLine: MAX_LINE,
    line: (buf, start, end) => {
      line++;
      if (end > start) records.push(parseLine(buf.toString('utf8', start, end), file, line));
      return true;
    },
    tooLong: () => {
      throw new StoreOpenError(
        'storage_corrupt',
        `${file} line ${line + 1} is far too long to be a command record; repair or move it aside`,
      );
    },
  });
  return { ...r, records };
}

function parseLine(text: string, file: string, line: number): CommandRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  return asCommand(value, () => `${file} line ${line}`);
}
