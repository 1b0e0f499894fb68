// Verifies audit.jsonl on disk: streams the lines through a ChainVerifier, then checks the signed head.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanLines } from '../jsonl-scan.js';
import { ChainVerifier, type CheckpointData, type VerifyFailure, type VerifyResult } from '../core/audit-chain.js';
import { loadVerifyKey, type VerifyKey, verifySignature } from './signing.js';

export const LOG_FILE = 'audit.jsonl';
export const HEAD_FILE = 'audit.head.json';

/**
 * `<dir>/audit.head.json`: the newest checkpoint record, signed like a checkpoint (`${seq}:${hash}`).
 * Replaced atomically after each checkpoint is durable, so cutting whole lines off the end of the log
 * (which leaves a valid chain) is still caught: the signed head would name a record that is gone.
 */
export interface HeadFile {
  seq: number;
  hash: string;
  keyId: string;
  sig: string;
}

export class AuditChainError extends Error {
  readonly seq: number;
  readonly line: number;
  readonly reason: string;
  constructor(failure: { seq: number; line: number; reason: string }) {
    super(`audit log broken at record seq ${failure.seq} (line ${failure.line}): ${failure.reason}`);
    this.name = 'AuditChainError';
    this.seq = failure.seq;
    this.line = failure.line;
    this.reason = failure.reason;
  }
}

/** No audit line is anywhere near this; a "line" this long is garbage, not a record. */
const MAX_LINE = 16 << 20;

export interface ScanResult {
  exists: boolean;
  size: number;
  /** Bytes after the last newline: a line whose write was cut off. */
  partialBytes: number;
}

/** Streams `path` (its first `limitBytes`) into `verifier` in big chunks, stopping at the first bad line. */
export async function scanLog(
  path: string,
  verifier: ChainVerifier,
  limitBytes = Number.POSITIVE_INFINITY,
): Promise<ScanResult> {
  const r = await scanLines(path, {
    maxLine: MAX_LINE,
    limitBytes,
    line: (buf, start, end) => verifier.pushBytes(buf, start, end),
    tooLong: () => verifier.fail(verifier.seq + 1, 'a line is far too long (not an audit record)', verifier.lines + 1),
  });
  return { exists: r.exists, size: r.size, partialBytes: verifier.failure ? 0 : r.partialBytes };
}

/** undefined when there is no head file; throws when it is there but unreadable. */
export async function readHead(dir: string): Promise<HeadFile | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, HEAD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const h = JSON.parse(text) as HeadFile;
  if (!Number.isSafeInteger(h?.seq) || typeof h.hash !== 'string' || typeof h.sig !== 'string')
    throw new SyntaxError(`${HEAD_FILE} is malformed`);
  return h;
}

export function signatureCheck(key: VerifyKey | undefined): (cp: CheckpointData) => string | undefined {
  return (cp) => {
    if (!key) return 'no public key to check checkpoint signatures (keys/audit-ed25519.pub.pem is missing)';
    if (cp.keyId !== key.keyId) return `checkpoint signed by key ${cp.keyId}, not by the gateway's key ${key.keyId}`;
    if (!verifySignature(key.publicKey, `${cp.upToSeq}:${cp.upToHash}`, cp.sig))
      return 'checkpoint signature is invalid (the records before it were rewritten)';
    return undefined;
  };
}

/** What the operator passes to start on a log whose signed head is gone (its use is audited). */
export const ACCEPT_MISSING_HEAD_FLAG = '--accept-missing-audit-head';

/**
 * Checks the signed head against what the scan saw; records any problem on the verifier. Returns true
 * when the head is missing and `acceptMissing` let that pass.
 */
