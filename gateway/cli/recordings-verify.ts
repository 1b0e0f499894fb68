// `gatehouse recordings verify [--config PATH | --dir PATH]`: re-hashes every sealed recording against its seal.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkRecording, type RecordingCheck } from '../evidence/evidence.js';
import { type DbData, Store } from '../store.js';
import { namesPostgres, readSiteState } from '../storage/storage.js';
import { type CliIo, parseArgs } from './io.js';
import { storageDirOf } from './storage-dir.js';

const usage = `usage: gatehouse recordings verify [--config PATH | --dir PATH]
  re-hashes every sealed session recording and compares it with the SHA-256 recorded when it was sealed.
  Read-only: works beside a running gateway. Exit 0 all intact, 1 naming each altered or missing recording.
  --dir PATH     the storage folder (what storage.dir names)
  --config PATH  read storage.dir from this config (default config/gatehouse.yaml); with storage.engine
                 postgres the sessions are read from its database, the recordings from storage.dir`;

/** The sessions to check: a snapshot of db.json, or of the PostgreSQL state; never a lock or a write. */
async function siteState(
  flags: Map<string, string | true>,
  io: CliIo,
): Promise<{ dir: string; db: Readonly<DbData> } | undefined> {
  const configFlag = flags.get('config');
  if (typeof configFlag === 'string' && (await namesPostgres(configFlag).catch(() => false))) {
    try {
      const { db, config } = await readSiteState(configFlag);
      return { dir: config.storage.dir, db };
    } catch (err) {
      io.err(`cannot read the state from the PostgreSQL database of ${configFlag}: ${(err as Error).message}`);
      return undefined;
    }
  }
  const dir = await storageDirOf(flags, io);
  if (dir === undefined) return undefined;
  if (!existsSync(join(dir, 'db.json'))) {
    io.err(`no Gatehouse state (db.json) in ${dir}: check --dir or storage.dir in the config`);
    return undefined;
  }
  // A snapshot, no lock: verification must not stop (or wait for) a running gateway.
  return { dir, db: await Store.readSnapshot(dir) };
}

export async function runRecordingsVerify(argv: string[], io: CliIo): Promise<number> {
  const { flags, words } = parseArgs(argv);
  const bad =
    words.length > 0 ||
    [...flags].some(([k, v]) => (k !== 'dir' && k !== 'config') || v === true) ||
    (flags.has('dir') && flags.has('config'));
  if (bad) {
    io.err(usage);
    return 2;
  }
  const site = await siteState(flags, io);
  if (!site) return 1;
  const { dir, db } = site;
  const counts = { ok: 0, incomplete: 0, live: 0, unsealed: 0 };
  const problems: string[] = [];
  for (const s of db.sessions) {
    const c: RecordingCheck | undefined = await checkRecording(dir, s);
    if (!c) continue;
    switch (c.status) {
      case 'ok':
        counts.ok++;
        if (c.incomplete) counts.incomplete++;
        break;
      case 'live':
        counts.live++;
        break;
      case 'unsealed':
        counts.unsealed++;
        io.err(
          `not sealed: ${c.sessionId} ${c.path} (the session ended without a seal; the gateway seals it as incomplete at its next start)`,
        );
        break;
      case 'mismatch':
        problems.push(
          `ALTERED ${c.sessionId} ${c.path}: SHA-256 ${c.actual} (${c.bytes} bytes), sealed ${c.expected}` +
            (c.expectedBytes !== undefined ? ` (${c.expectedBytes} bytes)` : ''),
        );
        break;
      case 'missing':
        problems.push(`MISSING ${c.sessionId} ${c.path}: the sealed recording is gone`);
        break;
      case 'not_a_file':
        problems.push(`NOT A FILE ${c.sessionId} ${c.path}: something else (a link or a folder) stands in its place`);
        break;
      case 'bad_path':
        problems.push(
          `BAD PATH ${c.sessionId} ${c.path}: the stored path leaves the sessions folder (db.json was edited)`,
        );
        break;
    }
  }
  const tail = [
    counts.incomplete ? `${counts.incomplete} of them incomplete (sealed after a crash)` : '',
    counts.live ? `${counts.live} live, not checked` : '',
    counts.unsealed ? `${counts.unsealed} not sealed` : '',
  ].filter(Boolean);
  if (problems.length > 0) {
    for (const p of problems) io.err(p);
    io.err(
      `recordings BROKEN: ${problems.length} of ${counts.ok + problems.length} sealed recordings do not match their seal; ${dir}`,
    );
    return 1;
  }
  io.out(
    `recordings intact: ${counts.ok} sealed recordings match their SHA-256${tail.length ? ` (${tail.join(', ')})` : ''}`,
  );
  return 0;
}
