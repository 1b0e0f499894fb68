// The record of intent that ties a db.json write to its audit records across a crash (lowdb engine).
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { type AuditInput, type AuditRecord, canonicalJson, sha256hex } from '../core/audit.js';
import { syncDir } from './file.js';

export const INTENT_FILE = 'db.json.intent';

/**
 * Written (fdatasync'd) before a batch's audit records are appended; db.json's `meta.auditTx` names the
 * last tx whose state is on disk. An intent with a higher tx is a batch whose state never landed: its
 * records, if they reached audit.jsonl after `afterSeq`, get a `change.reverted` record at the next start.
 */
export interface Intent {
  tx: number;
  /** The audit log's durable head when the intent was written: the batch's records come after it. */
  afterSeq: number;
  /** One digest per record, in order (see recordDigest). */
  digests: string[];
}

/** What identifies a record's content without its place in the chain. */
export function recordDigest(r: Pick<AuditInput, 'type' | 'actor' | 'subject' | 'data'>): string {
  return sha256hex(
    canonicalJson({ type: r.type, actor: r.actor, subject: r.subject ?? null, data: r.data ?? null }),
  ).slice(0, 16);
}

/**
 * One small file overwritten in place (no rename, no directory sync: one fdatasync per intent). A torn
 * write fails its checksum and reads as "no intent": the crash came before the audit append started,
 * so nothing was recorded that needs undoing.
 */
export class IntentFile {
  private constructor(private readonly fh: FileHandle) {}

  static async open(dir: string): Promise<IntentFile> {
    const file = join(dir, INTENT_FILE);
    try {
      return new IntentFile(await open(file, 'r+'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const fh = await open(file, 'w+', 0o600);
    try {
      // Preallocated, so a later overwrite needs no new blocks on a nearly full disk.
      await fh.write(Buffer.alloc(4096, 0x20), 0, 4096, 0);
      await fh.sync();
      await syncDir(dir);
    } catch (e) {
      await fh.close();
      throw e;
    }
    return new IntentFile(fh);
  }

  async read(): Promise<Intent | undefined> {
    const { buffer, bytesRead } = await this.fh.read({ buffer: Buffer.alloc(1 << 16), position: 0 });
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const nl = text.indexOf('\n');
    if (nl < 0) return undefined;
    const line = text.slice(0, nl);
    const sp = line.indexOf(' ');
    const json = line.slice(sp + 1);
    if (sp !== 16 || sha256hex(json).slice(0, 16) !== line.slice(0, sp)) return undefined;
    try {
      const v = JSON.parse(json) as Intent;
      return Number.isInteger(v.tx) && Number.isInteger(v.afterSeq) && Array.isArray(v.digests) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  async write(intent: Intent): Promise<void> {
    const json = JSON.stringify(intent);
    const bytes = Buffer.from(`${sha256hex(json).slice(0, 16)} ${json}\n`);
    for (let off = 0; off < bytes.length;)
      off += (await this.fh.write(bytes, off, bytes.length - off, off)).bytesWritten;
    await this.fh.datasync();
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Records after `afterSeq` in an audit.jsonl, read backwards from its end (only the tail is read). */
export async function recordsAfter(file: string, afterSeq: number): Promise<AuditRecord[]> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const out: AuditRecord[] = [];
    let pos = size;
    let carry = Buffer.alloc(0);
    let first = true;
    while (pos > 0) {
      const len = Math.min(1 << 16, pos);
      pos -= len;
      const chunk = Buffer.alloc(len);
      await fh.read(chunk, 0, len, pos);
      let buf = Buffer.concat([chunk, carry]);
      // The bytes after the last newline are a cut-off line (a crash); the audit log drops it at open.
      if (first) {
        buf = buf.subarray(0, buf.lastIndexOf(10) + 1);
        first = false;
      }
      let end = buf.length;
      for (let i = buf.length - 2; i >= -1; i--) {
        if (i >= 0 && buf[i] !== 10) continue;
        if (i < 0 && pos > 0) break; // the line may start in the previous chunk
        const line = buf
          .subarray(i + 1, end)
          .toString('utf8')
          .trim();
        end = i + 1;
        if (!line) continue;
        const r = JSON.parse(line) as AuditRecord;
        if (r.seq <= afterSeq) return out.reverse();
        out.push(r);
      }
      carry = buf.subarray(0, end);
    }
    return out.reverse();
  } finally {
    await fh.close();
  }
}

/** Where the batch's records landed: the longest run of consecutive (checkpoints skipped) records matching its digests. */
export function findBatch(records: readonly AuditRecord[], digests: readonly string[]): AuditRecord[] {
  const own = records.filter((r) => r.type !== 'audit.checkpoint');
  let best: AuditRecord[] = [];
  for (let i = 0; i < own.length; i++) {
    let k = 0;
    while (k < digests.length && i + k < own.length && recordDigest(own[i + k]!) === digests[k]) k++;
    if (k > best.length) best = own.slice(i, i + k);
  }
  return best;
}
