// `gatehouse storage migrate`: a lowdb site with sessions, commands and recordings moves into PostgreSQL
// verbatim (same audit hashes), `audit verify --config` holds there, and the gateway opens it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ManualClock } from '../../gateway/clock.js';
import type { SessionRecord } from '../../gateway/core/model.js';
import { runCli } from '../helpers/cli.js';
import { testConfigInput } from '../helpers/config.js';
import { openTestStorage } from '../helpers/engines.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A lowdb site as a running gateway leaves it: users, a session with its recording, commands, a chain. */
async function lowdbSite(dir: string): Promise<{ head: { seq: number; hash: string }; lines: string[] }> {
  const s = await openTestStorage({ dir, clock: new ManualClock(T0), engine: 'lowdb' });
  const session = {
    id: 'ses_1',
    grantId: 'grt_1',
    requestId: 'req_1',
    userId: 'usr_1',
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    startedAt: new Date(T0).toISOString(),
    endedAt: new Date(T0 + 60_000).toISOString(),
    endReason: 'client_closed',
    recording: { path: 'sessions/2026/11/23/ses_1.cast' },
  } as unknown as SessionRecord;
  await mkdir(join(dir, 'sessions/2026/11/23'), { recursive: true });
  await writeFile(
    join(dir, 'sessions/2026/11/23/ses_1.cast'),
    '{"version":2,"width":80,"height":24}\n[0.1,"o","$ "]\n',
  );
  await s.state.update((d, audit) => {
    d.users.push({
      id: 'usr_1',
      email: 'alice@acme.test',
      name: 'Alice',
      org: 'Acme',
      roles: ['vendor'],
      groups: ['vendors'],
    } as never);
    d.sessions.push(session);
    d.meta.note = { kept: true };
    audit.record({
      type: 'session.started',
      actor: { kind: 'system', id: 'gateway' },
      subject: { sessionId: 'ses_1' },
    });
  });
  for (let i = 0; i < 3; i++)
    await s.commands.append({
      id: `cmd_${i}`,
      sessionId: 'ses_1',
      at: new Date(T0 + i * 1000).toISOString(),
      text: `ls ${i}`,
      verdict: 'allowed',
    });
  await s.audit.append({
    type: 'session.ended',
    actor: { kind: 'system', id: 'gateway' },
    subject: { sessionId: 'ses_1' },
  });
  await s.close();
  const lines = (await import('node:fs/promises')).readFile(join(dir, 'audit.jsonl'), 'utf8');
  const all = (await lines).trim().split('\n');
  const last = JSON.parse(all.at(-1)!) as { seq: number; hash: string };
  return { head: { seq: last.seq, hash: last.hash }, lines: all };
}

async function site() {
  const tmp = await tempDir('gh-migrate-');
  const db = await createTestDatabase();
  cleanup.push(
    () => tmp.remove(),
    () => db.drop(),
  );
  const input = testConfigInput(tmp.path);
  input.storage = { dir: tmp.path, engine: 'postgres', postgres: { url: { env: 'GH_MIGRATE_PG' } } };
  const config = join(tmp.path, 'gatehouse.yaml');
  await writeFile(config, stringify(input));
  const env = { GH_MIGRATE_PG: db.url };
  return { tmp, db, config, env };
}

describe('gatehouse storage migrate', () => {
  it('copies state, commands and the audit chain verbatim, verifies the copy, and refuses a second copy', async () => {
    const s = await site();
    const source = await lowdbSite(s.tmp.path);
    const run = await runCli(['storage', 'migrate', '--from-dir', s.tmp.path, '--config', s.config], {
      env: s.env,
      timeoutMs: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('1 users');
    expect(run.stdout).toContain('3 commands');
    expect(run.stdout).toContain(`verified to seq ${source.head.seq} (hash ${source.head.hash})`);

    const verify = await runCli(['audit', 'verify', '--config', s.config], { env: s.env, timeoutMs: 60_000 });
    expect([verify.code, verify.stdout]).toEqual([
      0,
      expect.stringContaining(`audit log intact: ${source.head.seq} records`),
    ]);

    process.env.GH_MIGRATE_PG = s.db.url;
    const { openPostgres } = await import('../../gateway/storage/postgres/engine.js');
    const { silentLogger } = await import('../../gateway/log.js');
    const pgs = await openPostgres({
      postgres: { url: { env: 'GH_MIGRATE_PG' }, poolSize: 4 },
      storageDir: s.tmp.path,
      clock: new ManualClock(T0 + 3600_000),
      logger: silentLogger,
      nodeId: 'gw-a',
      checkpointIntervalMs: 0,
    });
    try {
      expect(pgs.state.data.sessions.map((x) => x.recording?.path)).toEqual(['sessions/2026/11/23/ses_1.cast']);
      expect(pgs.state.data.meta.note).toEqual({ kept: true });
      expect(pgs.commands.records.map((c) => c.text)).toEqual(['ls 0', 'ls 1', 'ls 2']);
      const copied = (
        await pgs.pool.query('SELECT line FROM gh_audit WHERE seq <= $1 ORDER BY seq', [source.head.seq])
      ).rows.map((r) => r.line);
      expect(copied).toEqual(source.lines);
    } finally {
      await pgs.close();
    }

    const again = await runCli(['storage', 'migrate', '--from-dir', s.tmp.path, '--config', s.config], {
      env: s.env,
      timeoutMs: 60_000,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds Gatehouse data');
  }, 180_000);

  it('refuses a source whose audit chain is broken, copying nothing', async () => {
    const s = await site();
    const source = await lowdbSite(s.tmp.path);
    const path = join(s.tmp.path, 'audit.jsonl');
    const tampered = source.lines.map((l) => l.replace('"ses_1"', '"ses_9"'));
    await writeFile(path, `${tampered.join('\n')}\n`);
    const run = await runCli(['storage', 'migrate', '--from-dir', s.tmp.path, '--config', s.config], {
      env: s.env,
      timeoutMs: 60_000,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/source audit log is broken at record seq \d+/);
    const verify = await runCli(['audit', 'verify', '--config', s.config], { env: s.env, timeoutMs: 60_000 });
    expect(verify.code).toBe(1);
  }, 120_000);

  it('answers bad arguments with its usage', async () => {
    const r = await runCli(['storage', 'migrate', '--from-dir'], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: gatehouse storage migrate');
  }, 60_000);
});
