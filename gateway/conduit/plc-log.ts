// PLC operations seen in forwards (`<storage>/plc.jsonl`): append-only, one PlcOperationRecord a line, beside the command log.
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../audit/durable.js';
import { GroupCommit } from '../audit/group-commit.js';
import { unavailable } from '../errors.js';
import { scanLines } from '../jsonl-scan.js';
import { type Logger, silentLogger } from '../log.js';
import { StoreOpenError } from '../store/errors.js';
import { isPlcRecord, type PlcOperationRecord } from './record.js';

export const PLC_FILE = 'plc.jsonl';
const MAX_LINE = 1 << 20;

/**
 * Like the command log: append() resolves once the line is written and fdatasync'd, and only then is the
 * record in `records`, so no reader sees an operation a crash could take back. Appends made while a write
 * is in flight share the next one (GroupCommit), which is what keeps a 10 Hz poll loop cheap.
 */
export class PlcLog {
  private readonly writer: GroupCommit<PlcOperationRecord>;
  private queued: PlcOperationRecord[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly fh: FileHandle,
    readonly file: string,
    private readonly list: PlcOperationRecord[],
    durableBytes: number,
    logger: Logger,
  ) {
    this.writer = new GroupCommit<PlcOperationRecord>(
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
          logger.error({ err, file }, 'PLC operation log write failed; further operations are not stored');
          return unavailable('plc_log_write_failed', 'the PLC operation log cannot be written', err);
        },
      },
      durableBytes,
    );
  }

  /** Opens `<dir>/plc.jsonl` (the caller holds the storage lock); cuts a torn last line, refuses a corrupt one. */
  static async open(dir: string, logger: Logger = silentLogger): Promise<PlcLog> {
    const file = join(dir, PLC_FILE);
    const scan = await scanPlc(file);
    const fh = await open(file, 'a', 0o600);
    try {
      if (!scan.exists) await syncDir(dir);
      if (scan.partialBytes > 0) {
        await fh.truncate(scan.size - scan.partialBytes);
        await fh.sync();
        logger.warn(
          { file, droppedBytes: scan.partialBytes },
          'PLC operation log: cut off a partial last line left by a crash',
        );
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new PlcLog(fh, file, scan.records, scan.size - scan.partialBytes, logger);
  }

  /** The operations of a storage folder, read-only and without the lock (offline evidence export). */
  static async read(dir: string): Promise<PlcOperationRecord[]> {
    return (await scanPlc(join(dir, PLC_FILE))).records;
  }

  get records(): readonly PlcOperationRecord[] {
    return this.list;
  }

  append(record: PlcOperationRecord): Promise<PlcOperationRecord> {
    if (this.closing) return Promise.reject(unavailable('plc_log_closed', 'the PLC operation log is closed'));
    if (this.writer.failure) return Promise.reject(this.writer.failure);
    const r = Object.freeze({ ...record });
    this.queued.push(r);
    return this.writer.push(JSON.stringify(r), r);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.idle();
      await this.fh.close();
    })();
    return this.closing;
  }
}

async function scanPlc(file: string) {
  const records: PlcOperationRecord[] = [];
  let line = 0;
  const r = await scanLines(file, {
    maxLine: MAX_LINE,
    line: (buf, start, end) => {
      line++;
      if (end === start) return true;
      let v: unknown;
      try {
        v = JSON.parse(buf.toString('utf8', start, end));
      } catch {
        v = undefined;
      }
      if (!isPlcRecord(v))
        throw new StoreOpenError(
          'storage_corrupt',
          `${file} line ${line} is not a PLC operation record; refusing to start so nothing is appended after it: repair or move it aside`,
        );
      records.push(Object.freeze(v));
      return true;
    },
    tooLong: () => {
      throw new StoreOpenError(
        'storage_corrupt',
        `${file} line ${line + 1} is far too long to be a PLC operation record; repair or move it aside`,
      );
    },
  });
  return { ...r, records };
}
