// State at a year's size: what one state update and one captured command cost, and how long each holds the event
// loop (every relay of the gateway waits that long), on either storage engine: lowdb at 10,000 sessions and requests
// (older history moves to history/*.jsonl), PostgreSQL at 10,000 and 100,000; 200,000 commands (the full run;
// --quick: 1,000 sessions). PostgreSQL: a database of its own on
// GATEHOUSE_TEST_POSTGRES (else the local server), dropped after.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { systemClock } from '../gateway/clock.js';
import type { AccessRequest, SessionRecord } from '../gateway/core/model.js';
import { silentLogger } from '../gateway/log.js';
import { openStorage } from '../gateway/storage/open.js';
import type { EngineName } from '../gateway/storage/port.js';

export interface StoreBenchCase {
  name: string;
  kind: 'command' | 'session' | 'session-end' | 'web-session';
  /** Mean wall time per operation, awaited one after another. */
  msPerOp: number;
  /** The event loop held during one operation (the longest delay seen while it ran): the median over the runs. */
  heldMs: number;
  /** The longest hold over all runs (includes what else stalled the process then: GC, the machine's other load). */
  maxBlockMs: number;
}

const at = new Date('2026-11-23T10:00:00Z').toISOString();

function request(i: number): AccessRequest {
  return {
    id: `req_${i}`,
    grantId: `grt_${i}`,
    userId: 'usr_1',
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    purpose: 'Maintenance of the line 2 PLC program after the change request',
    ticket: 'CHG-12345',
    state: 'expired',
    createdAt: at,
    startsAt: at,
    endsAt: at,
    approvals: [{ userId: 'usr_2', at }],
  } as unknown as AccessRequest;
}

function session(i: number): SessionRecord {
  return {
    id: `ses_${i}`,
    grantId: `grt_${i}`,
    requestId: `req_${i}`,
    userId: 'usr_1',
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    via: 'ssh',
    startedAt: at,
    endedAt: at,
    endReason: 'client_closed',
    sourceIp: '10.1.2.3',
    recording: { path: `sessions/2026/11/23/ses_${i}.cast`, sha256: 'a'.repeat(64), bytes: 123_456 },
  };
}

async function measure(
  kind: StoreBenchCase['kind'],
  name: string,
  ops: number,
  op: (i: number) => Promise<unknown>,
): Promise<StoreBenchCase> {
  const held: number[] = [];
  let total = 0;
  for (let i = 0; i < ops; i++) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t = performance.now();
    await op(i);
    total += performance.now() - t;
    // One more sampling tick, so a hold at the very end of the operation is seen.
    await new Promise((r) => setTimeout(r, 2));
    h.disable();
    held.push(h.max / 1e6);
  }
  held.sort((a, b) => a - b);
  return { kind, name, msPerOp: total / ops, heldMs: held[Math.floor(ops / 2)]!, maxBlockMs: held.at(-1)! };
}

const SERVER = process.env.GATEHOUSE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function onServer(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: SERVER });
  c.on('error', () => {});
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function benchStore(o: {
  sessions: number;
  commands: number;
  engine: EngineName;
}): Promise<StoreBenchCase[]> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-store-'));
  const dbName = `gh_bench_${randomBytes(5).toString('hex')}`;
  const env = `GATEHOUSE_BENCH_PG_${process.pid}`;
  if (o.engine === 'postgres') {
    await onServer(`CREATE DATABASE ${dbName}`);
    const u = new URL(SERVER);
    u.pathname = `/${dbName}`;
    process.env[env] = u.toString();
  }
  const where = o.engine === 'postgres' ? 'PostgreSQL' : 'db.json';
  try {
    const storage = await openStorage({
      config: {
        storage:
          o.engine === 'postgres'
            ? { dir, engine: 'postgres', postgres: { url: { env }, poolSize: 10 } }
            : { dir, engine: 'lowdb' },
        node: undefined,
      },
      storageDir: dir,
      clock: systemClock,
      logger: silentLogger,
      checkpointIntervalMs: 0,
    });
    const { state: store, commands } = storage;
    await store.update((d) => {
      for (let i = 0; i < o.sessions; i++) {
        d.requests.push(request(i));
        d.sessions.push(session(i));
      }
    });
    // In slices: a thousand appends at once waited on the pool past its connect timeout on a busy machine.
    const slice = o.engine === 'postgres' ? 100 : 1000;
    for (let i = 0; i < o.commands; i += slice)
      await Promise.all(
        Array.from({ length: Math.min(slice, o.commands - i) }, (_, k) =>
          commands.append({
            id: `cmd_${i + k}`,
            sessionId: `ses_${(i + k) % o.sessions}`,
            at,
            text: `ls -la /var/log/app${i + k} | grep error`,
            verdict: 'allowed',
          }),
        ),
      );
    // One warm-up of each kind: the first update also builds the per-collection texts.
    await store.update((d) => void (d.meta.warm = true));
    const cases = [
      await measure(
        'command',
        `a captured command (${o.engine === 'postgres' ? 'PostgreSQL' : 'commands.jsonl'})`,
        50,
        (i) => commands.append({ id: `cmd_x${i}`, sessionId: 'ses_1', at, text: 'whoami', verdict: 'allowed' }),
      ),
      await measure('session', `a session update (${where})`, 20, (i) =>
        store.update((d) => void d.sessions.push({ ...session(o.sessions + i) })),
      ),
      // The update fn's own search (find by id over every session) is part of this one.
      await measure('session-end', `a session ended: found by id and changed (${where})`, 20, (i) =>
        store.update((d) => {
          const s = d.sessions.find((x) => x.id === `ses_${o.sessions - 1 - i}`);
          if (s) s.endReason = 'window_ended';
        }),
      ),
      await measure('web-session', `a web-session update (${where})`, 20, (i) =>
        store.update(
          (d) =>
            void d.webSessions.push({
              id: `ws_${i}`,
              userId: 'usr_1',
              createdAt: at,
              lastSeenAt: at,
              expiresAt: at,
              csrfToken: 'x',
            }),
        ),
      ),
    ];
    await storage.close();
    return cases;
  } finally {
    await rm(dir, { recursive: true, force: true });
    if (o.engine === 'postgres') {
      delete process.env[env];
      await onServer(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    }
  }
}
