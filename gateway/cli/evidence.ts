// `gatehouse evidence export …` and `gatehouse evidence verify FILE.zip`: signed evidence packs, offline.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { AuditChainError, AuditLog } from '../audit-log.js';
import { type Clock, systemClock } from '../clock.js';
import { CommandLog } from '../command-log.js';
import { type Config, loadConfig } from '../config.js';
import type { AuditInput, AuditRecord } from '../core/audit.js';
import { type CommandRecord, systemActor } from '../core/model.js';
import type { PlcOperationRecord } from '../conduit/conduit.js';
import {
  type AuditSource,
  chainAuditSource,
  parsePeriod,
  type Period,
  type Progress,
  verifyPack,
  writePackFile,
} from '../evidence/evidence.js';
import { openSiteStorage } from '../storage/storage.js';
import { isGatehouseError } from '../errors.js';
import { type DbData, Store, StoreLockedError } from '../store.js';
import { type CliIo, parseArgs } from './io.js';

const exportUsage = `usage: gatehouse evidence export [--config PATH | --dir PATH] --from DATE --to DATE --out FILE.zip [--with-recordings]
  --from, --to DATE    the period [from, to): YYYY-MM-DD (00:00 UTC that day) or an ISO 8601 time with Z or
                       an offset, e.g. 2026-11-23T06:00+01:00
  --out FILE.zip       where to write the pack; an existing file is never overwritten
  --with-recordings    include the period's session recordings under recordings/
  --config PATH        the gateway's config (default config/gatehouse.yaml): storage, site and asset inventory
  --dir PATH           a storage folder alone (site, target names and zones are then unknown)`;

const verifyUsage = `usage: gatehouse evidence verify FILE.zip [--key PEM]
  checks a pack offline: the manifest signature, every file's size and SHA-256, no file added or missing,
  and the audit chain inside it. Exit 0 intact, 1 with the first problem named.
  --key PEM   the gateway's public key as the site holds it (otherwise only the key inside the pack is used)`;

export interface EvidenceCliDeps {
  clock?: Clock;
  /** Smallest pause between progress lines (default 1000 ms). */
  progressEveryMs?: number;
}

const mb = (n: number) => `${(n / 1_000_000).toFixed(1)} MB`;

function flagsOk(flags: Map<string, string | true>, valued: string[], bare: string[] = []): boolean {
  for (const [k, v] of flags) {
    if (valued.includes(k) ? v === true : !bare.includes(k) || v !== true) return false;
  }
  return true;
}

