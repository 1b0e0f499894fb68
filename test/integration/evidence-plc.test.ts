// PLC operations in the evidence pack: plc.csv with every operation of the period, the report's "PLC operations" table, a pack that verifies.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/clock.js';
import { CommandLog } from '../../gateway/command-log.js';
import { PlcLog } from '../../gateway/conduit/plc-log.js';
import type { PlcOperationRecord } from '../../gateway/conduit/record.js';
import { writePackFile } from '../../gateway/evidence/pack-file.js';
import { parsePeriod } from '../../gateway/evidence/period.js';
import { verifyPack } from '../../gateway/evidence/verify.js';
import { Store } from '../../gateway/store.js';
import { parseCsv } from '../helpers/csv.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { readZip } from '../helpers/zip.js';
import { buildEvidenceStorage, PERIOD, SESSION_ID } from './evidence-fixture.js';

let tmp: TempDir;
let entries: Map<string, Buffer>;
let pack: string;

const op = (i: number, o: Partial<PlcOperationRecord>): PlcOperationRecord => ({
  id: `plc_${String(i).padStart(24, '0')}`,
  sessionId: SESSION_ID,
  at: `2026-11-23T09:06:${String(i).padStart(2, '0')}.000Z`,
  destination: '10.2.0.21:502',
  protocol: 'modbus',
  unit: '1',
  function: 'read-holding-registers',
  class: 'read',
  code: 3,
  target: 'holding 0-9',
  count: 10,
  verdict: 'allowed',
  result: 'ok',
  ok: true,
  ...o,
});

beforeAll(async () => {
  tmp = await tempDir('gh-evidence-plc-');
  // What the conduit audits in the session: an alert, a block, and a held stop refused when the wait ran out.
  const fx = await buildEvidenceStorage(join(tmp.path, 'storage'), (subject, actor) => [
    {
      type: 'plc.alerted',
      actor,
      subject: { ...subject, plcOperationId: op(1, {}).id },
      data: {
        protocol: 's7',
        function: 'read-var',
        target: 'DB1 0.0 BYTE×4',
        verdict: 'alerted',
        rule: 'reads the recipe',
        mode: 'alert',
      },
    },
    {
      type: 'plc.blocked',
      actor,
      subject: { ...subject, plcOperationId: op(10, {}).id },
      data: {
        protocol: 'modbus',
        function: 'write-single-coil',
        target: 'coil 1',
        values: '<script>x</script>',
        verdict: 'blocked',
        rule: 'coils drive the valves',
        mode: 'enforce',
      },
    },
    {
      type: 'plc.denied',
      actor: { kind: 'system', id: 'gateway' },
      subject: { ...subject, plcOperationId: op(13, {}).id },
      data: {
        protocol: 's7',
        function: 'plc-stop',
        target: 'P_PROGRAM',
        verdict: 'denied',
        reason: 'changes the running program',
        decided: 'timeout',
        mode: 'enforce',
      },
    },
    // Held is not yet an incident: its outcome is.
    {
      type: 'plc.held',
      actor,
      subject: { ...subject, plcOperationId: op(13, {}).id },
      data: { protocol: 's7', function: 'plc-stop', target: 'P_PROGRAM', reason: 'changes the running program' },
    },
  ]);
  const log = await PlcLog.open(fx.dir);
  for (let i = 0; i < 3; i++) await log.append(op(i, {}));
  await log.append(
    op(10, {
      function: 'write-single-coil',
      class: 'write',
      code: 5,
      target: 'coil 1',
      values: '<script>x</script>',
      verdict: 'blocked',
      rule: 'coils drive the valves',
      result: 'refused by the gateway',
      ok: false,
    }),
  );
  await log.append(
    op(11, {
      protocol: 's7',
      destination: '10.2.0.20:102',
      unit: 'rack 0 slot 2',
      function: 'plc-stop',
      class: 'control',
      code: 0x29,
      verdict: 'approved',
      decidedBy: 'nobody-known',
      result: 'ok',
    }),
  );
  await log.append(op(12, { at: '2026-11-24T00:00:00.000Z', function: 'write-single-register', class: 'write' })); // the next day: outside
  await log.close();
  const db = await Store.readSnapshot(fx.dir);
  pack = join(tmp.path, 'pack.zip');
  await writePackFile(
    {
      storageDir: fx.dir,
      db,
      commands: await CommandLog.read(fx.dir, db),
      period: parsePeriod(PERIOD.from, PERIOD.to),
      site: { name: fx.config.site.name, timezone: fx.config.site.timezone },
      targets: fx.config.targets,
      withRecordings: false,
      clock: new ManualClock('2026-11-25T12:00:00.000Z'),
      exportedBy: { kind: 'system', id: 'cli' },
    },
    pack,
  );
  entries = await readZip(pack);
}, 60_000);
afterAll(async () => {
  await tmp?.remove();
});

