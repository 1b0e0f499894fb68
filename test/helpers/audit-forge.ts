// What an insider does to audit.jsonl: edit or drop records, then recompute every prev/hash (and re-sign, given a key).
import { type AuditRecord, type ChainHead, GENESIS, sealRecord } from '../../gateway/core/audit.js';

export interface Signer {
  keyId: string;
  sign(message: string): string;
}

/**
 * Re-chains `lines` after `edit` (undefined drops a record). Checkpoints are re-pointed at the new chain;
 * without `signer` their old signatures no longer fit, with it they are re-signed.
 */
export function rechain(
  lines: string[],
  edit: (r: AuditRecord) => AuditRecord | undefined,
  signer?: Signer,
): { lines: string[]; last: ChainHead } {
  let prev: ChainHead = GENESIS;
  const out: string[] = [];
  for (const line of lines) {
    const r = edit(JSON.parse(line));
    if (!r) continue;
    let data = r.data;
    if (r.type === 'audit.checkpoint') {
      data = { ...r.data, upToSeq: prev.seq, upToHash: prev.hash };
      if (signer) data = { ...data, keyId: signer.keyId, sig: signer.sign(`${prev.seq}:${prev.hash}`) };
    }
    const sealed = sealRecord(prev, { type: r.type, actor: r.actor, subject: r.subject, data }, r.at);
    out.push(sealed.line);
    prev = sealed.record;
  }
  return { lines: out, last: prev };
}
