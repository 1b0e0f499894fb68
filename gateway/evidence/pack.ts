// Writes a signed evidence pack (zip) for a period: every file streamed through a SHA-256 into yazl, the manifest last.
import { createHash, createPublicKey } from 'node:crypto';
import { constants, createReadStream, openSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { PassThrough, pipeline, Readable, Transform, type Writable } from 'node:stream';
import yazl from 'yazl';
import type { VerifyKey } from '../audit/audit.js';
import type { Clock } from '../clock.js';
import { isoTime } from '../clock.js';
import type { TargetConfig } from '../config.js';
import type { Actor, CommandRecord } from '../core/model.js';
import type { DbData } from '../store.js';
import { version } from '../version.js';
import { type AuditLine, type AuditSlice, sliceAuditLog, sliceRecords } from './audit-slice.js';
import { type AuditSource, fileAuditSource } from './audit-source.js';
import { type Cell, csvChunks } from './csv.js';
import { loadPackKey, type PackKey } from './key.js';
import {
  AUDIT_FILE,
  type Manifest,
  MANIFEST,
  type ManifestFile,
  manifestBytes,
  PACK_FORMAT,
  PUBLIC_KEY,
  SIGNATURE,
} from './manifest.js';
import type { Period } from './period.js';
import { packPathOf, recordingFile, recordingState } from './recordings.js';
import { renderReport, REPORT_ROWS } from './report.js';
import { PlcLog, type PlcOperationRecord } from '../conduit/conduit.js';
import { PLC_COLUMNS, PLC_FILE_IN_PACK, plcCells, plcInPeriod, renderPlcSection } from './plc-table.js';
import {
  ALERT_COLUMNS,
  ALERT_TYPES,
  alertCells,
  actorLabel,
  COMMAND_COLUMNS,
  commandCells,
  inventoryOf,
  isAlert,
  REQUEST_COLUMNS,
  requestCells,
  SESSION_COLUMNS,
  selectRows,
  sessionCells,
  TARGET_COLUMNS,
  targetCells,
} from './tables.js';

export interface PackInput {
  storageDir: string;
  /** db.json as of the export (the live store's data, or a read-only snapshot). */
  db: Readonly<DbData>;
  /** Every captured command (the live command log's records, or CommandLog.read offline). */
  commands: readonly CommandRecord[];
  period: Period;
  /** From the config; null when only a storage folder was given. */
  site: { name: string; timezone: string } | null;
  /** The configured targets (asset inventory); undefined when no config was given. */
  targets: readonly TargetConfig[] | undefined;
  withRecordings: boolean;
  clock: Clock;
  exportedBy: Actor;
  /** Said in the manifest and the report (e.g. that the gateway was running during an offline export). */
  notes?: string[];
  onProgress?: (p: Progress) => void;
  /** Default: the gateway's audit key, read from `keyFile` (config audit.signingKey) or `<storageDir>/keys`. */
  key?: PackKey;
  keyFile?: string;
  /** PLC operations; default: read from `<storageDir>/plc.jsonl` (durable lines only). */
  plc?: readonly PlcOperationRecord[];
  /** The audit chain; default `<storageDir>/audit.jsonl` (the lowdb engine's). */
  audit?: AuditSource;
}

export interface Progress {
  files: number;
  /** Uncompressed bytes packed so far. */
  bytes: number;
  current: string;
}

export interface PackResult {
  manifest: Manifest;
  /** The zip as written: size and SHA-256 (what `evidence.exported` records). */
  bytes: number;
  sha256: string;
}

/** What crossed the conduit besides keystrokes: files (SFTP, RDP drive) and, where enabled, RDP clipboard contents. */
const TRANSFERS: ReadonlySet<string> = new Set(['file.transferred', 'clipboard.transferred']);

/** Streams the pack into `out` and resolves once `out` has taken all of it. */
export async function writePack(input: PackInput, out: Writable): Promise<PackResult> {
  const { storageDir, period, db } = input;
  const key = input.key ?? (await loadPackKey(storageDir, input.keyFile));
  const verifyKey: VerifyKey = {
    publicKey: createPublicKey(key.privateKey),
    publicKeyPem: key.publicKeyPem,
    keyId: key.keyId,
  };
  const generatedAt = isoTime(input.clock.now());
  const notes = [...(input.notes ?? [])];

  const slice = await sliceAuditLog(input.audit ?? fileAuditSource(storageDir), period, verifyKey);
  const rows = selectRows(db, input.commands, period, inventoryOf(db, input.targets));
  const alerts = { sample: [] as AuditLine[], total: 0 };
  const transfers = { sample: [] as AuditLine[], total: 0 };
  let clipboardTransfers = 0;
  for await (const a of sliceRecords(slice, period, new Set([...ALERT_TYPES, ...TRANSFERS]))) {
    const bucket = TRANSFERS.has(a.type) ? transfers : isAlert(a) ? alerts : undefined;
    if (!bucket) continue;
    bucket.total++;
    if (a.type === 'clipboard.transferred') clipboardTransfers++;
    if (bucket.sample.length < REPORT_ROWS) bucket.sample.push(a);
  }
  if (slice.records > 0 && !slice.checkpoint)
    notes.push('No signed audit checkpoint follows the period yet: its last records are signed by this manifest only.');
  if (!input.targets)
    notes.push('Exported from a storage folder without its config: site, target names and zones are not known.');

  const plcOps = plcInPeriod(input.plc ?? (await PlcLog.read(storageDir)), period);
  const sessionsById = new Map(db.sessions.map((x) => [x.id, x]));
  const userName = (id: string) => db.users.find((u) => u.id === id)?.name ?? id;

  const recordings = input.withRecordings ? await recordingsOf(storageDir, rows.sessions) : [];
  const inPack = new Map(recordings.map((r) => [r.sessionId, r.packPath]));

  const zip = new yazl.ZipFile();
  const mtime = new Date(generatedAt);
  const files: ManifestFile[] = [];
  const progress = { files: 0, bytes: 0, current: '' };
  let failed: Error | undefined;
  let fail!: (err: Error) => void;
  const failure = new Promise<never>((_, reject) => {
    fail = (err) => {
      failed ??= err;
      reject(failed);
    };
  });
  failure.catch(() => {});
  zip.on('error', (e: Error) => fail(e));

  // The zip's own bytes are hashed on the way out: the export's audit record names exactly what was delivered.
  const zipHash = createHash('sha256');
  let zipBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      zipHash.update(chunk);
      zipBytes += chunk.length;
      cb(null, chunk);
    },
  });
  const written = new Promise<void>((resolve, reject) =>
    pipeline(zip.outputStream, tap, out, (err) => (err ? reject(err) : resolve())),
  );
  written.catch((e: Error) => fail(e));

  /** Adds a streamed file; resolves with its size and SHA-256 once yazl has consumed it all. */
  const addStream = (path: string, open: () => Readable, size?: number) =>
    new Promise<ManifestFile>((resolve) => {
      const hash = createHash('sha256');
      let bytes = 0;
      zip.addReadStreamLazy(path, { mtime, mode: 0o100644, ...(size !== undefined ? { size } : {}) }, (cb) => {
        progress.current = path;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            bytes += chunk.length;
            progress.bytes += chunk.length;
            input.onProgress?.(progress);
            done(null, chunk);
          },
          flush(done) {
            progress.files++;
            input.onProgress?.(progress);
            resolve({ path, bytes, sha256: hash.digest('hex') });
            done();
          },
        });
        let source: Readable;
        try {
          source = open();
        } catch (err) {
          fail(err as Error);
          return cb(null, new PassThrough());
        }
        pipeline(source, counter, (err) => err && fail(err));
        cb(null, counter);
      });
    });
  const addBuffer = (path: string, buf: Buffer): ManifestFile => {
    zip.addBuffer(buf, path, { mtime, mode: 0o100644 });
    progress.files++;
    progress.bytes += buf.length;
    return { path, bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
  };

  const work = (async () => {
    const pending: Array<Promise<ManifestFile>> = [];
    pending.push(
      addStream(
        AUDIT_FILE,
        () => slice.source.stream(slice.start, slice.end),
        slice.source.size(slice.start, slice.end),
      ),
    );
    const csv = <T>(
      path: string,
      header: readonly string[],
      list: Iterable<T> | AsyncIterable<T>,
      cells: (row: T) => Cell[],
    ) => pending.push(addStream(path, () => Readable.from(csvChunks(header, list, cells))));
    csv('requests.csv', REQUEST_COLUMNS, rows.requests, requestCells(rows));
    csv('sessions.csv', SESSION_COLUMNS, rows.sessions, sessionCells(rows, inPack));
    csv('commands.csv', COMMAND_COLUMNS, rows.commands, commandCells(rows, db.sessions));
    csv('alerts.csv', ALERT_COLUMNS, alertLines(slice, period), alertCells);
    csv('targets.csv', TARGET_COLUMNS, rows.targets, targetCells);
    // Only where the period has any: a site without PLC forwards keeps the pack it always had.
    if (plcOps.length) csv(PLC_FILE_IN_PACK, PLC_COLUMNS, plcOps, plcCells(sessionsById));
    for (const r of recordings)
      pending.push(
        addStream(r.packPath, () => (r.size === 0 ? Readable.from([]) : openNoFollow(r.file, r.size)), r.size).then(
          (f) => ({
            ...f,
            sessionId: r.sessionId,
            ...(r.sealedSha256 ? { sealedSha256: r.sealedSha256 } : {}),
            ...(r.incomplete ? { incomplete: true } : {}),
          }),
        ),
      );
    files.push(...(await Promise.all(pending)));

    for (const f of files)
      if (f.sealedSha256 && f.sealedSha256 !== f.sha256)
        notes.push(
          `${f.path} does NOT match the SHA-256 sealed when session ${f.sessionId} ended: the recording was altered after sealing.`,
        );
    const report = renderReport({
      site: input.site,
      period,
      generatedAt,
      version,
      keyId: key.keyId,
      exportedBy: actorLabel(input.exportedBy as Record<string, unknown>),
      slice,
      rows,
      allSessions: db.sessions,
      alerts,
      transfers,
      recordings: { included: input.withRecordings, count: recordings.length },
      notes,
      plcSection: renderPlcSection(plcOps, sessionsById, userName),
    });
    files.push(addBuffer('report.html', Buffer.from(report)));
    files.push(addBuffer(PUBLIC_KEY, Buffer.from(key.publicKeyPem)));

    const manifest: Manifest = {
      format: PACK_FORMAT,
      generatedAt,
      gateway: { name: 'gatehouse', version },
      site: input.site,
      period: { from: isoTime(period.fromMs), to: isoTime(period.toMs), note: 'records with from <= at < to' },
      exportedBy: { ...input.exportedBy },
      key: { algorithm: 'Ed25519', keyId: key.keyId, file: PUBLIC_KEY, signature: SIGNATURE },
      audit: {
        file: AUDIT_FILE,
        records: slice.records,
        firstSeq: slice.firstSeq,
        lastSeq: slice.lastSeq,
        periodLastSeq: slice.periodLastSeq,
        prev: slice.prev,
        checkpointEvery: slice.checkpointEvery,
        checkpoint: slice.checkpoint,
        head: slice.head,
        signedHead: slice.signedHead
          ? {
              seq: slice.signedHead.seq,
              hash: slice.signedHead.hash,
              keyId: slice.signedHead.keyId,
              sig: slice.signedHead.sig,
            }
          : null,
      },
      inventory: input.targets ? 'config' : 'ids-only',
      counts: {
        requests: rows.requests.length,
        sessions: rows.sessions.length,
        commands: rows.commands.length,
        alerts: alerts.total,
        fileTransfers: transfers.total - clipboardTransfers,
        clipboardTransfers,
        targets: rows.targets.length,
        recordings: recordings.length,
        plcOperations: plcOps.length,
      },
      withRecordings: input.withRecordings,
      files,
      notes,
    };
    const bytes = manifestBytes(manifest);
    zip.addBuffer(bytes, MANIFEST, { mtime, mode: 0o100644 });
    zip.addBuffer(key.sign(bytes), SIGNATURE, { mtime, mode: 0o100644, compress: false });
    zip.end();
    await written;
    return { manifest, bytes: zipBytes, sha256: zipHash.digest('hex') };
  })();
  try {
    return await Promise.race([work, failure]);
  } catch (err) {
    zip.outputStream.unpipe();
    tap.destroy();
    throw err;
  }
}

async function* alertLines(slice: AuditSlice, period: Period): AsyncGenerator<AuditLine> {
  for await (const a of sliceRecords(slice, period, ALERT_TYPES)) if (isAlert(a)) yield a;
}

interface PackRecording {
  sessionId: string;
  file: string;
  packPath: string;
  size: number;
  sealedSha256?: string;
  incomplete: boolean;
}

/** The period's recordings that exist as regular files; a live one is taken up to its size now. */
async function recordingsOf(storageDir: string, sessions: DbData['sessions']): Promise<PackRecording[]> {
  const out: PackRecording[] = [];
  for (const s of sessions) {
    const file = recordingFile(storageDir, s);
    if (!file) continue;
    const st = await lstat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    const state = recordingState(s);
    out.push({
      sessionId: s.id,
      file,
      packPath: packPathOf(storageDir, file),
      size: st.size,
      ...(s.recording?.sha256 ? { sealedSha256: s.recording.sha256 } : {}),
      incomplete: state === 'incomplete',
    });
  }
  return out;
}

/** O_NOFOLLOW: a recording swapped for a symlink after the lstat is refused, not followed. */
function openNoFollow(file: string, size: number): Readable {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  return createReadStream(file, { fd, end: size - 1 });
}
