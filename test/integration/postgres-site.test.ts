// A PostgreSQL site where the files used to be: evidence packs, the PLC log, the offline CLIs and
// audit.signingKey against the database, and the storage monitor watching the database (through a TCP hop
// this test can cut) instead of db.json and audit.jsonl.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAuditVerify } from '../../gateway/cli/audit-verify.js';
import { runEvidenceExport, runEvidenceVerify } from '../../gateway/cli/evidence.js';
import { runRecordingsVerify } from '../../gateway/cli/recordings-verify.js';
import { runStorageMigrate } from '../../gateway/cli/storage-migrate.js';
import { runUsersResetTotp } from '../../gateway/cli/users.js';
import type { CliIo } from '../../gateway/cli/io.js';
import { ManualClock } from '../../gateway/clock.js';
import { PlcLog } from '../../gateway/conduit/plc-log.js';
import type { PlcOperationRecord } from '../../gateway/conduit/record.js';
import { silentLogger } from '../../gateway/log.js';
import { asStorageError, StorageFaults } from '../../gateway/storage-faults.js';
import { DATABASE_FAULT, RECORDINGS_FAULT, StorageMonitor } from '../../gateway/storage/monitor.js';
import { openStorage } from '../../gateway/storage/open.js';
import { openPostgres, type PostgresStorage } from '../../gateway/storage/postgres/engine.js';
import { testConfigInput } from '../helpers/config.js';
import { createTestSchema, TEST_POSTGRES } from '../helpers/postgres.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { readZip } from '../helpers/zip.js';
import { buildEvidenceStorage, HOSTILE_TARGET, PERIOD, SESSION_ID } from './evidence-fixture.js';
import { freeForm } from '../helpers/free-form-audit.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

let envCount = 0;

