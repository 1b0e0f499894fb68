// `gatehouse users reset-totp` on a stopped gateway's storage: resets, audits, and refuses while the store is held.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../gateway/audit-log.js';
import { runUsersResetTotp } from '../../gateway/cli/users.js';
import { main } from '../../gateway/main.js';
import type { DbData } from '../../gateway/store.js';
import { Store } from '../../gateway/store.js';
import { tempDir } from '../helpers/tmp.js';
import { addSession, addUser, auditRecords, enrolAndConfirm, openFixture, type TotpFixture } from './totp-fixture.js';

let fx: TotpFixture;
let ids: { a: string; b: string; other: string };
const EMAIL = 'shared@vendor.example';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}
const db = async (): Promise<DbData> => JSON.parse(await readFile(join(fx.dir, 'db.json'), 'utf8'));
const totpOf = async (id: string) => (await db()).users.find((u) => u.id === id)?.totp;

beforeEach(async () => {
  fx = await openFixture();
  // One e-mail, two IdP subjects: both are "that user" as far as the operator can tell.
  const a = await addUser(fx.deps.store, ['vendor'], EMAIL);
  const b = await addUser(fx.deps.store, ['vendor'], 'Shared@Vendor.example');
  const other = await addUser(fx.deps.store);
  for (const u of [a, b, other]) await enrolAndConfirm(fx, u);
  const s = await addSession(fx.deps.store, a.id);
  await fx.deps.store.update((d) => {
    d.webSessions.find((x) => x.id === s.id)!.stepUpAt = new Date(fx.clock.now()).toISOString();
  });
  ids = { a: a.id, b: b.id, other: other.id };
  // The gateway is stopped: nothing holds the storage folder.
  await fx.deps.audit.close();
  await fx.deps.store.close();
});
afterEach(async () => {
  await fx.tmp.remove();
});

describe('gatehouse users reset-totp', () => {
  it('resets every user with the e-mail, lists them, and audits each reset as the CLI', async () => {
    const c = capture();
    expect(await runUsersResetTotp([EMAIL, '--dir', fx.dir], c.io, { clock: fx.clock })).toBe(0);
    expect(c.out[0]).toBe(`reset TOTP for 2 users with e-mail ${EMAIL}:`);
    expect(c.out.join('\n')).toContain(ids.a);
    expect(c.out.join('\n')).toContain(ids.b);
    expect(c.out.join('\n')).toContain('--user');
    expect(await totpOf(ids.a)).toBeUndefined();
    expect(await totpOf(ids.b)).toBeUndefined();
    expect((await totpOf(ids.other))?.confirmed).toBe(true);
    expect((await db()).webSessions.every((s) => s.stepUpAt === undefined)).toBe(true);

    const resets = (await auditRecords(fx.dir)).filter((r) => r.type === 'totp.reset');
    expect(resets.map((r) => r.subject?.userId).sort()).toEqual([ids.a, ids.b].sort());
    for (const r of resets) expect(r).toMatchObject({ actor: { kind: 'system', id: 'cli' }, data: { via: 'cli' } });
    expect((await verifyAuditFile(fx.dir)).ok).toBe(true);
  });

  it('--user picks one of them', async () => {
    const c = capture();
    expect(await runUsersResetTotp([EMAIL, '--dir', fx.dir, '--user', ids.b], c.io)).toBe(0);
    expect(c.out[0]).toBe(`reset TOTP for 1 user with e-mail ${EMAIL}:`);
    expect(await totpOf(ids.b)).toBeUndefined();
    expect((await totpOf(ids.a))?.confirmed).toBe(true);
    expect(await runUsersResetTotp([EMAIL, '--dir', fx.dir, '--user', ids.other], capture().io)).toBe(1);
  });

  it('refuses while the gateway (another Store) holds the folder, and says what to do instead', async () => {
    const running = await Store.open({ dir: fx.dir });
    try {
      const c = capture();
      expect(await runUsersResetTotp([EMAIL, '--dir', fx.dir], c.io)).toBe(1);
      const msg = c.err.join('\n');
      expect(msg).toContain('while the gateway is running');
      expect(msg).toContain('stop the gateway');
      expect(msg).toContain('/api/users/<id>/totp/reset');
    } finally {
      await running.close();
    }
    expect((await totpOf(ids.a))?.confirmed).toBe(true);
  });

  it('answers unknown e-mails, bad usage and a folder without state without changing anything', async () => {
    const c = capture();
    expect(await runUsersResetTotp(['nobody@x.example', '--dir', fx.dir], c.io)).toBe(1);
    expect(c.err[0]).toContain('no user with e-mail nobody@x.example');
    expect(await runUsersResetTotp(['--dir', fx.dir], capture().io)).toBe(2);
    expect(await runUsersResetTotp([EMAIL, '--dir', fx.dir, '--config', 'x.yaml'], capture().io)).toBe(2);
    const empty = await tempDir();
    try {
      const e = capture();
      expect(await runUsersResetTotp([EMAIL, '--dir', empty.path], e.io)).toBe(1);
      expect(e.err[0]).toContain('no Gatehouse state');
      expect(existsSync(join(empty.path, 'db.json'))).toBe(false);
    } finally {
      await empty.remove();
    }
  });

  it('is reachable as `gatehouse users reset-totp` and listed in the usage', async () => {
    const c = capture();
    expect(await main(['users', 'reset-totp', EMAIL, '--dir', fx.dir, '--user', ids.a], c.io)).toBe(0);
    expect(await totpOf(ids.a)).toBeUndefined();
    const h = capture();
    await main(['--help'], h.io);
    expect(h.out.join('\n')).toContain('gatehouse users reset-totp <email>');
  });
});
