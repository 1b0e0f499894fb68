// GET /api/evidence?from=&to=[&recordings=true] (auditor, admin; with recordings also a fresh step-up): a signed
// evidence pack, as a zip download.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Request, Router } from 'express';
import { z } from 'zod';
import { requireFreshStepUp, requireRole } from '../../auth/auth.js';
import { userActor } from '../../core/model.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { GatehouseError, invalidInput } from '../../errors.js';
import { auditSourceOf, compactInstant, parsePeriod, writePackFile } from '../../evidence/evidence.js';
import type { AuditPort, CommandPort, PlcPort, StateView } from '../../storage/storage.js';

const querySchema = z.strictObject({
  from: z.string().max(40),
  to: z.string().max(40),
  recordings: z.enum(['true', 'false', '1', '0']).optional(),
});

/** Packs are built on disk first; two at once is plenty for an auditor, and bounds the disk and CPU they take. */
const MAX_RUNNING = 2;

function parseQuery(req: Request) {
  const r = querySchema.safeParse(req.query);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === 'unrecognized_keys')
      throw invalidInput('unknown_parameter', `unknown query parameter(s): ${issue.keys.slice(0, 5).join(', ')}`);
    throw invalidInput('invalid_query', `${issue.path.join('.') || 'query'}: ${issue.message}`);
  }
  return {
    period: parsePeriod(r.data.from, r.data.to),
    withRecordings: r.data.recordings === 'true' || r.data.recordings === '1',
  };
}

/**
 * What an export reads, and the one thing it writes: the state with its history, captured commands and PLC
 * operations (read only), the audit log's lines and signing key, a checkpoint before the pack, and the
 * `evidence.exported` record.
 */
export interface EvidencePorts {
  clock: Clock;
  config: Pick<Config, 'site' | 'stepUp' | 'targets'>;
  store: Pick<StateView, 'withHistory'>;
  audit: Pick<AuditPort, 'append' | 'checkpoint' | 'signingKeyFile' | 'linesForward' | 'readSignedHead'>;
  commands: Pick<CommandPort, 'records'>;
  plc?: Pick<PlcPort, 'records'> | undefined;
  /** storage.dir: recordings and, on lowdb, audit.jsonl are read from it. */
  storageDir: string;
}

/**
 * The pack is written to a private temp file, then audited, then sent: the audit record names the exact
 * bytes delivered (SHA-256), it is durable before anything leaves, and a failure while packing is a
 * clean error response rather than a truncated download.
 */
export function evidenceRouter(deps: EvidencePorts): Router {
  const router = Router();
  let running = 0;
  router.get('/evidence', async (req, res) => {
    const ctx = requireRole(req, 'auditor', 'admin');
    const { period, withRecordings } = parseQuery(req);
    // With recordings a pack carries every screen and keystroke echo of a period, the most one click takes out of
    // the gateway: an unattended auditor browser must not be enough. Without them it is the trail and the tables,
    // which the reference gives every auditor as is. Refused before any work; the 403 is audited centrally (audit-refusal.ts).
    if (withRecordings) requireFreshStepUp(ctx, deps.clock.now(), deps.config.stepUp.maxAgeMinutes);
    if (running >= MAX_RUNNING)
      throw new GatehouseError(
        'rate_limited',
        'export_busy',
        'evidence packs are being exported already; try again when they are done',
      );
    running++;
    const tmp = await mkdtemp(join(tmpdir(), 'gatehouse-pack-'));
    try {
      const actor = userActor(ctx.user, req.socket.remoteAddress);
      // A checkpoint now, so the period's last records end on a signature inside the pack.
      await deps.audit.checkpoint();
      const file = join(tmp, 'pack.zip');
      const result = await writePackFile(
        {
          storageDir: deps.storageDir,
          db: deps.store.withHistory,
          commands: deps.commands.records,
          period,
          site: { name: deps.config.site.name, timezone: deps.config.site.timezone },
          targets: deps.config.targets,
          withRecordings,
          clock: deps.clock,
          exportedBy: actor,
          keyFile: deps.audit.signingKeyFile,
          // The engine's audit chain and PLC log (audit.jsonl and plc.jsonl on lowdb, tables on PostgreSQL).
          audit: auditSourceOf(deps.audit, deps.storageDir),
          ...(deps.plc ? { plc: deps.plc.records } : {}),
        },
        file,
      );
      const m = result.manifest;
      await deps.audit.append({
        type: 'evidence.exported',
        actor,
        data: {
          via: 'api',
          from: m.period.from,
          to: m.period.to,
          withRecordings,
          bytes: result.bytes,
          sha256: result.sha256,
          auditSeq: { first: m.audit.firstSeq, last: m.audit.lastSeq },
        },
      });
      const name = packFileName(period.fromMs, period.toMs);
      res.status(200).set({
        'Content-Type': 'application/zip',
        'Content-Disposition': `attachment; filename="${name}"`,
        'Content-Length': String(result.bytes),
        'Cache-Control': 'no-store',
        'X-Evidence-Sha256': result.sha256,
      });
      try {
        await pipeline(createReadStream(file), res);
      } catch (err) {
        // The client went away mid-download: nothing to answer, and the export is already on record.
        if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
      }
    } finally {
      running--;
      await rm(tmp, { recursive: true, force: true });
    }
  });
  return router;
}

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The download's name says the period as it was chosen: whole UTC days (what the Evidence page asks for) by
 * their first and last day, the end day included ("…-2026-12-01-to-2026-12-06.zip"); any other period by its
 * two instants. Why not always the instants: [from, to) ends at the next midnight, a day the pack does not hold.
 */
export function packFileName(fromMs: number, toMs: number): string {
  if (fromMs % DAY_MS === 0 && toMs % DAY_MS === 0 && toMs > fromMs) {
    const last = isoDay(toMs - DAY_MS);
    const first = isoDay(fromMs);
    return `gatehouse-evidence-${first === last ? first : `${first}-to-${last}`}.zip`;
  }
  return `gatehouse-evidence-${compactInstant(fromMs)}-${compactInstant(toMs)}.zip`;
}