export async function runEvidenceExport(argv: string[], io: CliIo, deps: EvidenceCliDeps = {}): Promise<number> {
  const { flags, words } = parseArgs(argv);
  const value = (k: string) => flags.get(k) as string | undefined;
  if (
    words.length > 0 ||
    !flagsOk(flags, ['dir', 'config', 'from', 'to', 'out'], ['with-recordings']) ||
    (flags.has('dir') && flags.has('config')) ||
    !value('from') ||
    !value('to') ||
    !value('out')
  ) {
    io.err(exportUsage);
    return 2;
  }
  let period: Period;
  try {
    period = parsePeriod(value('from')!, value('to')!);
  } catch (err) {
    io.err(`gatehouse evidence export: ${(err as Error).message}`);
    return 2;
  }
  const out = resolve(value('out')!);
  if (existsSync(out)) {
    io.err(`${out} already exists: choose another --out (a pack is never overwritten)`);
    return 1;
  }

  let config: Config | undefined;
  let dir: string;
  const clock = deps.clock ?? systemClock;
  try {
    if (value('dir')) dir = resolve(value('dir')!);
    else {
      // Secrets are not needed to export, and must not be required: the auditor's shell may not hold them.
      const configPath = value('config') ?? 'config/gatehouse.yaml';
      config = await loadConfig(configPath, { resolveSecrets: false });
      dir = config.storage.dir;
      if (config.storage.engine === 'postgres') return await exportFrom(await openPostgresSite(configPath, clock));
    }
    if (!existsSync(join(dir, 'db.json'))) {
      io.err(`no Gatehouse state (db.json) in ${dir}: check --dir or storage.dir in the config`);
      return 1;
    }
    return await exportFrom(await openLowdbSite(dir, clock, config?.audit.signingKey?.file));
  } catch (err) {
    if (err instanceof AuditChainError) {
      io.err(
        `gatehouse evidence export: ${err.message}. No pack is signed over a broken chain; run \`gatehouse audit verify\``,
      );
      return 1;
    }
    if (!isGatehouseError(err)) throw err;
    io.err(`gatehouse evidence export: ${err.message}`);
    return 1;
  }

  async function exportFrom(site: ExportSite): Promise<number> {
    try {
      return await exportPack(site);
    } finally {
      await site.close();
    }
  }

  async function exportPack(site: ExportSite): Promise<number> {
    const every = deps.progressEveryMs ?? 1000;
    const started = Date.now();
    let shown = started;
    const onProgress = (p: Progress) => {
      const now = Date.now();
      if (now - shown < every) return;
      shown = now;
      io.err(`exporting: ${p.files} files, ${mb(p.bytes)} packed (${p.current})`);
    };
    const withRecordings = flags.get('with-recordings') === true;
    const result = await writePackFile(
      {
        storageDir: dir,
        db: site.db,
        commands: site.commands,
        ...(site.plc ? { plc: site.plc } : {}),
        ...(site.audit ? { audit: site.audit } : {}),
        period,
        site: config ? { name: config.site.name, timezone: config.site.timezone } : null,
        targets: config?.targets,
        withRecordings,
        clock,
        exportedBy: systemActor('cli'),
        keyFile: config?.audit.signingKey?.file,
        notes: site.runningGateway
          ? ['Exported offline while the gateway was running: this export is not in its audit log.']
          : [],
        onProgress,
      },
      out,
    );
    const m = result.manifest;
    io.out(`wrote ${out}: ${m.files.length} files, ${result.bytes} bytes, sha256 ${result.sha256}`);
    io.out(`  period ${m.period.from} to ${m.period.to} (to exclusive)`);
    io.out(
      m.audit.firstSeq === null
        ? '  audit: no records in the period'
        : `  audit: ${m.audit.records} records in the period, seq ${m.audit.firstSeq}-${m.audit.lastSeq}, ` +
            (m.audit.checkpoint
              ? `closed by signed checkpoint seq ${m.audit.checkpoint.seq}`
              : 'no signed checkpoint after it yet'),
    );
    io.out(
      `  ${m.counts.requests} requests, ${m.counts.sessions} sessions, ${m.counts.commands} commands, ${m.counts.alerts} alerts, ${m.counts.targets} targets${withRecordings ? `, ${m.counts.recordings} recordings` : ''}`,
    );
    for (const n of m.notes) io.err(`note: ${n}`);
    if (site.record) {
      const rec = await site.record({
        type: 'evidence.exported',
        actor: systemActor('cli'),
        data: {
          via: 'cli',
          osUser: userInfo().username,
          from: m.period.from,
          to: m.period.to,
          withRecordings,
          file: basename(out),
          bytes: result.bytes,
          sha256: result.sha256,
          auditSeq: { first: m.audit.firstSeq, last: m.audit.lastSeq },
        },
      });
      io.out(`  recorded in the audit log as evidence.exported (seq ${rec.seq})`);
    } else {
      io.err(
        `note: not recorded in the audit log: the gateway is running (${site.runningGateway}). ` +
          'Exports through GET /api/evidence are audited by the gateway itself.',
      );
    }
    return 0;
  }
}

/** What an export reads, and where it records itself; `record` is absent when a running gateway owns the log. */
interface ExportSite {
  db: Readonly<DbData>;
  commands: readonly CommandRecord[];
  plc?: readonly PlcOperationRecord[];
  audit?: AuditSource;
  record?: (input: AuditInput) => Promise<AuditRecord>;
  runningGateway?: string;
  close(): Promise<void>;
}

/**
 * A lowdb folder: a free one is taken (the gateway cannot start meanwhile) so the export can be audited; one
 * in use by a running gateway is only read, as its writer owns the audit log.
 */
