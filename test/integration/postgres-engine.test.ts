// The PostgreSQL engine itself: migrations, one transaction for state + audit, two nodes on one database.
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/clock.js';
import type { User } from '../../gateway/core/model.js';
import { openPostgres, type PostgresStorage } from '../../gateway/storage/postgres/engine.js';
import { verifyChain } from '../../gateway/storage/postgres/audit.js';
import { MIGRATIONS } from '../../gateway/storage/postgres/migrations.js';
import { loadVerifyKey } from '../../gateway/audit/signing.js';
import { silentLogger } from '../../gateway/log.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function world(): Promise<{
  db: TestDatabase;
  tmp: TempDir;
  open(node?: string, dir?: string): Promise<PostgresStorage>;
}> {
  const db = await createTestDatabase();
  const tmp = await tempDir('gh-pg-');
  cleanup.push(
    () => tmp.remove(),
    () => db.drop(),
  );
  process.env.GH_PG_ENGINE_TEST = db.url;
  return {
    db,
    tmp,
    async open(node = 'gw-a', dir = tmp.path) {
      const s = await openPostgres({
        postgres: { url: { env: 'GH_PG_ENGINE_TEST' }, poolSize: 10 },
        storageDir: dir,
        clock: new ManualClock(T0),
        logger: silentLogger,
        nodeId: node,
        checkpointIntervalMs: 0,
        checkpointEvery: 5,
      });
      cleanup.push(() => s.close());
      return s;
    },
  };
}

const user = (id: string): User =>
  ({ id, email: `${id}@example.test`, name: id, org: 'Acme', roles: ['vendor'], groups: [] }) as unknown as User;
const actor = { kind: 'system', id: 'cli' } as const;

