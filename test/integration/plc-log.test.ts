// The PLC operation log (plc.jsonl) against a real folder: durable ordered appends and reopen, a torn last line cut off,
// a corrupt or overlong line refused with its number, appends refused after close.
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PLC_FILE, PlcLog } from '../../gateway/conduit/plc-log.js';
import type { PlcOperationRecord } from '../../gateway/conduit/record.js';
import { StoreOpenError } from '../../gateway/store.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await tempDir('gh-plclog-');
});
afterEach(async () => {
  await tmp.remove();
});

const op = (i: number): PlcOperationRecord => ({
  id: `plc_${i}`,
  sessionId: 'ses_1',
  at: new Date(Date.UTC(2026, 10, 23, 9, 0, i)).toISOString(),
  destination: '10.2.0.21:502',
  protocol: 'modbus',
  unit: '1',
  function: 'read-holding-registers',
  class: 'read',
  target: `holding ${i}`,
  verdict: 'allowed',
  result: 'ok',
  ok: true,
});
const file = () => join(tmp.path, PLC_FILE);

describe('plc.jsonl', () => {
  it('keeps 200 concurrent appends in call order, lists them once durable, and reads them back', async () => {
    const log = await PlcLog.open(tmp.path);
    const all = Array.from({ length: 200 }, (_, i) => op(i));
    const pending = all.map((r) => log.append(r));
    expect(log.records).toEqual([]);
    await Promise.all(pending);
    expect(log.records.map((r) => r.id)).toEqual(all.map((r) => r.id));
    await log.close();
    await expect(log.append(op(999))).rejects.toMatchObject({ code: 'plc_log_closed' });
    expect((await PlcLog.read(tmp.path)).map((r) => r.id)).toEqual(all.map((r) => r.id));
  });

  it('cuts off a torn last line at open, then appends after the last whole record', async () => {
    await writeFile(file(), `${JSON.stringify(op(1))}\n${JSON.stringify(op(2)).slice(0, 40)}`);
    const log = await PlcLog.open(tmp.path);
    expect(log.records.map((r) => r.id)).toEqual(['plc_1']);
    await log.append(op(3));
    await log.close();
    const lines = (await readFile(file(), 'utf8')).split('\n');
    expect(lines.filter(Boolean).map((l) => (JSON.parse(l) as PlcOperationRecord).id)).toEqual(['plc_1', 'plc_3']);
  });

  it('refuses a complete line that is not an operation, or one far too long, naming the line; the file is left as it was', async () => {
    await writeFile(file(), `${JSON.stringify(op(1))}\n${JSON.stringify({ ...op(2), verdict: 'maybe' })}\n`);
    const before = await readFile(file());
    await expect(PlcLog.open(tmp.path)).rejects.toThrow(StoreOpenError);
    await expect(PlcLog.open(tmp.path)).rejects.toThrow(`${PLC_FILE} line 2 is not a PLC operation record`);
    await expect(PlcLog.read(tmp.path)).rejects.toThrow(/line 2 is not a PLC operation record/);
    expect(await readFile(file())).toEqual(before);
    await writeFile(file(), `${JSON.stringify(op(1))}\n`);
    await appendFile(file(), 'x'.repeat((1 << 20) + 10));
    await expect(PlcLog.open(tmp.path)).rejects.toThrow(/line 2 is far too long to be a PLC operation record/);
  });
});
