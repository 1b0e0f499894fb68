// GET /api/audit (records, filtered, newest first) and GET /api/audit/verify (chain status, last signed checkpoint): auditors and admins.
import type { Request, Router } from 'express';
import { requireRole } from '../../auth/auth.js';
import type { VerifyResult } from '../../audit-log.js';
import type { AuditRecord } from '../../core/audit.js';
import type { AuditPort } from '../../storage/storage.js';
import { actorOf } from '../../broker.js';
import { findAuditRecord, OncePer, queryAudit } from '../../library/library.js';
import { parseAuditQuery } from './session-queries.js';

export interface AuditRoutesDeps {
  /** Reads the trail and verifies it; appends only its own audit.viewed and audit.verified. */
  audit: Pick<AuditPort, 'append' | 'verify' | 'keyId' | 'linesBackward'>;
  storageDir: string;
  now(): number;
  /** The people the store knows, to name those the records are about (the page's one-line summaries). */
  users?: () => ReadonlyArray<{ id: string; name: string }>;
}

/** GET /api/audit's answer: the records, and the names of the people their subjects name. */
export interface AuditPageView {
  records: AuditRecord[];
  nextBefore: number | null;
  limit: number;
  /** User id → display name, for every subject.userId on the page that the store knows. */
  people: Record<string, string>;
}

export interface CheckpointView {
  seq: number;
  at: string;
  /** The record the signature covers (its seq and hash). */
  upToSeq: number;
  upToHash: string;
  keyId: string;
}

export interface AuditVerifyView {
  ok: boolean;
  /** Records checked (up to the first bad one). */
  records: number;
  checkpoints: number | null;
  head: { seq: number; hash: string } | null;
  failure: { seq: number; line: number; reason: string } | null;
  /** The newest signed checkpoint the verification accepted; null when it failed. */
  lastCheckpoint: CheckpointView | null;
  keyId: string;
  verifiedAt: string;
}

const callerOf = (req: Request) => {
  const { user } = requireRole(req, 'auditor', 'admin');
  return { user, ...(req.socket.remoteAddress ? { ip: req.socket.remoteAddress } : {}) };
};

export function mountAuditRoutes(router: Router, deps: AuditRoutesDeps): void {
  const { audit } = deps;
  // The engine's lines where it has its own (PostgreSQL), else audit.jsonl in the storage folder.
  const source = audit.linesBackward?.bind(audit) ?? deps.storageDir;
  // Reading the trail is itself audited (audit.viewed), once per person and query in 5 minutes: a page
  // that reloads or pages through results must not fill the log with records of its own reading.
  const viewed = new OncePer(5 * 60_000, deps.now);
  const verified = new OncePer(5 * 60_000, deps.now);
  // One verification at a time: it reads the whole log, and several pages opened at once share it.
  let running: Promise<VerifyResult> | undefined;

  router.get('/audit', async (req, res) => {
    const caller = callerOf(req);
    const q = parseAuditQuery(req.query);
    const page = await queryAudit(source, q);
    const { before: _b, limit: _l, ...filters } = q;
    if (viewed.first(`${caller.user.id}:${JSON.stringify(filters)}`))
      await audit.append({
        type: 'audit.viewed',
        actor: actorOf(caller),
        data: { filters, returned: page.records.length },
      });
    const known = new Map((deps.users?.() ?? []).map((u) => [u.id, u.name]));
    const people: Record<string, string> = {};
    for (const r of page.records) {
      const id = r.subject?.userId;
      const name = typeof id === 'string' ? known.get(id) : undefined;
      if (typeof id === 'string' && name !== undefined) people[id] = name;
    }
    const view: AuditPageView = { records: page.records, nextBefore: page.nextBefore, limit: q.limit ?? 100, people };
    res.json(view);
  });

  router.get('/audit/verify', async (req, res) => {
    const caller = callerOf(req);
    running ??= audit.verify().finally(() => (running = undefined));
    const r = await running;
    let lastCheckpoint: CheckpointView | null = null;
    if (r.ok && r.lastCheckpointSeq > 0) {
      const cp = await findAuditRecord(source, r.lastCheckpointSeq);
      const d = cp?.data as { upToSeq?: number; upToHash?: string; keyId?: string } | undefined;
      if (cp && d)
        lastCheckpoint = {
          seq: cp.seq,
          at: cp.at,
          upToSeq: d.upToSeq ?? 0,
          upToHash: d.upToHash ?? '',
          keyId: d.keyId ?? '',
        };
    }
    const view: AuditVerifyView = {
      ok: r.ok,
      records: r.records,
      checkpoints: r.ok ? r.checkpoints : null,
      head: r.ok ? r.head : null,
      failure: r.ok ? null : { seq: r.seq, line: r.line, reason: r.reason },
      lastCheckpoint,
      keyId: audit.keyId,
      verifiedAt: new Date(deps.now()).toISOString(),
    };
    // The outcome is part of the key: a chain that breaks is recorded at once, not after the period.
    if (verified.first(`${caller.user.id}:${r.ok ? 'ok' : `bad:${r.seq}`}`))
      await audit.append({
        type: 'audit.verified',
        actor: actorOf(caller),
        data: r.ok
          ? { ok: true, records: r.records, headSeq: r.head.seq }
          : { ok: false, seq: r.seq, reason: r.reason },
      });
    res.json(view);
  });
}