export function checkHead(
  v: ChainVerifier,
  head: HeadFile | undefined,
  key: VerifyKey | undefined,
  acceptMissing = false,
): boolean {
  if (v.failure) return false;
  const missing = v.seq + 1;
  const after = v.lines + 1;
  if (!head) {
    // Only a crash between a new log's first checkpoint and the first head write leaves no head file.
    // Why anything else fails: dropping records and checkpoints, re-chaining and deleting the head
    // leaves a chain that holds; the head is what contradicts it.
    const onlyFirstCheckpoint = v.seq === 1 && v.checkpoints === 1;
    if (v.seq === 0 || onlyFirstCheckpoint) return false;
    if (acceptMissing) return true;
    v.fail(
      missing,
      `${HEAD_FILE} is missing beside a log of ${v.seq} records, so a re-chained or shortened log cannot be ruled out ` +
        `(restore it from a backup; or start the gateway with ${ACCEPT_MISSING_HEAD_FLAG}, which is audited)`,
      after,
    );
    return false;
  }
  if (!key || head.keyId !== key.keyId || !verifySignature(key.publicKey, `${head.seq}:${head.hash}`, head.sig)) {
    v.fail(missing, `${HEAD_FILE} is not signed by the gateway's key`, after);
    return false;
  }
  if (head.seq > v.seq) {
    v.fail(
      missing,
      `the log ends at seq ${v.seq} but the signed head is at seq ${head.seq}: records were cut off`,
      after,
    );
    return false;
  }
  if (v.watchedHash !== head.hash) {
    v.fail(head.seq, 'the record differs from the signed head (the log was rewritten)', head.seq);
    return false;
  }
  const { lastCheckpoint: last, previousCheckpoint: previous } = v;
  if (head.seq === last.seq) return false;
  // The head is written after its checkpoint is durable and before anything follows it, so a crash
  // can leave it one checkpoint behind only while that newer checkpoint is the last record.
  if (head.seq === previous.seq && last.seq === v.seq) return false;
  v.fail(
    last.seq,
    `the signed head (seq ${head.seq}) is older than this checkpoint: ${HEAD_FILE} was replaced by an old copy`,
    last.seq,
  );
  return false;
}

export interface VerifyOptions {
  /** Records allowed between checkpoints when the log declares none (default 1000). */
  checkpointEvery?: number;
  /** Pin the public key instead of trusting `<dir>/keys/audit-ed25519.pub.pem`. */
  publicKeyPem?: string;
}

const failure = (reason: string): VerifyFailure => ({ ok: false, seq: 0, line: 0, reason, records: 0 });

/** Verifies `<dir>/audit.jsonl` end to end; never throws for a broken log, only for I/O trouble. */
export async function verifyAuditFile(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  let key: VerifyKey | undefined;
  let head: HeadFile | undefined;
  try {
    key = await loadVerifyKey(dir, opts.publicKeyPem);
    head = await readHead(dir);
  } catch (err) {
    return failure(err instanceof Error ? err.message : String(err));
  }
  return verifyLog(dir, { key, head, checkpointEvery: opts.checkpointEvery });
}

/**
 * Verifies the log against a given key and signed head. `limitBytes` stops at a known-durable length,
 * so the running gateway can verify its own log while it appends (see AuditLog.verify).
 */
export async function verifyLog(
  dir: string,
  o: {
    key: VerifyKey | undefined;
    head: HeadFile | undefined;
    checkpointEvery?: number;
    limitBytes?: number;
  },
): Promise<VerifyResult> {
  const v = new ChainVerifier({ checkSignature: signatureCheck(o.key), checkpointEvery: o.checkpointEvery });
  v.watchSeq = o.head?.seq;
  const path = join(dir, LOG_FILE);
  const scan = await scanLog(path, v, o.limitBytes);
  if (!scan.exists) return failure(`no audit log at ${path}`);
  if (scan.partialBytes > 0)
    v.fail(
      v.seq + 1,
      `the last line is incomplete (${scan.partialBytes} bytes, no newline): the log was cut off, or the gateway crashed mid-write (its next start repairs that)`,
      v.lines + 1,
    );
  checkHead(v, o.head, o.key);
  return v.result();
}

/** What the gateway learns at start from the log already on disk. */
export interface ExistingLog {
  verifier: ChainVerifier;
  head: HeadFile | undefined;
  scan: ScanResult;
  /** The head file was missing and the operator accepted that: the caller audits it. */
  missingHeadAccepted: boolean;
}

/**
 * Verifies the log before the gateway appends to it, tolerating only a partial last line (the caller
 * cuts it off). Anything else broken throws AuditChainError: appending to a broken chain would bury
 * the evidence of tampering.
 */
export async function verifyExisting(
  dir: string,
  key: VerifyKey,
  checkpointEvery: number,
  acceptMissingHead = false,
): Promise<ExistingLog> {
  const head = await readHead(dir).catch((err: Error) => {
    throw new AuditChainError({ seq: 0, line: 0, reason: `${HEAD_FILE} is unreadable: ${err.message}` });
  });
  const verifier = new ChainVerifier({ checkSignature: signatureCheck(key), checkpointEvery });
  verifier.watchSeq = head?.seq;
  const scan = await scanLog(join(dir, LOG_FILE), verifier);
  const missingHeadAccepted = checkHead(verifier, head, key, acceptMissingHead);
  if (verifier.failure) throw new AuditChainError(verifier.failure);
  return { verifier, head, scan, missingHeadAccepted };
}
