// Who cut a session off and why (a supervisor's terminate, or the revocation of its grant), read from the audit trail:
// the session record keeps only the end reason, the audit record keeps the person and their words.
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

/** The terminate or revoke record that ended `s`, newest first from the end of the log; null if none is found. */
export async function findClosedBy(source: AuditSource, s: SessionRecord): Promise<ClosedBy | null> {
  if (s.endReason !== 'terminated' && s.endReason !== 'revoked') return null;
  const wanted = s.endReason === 'terminated' ? TERMINATED : REVOKED;
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
      const subject = r.subject ?? {};
      const mine = s.endReason === 'terminated' ? subject.sessionId === s.id : subject.grantId === s.grantId;
      if (!mine) continue;
      const actor = r.actor as { id?: string; name?: string };
      return {
        action: s.endReason,
        by: actor.name ?? actor.id ?? 'unknown',
        reason: typeof r.data?.reason === 'string' ? r.data.reason : null,
        at: r.at,
      };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return null;
}
