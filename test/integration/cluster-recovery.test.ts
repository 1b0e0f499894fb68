// Leftover sessions on a shared database: a node starting ends only its own; the leader ends a dead node's and
// leaves a live node's alone. In process (startGateway on PostgreSQL), the sessions seeded through the engine.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../gateway/app.js';
import { systemClock } from '../../gateway/clock.js';
import { type Config, parseConfig } from '../../gateway/config.js';
import type { SessionRecord } from '../../gateway/core/model.js';
import { silentLogger } from '../../gateway/log.js';
import { openStorage } from '../../gateway/storage/open.js';
import { testConfigInput } from '../helpers/config.js';
import { eventually } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const ENV = 'GH_CLUSTER_RECOVERY_PG';
let db: TestDatabase;
let dir: TempDir;

beforeAll(async () => {
  db = await createTestDatabase('gh_cluster_rec');
  dir = await tempDir('gh-cluster-rec-');
  process.env[ENV] = db.url;
}, 60_000);
afterAll(async () => {
  await db?.drop();
  await dir?.remove();
});

function nodeConfig(id: string): Config {
  const input = testConfigInput(join(dir.path, 'storage'));
  input.http = { listen: '127.0.0.1:0', publicUrl: 'http://127.0.0.1:8080' };
  input.storage = { dir: join(dir.path, 'storage'), engine: 'postgres', postgres: { url: { env: ENV } } };
  input.node = { id, internalUrl: 'http://127.0.0.1:9' };
  input.ssh = { listen: '127.0.0.1:0', hostKeys: [join(dir.path, 'storage', 'ssh_host_ed25519_key')] };
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

const session = (node: string): SessionRecord => ({
  id: `ses_${randomBytes(8).toString('hex')}`,
  grantId: 'grt_x',
  requestId: 'req_x',
  userId: 'usr_x',
  targetId: 'eng-ws-01',
  protocol: 'ssh',
  via: 'ssh',
  startedAt: new Date().toISOString(),
  node,
});

async function seed(records: SessionRecord[]): Promise<void> {
  const storage = await openStorage({
    config: { storage: nodeConfig('seed').storage, node: undefined },
    storageDir: join(dir.path, 'storage'),
    clock: systemClock,
    logger: silentLogger,
    checkpointIntervalMs: 0,
  });
  try {
    await storage.state.update((d) => void d.sessions.push(...records));
  } finally {
    await storage.close();
  }
}

const start = (id: string, leaderEveryMs: number) =>
  startGateway({
    config: nodeConfig(id),
    logger: silentLogger,
    ssh: false,
    cluster: { leaderEveryMs },
  });

describe('leftover sessions on a shared database', () => {
  it('a starting node ends its own leftovers only; as leader it then ends a dead node’s, not a live node’s', async () => {
    const mine = session('node-a');
    const deadNodes = session('node-b');
    const liveNodes = session('node-c');
    await seed([mine, deadNodes, liveNodes]);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    let gw: Gateway | undefined;
    try {
      // node-c heartbeats (a row kept fresh by this test); node-b never had a row: it is not live.
      await admin.query("INSERT INTO gh_nodes VALUES ('node-c', NULL, now(), now(), NULL)");
      const beat = setInterval(
        () => void admin.query("UPDATE gh_nodes SET heartbeat_at = now() WHERE id = 'node-c'"),
        1000,
      );
      try {
        // Leader sweeps far apart: what has ended right after start is the start-up recovery's doing.
        gw = await start('node-a', 600_000);
        const ended = (id: string) => gw!.store.data.sessions.find((s) => s.id === id);
        expect(ended(mine.id)).toMatchObject({ endReason: 'gateway_crashed' });
        expect(ended(deadNodes.id)?.endedAt).toBeUndefined();
        expect(ended(liveNodes.id)?.endedAt).toBeUndefined();
        await gw.stop('test');

        gw = await start('node-a', 100);
        await eventually('node-b’s session ended by the leader', async () =>
          gw!.store.data.sessions.find((s) => s.id === deadNodes.id)?.endedAt ? true : undefined,
        );
        expect(ended(deadNodes.id)).toMatchObject({ endReason: 'gateway_crashed', node: 'node-b' });
        // Several sweeps later the live node's session is still open.
        await new Promise((r) => setTimeout(r, 1000));
        expect(ended(liveNodes.id)?.endedAt).toBeUndefined();
        await gw.stop('test');
        gw = undefined;
      } finally {
        clearInterval(beat);
      }
      const lines = (await admin.query<{ line: string }>('SELECT line FROM gh_audit ORDER BY seq')).rows.map(
        (r) => JSON.parse(r.line) as { type: string; subject?: { sessionId?: string }; data?: Record<string, unknown> },
      );
      const endings = (id: string) => lines.filter((l) => l.type === 'session.ended' && l.subject?.sessionId === id);
      expect(endings(mine.id)).toHaveLength(1);
      expect(endings(deadNodes.id)).toHaveLength(1);
      expect(endings(deadNodes.id)[0]!.data).toMatchObject({
        reason: 'gateway_crashed',
        recovered: true,
        node: 'node-b',
      });
      expect(endings(liveNodes.id)).toHaveLength(0);
      // A clean stop is recorded: no survivor may take node-a for a crashed node.
      const row = await admin.query<{ stopped: boolean }>(
        "SELECT stopped_at IS NOT NULL AS stopped FROM gh_nodes WHERE id = 'node-a'",
      );
      expect(row.rows[0]?.stopped).toBe(true);
    } finally {
      await gw?.stop('test');
      await admin.end();
    }
  }, 90_000);
});
