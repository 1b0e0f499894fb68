// PLC operations seen in forwards (`<storage>/plc.jsonl`): one PlcOperationRecord a line, an append-only log beside
// the command log (jsonl-log.ts: durable before listed, group commit, cut back after a crash or a failed write).
import { type JsonLinesKind, JsonLinesLog, openLines, readLines } from '../jsonl-log.js';
import { type Logger, silentLogger } from '../log.js';
import { isPlcRecord, type PlcOperationRecord } from './record.js';

export const PLC_FILE = 'plc.jsonl';

const PLC: JsonLinesKind<PlcOperationRecord> = {
  file: PLC_FILE,
  name: 'PLC operation log',
  record: 'PLC operation record',
  plural: 'operations',
  maxLine: 1 << 20,
  is: isPlcRecord,
  codes: { writeFailed: 'plc_log_write_failed', closed: 'plc_log_closed' },
};

export class PlcLog extends JsonLinesLog<PlcOperationRecord> {
  /** Opens `<dir>/plc.jsonl` (the caller holds the storage lock); cuts a torn last line, refuses a corrupt one. */
  static async open(dir: string, logger: Logger = silentLogger): Promise<PlcLog> {
    return new PlcLog(await openLines(PLC, dir, logger));
  }

  /** The operations of a storage folder, read-only and without the lock (offline evidence export). */
  static read(dir: string): Promise<PlcOperationRecord[]> {
    return readLines(PLC, dir);
  }
}
