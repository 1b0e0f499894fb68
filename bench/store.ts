// State at a year's size: what one state update and one captured command cost, and how long each holds the event
// loop (every relay of the gateway waits that long), on either storage engine: lowdb at 10,000 sessions and requests
// (older history moves to history/*.jsonl), PostgreSQL at 10,000 and 100,000; 200,000 commands (the full run;
// --quick: 1,000 sessions). PostgreSQL: a database of its own on
// GATEHOUSE_TEST_POSTGRES (else the local server), dropped after.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { systemClock } from '../gateway/clock.js';
import { byId } from '../gateway/store.js';
import type { AccessRequest, SessionRecord } from '../gateway/core/model.js';
import { silentLogger } from '../gateway/log.js';
import { openStorage } from '../gateway/storage/open.js';
import type { EngineName } from '../gateway/storage/port.js';

export interface StoreBenchCase {
  name: string;
  kind: 'command' | 'session' | 'session-end' | 'web-session' | 'version-check';
  /** Mean wall time per operation, awaited one after another. */
  msPerOp: number;
  /** The event loop held during one operation (the longest delay seen while it ran): the median over the runs. */
  heldMs: number;
  /** The longest hold of any single run (includes what else stalled the process then: GC, the machine's other load). */
  maxBlockMs: number;
  /**
   * In that worst run: the time the event loop's thread ran on a CPU, the garbage collector's pauses, and the time
   * the thread was ready but waited for a CPU (the machine's other load); NaN where Linux does not tell.
   */
  worstRanMs: number;
  worstGcMs: number;
  worstWaitedMs: number;
}

/** The event loop's thread: time on a CPU and time waiting for one, in ms (Linux schedstat), NaN elsewhere. */
function schedOfLoop(): { ran: number; waited: number } {
  try {
    const [ran, waited] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { ran: ran! / 1e6, waited: waited! / 1e6 };
  } catch {
    return { ran: NaN, waited: NaN };
  }
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
  // GC pauses, to tell the worst run's own work from the collector's (and both from the machine's other load).
  const gcs: { start: number; ms: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const runs: { held: number; from: number; to: number; ran: number; waited: number }[] = [];
  let total = 0;
  try {
    for (let i = 0; i < ops; i++) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const sched = schedOfLoop();
      const t = performance.now();
      await op(i);
      total += performance.now() - t;
      // One more sampling tick, so a hold at the very end of the operation is seen.
      await new Promise((r) => setTimeout(r, 2));
      h.disable();
      const after = schedOfLoop();
      runs.push({
        held: h.max / 1e6,
        from: t,
        to: performance.now(),
        ran: after.ran - sched.ran,
        waited: after.waited - sched.waited,
      });
    }
    // The observer is told on a later tick.
    await new Promise((r) => setTimeout(r, 10));
  } finally {
    observer.disconnect();
  }
  const held = runs.map((r) => r.held).sort((a, b) => a - b);
  const worst = runs.reduce((a, b) => (b.held > a.held ? b : a));
  const worstGcMs = gcs.filter((g) => g.start >= worst.from && g.start < worst.to).reduce((n, g) => n + g.ms, 0);
  return {
    kind,
    name,
    msPerOp: total / ops,
    heldMs: held[Math.floor(ops / 2)]!,
    maxBlockMs: worst.held,
    worstRanMs: worst.ran,
    worstGcMs,
    worstWaitedMs: worst.waited,
  };
}

/**
 * A full collection before measuring: the setup's garbage (the bulk insert, 200,000 appends) is not what an update
 * costs, yet its collection would land in whichever update ran when the heap filled.
 */
function collectSetupGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
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
    collectSetupGarbage();
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
      // The update fn's own lookup is part of this one, made as the session journal makes it
      // (gateway/sessions/journal.ts): by id through the draft's index, not a scan of every session.
      await measure('session-end', `a session ended: found by id and changed (${where})`, 20, (i) => {
        const id = `ses_${o.sessions - 1 - i}`;
        return store.update((d) => {
          const s = byId(d.sessions, id);
          if (s) s.endReason = 'window_ended';
        });
      }),
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
    // Every node's sweep asks for the state version once a second (a lost notification is caught up with then):
    // what that costs when nothing changed, the common case.
    if (store.refresh)
      cases.push(
        await measure('version-check', 'the sweep’s version check, nothing changed (PostgreSQL)', 50, () =>
          store.refresh!(),
        ),
      );
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