/** Runs an in-process CLI command, collecting what it prints. */
async function cli(run: (argv: string[], io: CliIo) => Promise<number>, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const plcOp = (i: number, o: Partial<PlcOperationRecord> = {}): PlcOperationRecord => ({
  id: `plc_${String(i).padStart(24, '0')}`,
  sessionId: SESSION_ID,
  at: `2026-11-23T09:06:${String(i % 60).padStart(2, '0')}.000Z`,
  destination: '10.2.0.21:502',
  protocol: 'modbus',
  unit: '1',
  function: 'write-single-coil',
  class: 'write',
  code: 5,
  target: 'coil 1',
  verdict: 'blocked',
  rule: 'coils drive the valves',
  result: 'refused by the gateway',
  ok: false,
  ...o,
});

interface Site {
  tmp: TempDir;
  dir: string;
  config: string;
  /** The environment variable the config names for the database URL. */
  env: string;
  url: string;
  open(node: string, o?: { url?: string }): Promise<PostgresStorage>;
}

/** A config file for a PostgreSQL site in `dir` (a schema of its own), with `extra` merged into its input. */
/** `gatehouse evidence export` of the test period from the site `config` names, into `out`. */
const exportPack = (config: string, out: string) =>
  cli(runEvidenceExport, ['--config', config, '--from', PERIOD.from, '--to', PERIOD.to, '--out', out]);

async function pgConfig(tmp: TempDir, dir: string, extra: Record<string, unknown> = {}) {
  const db = await createTestSchema();
  const env = `GH_PG_SITE_${process.pid}_${++envCount}`;
  process.env[env] = db.url;
  cleanup.push(async () => {
    await db.drop();
    delete process.env[env];
  });
  const input = testConfigInput(dir);
  const t = (input.targets as Array<Record<string, unknown>>)[0]!;
  input.targets = [{ ...t, name: HOSTILE_TARGET, zone: 'Cell 2 / Level 2 <b>' }];
  input.storage = { dir, engine: 'postgres', postgres: { url: { env }, poolSize: 4 } };
  Object.assign(input, extra);
  const config = join(tmp.path, 'gatehouse.yaml');
  await writeFile(config, JSON.stringify(input, null, 2));
  return { config, env, url: db.url };
}

/**
 * The evidence fixture (a day of sessions, commands, alerts, a sealed recording, PLC operations) written by
 * the lowdb engine, then moved into PostgreSQL with `gatehouse storage migrate`, as a site would.
 */
async function migratedSite(): Promise<Site> {
  const tmp = await tempDir('gh-pg-site-');
  cleanup.push(() => tmp.remove());
  const dir = join(tmp.path, 'storage');
  await buildEvidenceStorage(dir);
  const plc = await PlcLog.open(dir);
  for (let i = 0; i < 4; i++) await plc.append(plcOp(i));
  await plc.close();
  const { config, env, url } = await pgConfig(tmp, dir);
  const moved = await cli(runStorageMigrate, ['--from-dir', dir, '--config', config]);
  expect(moved.err).toBe('');
  expect(moved.out).toContain('4 PLC operations');
  expect(moved.code).toBe(0);
  return { tmp, dir, config, env, url, open: (node, o = {}) => openNode(dir, o.url ?? env, node) };
}

async function openNode(dir: string, env: string, node: string): Promise<PostgresStorage> {
  let urlEnv = env;
  if (env.includes('://')) {
    urlEnv = `GH_PG_SITE_${process.pid}_${++envCount}`;
    process.env[urlEnv] = env;
  }
  const s = await openPostgres({
    postgres: { url: { env: urlEnv }, poolSize: 4 },
    storageDir: dir,
    clock: new ManualClock('2026-11-25T12:00:00.000Z'),
    logger: silentLogger,
    nodeId: node,
    checkpointIntervalMs: 0,
  });
  cleanup.push(() => s.close());
  return s;
}

const chainLines = async (s: PostgresStorage, from = 1, to = Number.MAX_SAFE_INTEGER) =>
  (
    await s.pool.query<{ line: string }>('SELECT line FROM gh_audit WHERE seq >= $1 AND seq <= $2 ORDER BY seq', [
      from,
      to,
    ])
  ).rows.map((r) => r.line);

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('evidence packs from a PostgreSQL site', () => {
  it('gatehouse evidence export --config takes the chain, state, commands and PLC operations from the database; the pack verifies and matches the chain', async () => {
    const site = await migratedSite();
    // The same folder and config exported by the lowdb engine (the migration left the folder): the tables must not change.
    const lowdbConfig = join(site.tmp.path, 'lowdb.yaml');
    const input = JSON.parse(await readFile(site.config, 'utf8')) as { storage: unknown };
    await writeFile(lowdbConfig, JSON.stringify({ ...input, storage: { dir: site.dir } }));
    const lowdbPack = join(site.tmp.path, 'lowdb.zip');
    const before = await exportPack(lowdbConfig, lowdbPack);
    expect(before.err).toBe('');
    expect(before.code).toBe(0);
    // A node runs meanwhile: the export is one more writer of the shared chain.
    const node = await site.open('gw-a');
    const pack = join(site.tmp.path, 'pg.zip');
    const run = await exportPack(site.config, pack);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/recorded in the audit log as evidence\.exported \(seq \d+\)/);

    const verified = await cli(runEvidenceVerify, [pack]);
    expect(verified.code).toBe(0);
    expect(verified.out).toMatch(
      /audit chain continuous: \d+ records in the period, seq \d+-\d+, signed checkpoint seq \d+ verified/,
    );

    const entries = await readZip(pack);
    const old = await readZip(lowdbPack);
    for (const f of ['requests.csv', 'sessions.csv', 'commands.csv', 'alerts.csv', 'targets.csv'])
      expect(entries.get(f)!.toString(), f).toBe(old.get(f)!.toString());
    const plcCsv = entries.get('plc.csv')!.toString();
    expect(plcCsv.trim().split('\n')).toHaveLength(1 + 4);
    expect(plcCsv).toContain('coils drive the valves');

    const manifest = JSON.parse(entries.get('manifest.json')!.toString()) as {
      audit: {
        firstSeq: number;
        lastSeq: number;
        checkpoint: { seq: number } | null;
        signedHead: { seq: number; hash: string } | null;
      };
      counts: { commands: number; plcOperations: number };
    };
    expect(manifest.counts.plcOperations).toBe(4);
    expect(manifest.counts.commands).toBeGreaterThan(0);
    // The pack's audit.jsonl is the database's chain, byte for byte, over the slice.
    const lines = await chainLines(node, manifest.audit.firstSeq, manifest.audit.lastSeq);
    expect(entries.get('audit.jsonl')!.toString()).toBe(`${lines.join('\n')}\n`);
    expect(manifest.audit.checkpoint?.seq).toBe(manifest.audit.lastSeq);
    // The head the pack names is one the database signed (the export moved it on since, by its own record).
    const head = (
      await node.pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM gh_audit WHERE seq = $1', [
        manifest.audit.signedHead!.seq,
      ])
    ).rows[0]!;
    expect(head.hash).toBe(manifest.audit.signedHead!.hash);

    const zip = await readFile(pack);
    const exported = (await chainLines(node))
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === 'evidence.exported')
      .at(-1);
    expect(exported.data).toMatchObject({ via: 'cli', sha256: createHash('sha256').update(zip).digest('hex') });
    // The running node's view holds the export too (it reads the shared chain).
    expect((await node.audit.verify()).ok).toBe(true);
  }, 120_000);

  it('refuses to sign a pack over a chain broken in the database, and writes nothing', async () => {
    const site = await migratedSite();
    const node = await site.open('gw-a');
    await node.pool.query(
      `UPDATE gh_audit SET line = replace(line, '"type":"command.alerted"', '"type":"command.executed"') WHERE seq = (SELECT min(seq) FROM gh_audit WHERE type = 'command.alerted')`,
    );
    const pack = join(site.tmp.path, 'broken.zip');
    const run = await exportPack(site.config, pack);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/audit chain broken at record seq \d+/);
    expect(existsSync(pack)).toBe(false);
  }, 120_000);
});