describe('PLC operations in the evidence pack', () => {
  it('lists every operation of the period in plc.csv, signed like every other file', async () => {
    const rows = parseCsv(entries.get('plc.csv')!.toString('utf8'));
    expect(rows[0]).toContain('function');
    expect(rows.slice(1).map((r) => r[8])).toEqual([
      'read-holding-registers',
      'read-holding-registers',
      'read-holding-registers',
      'write-single-coil',
      'plc-stop',
    ]);
    expect(rows[4]).toEqual(
      expect.arrayContaining(['blocked', 'coils drive the valves', 'refused by the gateway', '<script>x</script>']),
    );
    expect(JSON.parse(entries.get('manifest.json')!.toString()).counts.plcOperations).toBe(5);
    expect((await verifyPack(pack)).ok).toBe(true);
  });

  it('shows a "PLC operations" table in the report, writes and control before reads, everything escaped', () => {
    const html = entries.get('report.html')!.toString('utf8');
    const section = html.slice(html.indexOf('<h3>PLC operations</h3>'));
    expect(section).toContain('5 operations (allowed: 3, approved: 1, blocked: 1)');
    expect(section.indexOf('write-single-coil')).toBeLessThan(section.indexOf('read-holding-registers'));
    expect(section.indexOf('plc-stop')).toBeLessThan(section.indexOf('read-holding-registers'));
    expect(section).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(section).not.toContain('<script>');
    expect(section).toContain('rack 0 slot 2');
  });

  it('counts PLC alerts, blocks and refused held operations in alerts.csv and the report, beside the commands', () => {
    const [header, ...rows] = parseCsv(entries.get('alerts.csv')!.toString('utf8'));
    const col = (name: string) => header!.indexOf(name);
    const plc = rows.filter((r) => r[col('type')]!.startsWith('plc.'));
    expect(
      plc.map((r) => [r[col('type')], r[col('verdict')], r[col('rule')], r[col('reason')], r[col('detail')]]),
    ).toEqual([
      ['plc.alerted', 'alerted', 'reads the recipe', '', 's7 read-var DB1 0.0 BYTE×4'],
      ['plc.blocked', 'blocked', 'coils drive the valves', '', 'modbus write-single-coil coil 1 = <script>x</script>'],
      ['plc.denied', 'denied', '', 'changes the running program', 's7 plc-stop P_PROGRAM'],
    ]);
    expect(plc.every((r) => r[col('session_id')] === SESSION_ID)).toBe(true);
    // The commands' alerts are still there, and the manifest counts every row.
    expect(rows.map((r) => r[col('type')])).toEqual(expect.arrayContaining(['command.alerted', 'command.blocked']));
    expect(JSON.parse(entries.get('manifest.json')!.toString()).counts.alerts).toBe(rows.length);
    const html = entries.get('report.html')!.toString('utf8');
    expect(html).toMatch(/PLC operations alerted \/ blocked \/ denied<\/t[hd]>\s*<td>1 \/ 1 \/ 1</);
    expect(html).toContain('modbus write-single-coil coil 1 = &lt;script&gt;x&lt;/script&gt;');
  });
});