async function openLowdbSite(dir: string, clock: Clock, keyFile: string | undefined): Promise<ExportSite> {
  let store: Store | undefined;
  let db: Readonly<DbData>;
  let runningGateway: string | undefined;
  try {
    store = await Store.open({ dir });
    db = store.withHistory;
  } catch (err) {
    if (!(err instanceof StoreLockedError)) throw err;
    runningGateway = err.message;
    db = await Store.readSnapshot(dir);
  }
  let audit: AuditLog | undefined;
  let commandLog: CommandLog | undefined;
  const close = async () => {
    await audit?.close();
    await commandLog?.close();
    await store?.close();
  };
  try {
    // Like db.json: the free folder's log is opened (finishing a v1 move), a running gateway's only read.
    let commands: readonly CommandRecord[];
    if (store) {
      commandLog = await CommandLog.open({ store });
      commands = commandLog.records;
    } else commands = await CommandLog.read(dir, db);
    if (store)
      audit = await AuditLog.open({
        dir,
        clock,
        checkpointIntervalMs: 0,
        ...(keyFile ? { signingKeyFile: keyFile } : {}),
      });
    const log = audit;
    return {
      db,
      commands,
      ...(log ? { record: (input: AuditInput) => log.append(input) } : {}),
      ...(runningGateway ? { runningGateway } : {}),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A PostgreSQL site: state, commands, PLC operations and the chain from its database. Nodes may be running:
 * the export is one more writer of the shared chain, so it is audited like an export through the API. Opening
 * verifies the whole chain and signs a checkpoint, so the period's last records end on a signature.
 */
async function openPostgresSite(configPath: string, clock: Clock): Promise<ExportSite> {
  const { storage } = await openSiteStorage(configPath, { clock });
  return {
    db: storage.state.withHistory,
    commands: storage.commands.records,
    plc: storage.plc.records,
    audit: chainAuditSource(storage.audit),
    record: (input) => storage.audit.append(input),
    close: () => storage.close(),
  };
}

export async function runEvidenceVerify(argv: string[], io: CliIo): Promise<number> {
  const { flags, words } = parseArgs(argv);
  if (words.length !== 1 || !flagsOk(flags, ['key'])) {
    io.err(verifyUsage);
    return 2;
  }
  const file = resolve(words[0]!);
  if (!existsSync(file)) {
    io.err(`no such file: ${file}`);
    return 1;
  }
  let publicKeyPem: string | undefined;
  const keyFlag = flags.get('key') as string | undefined;
  if (keyFlag) {
    try {
      publicKeyPem = await readFile(keyFlag, 'utf8');
    } catch (err) {
      io.err(`cannot read the key ${keyFlag}: ${(err as Error).message}`);
      return 1;
    }
  }
  const verdict = await verifyPack(file, { publicKeyPem });
  if (!verdict.ok) {
    io.err(`evidence pack BROKEN: ${verdict.problem}`);
    io.err(`  ${file}`);
    return 1;
  }
  const s = verdict.summary;
  io.out(`evidence pack intact: ${file}`);
  io.out(
    s.pinned
      ? `  signed by key ${s.keyId} (the pinned key given with --key)`
      : `  signed by key ${s.keyId}, the key inside the pack: compare it with the site's gateway key, or pass --key`,
  );
  io.out(
    `  period ${s.period.from} to ${s.period.to}${s.site ? `, site ${s.site.name}` : ''}; generated ${s.generatedAt}`,
  );
  io.out(`  ${s.files} files (${s.bytes} bytes) match the manifest; nothing added or missing`);
  io.out(
    s.audit.firstSeq === null
      ? '  audit: no records in the period'
      : `  audit chain continuous: ${s.audit.records} records in the period, seq ${s.audit.firstSeq}-${s.audit.lastSeq}` +
          (s.audit.checkpointSeq === null
            ? ' (no signed checkpoint after the period yet)'
            : `, signed checkpoint seq ${s.audit.checkpointSeq} verified`),
  );
  for (const n of s.notes) io.out(`  note: ${n}`);
  return 0;
}
