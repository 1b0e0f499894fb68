// The SIEM stream on PostgreSQL, to a real rsyslogd: two nodes share one chain and one node streams it; every
// node's records arrive once, in seq order; when the streaming node stops the other takes over from the cursor
// kept in the database, and a node started later goes on from there without resending what was delivered.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyslogStream, type SyslogStreamOptions } from '../../gateway/audit/syslog.js';
import { runAuditVerify } from '../../gateway/cli/audit-verify.js';
import { systemClock } from '../../gateway/clock.js';
import type { SyslogConfig } from '../../gateway/config.js';
import { silentLogger } from '../../gateway/log.js';
import { openPostgres, type PostgresStorage } from '../../gateway/storage/postgres/engine.js';
import type { PgSyslogBacklog } from '../../gateway/storage/postgres/syslog.js';
import { testConfigInput } from '../helpers/config.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { LOCKS } from '../../gateway/storage/postgres/migrations.js';
import { type Rsyslog, receivedBySeq, rsyslogIn } from '../helpers/rsyslog.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

const fast: Pick<SyslogStreamOptions, 'confirmMs' | 'tickMs' | 'retryDelaysMs'> = {
  confirmMs: 300,
  tickMs: 50,
  retryDelaysMs: [100, 200, 400],
};

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Node {
  storage: PostgresStorage;
  backlog: PgSyslogBacklog;
  stream: SyslogStream;
  /** As the gateway stops: the chain's last checkpoint first, then the stream (so it goes out too), then the rest. */
  stop(): Promise<void>;
}