describe('the PLC operation log on PostgreSQL', () => {
  it("lists every node's operations on every node (migrated ones too)", async () => {
    const site = await migratedSite();
    const a = await site.open('gw-a');
    const b = await site.open('gw-b');
    expect(a.plc.records.map((r) => r.id)).toEqual([0, 1, 2, 3].map((i) => plcOp(i).id));
    await b.plc.append(plcOp(10, { function: 'plc-stop', protocol: 's7', class: 'control', verdict: 'approved' }));
    await a.plc.append(plcOp(11));
    // B's operation reaches A through NOTIFY and a read of the rows after the last seen; both list all six in order.
    await until('both nodes list six operations', () => a.plc.records.length === 6 && b.plc.records.length === 6);
    expect(a.plc.records.map((r) => r.id)).toEqual(b.plc.records.map((r) => r.id));
    expect(a.plc.records.find((r) => r.id === plcOp(10).id)?.function).toBe('plc-stop');
    await expect(a.plc.append(plcOp(11))).rejects.toMatchObject({ code: 'storage_unavailable', status: 503 });
  }, 60_000);
});

describe('offline commands against PostgreSQL', () => {
  it('users reset-totp --config resets in the database beside a running node, audited as one transaction', async () => {
    const site = await migratedSite();
    const node = await site.open('gw-a');
    await node.state.update((d, audit) => {
      const u = d.users.find((x) => x.id === 'usr_vendor')!;
      u.totp = { secretEnc: 'x', confirmed: true, failures: 0, enrolledAt: '2026-11-23T09:00:00.000Z' };
      audit.record({ type: 'totp.confirmed', actor: { kind: 'user', id: u.id }, subject: { userId: u.id } });
    });
    const run = await cli(runUsersResetTotp, ['VENDOR@acme.example', '--config', site.config]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/usr_vendor .*: was enrolled/);
    await until('the node sees the reset', async () => {
      await node.state.refresh();
      return node.state.data.users.find((x) => x.id === 'usr_vendor')?.totp === undefined;
    });
    const reset = (await chainLines(node)).map((l) => JSON.parse(l)).filter((r) => r.type === 'totp.reset');
    expect(reset).toEqual([
      expect.objectContaining({
        actor: { kind: 'system', id: 'cli' },
        subject: { userId: 'usr_vendor' },
        data: expect.objectContaining({ via: 'cli', wasConfirmed: true }),
      }),
    ]);
    expect((await node.audit.verify()).ok).toBe(true);

    const nobody = await cli(runUsersResetTotp, ['nobody@acme.example', '--config', site.config]);
    expect([nobody.code, nobody.err]).toEqual([1, 'no user with e-mail nobody@acme.example']);
  }, 120_000);

  it('recordings verify --config checks the sessions the database holds against the files, read-only', async () => {
    const site = await migratedSite();
    const node = await site.open('gw-a');
    const seq = node.audit.head().seq;
    const ok = await cli(runRecordingsVerify, ['--config', site.config]);
    expect(ok.err).toBe('');
    expect([ok.code, ok.out]).toEqual([0, expect.stringMatching(/^recordings intact: 1 sealed recordings match/)]);
    const rec = node.state.data.sessions.find((s) => s.id === SESSION_ID)!.recording!.path;
    await appendFile(join(site.dir, rec), '[9.9,"o","forged"]\n');
    const bad = await cli(runRecordingsVerify, ['--config', site.config]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`ALTERED ${SESSION_ID}`);
    // Nothing was written: no checkpoint, no record.
    expect((await node.pool.query('SELECT max(seq) AS s FROM gh_audit')).rows[0].s).toBe(String(seq));
  }, 120_000);
});