describe('postgres engine', () => {
  it('applies its migrations once, keeps state across a restart, and starts a signed chain', async () => {
    const w = await world();
    const a = await w.open();
    await a.state.update((d, audit) => {
      d.users.push(user('usr_1'));
      d.meta.answer = 42;
      audit.record({ type: 'key.added', actor, subject: { userId: 'usr_1' } });
    });
    await a.close();
    const again = await w.open();
    expect(again.state.data.users.map((u) => u.id)).toEqual(['usr_1']);
    expect(again.state.data.meta.answer).toBe(42);
    const r = await again.pool.query('SELECT count(*)::int AS n FROM gh_schema');
    expect(r.rows[0].n).toBe(MIGRATIONS.length); // each applied once
    const v = await again.audit.verify();
    expect(v.ok).toBe(true);
    const types = (await again.pool.query('SELECT type FROM gh_audit ORDER BY seq')).rows.map((x) => x.type);
    expect(types).toContain('key.added');
    expect(types[0]).toBe('audit.checkpoint');
  });

  it('commits nothing, neither state nor audit, when the update fn throws or records a bad event', async () => {
    const w = await world();
    const a = await w.open();
    const before = a.audit.head();
    await expect(
      a.state.update((d, audit) => {
        d.users.push(user('usr_x'));
        audit.record({ type: 'key.added', actor });
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    await expect(
      a.state.update((d, audit) => {
        d.users.push(user('usr_y'));
        audit.record({ type: 'no.such_event' as never, actor });
      }),
    ).rejects.toThrow(/unknown audit event type/);
    expect(a.state.data.users).toEqual([]);
    expect(a.audit.head()).toEqual(before);
    const rows = await a.pool.query('SELECT count(*)::int AS n FROM gh_rows');
    expect(rows.rows[0].n).toBe(0);
  });

  it('refuses a state no row can hold (a record without an id, a duplicate id)', async () => {
    const w = await world();
    const a = await w.open();
    await expect(a.state.update((d) => void d.users.push({} as User))).rejects.toThrow(/no string id/);
    await expect(a.state.update((d) => void d.users.push(user('u'), user('u')))).rejects.toThrow(/twice/);
    expect(a.state.data.users).toEqual([]);
  });

  it('two nodes: writers take turns, each sees the other, one audit chain', async () => {
    const w = await world();
    const a = await w.open('gw-a');
    const b = await w.open('gw-b');
    await a.state.update((d) => void (d.meta.counter = 0));
    const bump = (s: PostgresStorage) =>
      s.state.update((d, audit) => {
        d.meta.counter = (d.meta.counter as number) + 1;
        audit.record({ type: 'config.loaded', actor, data: { counter: d.meta.counter } });
      });
    await Promise.all(Array.from({ length: 12 }, (_, i) => bump(i % 2 ? a : b)));
    await a.state.refresh();
    await b.state.refresh();
    expect(a.state.data.meta.counter).toBe(12);
    expect(b.state.data.meta.counter).toBe(12);
    // Deletions travel too.
    await b.state.update((d) => void d.users.push(user('usr_b')));
    await a.state.update((d) => void (d.users = d.users.filter((u) => u.id !== 'usr_b')));
    await b.state.refresh();
    expect(b.state.data.users).toEqual([]);

    // Which node crosses the every-5 bound above depends on the interleaving: each signs one here for certain.
    await a.state.update((d, audit) => void audit.record({ type: 'config.loaded', actor, data: { by: 'gw-a' } }));
    await a.audit.checkpoint();
    await b.state.update((d, audit) => void audit.record({ type: 'config.loaded', actor, data: { by: 'gw-b' } }));
    await b.audit.checkpoint();
    const v = await b.audit.verify();
    expect(v.ok).toBe(true);
    const counters = (await a.pool.query("SELECT line FROM gh_audit WHERE type = 'config.loaded' ORDER BY seq")).rows
      .map((r) => JSON.parse(r.line).data.counter)
      .filter((c) => c !== undefined);
    expect(counters).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const nodes = (await a.pool.query("SELECT line FROM gh_audit WHERE type = 'audit.checkpoint'")).rows.map(
      (r) => JSON.parse(r.line).data.node,
    );
    expect(new Set(nodes)).toEqual(new Set(['gw-a', 'gw-b']));
  });

  it('a commit on one node reaches the other node by NOTIFY, without an update there', async () => {
    const w = await world();
    const a = await w.open('gw-a');
    const b = await w.open('gw-b');
    await a.state.update((d) => void d.users.push(user('usr_n')));
    for (let i = 0; i < 200 && b.state.data.users.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(b.state.data.users.map((u) => u.id)).toEqual(['usr_n']);
    await a.commands.append({
      id: 'cmd_1',
      sessionId: 'ses_1',
      at: new Date(T0).toISOString(),
      text: 'ls',
      verdict: 'allowed',
    });
    for (let i = 0; i < 200 && b.commands.records.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(b.commands.records.map((c) => c.id)).toEqual(['cmd_1']);
  });

  it('verification names the first record changed in the database, and a node refuses to start on it', async () => {
    const w = await world();
    const a = await w.open();
    for (let i = 0; i < 3; i++) await a.audit.append({ type: 'config.loaded', actor, data: { i } });
    await a.close();
    await a.pool.end().catch(() => {});
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: w.db.url });
    await c.connect();
    await c.query(`UPDATE gh_audit SET line = replace(line, '"i":1', '"i":7') WHERE seq = 3`);
    const key = await loadVerifyKey(w.tmp.path);
    const v = await verifyChain(c, key);
    await c.end();
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.seq).toBe(3);
    await expect(w.open()).rejects.toThrow(/audit chain broken at record seq 3/);
  });

  it('a node with another signing key is refused', async () => {
    const w = await world();
    await w.open('gw-a');
    const other = await tempDir('gh-pg-other-');
    cleanup.push(() => other.remove());
    await expect(w.open('gw-b', other.path)).rejects.toThrow(/every node must use the same key/);
  });

  it('lives through the server cutting its connections mid-transaction: that update fails, the next one works', async () => {
    const w = await world();
    const a = await w.open();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const cut = a.state.update(async (d) => {
      d.meta.x = 1;
      await gate; // the transaction's connection is checked out now
    });
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: w.db.url });
    await admin.connect();
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [w.db.name],
    );
    await admin.end();
    open();
    await expect(cut).rejects.toThrow();
    let done = false;
    for (let i = 0; i < 50 && !done; i++) {
      done = await a.state
        .update((d) => void (d.meta.x = 2))
        .then(
          () => true,
          () => new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
        );
    }
    expect(done).toBe(true);
    expect(a.state.data.meta.x).toBe(2);
  });
});
