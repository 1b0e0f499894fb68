// The store against a real folder: serialised durable updates, lock, refusals, migration, temp files.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CURRENT_SCHEMA_VERSION, type DbData, Store, StoreLockedError, StoreOpenError } from '../../gateway/store.js';

let dir: string;
const open: Store[] = [];
const openStore = async (logger?: pino.Logger) => {
  const s = await Store.open({ dir, ...(logger ? { logger } : {}) });
  open.push(s);
  return s;
};
const onDisk = async (): Promise<DbData> => JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'));
const lockFile = () => join(dir, 'db.json.lock');

/** A logger whose records the test can read. */
function capturingLogger() {
  const lines: Array<{ msg: string; [k: string]: unknown }> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** A pid that certainly names no process: one that just exited (and was reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('close', r));
  return child.pid!;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-'));
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

describe('updates', () => {
  it('200 concurrent updates lose none, in memory and after reopening from disk', async () => {
    const store = await openStore();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.update((d) => {
          d.meta.counter = ((d.meta.counter as number | undefined) ?? 0) + 1;
          d.webSessions.push({
            id: `ws_${i}`,
            userId: 'usr_1',
            createdAt: '',
            lastSeenAt: '',
            expiresAt: '',
            csrfToken: `t${i}`,
          });
          return d.meta.counter;
        }),
      ),
    );
    // Each caller saw the state left by all the callers before it, in queue order.
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(store.data.meta.counter).toBe(200);
    expect(store.data.webSessions.map((c) => c.id)).toEqual(Array.from({ length: 200 }, (_, i) => `ws_${i}`));
    // Resolved means durable: the file already holds every change before close.
    expect((await onDisk()).webSessions).toHaveLength(200);
    await store.close();
    const again = await openStore();
    expect(again.data.meta.counter).toBe(200);
    expect(new Set(again.data.webSessions.map((c) => c.id)).size).toBe(200);
  });

  it('writes to disk under NODE_ENV=test (not lowdb preset memory mode), file mode 0600', async () => {
    expect(process.env.NODE_ENV).toBe('test');
    const store = await openStore();
    await store.update((d) => {
      d.meta.marker = 'on-disk';
    });
    expect((await onDisk()).meta.marker).toBe('on-disk');
    expect((await stat(join(dir, 'db.json'))).mode & 0o777).toBe(0o600);
  });

  it('a throwing update leaves memory and disk unchanged, and the queue keeps working', async () => {
    const store = await openStore();
    await store.update((d) => {
      d.meta.counter = 1;
    });
    const failing = store.update(async (d) => {
      d.meta.counter = 99; // half the change …
      d.users.push({ id: 'usr_x' } as DbData['users'][number]);
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('boom'); // … then a failure
    });
    // Queued in the same tick: the same batch as the failure.
    const next = store.update((d) => {
      d.meta.counter = (d.meta.counter as number) + 1;
      return d.meta.counter;
    });
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe(2);
    expect(store.data.users).toEqual([]);
    expect(store.data.meta.counter).toBe(2);
    expect((await onDisk()).meta.counter).toBe(2);
    expect((await onDisk()).users).toEqual([]);
    await expect(store.update(() => 'still fine')).resolves.toBe('still fine');
  });

  it('the state can only change through update: store.data is frozen', async () => {
    const store = await openStore();
    await store.update((d) => {
      d.users.push({ id: 'usr_1', name: 'Ada', groups: [] } as unknown as DbData['users'][number]);
    });
    const users = store.data.users as DbData['users'];
    expect(() => users.push(users[0]!)).toThrow(TypeError);
    expect(() => {
      users[0]!.name = 'Mallory';
    }).toThrow(TypeError);
    expect(() => users[0]!.groups.push('admins')).toThrow(TypeError);
    expect(store.data.users).toEqual([{ id: 'usr_1', name: 'Ada', groups: [] }]);
    // Drafts are ordinary mutable copies.
    await store.update((d) => {
      d.users[0]!.name = 'Ada L.';
    });
    expect(store.data.users[0]?.name).toBe('Ada L.');
  });

  it('values handed back are copies: mutating them does not change the state', async () => {
    const store = await openStore();
    const user = await store.update((d) => {
      const u = { id: 'usr_1', name: 'Ada' } as DbData['users'][number];
      d.users.push(u);
      return u;
    });
    user.name = 'Mallory';
    expect(store.data.users[0]?.name).toBe('Ada');
  });

  it('refuses updates after close and a nested update; close is idempotent', async () => {
    const store = await openStore();
    await expect(store.update(() => store.update(() => 1))).rejects.toThrow(/inside an update/);
    await Promise.all([store.close(), store.close()]);
    await store.close();
    await expect(store.update(() => 1)).rejects.toMatchObject({ code: 'storage_closed' });
  });

  it('close drains queued updates before releasing the lock', async () => {
    const store = await openStore();
    const pending = Array.from({ length: 20 }, () =>
      store.update((d) => {
        d.meta.n = ((d.meta.n as number | undefined) ?? 0) + 1;
      }),
    );
    await store.close();
    await Promise.all(pending);
    expect((await onDisk()).meta.n).toBe(20);
    await expect(stat(lockFile())).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('lock', () => {
  it('refuses a second Store on the same folder in this process, then allows it after close', async () => {
    const first = await openStore();
    const lock = JSON.parse(await readFile(lockFile(), 'utf8'));
    expect(lock).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(Date.parse(lock.startedAt)).not.toBeNaN();
    const second = Store.open({ dir });
    await expect(second).rejects.toBeInstanceOf(StoreLockedError);
    await expect(Store.open({ dir })).rejects.toThrow(
      new RegExp(`storage ${dir} is in use by another Store in this process \\(pid ${process.pid}, started `),
    );
    await first.close();
    await (await Store.open({ dir })).close();
  });

  it('refuses when the lock names a live process on this host', async () => {
    const startedAt = '2026-11-23T09:00:00.000Z';
    await writeFile(lockFile(), JSON.stringify({ pid: process.ppid, hostname: hostname(), startedAt }));
    await expect(Store.open({ dir })).rejects.toThrow(
      `storage ${dir} is in use by another Gatehouse process (pid ${process.ppid}, started ${startedAt}); ` +
        'stop it first or use another storage.dir',
    );
    // The refusal leaves the other process's lock alone.
    expect(JSON.parse(await readFile(lockFile(), 'utf8')).pid).toBe(process.ppid);
  });

  it('recovers a stale lock from a dead pid, with a warning', async () => {
    const pid = await deadPid();
    await writeFile(lockFile(), JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00Z' }));
    const { logger, lines } = capturingLogger();
    await openStore(logger);
    expect(JSON.parse(await readFile(lockFile(), 'utf8')).pid).toBe(process.pid);
    expect(lines.find((l) => l.msg === 'removing a stale storage lock')).toMatchObject({
      level: 40,
      reason: `pid ${pid} is not running`,
    });
  });

  it('recovers a lock carrying our own pid that no Store here holds (pid reused after a restart)', async () => {
    await writeFile(lockFile(), JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: 'x' }));
    await openStore();
  });

  it('treats a lock from before a reboot as stale even if its pid is alive now', async () => {
    const boot = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => null);
    if (!boot) return; // not Linux: no boot id to compare
    const lock = { pid: process.ppid, hostname: hostname(), startedAt: 'x', bootId: 'another-boot' };
    await writeFile(lockFile(), JSON.stringify(lock));
    await openStore();
  });

  it('refuses a lock from another host and says how to clear it', async () => {
    await writeFile(lockFile(), JSON.stringify({ pid: 1, hostname: 'gw-other', startedAt: 'x' }));
    await expect(Store.open({ dir })).rejects.toThrow(/on host gw-other .*delete .*db\.json\.lock/);
  });

  it('clears a takeover guard left by a starter that died mid-takeover', async () => {
    const pid = await deadPid();
    await writeFile(lockFile(), JSON.stringify({ pid, hostname: hostname(), startedAt: 'x' }));
    await writeFile(`${lockFile()}.takeover`, '');
    await expect(Store.open({ dir })).rejects.toThrow(/is being taken over by another Gatehouse process/);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${lockFile()}.takeover`, old, old);
    await openStore();
    expect((await readdir(dir)).filter((n) => n.startsWith('db.json.lock'))).toEqual(['db.json.lock']);
  });

  it('an empty lock file is a starter mid-write when fresh, stale when old', async () => {
    await writeFile(lockFile(), '');
    await expect(Store.open({ dir })).rejects.toThrow(/is being opened by another Gatehouse process/);
    const old = new Date(Date.now() - 60_000);
    await utimes(lockFile(), old, old);
    await openStore();
  });
});

describe('refusals, migration, leftovers', () => {
  it('refuses a corrupt db.json, naming the file, and leaves it and the lock alone', async () => {
    const junk = '{"schemaVersion":1,"users":[{"id":"usr_1"'; // truncated
    await writeFile(join(dir, 'db.json'), junk);
    const err = await Store.open({ dir }).catch((e) => e);
    expect(err).toBeInstanceOf(StoreOpenError);
    expect(err.code).toBe('storage_corrupt');
    expect(err.message).toContain(`${join(dir, 'db.json')} is not valid JSON`);
    expect(err.message).toContain('refusing to start');
    expect(await readFile(join(dir, 'db.json'), 'utf8')).toBe(junk);
    await expect(stat(lockFile())).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(Store.readSnapshot(dir)).rejects.toThrow(/is not valid JSON/);
  });

  it('refuses JSON that is not an object (lowdb would fall back to defaults on `null`)', async () => {
    for (const text of ['null', '[]', '0', '']) {
      await writeFile(join(dir, 'db.json'), text);
      await expect(Store.open({ dir }), text).rejects.toThrow(
        /db\.json (does not hold a JSON object|is not valid JSON)/,
      );
    }
  });

  it('refuses a db.json from a newer Gatehouse and leaves it untouched', async () => {
    const newer = JSON.stringify({ schemaVersion: CURRENT_SCHEMA_VERSION + 1, users: [], future: true });
    await writeFile(join(dir, 'db.json'), newer);
    await expect(Store.open({ dir })).rejects.toMatchObject({ code: 'storage_too_new' });
    await expect(Store.open({ dir })).rejects.toThrow(/written by a newer Gatehouse/);
    expect(await readFile(join(dir, 'db.json'), 'utf8')).toBe(newer);
  });

  it('migrates an older db.json after writing a backup of the original, never overwriting a backup', async () => {
    const v0 = JSON.stringify({ users: [{ id: 'usr_1', name: 'Ada' }] });
    await writeFile(join(dir, 'db.json'), v0);
    const store = await openStore();
    expect(store.data.schemaVersion).toBe(CURRENT_SCHEMA_VERSION);
    expect(store.data.users).toEqual([{ id: 'usr_1', name: 'Ada' }]);
    expect(store.data.sessions).toEqual([]);
    expect(await readFile(join(dir, 'db.json.v0.bak'), 'utf8')).toBe(v0);
    expect((await onDisk()).schemaVersion).toBe(CURRENT_SCHEMA_VERSION);
    await store.close();
    // Someone restores another v0 file: the first backup stays, the second gets its own name.
    await writeFile(join(dir, 'db.json'), '{}');
    await openStore();
    expect(await readFile(join(dir, 'db.json.v0.bak'), 'utf8')).toBe(v0);
    expect(await readFile(join(dir, 'db.json.v0-2.bak'), 'utf8')).toBe('{}');
  });

  it('ignores and removes temp files an interrupted write left behind', async () => {
    const first = await openStore();
    await first.update((d) => {
      d.meta.kept = true;
    });
    await first.close();
    await writeFile(join(dir, 'db.json.tmp-99999'), '{"half a wri');
    const { logger, lines } = capturingLogger();
    const store = await openStore(logger);
    expect(store.data.meta.kept).toBe(true);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(lines.some((l) => l.msg.includes('temp files'))).toBe(true);
  });

  it('readSnapshot reads without the lock, while a Store holds it', async () => {
    expect(await Store.readSnapshot(dir)).toMatchObject({ schemaVersion: CURRENT_SCHEMA_VERSION, users: [] });
    const store = await openStore();
    await store.update((d) => {
      d.meta.seen = 1;
    });
    expect((await Store.readSnapshot(dir)).meta.seen).toBe(1);
    await expect(Store.open({ dir })).rejects.toBeInstanceOf(StoreLockedError);
  });
});

describe('what reaches memory is what reaches disk', () => {
  it('stores JSON forms (a Date becomes its ISO string, undefined members vanish)', async () => {
    const store = await openStore();
    await store.update((d) => {
      d.meta.at = new Date('2026-11-23T10:00:00Z');
      d.meta.gone = undefined;
    });
    expect(store.data.meta).toEqual({ at: '2026-11-23T10:00:00.000Z' });
    expect((await onDisk()).meta).toEqual(store.data.meta);
  });

  it('an update that leaves non-JSON data (a cycle) fails alone; its neighbours commit', async () => {
    const store = await openStore();
    const first = store.update((d) => {
      d.meta.a = 1;
    });
    const bad = store.update((d) => {
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      d.meta.loop = loop;
      d.meta.b = 1;
    });
    const last = store.update((d) => {
      d.meta.c = 1;
    });
    await expect(bad).rejects.toThrow();
    await Promise.all([first, last]);
    expect(store.data.meta).toEqual({ a: 1, c: 1 });
    expect((await onDisk()).meta).toEqual({ a: 1, c: 1 });
  });
});