async function world(): Promise<{
  tmp: TempDir;
  rsyslog: Rsyslog;
  configFile: string;
  rewrite(seq: number): Promise<void>;
  /** Ends the connection that holds the stream's lock from the server side (a network cut, a DBA's kill). */
  killStreamLock(): Promise<number>;
  node(id: string): Promise<Node>;
}> {
  const tmp = await tempDir('gh-pg-syslog-');
  cleanup.push(() => tmp.remove());
  // A database of its own, not a schema: advisory locks are per database, and the stream's lock must be this test's.
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  const env = `GH_PG_SYSLOG_${process.pid}`;
  process.env[env] = db.url;
  const rsyslog = await rsyslogIn(tmp.path);
  cleanup.push(() => rsyslog.stop());
  const config: SyslogConfig = {
    host: '127.0.0.1',
    port: rsyslog.port,
    transport: 'tcp',
    appName: 'gatehouse',
    alertBacklog: 10_000,
    alertAfterSeconds: 3600,
  };
  const input = testConfigInput(tmp.path);
  input.storage = { dir: tmp.path, engine: 'postgres', postgres: { url: { env } } };
  const configFile = join(tmp.path, 'gatehouse.yaml');
  await writeFile(configFile, JSON.stringify(input));
  return {
    tmp,
    rsyslog,
    configFile,
    /** Rewrites record `seq` in the database, hash and all (what an insider with the table could do). */
    async rewrite(seq: number) {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await c.query(
          "UPDATE gh_audit SET line = replace(line, hash, repeat('f', 64)), hash = repeat('f', 64) WHERE seq = $1",
          [seq],
        );
      } finally {
        await c.end();
      }
    },
    async killStreamLock() {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const r = await c.query<{ n: string }>(
          `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_locks
           WHERE locktype = 'advisory' AND objid = $1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [LOCKS.syslog],
        );
        return Number(r.rows[0]!.n);
      } finally {
        await c.end();
      }
    },
    async node(id) {
      const storage = await openPostgres({
        postgres: { url: { env }, poolSize: 4 },
        storageDir: tmp.path,
        clock: systemClock,
        logger: silentLogger,
        nodeId: id,
        checkpointIntervalMs: 0,
        checkpointEvery: 40,
      });
      const backlog = storage.syslogBacklog(`127.0.0.1:${rsyslog.port}`);
      const stream = new SyslogStream({ config, audit: storage.audit, backlog, clock: systemClock, ...fast });
      await stream.start();
      let stopped: Promise<void> | undefined;
      const stop = () =>
        (stopped ??= (async () => {
          await storage.audit.close();
          await stream.stop();
          await storage.close();
        })());
      cleanup.push(stop);
      return { storage, backlog, stream, stop };
    },
  };
}

const event = (node: string, i: number) => ({
  type: 'command.executed' as const,
  actor: { kind: 'user' as const, id: 'usr_vendor' },
  subject: { sessionId: `ses_${node}`, targetId: 'eng-ws-01' },
  data: { text: `tail -n 5 /var/log/plc-${node}-${i}.log | grep "Störung"`, verdict: 'allowed' },
});

const chainHead = async (s: PostgresStorage) =>
  Number((await s.pool.query<{ seq: string }>('SELECT seq FROM gh_audit_head')).rows[0]!.seq);

/** Every seq 1..last arrived, each with the chain's own hash (a resend carries the same one). */
async function expectWholeChain(rsyslog: Rsyslog, s: PostgresStorage, last: number): Promise<Map<number, string[]>> {
  const got = receivedBySeq(await rsyslog.lines());
  const chain = await s.pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM gh_audit ORDER BY seq');
  expect(chain.rows).toHaveLength(last);
  for (const row of chain.rows) {
    const hashes = got.get(Number(row.seq));
    expect(hashes, `seq ${row.seq}`).toBeDefined();
    expect(new Set(hashes)).toEqual(new Set([row.hash]));
  }
  return got;
}

describe('the SIEM stream on PostgreSQL', () => {
  it('one node streams the shared chain; a node stopping hands over at the saved cursor; a later node resumes there', async () => {
    const w = await world();
    const a = await w.node('gw-a');
    const b = await w.node('gw-b');
    await until('one node streams', () => a.backlog.streaming !== b.backlog.streaming);

    for (let i = 0; i < 60; i++) await (i % 2 ? a : b).storage.audit.append(event(i % 2 ? 'a' : 'b', i));
    const head1 = await chainHead(a.storage);
    await until(
      'every record of both nodes at rsyslog',
      async () => receivedBySeq(await w.rsyslog.lines()).size >= head1,
    );
    // No connection was lost: every record exactly once.
    const first = await expectWholeChain(w.rsyslog, a.storage, head1);
    expect([...first.values()].every((h) => h.length === 1)).toBe(true);

    // The streaming node stops; the other takes the stream over from the cursor the first one saved.
    const [leader, other] = a.backlog.streaming ? [a, b] : [b, a];
    await leader.stop();
    const saved = await other.storage.pool.query<{ seq: string; node: string }>(
      'SELECT seq, node FROM gh_syslog_cursor',
    );
    expect(saved.rows).toHaveLength(1);
    const handedOver = Number(saved.rows[0]!.seq);
    expect(handedOver).toBeGreaterThanOrEqual(head1);
    await until('the other node streams', () => other.backlog.streaming);
    for (let i = 0; i < 30; i++) await other.storage.audit.append(event('late', i));
    const head2 = await chainHead(other.storage);
    await until('the records after the hand-over', async () => receivedBySeq(await w.rsyslog.lines()).size >= head2);
    await other.stop();

    // A node started later (the whole cluster was down) resumes at the saved cursor: nothing delivered is sent again.
    const linesBefore = (await w.rsyslog.lines()).length;
    const c = await w.node('gw-c');
    const cursor = Number(
      (await c.storage.pool.query<{ seq: string }>('SELECT seq FROM gh_syslog_cursor')).rows[0]!.seq,
    );
    // The stopped node's final checkpoint went out before it let go.
    expect(cursor).toBeGreaterThan(head2);
    await until('gw-c streams', () => c.backlog.streaming);
    await c.storage.audit.append(event('c', 0));
    const head3 = await chainHead(c.storage);
    await until('gw-c records at rsyslog', async () => receivedBySeq(await w.rsyslog.lines()).size >= head3);
    await expectWholeChain(w.rsyslog, c.storage, head3);
    const resent = (await w.rsyslog.lines()).slice(linesBefore).filter((l) => {
      const m = /seq="(\d+)"/.exec(l);
      return m !== null && Number(m[1]) <= cursor;
    });
    expect(resent).toEqual([]);

    // The SIEM's file is a witness of the database's chain: it agrees, then catches a rewritten record.
    await c.stop();
    const verify = async () => {
      const out: string[] = [];
      const code = await runAuditVerify(['--config', w.configFile, '--witness', w.rsyslog.file], {
        out: (l) => out.push(l),
        err: (l) => out.push(l),
      });
      return { code, out: out.join('\n') };
    };
    const agreed = await verify();
    expect(agreed.code, agreed.out).toBe(0);
    expect(agreed.out).toMatch(/witness agrees: \d+ records compared/);
    await w.rewrite(5);
    const caught = await verify();
    expect(caught.code).toBe(1);
    expect(caught.out).toMatch(/witness MISMATCH at record seq 5: the local log contradicts the witness/);
  }, 180_000);

  it('the streaming node losing its database connection: the stream is taken up again at the saved cursor, nothing skipped', async () => {
    const w = await world();
    const a = await w.node('gw-a');
    const b = await w.node('gw-b');
    await until('one node streams', () => a.backlog.streaming !== b.backlog.streaming);
    const leader = a.backlog.streaming ? a : b;
    for (let i = 0; i < 20; i++) await a.storage.audit.append(event('a', i));
    expect(await w.killStreamLock()).toBe(1);
    // The cut is noticed on the lock's own connection (its error, or the next poll on it).
    await until('the streaming node lets go', () => !leader.backlog.streaming);
    for (let i = 0; i < 20; i++) await b.storage.audit.append(event('b', i));
    // Either node may win the lock next (the one that lost it tries again too); exactly one streams.
    await until('one node streams again', () => a.backlog.streaming !== b.backlog.streaming);
    const head = await chainHead(a.storage);
    await until('every record at rsyslog', async () => receivedBySeq(await w.rsyslog.lines()).size >= head);
    // At least once, in one chain: every seq with its own hash (the cut may have caused resends, never a gap).
    await expectWholeChain(w.rsyslog, a.storage, head);
  }, 180_000);
});
