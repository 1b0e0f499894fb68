// GET /api/sessions/:id/recording (+ /integrity): a recording served by session id only, with ranges; every viewing audited.
import { pipeline } from 'node:stream/promises';
import type { Request, Response, Router } from 'express';
import { requireRole } from '../../auth/auth.js';
import type { AuditPort } from '../../storage/storage.js';
import { actorOf } from '../../broker.js';
import type { SessionRecord } from '../../core/model.js';
import { notFound } from '../../errors.js';
import type { Logger } from '../../log.js';
import { IntegrityChecker, OncePer, openRecording, type OpenRecording } from '../../library/library.js';

export interface RecordingRoutesDeps {
  /** Only recording.viewed is appended. */
  audit: Pick<AuditPort, 'append'>;
  logger: Logger;
  storageDir: string;
  now(): number;
  /** The session if this caller may see it; otherwise throws 404 (and audits the refusal). */
  visibleSession(req: Request, action: string): Promise<SessionRecord>;
  /** How long one viewing lasts for the audit trail (default 5 min): one record, not one per range request. */
  viewedPeriodMs?: number;
}

const CONTENT_TYPES: Record<OpenRecording['kind'], string> = {
  // asciinema's registered type for asciicast; guacd's recording is its own protocol dump.
  cast: 'application/x-asciicast',
  guac: 'application/octet-stream',
};

/** The byte range to send: undefined = the whole file; 'unsatisfiable' → 416. */
function rangeOf(req: Request, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!req.headers.range) return undefined;
  const r = req.range(size, { combine: true });
  // Malformed or several disjoint ranges: RFC 9110 lets a server ignore Range and send it all.
  if (r === undefined || r === -2 || (Array.isArray(r) && (r.type !== 'bytes' || r.length !== 1))) return undefined;
  if (r === -1) return 'unsatisfiable';
  return { start: r[0]!.start, end: r[0]!.end };
}

export function mountRecordingRoutes(router: Router, deps: RecordingRoutesDeps): void {
  const { audit, logger, storageDir } = deps;
  const viewed = new OncePer(deps.viewedPeriodMs ?? 5 * 60_000, deps.now);
  const checker = new IntegrityChecker(storageDir, deps.now);
  const overseer = (req: Request) => requireRole(req, 'supervisor', 'auditor', 'admin');

  router.get('/sessions/:id/recording', async (req: Request, res: Response) => {
    const auth = overseer(req);
    const s = await deps.visibleSession(req, 'recording.view');
    if (!s.recording) throw notFound('recording_missing', 'this session has no recording');
    const rec = await openRecording(storageDir, s);
    let streaming = false;
    try {
      const range = rangeOf(req, rec.size);
      if (range === 'unsatisfiable') {
        res.status(416).set('Content-Range', `bytes */${rec.size}`).end();
        return;
      }
      // One record per viewing: the first request of a user for a session in a period (players and
      // download tools send many range requests for one viewing). HEAD only asks about the file.
      const key = `${auth.user.id}:${s.id}`;
      if (req.method === 'GET' && viewed.first(key)) {
        try {
          await audit.append({
            type: 'recording.viewed',
            actor: actorOf({ user: auth.user, ...(req.socket.remoteAddress ? { ip: req.socket.remoteAddress } : {}) }),
            subject: { sessionId: s.id, grantId: s.grantId, userId: s.userId, targetId: s.targetId },
            data: {
              kind: rec.kind,
              bytes: rec.size,
              range: range ? `${range.start}-${range.end}` : 'all',
              sha256: s.recording.sha256 ?? null,
            },
          });
        } catch (err) {
          // Fail closed: a viewing that could not be recorded is not served (and the next try audits again).
          viewed.forget(key);
          throw err;
        }
      }
      res.set({
        'Content-Type': CONTENT_TYPES[rec.kind],
        'Accept-Ranges': 'bytes',
        'Cache-Control': 'no-store',
        // Never rendered as a page, whatever a browser makes of the bytes.
        'Content-Disposition': `attachment; filename="${s.id}.${rec.kind}"`,
        ...(s.recording.sha256 ? { 'X-Recording-Sha256': s.recording.sha256 } : {}),
        ...(s.recording.incomplete ? { 'X-Recording-Incomplete': 'true' } : {}),
      });
      const start = range?.start ?? 0;
      const end = range?.end ?? rec.size - 1;
      if (range) res.status(206).set('Content-Range', `bytes ${start}-${end}/${rec.size}`);
      res.set('Content-Length', String(Math.max(0, end - start + 1)));
      if (req.method === 'HEAD' || rec.size === 0) {
        res.end();
        return;
      }
      streaming = true;
      // The stream owns the handle from here and closes it when done or aborted.
      await pipeline(rec.fh.createReadStream({ start, end, autoClose: true }), res).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE')
          logger.warn({ err, sessionId: s.id }, 'serving a recording failed');
      });
    } finally {
      if (!streaming) await rec.fh.close().catch(() => undefined);
    }
  });

  // The integrity badge: the file's SHA-256 now against the one sealed when the session ended.
  router.get('/sessions/:id/recording/integrity', async (req: Request, res: Response) => {
    overseer(req);
    const s = await deps.visibleSession(req, 'recording.integrity');
    if (!s.recording) throw notFound('recording_missing', 'this session has no recording');
    res.json(await checker.check(s));
  });
}
