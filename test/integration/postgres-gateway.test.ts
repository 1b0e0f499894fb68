// A gateway on PostgreSQL with a real OpenSSH target, and a second node on the same database: the evidence pack
// from GET /api/evidence is the database's chain, state, commands and PLC operations (every node's), it verifies;
// GET /api/sessions/:id/plc lists the other node's operations; /healthz answers from the database monitor.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../gateway/clock.js';
import type { PlcOperationRecord } from '../../gateway/conduit/record.js';
import { verifyPack } from '../../gateway/evidence/verify.js';
import { silentLogger } from '../../gateway/log.js';
import { openPostgres, type PostgresStorage } from '../../gateway/storage/postgres/engine.js';
import { parseCsv } from '../helpers/csv.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';
import { type Me, type Browser, signIn } from '../helpers/web-login.js';
import { readZip } from '../helpers/zip.js';
import { writeFile } from 'node:fs/promises';

const PROMPT = /[#$] $/;
let h: SshGateway;
let other: PostgresStorage;
let auditor: { browser: Browser; me: Me };
let sessionId: string;
let from: string;
let to: string;

const op = (o: Partial<PlcOperationRecord>): PlcOperationRecord => ({
  id: 'plc_000000000000000000000b01',
  sessionId,
  at: new Date().toISOString(),
  destination: '10.2.0.20:102',
  protocol: 's7',
  unit: 'rack 0 slot 2',
  function: 'plc-stop',
  class: 'control',
  code: 0x29,
  verdict: 'blocked',
  rule: 'stops the line <b>',
  result: 'refused by the gateway',
  ok: false,
  ...o,
});

beforeAll(async () => {
  h = await startSshGateway({
    engine: 'postgres',
    target: { commands: { mode: 'alert', rules: [{ match: 'secret', action: 'alert', reason: 'touches secrets' }] } },
  });
  from = new Date(Date.now() - 3600_000).toISOString();
  await h.grant();
  const c = await vendorClient(h, TARGET);
  try {
    const sh = await openShell(c);
    const out = collect(sh);
    await out.until(PROMPT);
    sh.write('cat /etc/secret-notes\r');
    await h.waitAudit('command.alerted', (a) => a.data?.text === 'cat /etc/secret-notes');
    sh.write('exit\r');
  } finally {
    c.end();
  }
  await h.waitAudit('recording.sealed');
  await h.waitAudit('session.ended');
  sessionId = h.gw.store.data.sessions[0]!.id;
  to = new Date(h.clock.now() + 3600_000).toISOString();
  // A second node on the same database (the config names its URL through an environment variable).
  const pgc = h.gw.config.storage.postgres!;
  other = await openPostgres({
    postgres: { ...pgc, poolSize: 2 },
    storageDir: h.gw.storageDir,
    clock: systemClock,
    logger: silentLogger,
    nodeId: 'gw-b',
    checkpointIntervalMs: 0,
  });
  await other.plc.append(op({}));
  auditor = await signIn(h, 'auditor');
}, 180_000);
afterAll(async () => {
  await other?.close();
  await h?.close();
});

describe('a PostgreSQL gateway', () => {
  it("lists another node's PLC operations for a session", async () => {
    let body: { operations: PlcOperationRecord[]; total: number } = { operations: [], total: 0 };
    const end = Date.now() + 15_000;
    while (body.total === 0 && Date.now() < end) {
      const res = await auditor.browser.fetch(`/api/sessions/${sessionId}/plc`);
      expect(res.status).toBe(200);
      body = (await res.json()) as typeof body;
      if (body.total === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(body.operations.map((o) => [o.id, o.function, o.verdict])).toEqual([
      ['plc_000000000000000000000b01', 'plc-stop', 'blocked'],
    ]);
  });

  it('exports an evidence pack from the database that verifies and holds the chain, the commands and every node’s PLC operations', async () => {
    const res = await auditor.browser.fetch(
      `/api/evidence?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
    );
    expect(res.status).toBe(200);
    const file = join(h.dir.path, 'api-pack.zip');
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    const verdict = await verifyPack(file);
    expect(verdict.ok, verdict.ok ? '' : verdict.problem).toBe(true);

    const entries = await readZip(file);
    const manifest = JSON.parse(entries.get('manifest.json')!.toString()) as {
      audit: { firstSeq: number; lastSeq: number; checkpoint: { seq: number } | null };
      counts: { plcOperations: number; sessions: number };
    };
    // The API signs a checkpoint before packing: the slice ends on it.
    expect(manifest.audit.checkpoint?.seq).toBe(manifest.audit.lastSeq);
    const lines = (
      await other.pool.query<{ line: string }>('SELECT line FROM gh_audit WHERE seq BETWEEN $1 AND $2 ORDER BY seq', [
        manifest.audit.firstSeq,
        manifest.audit.lastSeq,
      ])
    ).rows.map((r) => r.line);
    expect(entries.get('audit.jsonl')!.toString()).toBe(`${lines.join('\n')}\n`);
    expect(lines.some((l) => l.includes('"type":"command.alerted"'))).toBe(true);
    const commands = parseCsv(entries.get('commands.csv')!.toString('utf8'));
    expect(commands.some((r) => r.includes('cat /etc/secret-notes'))).toBe(true);
    expect(manifest.counts.sessions).toBe(1);
    expect(manifest.counts.plcOperations).toBe(1);
    expect(entries.get('plc.csv')!.toString()).toContain('plc-stop');
    // The export itself is on record in the shared chain.
    await h.waitAudit('evidence.exported', (a) => a.data?.via === 'api');
  });

  it('is healthy while the database answers (the storage monitor asks it every second)', async () => {
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(200);
  });
});
