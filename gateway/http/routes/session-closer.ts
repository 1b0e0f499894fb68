// Who cut a session off and why (a supervisor's terminate, or the revocation of its grant), and a node's late end of a
// session the log had already ended: read from the session's record where it says so, else from the audit trail.
import { join } from 'node:path';
import { LOG_FILE } from '../../audit/audit.js';
import type { AuditRecord } from '../../core/audit.js';
import type { SessionRecord } from '../../core/model.js';
import { type AuditSource, linesBackward } from '../../library/library.js';

export interface ClosedBy {
  action: 'terminated' | 'revoked';
  /** The person's display name (their id when the record has none). */
  by: string;
  reason: string | null;
  at: string;
}

/** A bound on one lookup: past this many records back the page shows the end reason alone. */
const MAX_SCANNED = 200_000;

const TERMINATED = Buffer.from('"session.terminated"');
const REVOKED = Buffer.from('"grant.revoked"');

/** `session.ended_late`: the holder's own end of a session already recorded as ended (docs/storage.md). */
export interface LateEnd {
  at: string;
  /** How the holder ended it (a gateway_fenced node: when it was cut off from the database). */
  reason: string | null;
  node: string | null;
}

const LATE = Buffer.from('"session.ended_late"');

/** The newest record naming `wanted` that `mine` accepts, scanning back no further than the session's start. */
async function findBack(
  source: AuditSource,
  s: SessionRecord,
  wanted: Buffer,
  mine: (r: AuditRecord) => boolean,
): Promise<AuditRecord | null> {
  const since = Date.parse(s.startedAt);
  const lines = typeof source === 'string' ? linesBackward(join(source, LOG_FILE)) : source();
  let scanned = 0;
  try {
    for await (const line of lines) {
      if (++scanned > MAX_SCANNED) return null;
      // Only the lines that can match are parsed in full; the others are read for their time alone.
      const head = line.subarray(0, 80).toString('utf8');
      const at = /"at":"([^"]+)"/.exec(head)?.[1];
      if (at !== undefined && Date.parse(at) < since) return null;
      if (!line.includes(wanted)) continue;
      let r: AuditRecord;
      try {
        r = JSON.parse(line.toString('utf8')) as AuditRecord;
      } catch {
        continue;
      }
      if (mine(r)) return r;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return null;
}

/**
 * The terminate or revoke that ended `s`: a terminate from the session's record (`terminateRequested`), else the
 * audit record, newest first from the end of the log; null if none is found.
 */
export async function findClosedBy(source: AuditSource, s: SessionRecord): Promise<ClosedBy | null> {
  if (s.endReason !== 'terminated' && s.endReason !== 'revoked') return null;
  const t = s.terminateRequested;
  if (s.endReason === 'terminated' && t) return { action: 'terminated', by: t.byName, reason: t.reason, at: t.at };
  const r = await findBack(source, s, s.endReason === 'terminated' ? TERMINATED : REVOKED, (x) =>
    s.endReason === 'terminated' ? x.subject?.sessionId === s.id : x.subject?.grantId === s.grantId,
  );
  if (!r) return null;
  const actor = r.actor as { id?: string; name?: string };
  return {
    action: s.endReason,
    by: actor.name ?? actor.id ?? 'unknown',
    reason: typeof r.data?.reason === 'string' ? r.data.reason : null,
    at: r.at,
  };
}

/**
 * The holder's late end of `s`, if its end was recorded by another node's crash sweep (`gateway_crashed`, or
 * `terminated` for a terminate that was pending then) while the holder still served it; null otherwise.
 */
export async function findLateEnd(source: AuditSource, s: SessionRecord): Promise<LateEnd | null> {
  if (s.endReason !== 'gateway_crashed' && s.endReason !== 'terminated') return null;
  const r = await findBack(source, s, LATE, (x) => x.subject?.sessionId === s.id);
  if (!r) return null;
  const d = r.data ?? {};
  return {
    at: typeof d.endedAt === 'string' ? d.endedAt : r.at,
    reason: typeof d.reason === 'string' ? d.reason : null,
    node: typeof d.node === 'string' ? d.node : null,
  };
}
