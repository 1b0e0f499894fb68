// The cluster's pending sign-ins and RDP tokens against the machine's PostgreSQL, with a hand-moved clock: single use,
// expiry, the bounds (no unbounded table), and rows a node cannot open (tampered, or sealed under another key).
import { generateKeyPairSync } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretBoxFromKey } from '../../gateway/auth/secret-box.js';
import { ManualClock } from '../../gateway/clock.js';
import { clusterKeyFrom } from '../../gateway/cluster/internal-auth.js';
import { idHash, PgPendingLogins } from '../../gateway/cluster/pending-logins.js';
import { PgRdpTokens } from '../../gateway/cluster/rdp-tokens.js';
import { GatehouseError } from '../../gateway/errors.js';
import { silentLogger } from '../../gateway/log.js';
import { migrateDatabase } from '../../gateway/storage/postgres/migrations.js';
import { freePort } from '../helpers/ports.js';
import { createTestSchema, type TestDatabase } from '../helpers/postgres.js';

let schema: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  schema = await createTestSchema('gh_handoff');
  pool = new pg.Pool({ connectionString: schema.url, max: 4 });
  const c = await pool.connect();
  try {
    await migrateDatabase(c);
  } finally {
    c.release();
  }
});
afterAll(async () => {
  await pool?.end();
  await schema?.drop();
});

