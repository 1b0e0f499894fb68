// Captured shell commands (`<storage>/commands.jsonl`): one CommandRecord a line, all of them kept in memory for the
// library and the evidence tables (the append-only log is jsonl-log.ts); here what commands alone need: the record's
// check and the move of a v1 db.json's commands into the file.
import { join } from 'node:path';
import type { CommandRecord } from './core/model.js';
import { type JsonLinesKind, JsonLinesLog, notARecord, openLines, readLines } from './jsonl-log.js';
import { type Logger, silentLogger } from './log.js';
import { COMMANDS_TO_MOVE, type DbData, type Store, StoreOpenError } from './store.js';

export const COMMANDS_FILE = 'commands.jsonl';

const VERDICTS: ReadonlySet<unknown> = new Set(['allowed', 'alerted', 'blocked']);

function isCommand(value: unknown): value is CommandRecord {
  const r = value as Partial<Record<keyof CommandRecord, unknown>> | null;
  return (
    r !== null &&
    typeof r === 'object' &&
    !Array.isArray(r) &&
    typeof r.id === 'string' &&
    typeof r.sessionId === 'string' &&
    typeof r.at === 'string' &&
    typeof r.text === 'string' &&
    VERDICTS.has(r.verdict) &&
    (r.rule === undefined || typeof r.rule === 'string')
  );
}

const COMMANDS: JsonLinesKind<CommandRecord> = {
  file: COMMANDS_FILE,
  name: 'command log',
  record: 'command record',
  plural: 'commands',
  // No captured command is anywhere near this; a "line" this long is garbage, not a record.
  maxLine: 16 << 20,
  is: isCommand,
  codes: { writeFailed: 'command_log_write_failed', closed: 'commands_closed' },
};

/** The command log: a JSON-lines log of CommandRecords (jsonl-log.ts), plus the move of a v1 db.json's commands into it. */
export class CommandLog extends JsonLinesLog<CommandRecord> {
  /**
   * Opens `<store.dir>/commands.jsonl` for appending; the open Store is the proof that this process holds
   * the storage lock. Cuts a torn last line, refuses a corrupt one, then finishes moving the commands a
   * v1 db.json held (schema migration to v2) before anything new is appended.
   */
  static async open(opts: { store: Store; logger?: Logger }): Promise<CommandLog> {
    const logger = opts.logger ?? silentLogger;
    const log = new CommandLog(await openLines(COMMANDS, opts.store.dir, logger));
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
    const records = await readLines(COMMANDS, dir);
    for (const r of stillToMove(db, records, join(dir, COMMANDS_FILE))) records.push(r);
    return records;
  }

  /**
   * The v1→v2 migration left db.json's commands in `meta.commandsToMove`. commands.jsonl gets them first
   * (fdatasync'd), db.json loses them after: killed in between, both hold them and the next start skips
   * the ids already in the file, so every command ends up there once, in its original order.
   */
  private async finishMove(store: Store, logger: Logger): Promise<void> {
    const moving = store.data.meta[COMMANDS_TO_MOVE];
    if (moving === undefined) return;
    const todo = stillToMove(store.data, this.records, this.file);
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
  if (!isCommand(value)) throw notARecord(where(), COMMANDS.record);
  return Object.freeze(value);
}