describe('audit.signingKey with PostgreSQL', () => {
  async function keySite() {
    const tmp = await tempDir('gh-pg-key-');
    cleanup.push(() => tmp.remove());
    const dir = join(tmp.path, 'storage');
    const keyFile = join(tmp.path, 'secure', 'audit-ed25519.pem');
    const { config, env } = await pgConfig(tmp, dir, { audit: { signingKey: { file: keyFile } } });
    const open = () =>
      openStorage({
        config: {
          storage: { dir, engine: 'postgres', postgres: { url: { env }, poolSize: 4 } },
          audit: { signingKey: { file: keyFile } },
        },
        storageDir: dir,
        clock: new ManualClock('2026-11-23T09:00:00.000Z'),
        logger: silentLogger,
        checkpointIntervalMs: 0,
        checkpointEvery: 3,
      });
    return { tmp, dir, keyFile, config, open };
  }

  it('signs checkpoints and packs with the key file outside the folder; audit verify --config and evidence verify --key hold', async () => {
    const k = await keySite();
    const s = await k.open();
    for (let i = 0; i < 7; i++)
      await s.audit.append(freeForm({ type: 'auth.login', actor: { kind: 'user', id: 'usr_1' }, data: { n: i } }));
    expect(s.audit.signingKeyFile).toBe(k.keyFile);
    await s.close();
    expect(existsSync(k.keyFile)).toBe(true);
    expect(existsSync(join(k.dir, 'keys', 'audit-ed25519.pem'))).toBe(false);

    const verify = await cli(runAuditVerify, ['--config', k.config]);
    expect(verify.code).toBe(0);
    expect(verify.out).toMatch(/audit log intact: \d+ records, [3-9] checkpoints/);

    const pack = join(k.tmp.path, 'pack.zip');
    const run = await exportPack(k.config, pack);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const pub = join(k.dir, 'keys', 'audit-ed25519.pub.pem');
    expect((await readZip(pack)).get('public-key.pem')!.toString()).toBe(await readFile(pub, 'utf8'));
    expect((await cli(runEvidenceVerify, [pack, '--key', pub])).code).toBe(0);

    // A public key file swapped in the folder is caught against the key file the config names.
    const other = await tempDir('gh-pg-otherkey-');
    cleanup.push(() => other.remove());
    const { generateKeyPairSync } = await import('node:crypto');
    await writeFile(pub, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const swapped = await cli(runAuditVerify, ['--config', k.config]);
    expect([swapped.code, swapped.err]).toEqual([1, expect.stringContaining('does not match the gateway')]);
  }, 120_000);

  it('refuses to start while a copy of the key lies in the storage folder', async () => {
    const k = await keySite();
    const s = await k.open();
    await s.close();
    await mkdir(join(k.dir, 'keys'), { recursive: true });
    await copyFile(k.keyFile, join(k.dir, 'keys', 'audit-ed25519.pem'));
    await expect(k.open()).rejects.toMatchObject({ code: 'audit_key_copy' });
  }, 60_000);
});

/** A TCP hop between the gateway and PostgreSQL: `cut` drops it (and every connection through it), `mend` brings it back. */
async function tcpHop(): Promise<{
  port: number;
  cut(): Promise<void>;
  mend(): Promise<void>;
  close(): Promise<void>;
}> {
  const upstream = new URL(TEST_POSTGRES);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((inbound) => {
        const out = connect(Number(upstream.port || 5432), upstream.hostname);
        sockets.add(inbound).add(out);
        const drop = () => {
          inbound.destroy();
          out.destroy();
          sockets.delete(inbound);
          sockets.delete(out);
        };
        inbound.on('error', drop).on('close', drop);
        out.on('error', drop).on('close', drop);
        inbound.pipe(out).pipe(inbound);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const x of sockets) x.destroy();
    sockets.clear();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  };
  await listen();
  return { port, cut, mend: listen, close: cut };
}

describe('the storage monitor on PostgreSQL', () => {
  it('reports the database unreachable (503 storage_unavailable), clears it when it answers again, and records the recovery; recordings folder watched too', async () => {
    const tmp = await tempDir('gh-pg-monitor-');
    cleanup.push(() => tmp.remove());
    const db = await createTestSchema();
    cleanup.push(() => db.drop());
    const hop = await tcpHop();
    cleanup.push(() => hop.close());
    const viaHop = new URL(db.url);
    viaHop.port = String(hop.port);
    const s = await openNode(tmp.path, viaHop.toString(), 'gw-a');
    const faults = new StorageFaults();
    const monitor = new StorageMonitor({
      audit: s.audit,
      faults,
      logger: silentLogger,
      storageDir: tmp.path,
      probeDatabase: () => s.probe(),
    });
    await monitor.check();
    expect(faults.ok).toBe(true);

    await hop.cut();
    await monitor.check();
    expect(faults.list()).toEqual([expect.objectContaining({ file: DATABASE_FAULT })]);
    expect(faults.reason()).toMatch(/^storage unavailable: cannot write database/);
    // A change meanwhile is refused as every storage fault is: 503 storage_unavailable.
    const refused = await s.state.update((d) => void (d.meta.x = 1)).catch((e: unknown) => e);
    expect(asStorageError(refused)).toMatchObject({ code: 'storage_unavailable', status: 503 });
    await expect(s.audit.append({ type: 'auth.login', actor: { kind: 'user', id: 'usr_1' } })).rejects.toMatchObject({
      code: 'storage_unavailable',
      message: expect.stringContaining('cannot write database'),
    });
    await monitor.check(); // still down: still one fault, no recovery recorded
    expect(faults.list()).toHaveLength(1);

    await hop.mend();
    await until('the database answers again', async () => {
      await monitor.check();
      return faults.ok;
    });
    const recovered = (await chainLines(s)).map((l) => JSON.parse(l)).filter((r) => r.type === 'storage.recovered');
    expect(recovered).toEqual([expect.objectContaining({ data: expect.objectContaining({ file: DATABASE_FAULT }) })]);
    await s.state.update((d) => void (d.meta.x = 2));

    // The recordings folder stays on disk on this engine: a recording fault clears once it can be written.
    await mkdir(join(tmp.path, 'sessions'), { recursive: true });
    faults.report(RECORDINGS_FAULT, Object.assign(new Error('full'), { code: 'ENOSPC' }));
    await monitor.check();
    expect(faults.ok).toBe(true);
  }, 120_000);
});
