// The command log (commands.jsonl) against a real folder: durable ordered appends, reopen, a torn or corrupt
// last line, and the v1 → v2 move of db.json's commands, also when killed halfway (on disk and by SIGKILL).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CommandLog, COMMANDS_FILE } from '../../gateway/command-log.js';
import type { CommandRecord } from '../../gateway/core/model.js';
import { packageRoot } from '../../gateway/paths.js';
import { type DbData, emptyDb, Store, StoreOpenError } from '../../gateway/store.js';
import { COMMANDS_TO_MOVE } from '../../gateway/store/schema.js';
import { bundleForChild } from '../helpers/bundle.js';

let dir: string;
const open: Array<{ close(): Promise<void> }> = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-cmdlog-'));
});
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
  await rm(dir, { recursive: true, force: true });
});

const cmd = (i: number, extra: Partial<CommandRecord> = {}): CommandRecord => ({
  id: `cmd_${i}`,
  sessionId: `ses_${i % 7}`,
  at: new Date(Date.UTC(2026, 10, 23, 10, 0, i)).toISOString(),
  text: `ls -la /var/log/app${i} | grep "error"\n`,
  verdict: i % 5 === 0 ? 'alerted' : 'allowed',
  ...extra,
});

async function openBoth(): Promise<{ store: Store; log: CommandLog }> {
  const store = await Store.open({ dir });
  open.push(store);
  const log = await CommandLog.open({ store });
  open.push(log);
  return { store, log };
}
const closeAll = async () => {
  for (const x of open.splice(0).reverse()) await x.close();
};
const fileLines = async (): Promise<CommandRecord[]> =>
  (await readFile(join(dir, COMMANDS_FILE), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CommandRecord);
const onDisk = async (): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'));
/** A v1 db.json as a gateway before this change left it. */
const writeV1 = (commands: CommandRecord[], extra: Partial<DbData> = {}) =>
  writeFile(join(dir, 'db.json'), JSON.stringify({ ...emptyDb(), schemaVersion: 1, commands, ...extra }));

describe('appends', () => {
  it('a record shows once durable, frozen, and survives a reopen in call order', async () => {
    const { log } = await openBoth();
    const done = log.append(cmd(1));
    expect(log.records).toEqual([]); // not yet on disk: not yet visible
    const r = await done;
    expect(r).toEqual(cmd(1));
    expect(Object.isFrozen(r)).toBe(true);
    expect(log.records).toEqual([cmd(1)]);
    expect(await fileLines()).toEqual([cmd(1)]);
    expect((await stat(join(dir, COMMANDS_FILE))).mode & 0o777).toBe(0o600);
    await log.append(cmd(2, { verdict: 'blocked', rule: 'rm' }));
    await closeAll();
    const again = await openBoth();
    expect(again.log.records).toEqual([cmd(1), cmd(2, { verdict: 'blocked', rule: 'rm' })]);
  });

  it('500 concurrent appends keep their call order in memory and on disk', async () => {
    const { log } = await openBoth();
    const all = Array.from({ length: 500 }, (_, i) => cmd(i));
    const results = await Promise.all(all.map((c) => log.append(c)));
    expect(results.map((r) => r.id)).toEqual(all.map((c) => c.id));
    expect(log.records.map((r) => r.id)).toEqual(all.map((c) => c.id));
    expect(await fileLines()).toEqual(all);
  });

  it('refuses appends after close, and close waits for queued ones', async () => {
    const { log } = await openBoth();
    const queued = log.append(cmd(1));
    await log.close();
    await expect(queued).resolves.toEqual(cmd(1));
    await expect(log.append(cmd(2))).rejects.toMatchObject({ code: 'commands_closed' });
    expect(await fileLines()).toEqual([cmd(1)]);
  });
});

describe('a file left by a crash or by hand', () => {
  it('cuts a torn last line at open (never acknowledged) and appends after the last whole one', async () => {
    const whole = `${JSON.stringify(cmd(1))}\n${JSON.stringify(cmd(2))}\n`;
    await writeFile(join(dir, COMMANDS_FILE), `${whole}{"id":"cmd_3","sessionId":"ses_`);
    // Read-only readers skip it and leave the file alone.
    expect(await CommandLog.read(dir, emptyDb())).toEqual([cmd(1), cmd(2)]);
    expect((await readFile(join(dir, COMMANDS_FILE), 'utf8')).endsWith('ses_')).toBe(true);
    const { log } = await openBoth();
    expect(log.records).toEqual([cmd(1), cmd(2)]);
    expect(await readFile(join(dir, COMMANDS_FILE), 'utf8')).toBe(whole);
    await log.append(cmd(4));
    expect(await fileLines()).toEqual([cmd(1), cmd(2), cmd(4)]);
  });

  it('refuses a complete line that is not a command record, naming the line, and leaves the file as it was', async () => {
    const text = `${JSON.stringify(cmd(1))}\n{"id":"cmd_2","verdict":"maybe"}\n${JSON.stringify(cmd(3))}\n`;
    await writeFile(join(dir, COMMANDS_FILE), text);
    const store = await Store.open({ dir });
    open.push(store);
    const err = await CommandLog.open({ store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreOpenError);
    expect(err).toMatchObject({
      code: 'storage_corrupt',
      message: expect.stringContaining(`${COMMANDS_FILE} line 2 is not a command record`),
    });
    expect(await readFile(join(dir, COMMANDS_FILE), 'utf8')).toBe(text);
    await expect(CommandLog.read(dir, emptyDb())).rejects.toThrow(/line 2 is not a command record/);
  });
});

describe('v1 → v2: db.json commands move to commands.jsonl', () => {
  const v1 = Array.from({ length: 1200 }, (_, i) => cmd(i));

  it('moves every command once, in order; db.json keeps none, its v1 backup keeps all', async () => {
    await writeV1(v1, { meta: { site: 'p3' } });
    const { store, log } = await openBoth();
    expect(log.records).toEqual(v1);
    expect(await fileLines()).toEqual(v1);
    expect(store.data.meta).toEqual({ site: 'p3' });
    const db = await onDisk();
    expect(db).toMatchObject({ schemaVersion: 2, meta: { site: 'p3' } });
    expect('commands' in db).toBe(false);
    expect(JSON.parse(await readFile(join(dir, 'db.json.v1.bak'), 'utf8')).commands).toEqual(v1);
    await log.append(cmd(5000));
    await closeAll();
    const again = await openBoth();
    expect(again.log.records).toEqual([...v1, cmd(5000)]);
  });

  it('killed after the jsonl write, before db.json lost them: the rerun adds nothing twice', async () => {
    // Exactly that state: db.json at v2 with the commands set aside, commands.jsonl holding all of them.
    await writeV1(v1);
    const store = await Store.open({ dir });
    expect((store.data.meta[COMMANDS_TO_MOVE] as unknown[]).length).toBe(v1.length);
    await store.close();
    await writeFile(join(dir, COMMANDS_FILE), v1.map((c) => `${JSON.stringify(c)}\n`).join(''));
    expect(await CommandLog.read(dir, await Store.readSnapshot(dir))).toEqual(v1);
    const { store: s2, log } = await openBoth();
    expect(log.records).toEqual(v1);
    expect(await fileLines()).toEqual(v1);
    expect(s2.data.meta[COMMANDS_TO_MOVE]).toBeUndefined();
    expect((await onDisk()).meta).toEqual({});
  });

  it('killed mid-write of the jsonl (a prefix and a torn line): the rerun completes it in order', async () => {
    await writeV1(v1);
    const prefix = v1
      .slice(0, 400)
      .map((c) => `${JSON.stringify(c)}\n`)
      .join('');
    await writeFile(join(dir, COMMANDS_FILE), `${prefix}${JSON.stringify(v1[400]).slice(0, 30)}`);
    // An offline reader meanwhile sees each command once too.
    expect(await CommandLog.read(dir, await Store.readSnapshot(dir))).toEqual(v1);
    const { log } = await openBoth();
    expect(log.records).toEqual(v1);
    expect(await fileLines()).toEqual(v1);
  });

  it('an offline reader of an unmigrated v1 folder gets its commands without writing anything', async () => {
    await writeV1(v1.slice(0, 3));
    expect(await CommandLog.read(dir, await Store.readSnapshot(dir))).toEqual(v1.slice(0, 3));
    await expect(stat(join(dir, COMMANDS_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await onDisk()).schemaVersion).toBe(1);
  });
});

describe('v1 → v2 under SIGKILL', () => {
  // The child migrates (Store + CommandLog open), then appends new commands, printing each acknowledged id.
  const childSource = `
import { Store } from ${JSON.stringify(join(packageRoot, 'gateway', 'store.ts'))};
import { CommandLog } from ${JSON.stringify(join(packageRoot, 'gateway', 'command-log.ts'))};
const store = await Store.open({ dir: process.argv[2] });
const log = await CommandLog.open({ store });
process.stdout.write('open\\n');
let n = 0;
await Promise.all(Array.from({ length: 8 }, async () => {
  for (;;) {
    const i = n++;
    const r = await log.append({ id: 'cmd_new' + i, sessionId: 'ses_1', at: new Date().toISOString(), text: 'whoami ' + i, verdict: 'allowed' });
    process.stdout.write(r.id + '\\n');
  }
}));
`;
  let child: string;
  const tmp: string[] = [];
  beforeAll(async () => {
    const src = await mkdtemp(join(tmpdir(), 'gatehouse-cmdlog-child-'));
    tmp.push(src);
    await writeFile(join(src, 'cmdlog-child.ts'), childSource);
    child = await bundleForChild(join(src, 'cmdlog-child.ts'));
    tmp.push(dirname(child));
  });
  afterAll(async () => {
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  /** Runs the child and SIGKILLs it once `until` says so; returns the ids it acknowledged. */
  function runAndKill(until: (acked: string[], jsonlExists: boolean) => boolean): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      const acked: string[] = [];
      let buffered = '';
      let stderr = '';
      const check = async () => {
        const exists = await stat(join(dir, COMMANDS_FILE)).then(
          (s) => s.size > 0,
          () => false,
        );
        if (!p.killed && p.exitCode === null && until(acked, exists)) p.kill('SIGKILL');
      };
      const poll = setInterval(() => void check(), 2);
      p.stderr.on('data', (d: Buffer) => (stderr += d));
      p.stdout.on('data', (d: Buffer) => {
        buffered += d;
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        for (const s of parts) if (s.startsWith('cmd_')) acked.push(s);
        void check();
      });
      p.on('error', reject);
      p.on('exit', (code, signal) => {
        clearInterval(poll);
        if (signal === 'SIGKILL') resolve(acked);
        else reject(new Error(`child exited with ${code}: ${stderr}`));
      });
    });
  }

  it('every v1 command ends up once, in order, then every acknowledged new one', async () => {
    const v1 = Array.from({ length: 20_000 }, (_, i) => cmd(i));
    await writeV1(v1);
    // Round 1 is killed as soon as commands.jsonl has bytes (mid-move or just after); round 2 while appending.
    const acked = [...(await runAndKill((_, exists) => exists)), ...(await runAndKill((a) => a.length >= 200))];
    const { store, log } = await openBoth();
    const ids = log.records.map((r) => r.id);
    expect(ids.slice(0, v1.length)).toEqual(v1.map((c) => c.id));
    expect(new Set(ids).size).toBe(ids.length);
    const kept = new Set(ids);
    for (const id of acked) expect(kept.has(id), `acknowledged ${id}`).toBe(true);
    expect(store.data.meta[COMMANDS_TO_MOVE]).toBeUndefined();
    expect(await fileLines()).toEqual(log.records);
  }, 60_000);
});