const box = () => secretBoxFromKey(clusterKeyFrom(generateKeyPairSync('ed25519').privateKey, 'pending sign-ins v1'));
const count = async (table: string) => Number((await pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
const tx = { state: 'st', nonce: 'no', codeVerifier: 'cv', returnTo: '/requests' };

describe('PgPendingLogins', () => {
  it('hands a sign-in out once, to one of several takers at once', async () => {
    const clock = new ManualClock();
    const logins = new PgPendingLogins({ pool, box: box(), clock, logger: silentLogger });
    const id = await logins.create(tx);
    expect(await logins.peek(id)).toMatchObject(tx);
    const taken = await Promise.all([logins.take(id), logins.take(id), logins.take(id)]);
    expect(taken.filter(Boolean)).toHaveLength(1);
    expect(taken.find(Boolean)).toMatchObject({ ...tx, createdAt: clock.now() });
    expect(await logins.take(id)).toBeUndefined();
    expect(await logins.take(undefined)).toBeUndefined();
    expect(await logins.take('x'.repeat(101))).toBeUndefined();
  });

  it('expires after its TTL and removes expired rows on the next sign-in', async () => {
    await pool.query('DELETE FROM gh_login_pending');
    const clock = new ManualClock();
    const logins = new PgPendingLogins({ pool, box: box(), clock, logger: silentLogger, ttlMs: 1000 });
    const old = await logins.create(tx);
    clock.advance(1000);
    expect(await logins.peek(old)).toBeUndefined();
    await logins.create(tx);
    expect(await count('gh_login_pending')).toBe(1);
    expect(await logins.take(old)).toBeUndefined();
  });

  it('stays bounded, dropping the oldest', async () => {
    await pool.query('DELETE FROM gh_login_pending');
    const clock = new ManualClock();
    const logins = new PgPendingLogins({ pool, box: box(), clock, logger: silentLogger, maxSize: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await logins.create(tx));
      clock.advance(1);
    }
    expect(await count('gh_login_pending')).toBe(3);
    expect(await logins.take(ids[1])).toBeUndefined();
    expect(await logins.take(ids[4])).toBeDefined();
  });

  it('refuses a row sealed under another key, or moved to another id, as unknown', async () => {
    const clock = new ManualClock();
    const a = new PgPendingLogins({ pool, box: box(), clock, logger: silentLogger });
    const other = new PgPendingLogins({ pool, box: box(), clock, logger: silentLogger });
    expect(await other.take(await a.create(tx))).toBeUndefined();
    // A reader who can write copies a sealed row onto their own sign-in's id: the seal is bound to its row.
    const victim = await a.create(tx);
    const mine = await a.create({ ...tx, returnTo: '/' });
    await pool.query(
      'UPDATE gh_login_pending SET sealed = (SELECT sealed FROM gh_login_pending WHERE id_hash = $1) WHERE id_hash = $2',
      [idHash(victim), idHash(mine)],
    );
    expect(await a.take(mine)).toBeUndefined();
    expect(await a.take(victim)).toMatchObject(tx);
  });
});

describe('PgRdpTokens', () => {
  const who = { userId: 'usr_a', webSessionId: 'web-a' };
  const ticket = { kind: 'watch' as const, sessionId: 'ses_1' };
  const size = { width: 800, height: 600, dpi: 96 };
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      if (err instanceof GatehouseError) return err.code;
      throw err;
    }
  };

  it('redeems once, for its owner and web session only; one of several redeemers at once wins', async () => {
    let now = 1_000_000;
    const tokens = new PgRdpTokens({ pool, now: () => now });
    const t = await tokens.mint(who, ticket, size);
    const all = await Promise.all([1, 2, 3].map(() => code(tokens.redeem(t.token, who))));
    expect(all.sort()).toEqual(['ok', 'rdp_token_invalid', 'rdp_token_invalid']);
    const other = await tokens.mint(who, ticket, size);
    expect(await code(tokens.redeem(other.token, { ...who, webSessionId: 'web-b' }))).toBe('rdp_token_foreign');
    expect(await code(tokens.redeem(other.token, who))).toBe('rdp_token_invalid');
    const late = await tokens.mint(who, ticket, size);
    now += 30_000;
    expect(await code(tokens.redeem(late.token, who))).toBe('rdp_token_expired');
    expect(await code(tokens.redeem(null, who))).toBe('rdp_token_invalid');
    expect(await code(tokens.redeem('x'.repeat(101), who))).toBe('rdp_token_invalid');
  });

  it("keeps each user's newest few, refuses past the global bound, and removes expired rows", async () => {
    await pool.query('DELETE FROM gh_rdp_tokens');
    let now = 2_000_000;
    const tokens = new PgRdpTokens({ pool, now: () => now, perUser: 2, max: 3 });
    const first = await tokens.mint(who, ticket, size);
    now += 1;
    await tokens.mint(who, ticket, size);
    now += 1;
    await tokens.mint(who, ticket, size);
    expect(await count('gh_rdp_tokens')).toBe(2);
    expect(await code(tokens.redeem(first.token, who))).toBe('rdp_token_invalid');
    await tokens.mint({ userId: 'usr_b', webSessionId: 'web-b' }, ticket, size);
    expect(await code(tokens.mint({ userId: 'usr_c', webSessionId: 'web-c' }, ticket, size))).toBe('rdp_busy');
    now += 30_000;
    await tokens.mint({ userId: 'usr_c', webSessionId: 'web-c' }, ticket, size);
    expect(await count('gh_rdp_tokens')).toBe(1);
  });
});

describe('an unreachable database', () => {
  it('refuses a sign-in and a token with 503 storage_unavailable, not an internal error', async () => {
    const down = new pg.Pool({
      connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none`,
      connectionTimeoutMillis: 2000,
    });
    down.on('error', () => undefined);
    try {
      const clock = new ManualClock();
      const logins = new PgPendingLogins({ pool: down, box: box(), clock, logger: silentLogger });
      const tokens = new PgRdpTokens({ pool: down, now: () => clock.now() });
      const who = { userId: 'usr_a', webSessionId: 'web-a' };
      for (const attempt of [
        logins.create(tx),
        logins.take('some-id'),
        tokens.mint(who, { kind: 'watch', sessionId: 'ses_1' }, { width: 800, height: 600, dpi: 96 }),
        tokens.redeem('some-token', who),
      ])
        await expect(attempt).rejects.toMatchObject({ code: 'storage_unavailable', status: 503 });
    } finally {
      await down.end();
    }
  });
});
