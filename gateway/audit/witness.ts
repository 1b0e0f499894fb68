// Checks the local audit log against a copy kept elsewhere (the SIEM's file of the syslog stream, as rsyslog writes it).
//
// Each witness line holds an audit record somewhere in it (the syslog MSG is the audit.jsonl line); the
// record must hash to itself, and a checkpoint's signature must hold. Then every witnessed seq must be
// in the local log with the same hash: the first one the local log lacks or contradicts is named.
// Why this catches an insider with the service account's rights: they can rewrite and even re-sign the
// local files, but not what already left the machine.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { scanLines } from '../jsonl-scan.js';
import type { CheckpointData } from '../core/audit-chain.js';
import { checkLineReference } from '../core/audit-check.js';
import { lineFields } from '../core/audit-line.js';
import type { VerifyKey } from './signing.js';
import { LOG_FILE, signatureCheck } from './verify-file.js';

interface Witnessed {
  hash: string;
  checkpoint: boolean;
  /** Line number in the witness file, for the report. */
  line: number;
}

export interface WitnessFile {
  records: Map<number, Witnessed>;
  checkpoints: number;
  /** Lines holding something that looks like a record but does not hash to itself, or a badly signed checkpoint. */
  damaged: string[];
  /** Two different records for one seq: the sender sent a rewritten record (a forgery, or a replaced log). */
  conflicts: string[];
}

export type WitnessResult =
  | { ok: true; compared: number; checkpoints: number; witnessLast: number; localOnly: number; notes: string[] }
  | { ok: false; seq: number; reason: string; notes: string[] };

const RECORD_START = '{"seq":';
const MAX_REPORTED = 5;

/** Reads the witness file line by line (memory: one hash per witnessed record). */
export async function readWitness(path: string, key: VerifyKey | undefined): Promise<WitnessFile> {
  const out: WitnessFile = { records: new Map(), checkpoints: 0, damaged: [], conflicts: [] };
  const checkSig = signatureCheck(key);
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const at = raw.indexOf(RECORD_START);
    if (at < 0) continue;
    const text = raw.slice(at).trimEnd();
    const damaged = (why: string) => {
      if (out.damaged.length < MAX_REPORTED) out.damaged.push(`witness line ${n}: ${why}`);
    };
    let claimed: { seq?: unknown; prev?: unknown };
    try {
      claimed = JSON.parse(text);
    } catch {
      damaged('not a complete record (cut short by the receiver?)');
      continue;
    }
    if (!Number.isSafeInteger(claimed.seq) || typeof claimed.prev !== 'string') {
      damaged('not an audit record');
      continue;
    }
    const seq = claimed.seq as number;
    const check = checkLineReference(text, seq, claimed.prev);
    if (!check.ok) {
      damaged(`record seq ${seq}: ${check.reason}`);
      continue;
    }
    if (check.checkpoint) {
      const bad = checkSig(JSON.parse(check.data!) as CheckpointData);
      if (bad) {
        damaged(`checkpoint seq ${seq}: ${bad}`);
        continue;
      }
    }
    const seen = out.records.get(seq);
    if (seen && seen.hash !== check.hash) {
      if (out.conflicts.length < MAX_REPORTED)
        out.conflicts.push(`the witness holds two different records for seq ${seq} (lines ${seen.line} and ${n})`);
      continue;
    }
    if (!seen) {
      out.records.set(seq, { hash: check.hash, checkpoint: check.checkpoint, line: n });
      if (check.checkpoint) out.checkpoints++;
    }
  }
  return out;
}

/**
 * Compares the local chain with the witness: `<dir>/audit.jsonl`, or `local` (each record's seq and hash in
 * order, e.g. the PostgreSQL chain). Never throws for a mismatch, only for I/O trouble.
 */
export async function checkWitness(
  dir: string,
  witnessPath: string,
  key: VerifyKey | undefined,
  local?: AsyncIterable<{ seq: number; hash: string }>,
): Promise<WitnessResult> {
  const w = await readWitness(witnessPath, key);
  const notes = [...w.damaged];
  if (w.records.size === 0) return { ok: false, seq: 0, reason: `${witnessPath} holds no audit records`, notes };
  if (w.conflicts.length > 0) return { ok: false, seq: 0, reason: w.conflicts.join('; '), notes };
  const what = (r: Witnessed) => (r.checkpoint ? 'checkpoint' : 'record');
  let first: { seq: number; reason: string } | undefined;
  let compared = 0;
  let localLast = 0;
  let localOnly = 0;
  /** One local record; false once the local chain contradicts the witness. */
  const visit = (seq: number, hash: string): boolean => {
    localLast = seq;
    const r = w.records.get(seq);
    if (!r) {
      localOnly++;
      return true;
    }
    compared++;
    if (r.hash === hash) return true;
    first = {
      seq,
      reason: `the local log contradicts the witness: its record seq ${seq} differs from the ${what(r)} the SIEM received (witness line ${r.line}): the log was rewritten`,
    };
    return false;
  };
  if (local) {
    for await (const r of local) if (!visit(r.seq, r.hash)) break;
  } else {
    const scan = await scanLines(join(dir, LOG_FILE), {
      maxLine: 16 << 20,
      line: (buf, start, end) => {
        const f = lineFields(buf, start, end);
        // The chain verification names lines that are not records.
        return f ? visit(f.seq, f.hash) : true;
      },
      tooLong: () => {},
    });
    if (!scan.exists) return { ok: false, seq: 0, reason: `no audit log in ${dir}`, notes };
  }
  if (first) return { ok: false, ...first, notes };
  let witnessLast = 0;
  let seq = Number.POSITIVE_INFINITY; // the first witnessed seq beyond the local end
  for (const s of w.records.keys()) {
    witnessLast = Math.max(witnessLast, s);
    if (s > localLast) seq = Math.min(seq, s);
  }
  if (witnessLast > localLast) {
    const r = w.records.get(seq)!;
    return {
      ok: false,
      seq,
      reason: `the local log lacks the ${what(r)} seq ${seq} the SIEM received (witness line ${r.line}): the local log ends at seq ${localLast}, records were cut off or dropped`,
      notes,
    };
  }
  return { ok: true, compared, checkpoints: w.checkpoints, witnessLast, localOnly, notes };
}
