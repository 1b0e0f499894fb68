// `gatehouse audit verify [--config PATH | --dir PATH]`: checks the audit chain, checkpoints and signed head.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type VerifyResult, verifyAuditFile } from '../audit-log.js';
import { namesPostgres, verifySiteAudit } from '../storage/postgres/offline.js';
import { type CliIo, parseArgs } from './io.js';
import { storageDirOf } from './storage-dir.js';

const usage = `usage: gatehouse audit verify [--config PATH | --dir PATH] [--public-key PEM] [--checkpoint-every N]
  --dir PATH             the storage folder (what storage.dir names) holding audit.jsonl
  --config PATH          read storage.dir from this config (default config/gatehouse.yaml)
  --public-key PEM       check signatures with this public key instead of <dir>/keys/audit-ed25519.pub.pem
  --checkpoint-every N   bound on records between checkpoints for a log that declares none (default 1000)`;

export interface AuditVerifyDeps {
  /** The lead's config loader: storage.dir of a config, resolved to an absolute path. */
  storageDirFromConfig?: (path: string) => Promise<string>;
}


export async function runAuditVerify(argv: string[], io: CliIo, deps: AuditVerifyDeps = {}): Promise<number> {
  const { flags, words } = parseArgs(argv);
  const known = new Set(['dir', 'config', 'public-key', 'checkpoint-every']);
  const unknown = [...flags.keys()].filter((k) => !known.has(k));
  const value = (name: string) => flags.get(name);
  const bad =
    words.length > 0 ||
    unknown.length > 0 ||
    [...known].some((k) => value(k) === true) ||
    (flags.has('dir') && flags.has('config'));
  const every = value('checkpoint-every');
  const everyN = typeof every === 'string' ? Number(every) : undefined;
  if (bad || (everyN !== undefined && !(Number.isSafeInteger(everyN) && everyN > 0))) {
    io.err(usage);
    return 2;
  }

  let publicKeyPem: string | undefined;
  try {
    publicKeyPem = await readKeyFlag(value('public-key'), io);
  } catch {
    return 1;
  }
  const configFlag = value('config');
  if (typeof configFlag === 'string' && (await namesPostgres(configFlag).catch(() => false))) {
    const result = await verifySiteAudit(configFlag, publicKeyPem);
    if (result.ok && result.records === 0) {
      io.err(`no audit records in the PostgreSQL database of ${configFlag}: nothing to verify`);
      return 1;
    }
    return report(result, 'the PostgreSQL audit chain', io);
  }
  const dir = await storageDirOf(flags, io, deps.storageDirFromConfig);
  if (dir === undefined) return 1;
  const logPath = join(dir, 'audit.jsonl');
  if (!existsSync(logPath)) {
    io.err(`no audit log at ${logPath}: nothing to verify (check --dir or storage.dir in the config)`);
    return 1;
  }
  const result = await verifyAuditFile(dir, { publicKeyPem, checkpointEvery: everyN });
  return report(result, logPath, io);
}

/** The PEM of --public-key; throws once it has told the operator why the file could not be read. */
async function readKeyFlag(keyFlag: string | true | undefined, io: CliIo): Promise<string | undefined> {
  if (typeof keyFlag !== 'string') return undefined;
  try {
    return await readFile(keyFlag, 'utf8');
  } catch (err) {
    io.err(`cannot read the public key ${keyFlag}: ${(err as Error).message}`);
    throw err;
  }
}

function report(result: VerifyResult, where: string, io: CliIo): number {
  if (result.ok) {
    io.out(
      `audit log intact: ${result.records} records, ${result.checkpoints} checkpoints, last checkpoint at seq ${result.lastCheckpointSeq}`,
    );
    return 0;
  }
  io.err(
    result.seq > 0
      ? `audit log BROKEN at record seq ${result.seq} (line ${result.line}): ${result.reason}`
      : `audit log BROKEN: ${result.reason}`,
  );
  io.err(`${result.records} records before it verified; ${where}`);
  return 1;
}
