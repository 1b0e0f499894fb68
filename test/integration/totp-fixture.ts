// Shared setup for the TOTP tests: a real Store + AuditLog in a temp dir, a ManualClock, users, and oathtool codes.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AuditLog } from '../../gateway/audit-log.js';
import { confirmTotp, enrolTotp } from '../../gateway/auth/totp.js';
import { ManualClock } from '../../gateway/clock.js';
import { CommandLog } from '../../gateway/command-log.js';
import type { Role, User } from '../../gateway/core/model.js';
import type { Deps } from '../../gateway/deps.js';
import { silentLogger } from '../../gateway/log.js';
import { Store, type WebSessionRecord } from '../../gateway/store.js';
import type { StatePort } from '../../gateway/storage/port.js';
import { testConfig } from '../helpers/config.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** The time the tests work at; enrolment happens a few minutes before it. */
export const T0 = Date.parse('2026-11-23T10:00:00.000Z');

export interface TotpFixture {
  tmp: TempDir;
  dir: string;
  clock: ManualClock;
  deps: Deps;
  close(): Promise<void>;
}

export async function openFixture(): Promise<TotpFixture> {
  const tmp = await tempDir('gatehouse-totp-');
  const clock = new ManualClock(T0);
  const store = await Store.open({ dir: tmp.path });
  const audit = await AuditLog.open({ dir: tmp.path, clock, checkpointIntervalMs: 0 });
  await store.attachAudit(audit);
  const commands = await CommandLog.open({ store });
  const deps: Deps = {
    config: testConfig(tmp.path),
    store,
    audit,
    commands,
    clock,
    logger: silentLogger,
    storageDir: tmp.path,
  };
  const close = async () => {
    await audit.close();
    await commands.close();
    await store.close();
    await tmp.remove();
  };
  return { tmp, dir: tmp.path, clock, deps, close };
}

let n = 0;
export async function addUser(store: StatePort, roles: Role[] = ['vendor'], email?: string): Promise<User> {
  n++;
  const user: User = {
    id: `usr_test${n}`,
    issuer: 'http://idp.test',
    subject: `sub-${n}`,
    name: `User ${n}`,
    email: email ?? `user${n}@vendor.example`,
    org: 'vendor.example',
    groups: [],
    roles,
    createdAt: new Date(T0).toISOString(),
  };
  await store.update((d) => {
    d.users.push(user);
  });
  return user;
}

/** A web session as the (other engineer's) login would create it; `id` is its cookie value. */
export async function addSession(store: StatePort, userId: string): Promise<WebSessionRecord> {
  n++;
  const s: WebSessionRecord = {
    id: `ws_test${n}`,
    userId,
    createdAt: new Date(T0).toISOString(),
    lastSeenAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 8 * 3600_000).toISOString(),
    csrfToken: `csrf${n}`,
  };
  await store.update((d) => {
    d.webSessions.push(s);
  });
  return s;
}

/** A code from oathtool, an implementation independent of otplib, for the time `ms`. */
export async function oathCode(secret: string, ms: number): Promise<string> {
  const when = new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const { stdout } = await run('/usr/bin/oathtool', ['--totp', '-b', secret, '-N', when]);
  return stdout.trim();
}

/** Enrols and confirms `user` five minutes before the clock's time; returns the base32 secret. */
export async function enrolAndConfirm(fx: TotpFixture, user: User): Promise<string> {
  const at = fx.clock.now() - 5 * 60_000;
  const { secret } = await enrolTotp(fx.deps, user.id, at);
  const r = await confirmTotp(fx.deps, user.id, await oathCode(secret, at), at);
  if (!r.ok) throw new Error(`confirmation failed: ${r.code}`);
  return secret;
}

export const auditText = (dir: string) => readFile(join(dir, 'audit.jsonl'), 'utf8');
export const auditRecords = async (dir: string) =>
  (await auditText(dir))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; subject?: { userId?: string }; data?: Record<string, unknown> });
