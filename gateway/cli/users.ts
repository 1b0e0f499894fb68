// `gatehouse users reset-totp <email> [--user usr_…] [--config PATH | --dir PATH]`: offline TOTP reset.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../audit-log.js';
import { clearTotp } from '../auth/auth.js';
import { type Clock, systemClock } from '../clock.js';
import { systemActor } from '../core/model.js';
import type { User } from '../core/model.js';
import { type DbData, Store, StoreLockedError } from '../store.js';
import { namesPostgres, openSiteStorage, type StatePort } from '../storage/storage.js';
import { type CliIo, parseArgs } from './io.js';
import { storageDirOf } from './storage-dir.js';

const usage = `usage: gatehouse users reset-totp <email> [--user usr_…] [--config PATH | --dir PATH]
  resets the TOTP of every user with that e-mail (or only --user), who then enrol again.
  Works on a STOPPED gateway's storage; while it runs, use POST /api/users/<id>/totp/reset as an admin.
  With storage.engine postgres it works on the database, beside running nodes (audited as node cli).
  --dir PATH     the storage folder (what storage.dir names)
  --config PATH  read storage.dir from this config (default config/gatehouse.yaml)
  --user ID      reset only this user (an e-mail may belong to several IdP subjects)`;

export interface UsersCliDeps {
  clock?: Clock;
  /** storage.dir of a config, resolved to an absolute path. */
  storageDirFromConfig?: (path: string) => Promise<string>;
}

export async function runUsersResetTotp(argv: string[], io: CliIo, deps: UsersCliDeps = {}): Promise<number> {
  const { flags, words } = parseArgs(argv);
  const known = new Set(['dir', 'config', 'user']);
  const bad =
    words.length !== 1 ||
    [...flags.keys()].some((k) => !known.has(k)) ||
    [...flags.values()].some((v) => v === true) ||
    (flags.has('dir') && flags.has('config'));
  if (bad) {
    io.err(usage);
    return 2;
  }
  const email = words[0]!;
  const only = flags.get('user') as string | undefined;

  const configFlag = flags.get('config');
  if (typeof configFlag === 'string' && (await namesPostgres(configFlag).catch(() => false)))
    return resetOnPostgres(configFlag, email, only, io, deps);
  const dir = await storageDirOf(flags, io, deps.storageDirFromConfig);
  if (dir === undefined) return 1;
  // Store.open would create an empty db.json: a mistyped path must not grow a new, empty gateway state.
  if (!existsSync(join(dir, 'db.json'))) {
    io.err(`no Gatehouse state (db.json) in ${dir}: check --dir or storage.dir in the config`);
    return 1;
  }

  let store: Store;
  try {
    store = await Store.open({ dir });
  } catch (err) {
    if (!(err instanceof StoreLockedError)) throw err;
    io.err(
      `cannot reset TOTP while the gateway is running: ${err.message}\n` +
        'stop the gateway first, or reset through the admin API (POST /api/users/<id>/totp/reset, as an admin with a fresh step-up)',
    );
    return 1;
  }
  try {
    const matches = matching(store.data, email, only);
    if (matches.length === 0) return noMatch(io, email, only);
    // The audit log is opened (and its chain verified) before anything changes: no unaudited reset.
    const audit = await AuditLog.open({ dir, clock: deps.clock ?? systemClock, checkpointIntervalMs: 0 });
    try {
      await store.attachAudit(audit);
      return await reset(store, matches, email, only, io);
    } finally {
      await audit.close();
    }
  } finally {
    await store.close();
  }
}

const matching = (db: Readonly<DbData>, email: string, only: string | undefined): User[] => {
  const wanted = email.toLowerCase();
  return db.users.filter((u) => u.email.toLowerCase() === wanted && (only === undefined || u.id === only));
};

function noMatch(io: CliIo, email: string, only: string | undefined): number {
  io.err(only ? `no user ${only} with e-mail ${email}` : `no user with e-mail ${email}`);
  return 1;
}

/** Clears the TOTP of `matches` in one audited update (one totp.reset record each) and says what it did. */
async function reset(
  store: Pick<StatePort, 'update'>,
  matches: readonly User[],
  email: string,
  only: string | undefined,
  io: CliIo,
): Promise<number> {
  const ids = matches.map((u) => u.id);
  const results = await store.update((d, sink) =>
    ids.map((id) => {
      const r = clearTotp(d, id);
      sink.record({
        type: 'totp.reset',
        actor: systemActor('cli'),
        subject: { userId: id },
        data: { ...r, via: 'cli' },
      });
      return { id, r };
    }),
  );
  io.out(`reset TOTP for ${matches.length} user${matches.length === 1 ? '' : 's'} with e-mail ${email}:`);
  for (const { id, r } of results) {
    const u = matches.find((m) => m.id === id)!;
    const was = r?.wasConfirmed ? 'was enrolled' : r?.hadTotp ? 'enrolment was pending' : 'had no TOTP';
    io.out(`  ${id}  ${u.name} (subject ${u.subject} at ${u.issuer}): ${was}`);
  }
  if (matches.length > 1 && !only) io.out('(use --user <id> to reset only one of them)');
  return 0;
}

/**
 * A PostgreSQL site: the reset is one more audited transaction on the shared state, so it works beside
 * running nodes (they take the change in through NOTIFY); every node's web sessions see the new state.
 */
async function resetOnPostgres(
  configPath: string,
  email: string,
  only: string | undefined,
  io: CliIo,
  deps: UsersCliDeps,
): Promise<number> {
  let opened: Awaited<ReturnType<typeof openSiteStorage>>;
  try {
    opened = await openSiteStorage(configPath, deps.clock ? { clock: deps.clock } : {});
  } catch (err) {
    io.err(`cannot open the PostgreSQL storage of ${configPath}: ${(err as Error).message}`);
    return 1;
  }
  const { storage } = opened;
  try {
    const matches = matching(storage.state.data, email, only);
    if (matches.length === 0) return noMatch(io, email, only);
    return await reset(storage.state, matches, email, only, io);
  } finally {
    await storage.close();
  }
}
