// lowdb's history files: closed requests and ended sessions older than storage.historyAfterDays move out of
// db.json into history/*.jsonl by an audited change, stay listed (session library, evidence rows, request views)
// across restarts, and a move cut short (a failed db.json write, a SIGKILL, a partial line) never loses a record
// nor lists one twice.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import type { AccessRequest, SessionRecord, User } from '../../gateway/core/model.js';
import { selectRows } from '../../gateway/evidence/tables.js';
import { type LibraryContext, listSessions } from '../../gateway/library/session-views.js';
import { silentLogger } from '../../gateway/log.js';
import { packageRoot } from '../../gateway/paths.js';
import { openStorage } from '../../gateway/storage/open.js';
import { Store } from '../../gateway/store.js';
import { bundleForChild } from '../helpers/bundle.js';

const DAY = 86_400_000;
const now = Date.parse('2026-12-06T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const clock = new ManualClock(now);
let dir: string;

function request(id: string, state: AccessRequest['state'], ageDays: number): AccessRequest {
  const at = iso(now - ageDays * DAY);
  return {
    id,
    userId: 'usr_v',
    targetId: 'plc-1',
    protocol: 'ssh',
    purpose: 'maintenance',
    state,
    createdAt: at,
    updatedAt: at,
    startsAt: at,
    endsAt: at,
    ...(state === 'approved' && { grantId: `grt_${id}` }),
  } as unknown as AccessRequest;
}

function session(id: string, requestId: string, endedDaysAgo: number | undefined): SessionRecord {
  return {
    id,
    grantId: `grt_${requestId}`,
    requestId,
    userId: 'usr_v',
    targetId: 'plc-1',
    protocol: 'ssh',
    via: 'ssh',
    startedAt: iso(now - (endedDaysAgo ?? 0) * DAY - 3_600_000),
    ...(endedDaysAgo !== undefined && { endedAt: iso(now - endedDaysAgo * DAY), endReason: 'client_closed' }),
  } as SessionRecord;
}

const auditor: User = {
  id: 'usr_a',
  issuer: 'i',
  subject: 'a',
  name: 'A',
  email: 'a@x',
  org: 'x',
  groups: [],
  roles: ['auditor'],
  createdAt: iso(now),
};
const library = (): LibraryContext => ({
  viewer: auditor,
  targets: new Map(),
  isLive: () => false,
  now,
  commands: [],
});

async function open() {
  const store = await Store.open({ dir });
  const audit = await AuditLog.open({ dir, clock, checkpointIntervalMs: 0 });
  await store.attachAudit(audit);
  return { store, close: async () => (await audit.close(), await store.close()) };
}

/** 6 old closed requests with an ended session each, one old approved request with a session still open, and recent ones. */
async function seed(): Promise<void> {
  const s = await open();
  await s.store.update((d) => {
    for (let i = 0; i < 6; i++) {
      d.requests.push(request(`req_old${i}`, i % 2 ? 'expired' : 'approved', 40 + i));
      d.sessions.push(session(`ses_old${i}`, `req_old${i}`, 40 + i));
    }
    d.requests.push(request('req_open', 'approved', 40));
    d.sessions.push(session('ses_open', 'req_open', undefined));
    d.requests.push(request('req_new', 'approved', 2));
    d.sessions.push(session('ses_new', 'req_new', 2));
    d.requests.push(request('req_pending', 'pending', 60));
  });
  await s.close();
}

const ids = (list: readonly { id: string }[]) => list.map((r) => r.id).sort();
const historyLines = async (list: string) =>
  (await readFile(join(dir, 'history', `${list}.jsonl`), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);
const auditTypes = async () =>
  (await readFile(join(dir, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; data?: Record<string, unknown> });
const ALL_SESSIONS = [...Array.from({ length: 6 }, (_, i) => `ses_old${i}`), 'ses_new', 'ses_open'].sort();
const ALL_REQUESTS = [
  ...Array.from({ length: 6 }, (_, i) => `req_old${i}`),
  'req_new',
  'req_open',
  'req_pending',
].sort();
const OLD_SESSIONS = ALL_SESSIONS.filter((x) => x.startsWith('ses_old'));
const OLD_REQUESTS = ALL_REQUESTS.filter((x) => x.startsWith('req_old'));

/** Everything is listed exactly once, through every reader. */
function expectAllListedOnce(store: Store) {
  const all = store.withHistory;
  expect(all.sessions.map((s) => s.id).sort()).toEqual(ALL_SESSIONS);
  expect(all.requests.map((r) => r.id).sort()).toEqual(ALL_REQUESTS);
  const page = listSessions(all, library(), {}, { limit: 100 });
  expect(page.items.map((s) => s.id).sort()).toEqual(ALL_SESSIONS);
  const rows = selectRows(all, [], { fromMs: now - 365 * DAY, toMs: now + DAY } as never, []);
  expect(ids(rows.sessions)).toEqual(ALL_SESSIONS);
  expect(ids(rows.requests)).toEqual(ALL_REQUESTS);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-history-'));
  await seed();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('moving old history out of db.json', () => {
  it('moves closed requests and ended sessions older than the limit, audited per batch; the rest stays', async () => {
    const s = await open();
    const moved = await s.store.archive({ now, afterDays: 30, batch: 4 });
    expect(moved).toEqual({ requests: 6, sessions: 6 });
    // db.json keeps what is open, recent or undecided.
    expect(ids(s.store.data.sessions)).toEqual(['ses_new', 'ses_open']);
    expect(ids(s.store.data.requests)).toEqual(['req_new', 'req_open', 'req_pending']);
    const onDisk = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as { sessions: { id: string }[] };
    expect(ids(onDisk.sessions)).toEqual(['ses_new', 'ses_open']);
    expect((await historyLines('sessions')).sort()).toEqual(OLD_SESSIONS);
    expect((await historyLines('requests')).sort()).toEqual(OLD_REQUESTS);
    // Batches of 4: two audited changes, counting 4+2 of each.
    const archived = (await auditTypes()).filter((r) => r.type === 'storage.archived');
    expect(archived.map((r) => [r.data?.requests, r.data?.sessions])).toEqual([
      [4, 4],
      [2, 2],
    ]);
    expectAllListedOnce(s.store);
    // Nothing more is due: a second run moves nothing and records nothing.
    expect(await s.store.archive({ now, afterDays: 30 })).toEqual({ requests: 0, sessions: 0 });
    expect((await auditTypes()).filter((r) => r.type === 'storage.archived')).toHaveLength(2);
    await s.close();

    // After a restart, and for a reader without the lock, the history is still there.
    const again = await open();
    expectAllListedOnce(again.store);
    const snapshot = await Store.readSnapshot(dir);
    expect(ids(snapshot.sessions)).toEqual(ALL_SESSIONS);
    await again.close();
  });

  it('a failed db.json write after the history append: each record listed once, the next move finishes it', async () => {
    const s = await open();
    // The store's temp file name taken by a directory: the state write fails after the history append.
    const blocker = join(dir, `db.json.tmp-${process.pid}`);
    await mkdir(blocker);
    await expect(s.store.archive({ now, afterDays: 30 })).rejects.toMatchObject({ code: 'storage_unavailable' });
    expect((await historyLines('sessions')).sort()).toEqual(OLD_SESSIONS);
    expect(s.store.data.sessions).toHaveLength(8); // still in db.json too
    expectAllListedOnce(s.store);
    expect((await auditTypes()).filter((r) => r.type === 'change.reverted')).toHaveLength(1);
    await rmdir(blocker);
    await s.close();

    const again = await open();
    expectAllListedOnce(again.store);
    expect(await again.store.archive({ now, afterDays: 30 })).toEqual({ requests: 6, sessions: 6 });
    // Not appended a second time.
    expect((await historyLines('sessions')).sort()).toEqual(OLD_SESSIONS);
    expect((await historyLines('requests')).sort()).toEqual(OLD_REQUESTS);
    expect(ids(again.store.data.sessions)).toEqual(['ses_new', 'ses_open']);
    expectAllListedOnce(again.store);
    await again.close();
  });

  it('a partial last line (a crash mid-append) is cut off at the next start; its records are still in db.json', async () => {
    const s = await open();
    await s.store.archive({ now, afterDays: 30, batch: 4 });
    await s.close();
    // As if a third batch had been cut mid-write: half a line at the end.
    await appendFile(join(dir, 'history', 'sessions.jsonl'), '{"id":"ses_new","grantId":"grt_req');
    const again = await open();
    expectAllListedOnce(again.store);
    expect((await historyLines('sessions')).sort()).toEqual(OLD_SESSIONS);
    await again.close();
  });

  it('the opened storage moves them on its own, with storage.historyAfterDays from the config', async () => {
    const storage = await openStorage({
      config: { storage: { dir, engine: 'lowdb', historyAfterDays: 44 }, node: undefined },
      storageDir: dir,
      clock,
      logger: silentLogger,
      checkpointIntervalMs: 0,
      archiveFirstMs: 0,
    });
    try {
      const store = storage.lowdb!.store;
      // Bounded wait for the timed move (the first runs at once here).
      for (let i = 0; i < 200 && (await historyLines('sessions')).length === 0; i++)
        await new Promise((r) => setTimeout(r, 25));
      for (let i = 0; i < 200 && store.data.sessions.length === 8; i++) await new Promise((r) => setTimeout(r, 25));
      // Older than 44 days: only ses_old5 and req_old5 (45 days; 44 exactly is not older).
      expect(await historyLines('sessions')).toEqual(['ses_old5']);
      expect(await historyLines('requests')).toEqual(['req_old5']);
      expect(store.data.sessions).toHaveLength(7);
      expectAllListedOnce(store);
    } finally {
      await storage.close();
    }
  });

  it('refuses to start on a history line that is not JSON in the middle of the file', async () => {
    const s = await open();
    await s.store.archive({ now, afterDays: 30 });
    await s.close();
    const file = join(dir, 'history', 'requests.jsonl');
    await writeFile(file, `not json\n${await readFile(file, 'utf8')}`);
    await expect(Store.open({ dir })).rejects.toThrow(/requests\.jsonl line 1 is not valid JSON/);
  });
});

// The child moves the history and SIGKILLs itself once the move's audit record is written: the history files hold
// the records, db.json has not been rewritten.
const childSource = `
import { AuditLog } from ${JSON.stringify(join(packageRoot, 'gateway/audit-log.ts'))};
import { Store } from ${JSON.stringify(join(packageRoot, 'gateway/store.ts'))};
const [dir, now] = process.argv.slice(2);
const store = await Store.open({ dir });
const audit = await AuditLog.open({ dir, clock: { now: () => Date.now() }, checkpointIntervalMs: 0 });
await store.attachAudit({
  head: () => audit.head(),
  get failure() { return audit.failure; },
  async append(input) {
    const r = await audit.append(input);
    if (input.type === 'storage.archived') process.kill(process.pid, 'SIGKILL');
    return r;
  },
});
await store.archive({ now: Number(now), afterDays: 30 });
`;

describe('SIGKILL mid-move', () => {
  let child: string;
  const bundles: string[] = [];
  beforeAll(async () => {
    const src = await mkdtemp(join(tmpdir(), 'gatehouse-history-child-'));
    bundles.push(src);
    await writeFile(join(src, 'move-child.ts'), childSource);
    child = await bundleForChild(join(src, 'move-child.ts'));
    bundles.push(dirname(child));
  }, 60_000);
  afterAll(async () => {
    for (const b of bundles) await rm(b, { recursive: true, force: true });
  });

  it('after the history append and its audit record, before db.json: nothing lost, nothing twice', async () => {
    await new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [child, dir, String(now)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b));
      p.on('close', (code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`child ended ${code}: ${stderr}`)),
      );
    });
    expect((await historyLines('sessions')).sort()).toEqual(OLD_SESSIONS);
    const s = await open();
    // The move's record is reverted on record at the start; the records are in both places, listed once.
    const types = await auditTypes();
    expect(types.filter((r) => r.type === 'storage.archived')).toHaveLength(1);
    expect(types.filter((r) => r.type === 'change.reverted')).toHaveLength(1);
    expect(s.store.data.sessions).toHaveLength(8);
    expectAllListedOnce(s.store);
    // The next move finishes it without appending again.
    expect(await s.store.archive({ now, afterDays: 30 })).toEqual({ requests: 6, sessions: 6 });
    expect((await historyLines('sessions')).sort()).toEqual(OLD_SESSIONS);
    expect((await historyLines('requests')).sort()).toEqual(OLD_REQUESTS);
    expectAllListedOnce(s.store);
    await s.close();
  });
});
