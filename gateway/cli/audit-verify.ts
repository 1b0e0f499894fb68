// `gatehouse audit verify [--config PATH | --dir PATH] [--key PEM] [--witness FILE]`: checks the audit chain,
// checkpoints and signed head; with --witness, also against the SIEM's copy of the stream.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyAuditFile } from '../audit-log.js';
import { namesPostgres, verifySiteAudit, witnessSiteAudit } from '../storage/storage.js';
import { checkWitness, loadVerifyKey } from '../audit/audit.js';
import { type CliIo, parseArgs } from './io.js';
import { storageDirOf } from './storage-dir.js';

const usage = `usage: gatehouse audit verify [--config PATH | --dir PATH] [--key PEM] [--witness FILE] [--checkpoint-every N]
  --dir PATH             the storage folder (what storage.dir names) holding audit.jsonl
  --config PATH          read storage.dir from this config (default config/gatehouse.yaml)
  --key PEM              check signatures with this public key (the one you trust) instead of
                         <dir>/keys/audit-ed25519.pub.pem (--public-key is the same)
  --witness FILE         also compare with the audit records kept elsewhere: the SIEM's file of the
                         syslog stream; names the first record the local log lacks or contradicts
  --checkpoint-every N   bound on records between checkpoints for a log that declares none (default 1000)`;

export interface AuditVerifyDeps {
  /** The lead's config loader: storage.dir of a config, resolved to an absolute path. */
  storageDirFromConfig?: (path: string) => Promise<string>;
}

const known = new Set(['dir', 'config', 'key', 'public-key', 'witness', 'checkpoint-every']);

export async function runAuditVerify(argv: string[], io: CliIo, deps: AuditVerifyDeps = {}): Promise<number> {
  const { flags, words } = parseArgs(argv);
  if (flags.has('help')) {
    io.out(usage);
    return 0;
  }
  const unknown = [...flags.keys()].filter((k) => !known.has(k));
  const value = (name: string) => flags.get(name);
  const bad =
    words.length > 0 ||
    unknown.length > 0 ||
    [...known].some((k) => value(k) === true) ||
    (flags.has('dir') && flags.has('config')) ||
    (flags.has('key') && flags.has('public-key'));
  const every = value('checkpoint-every');
  const everyN = typeof every === 'string' ? Number(every) : undefined;
  if (bad || (everyN !== undefined && !(Number.isSafeInteger(everyN) && everyN > 0))) {
    io.err(usage);
    return 2;
  }

  const keyFlag = value('key') ?? value('public-key');
  let publicKeyPem: string | undefined;
  if (typeof keyFlag === 'string') {
    try {
      publicKeyPem = await readFile(keyFlag, 'utf8');
    } catch (err) {
      io.err(`cannot read the public key ${keyFlag}: ${(err as Error).message}`);
      return 1;
    }
  }
  // A PostgreSQL site: the chain in its database (lines, checkpoints, signed head) against the site's key.
  const configFlag = value('config');
  const onPostgres = typeof configFlag === 'string' && (await namesPostgres(configFlag).catch(() => false));
  let pgResult: Awaited<ReturnType<typeof verifySiteAudit>> | undefined;
  try {
    pgResult = onPostgres ? await verifySiteAudit(configFlag, publicKeyPem) : undefined;
  } catch (err) {
    // A public key file that does not match the signing key, or a database that cannot be read.
    io.err(`audit log NOT verified: ${(err as Error).message}`);
    return 1;
  }
  if (pgResult) {
    if (pgResult.ok && pgResult.records === 0) {
      io.err(`no audit records in the PostgreSQL database of ${configFlag}: nothing to verify`);
      return 1;
    }
  }

  const dir = await storageDirOf(flags, io, deps.storageDirFromConfig);
  if (dir === undefined) return 1;
  const logPath = onPostgres ? 'the PostgreSQL audit chain' : join(dir, 'audit.jsonl');
  if (!onPostgres && !existsSync(logPath)) {
    io.err(`no audit log at ${logPath}: nothing to verify (check --dir or storage.dir in the config)`);
    return 1;
  }
  const result = pgResult ?? (await verifyAuditFile(dir, { publicKeyPem, checkpointEvery: everyN }));
  let code = 0;
  if (result.ok) {
    io.out(
      `audit log intact: ${result.records} records, ${result.checkpoints} checkpoints, last checkpoint at seq ${result.lastCheckpointSeq}`,
    );
    const unsigned = result.records - result.lastCheckpointSeq;
    if (unsigned > 0)
      io.out(
        `note: ${unsigned} records after the last checkpoint are not signed yet (a running gateway signs them within audit.checkpointEverySeconds)`,
      );
    for (const n of result.notes ?? []) io.out(`note: ${n}`);
  } else {
    io.err(
      result.seq > 0
        ? `audit log BROKEN at record seq ${result.seq} (line ${result.line}): ${result.reason}`
        : `audit log BROKEN: ${result.reason}`,
    );
    io.err(`${result.records} records before it verified; ${logPath}`);
    code = 1;
  }
  const witness = value('witness');
  if (typeof witness === 'string')
    code = Math.max(
      code,
      await verifyWitness(dir, witness, publicKeyPem, io, onPostgres ? (configFlag as string) : undefined),
    );
  return code;
}

async function verifyWitness(
  dir: string,
  witness: string,
  publicKeyPem: string | undefined,
  io: CliIo,
  /** A PostgreSQL site's config: the chain is read from its database. */
  postgresConfig?: string,
): Promise<number> {
  if (!existsSync(witness)) {
    io.err(`cannot read the witness ${witness}: no such file`);
    return 1;
  }
  let r: Awaited<ReturnType<typeof checkWitness>>;
  try {
    r = postgresConfig
      ? await witnessSiteAudit(postgresConfig, witness, publicKeyPem)
      : await checkWitness(dir, witness, await loadVerifyKey(dir, publicKeyPem));
  } catch (err) {
    io.err(`cannot check against the witness ${witness}: ${(err as Error).message}`);
    return 1;
  }
  for (const n of r.notes) io.err(`witness note: ${n}`);
  if (!r.ok) {
    io.err(r.seq > 0 ? `witness MISMATCH at record seq ${r.seq}: ${r.reason}` : `witness MISMATCH: ${r.reason}`);
    return 1;
  }
  io.out(
    `witness agrees: ${r.compared} records compared (${r.checkpoints} signed checkpoints), the witness reaches seq ${r.witnessLast}`,
  );
  if (r.localOnly > 0)
    io.out(
      `note: ${r.localOnly} local records are not in the witness (not delivered yet, or lost on the way to the SIEM)`,
    );
  return 0;
}
