// `gatehouse demo --nodes 2`: two gateway nodes in one process on a PostgreSQL database of the demo's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../../gateway/demo/run.js';
import { silentLogger } from '../../gateway/log.js';
import { runCli } from '../helpers/cli.js';
import { authorizeWithPassword } from '../helpers/oidc.js';
import { freePort } from '../helpers/ports.js';
import { TEST_POSTGRES, withDatabase } from '../helpers/postgres.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { Browser, beginLogin } from '../helpers/web-login.js';

let demo: Demo;
let dir: TempDir;
/** The database the demo made for its folder. */
let database: string | undefined;

beforeAll(async () => {
  dir = await tempDir('gh-demo-nodes-');
  demo = await startDemo({
    dir: dir.path,
    nodes: 2,
    postgres: TEST_POSTGRES,
    httpPort: await freePort(),
    idpPort: await freePort(),
    sshPort: await freePort(),
    targetPort: await freePort(),
    logger: silentLogger,
  });
  database = new URL(process.env.GATEHOUSE_DEMO_POSTGRES_URL!).pathname.slice(1);
}, 60_000);
afterAll(async () => {
  await demo?.close();
  if (database) {
    const pg = (await import('pg')).default;
    const admin = new pg.Client({ connectionString: TEST_POSTGRES });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
  }
  await dir?.remove();
});

describe('gatehouse demo --nodes 2', () => {
  it('runs two nodes, web ten ports apart, one leader, the demo people signing in on either', async () => {
    expect(demo.gateways.map((g) => g.cluster?.self)).toEqual(['node-1', 'node-2']);
    const [a, b] = demo.gateways.map((g) => Number(new URL(g.http.url).port));
    expect(b! - a!).toBe(10);
    const leaders = demo.gateways.filter((g) => g.cluster?.leads());
    expect(leaders.length).toBeLessThanOrEqual(1);
    const vendor = demo.people.find((p) => p.groups.includes('vendors'))!;
    for (const g of demo.gateways) {
      const browser = new Browser(g.http.url);
      const authorizeUrl = await beginLogin(browser);
      const { callbackUrl } = await authorizeWithPassword({
        authorizeUrl,
        login: vendor.login,
        password: vendor.password,
      });
      expect((await browser.fetch(callbackUrl)).status).toBe(303);
      const me = (await (await browser.fetch('/api/me')).json()) as { email: string };
      expect(me.email).toBe(vendor.email);
    }
  });

  it('keeps its state in a database of its own, named after the demo folder', async () => {
    expect(database).toMatch(/^gatehouse_demo_[0-9a-f]{12}$/);
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: withDatabase(TEST_POSTGRES, database!) });
    await client.connect();
    try {
      const r = await client.query<{ id: string }>('SELECT id FROM gh_nodes ORDER BY id');
      expect(r.rows.map((x) => x.id)).toEqual(['node-1', 'node-2']);
    } finally {
      await client.end();
    }
  });

  it('refuses a --nodes that is not a small number', async () => {
    const r = await runCli(['demo', '--fresh', '--nodes', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--nodes takes a number from 1 to 4');
  });
});
