// A PostgreSQL database of its own per test (created on the test server, dropped after).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server tests use: GATEHOUSE_TEST_POSTGRES, else the local trust-auth server. */
export const TEST_POSTGRES = process.env.GATEHOUSE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** `url` with its database path replaced. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_POSTGRES });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createTestDatabase(prefix = 'gh_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: withDatabase(TEST_POSTGRES, name),
    drop() {
      // FORCE: a gateway killed in the test may leave connections behind.
      dropped ??= admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      return dropped;
    },
  };
}

/**
 * A schema of its own in the test server's database: ~30 ms against ~1 s for a database, which is what
 * fixtures that open storage per test want. The URL selects it through search_path.
 */
export async function createTestSchema(prefix = 'gh_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE SCHEMA ${name}`));
  const u = new URL(TEST_POSTGRES);
  u.searchParams.set('options', `-c search_path=${name}`);
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: u.toString(),
    drop() {
      dropped ??= admin(async (c) => {
        await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      });
      return dropped;
    },
  };
}
