// Finds the period's part of audit.jsonl in one streaming pass: byte range, chain seed, covering checkpoint, counts.
//
// The slice is contiguous by seq (the chain can only be checked without gaps): from the first record
// whose `at` is inside [from, to) to the last such record, then on to the first signed checkpoint after
// it, so the pack ends on a signature over everything in it. Records before the slice are not copied;
// the manifest states the hash the first copied record links to (its `prev`).
import { type HeadFile, signatureCheck, type VerifyKey } from '../audit/audit.js';
import { ChainVerifier, DEFAULT_CHECKPOINT_EVERY } from '../core/audit-chain.js';
import { GENESIS_HASH } from '../core/audit-line.js';
import { conflict } from '../errors.js';
import type { AuditSource } from './audit-source.js';
import { inPeriod, type Period } from './period.js';

/** The signed checkpoint that closes the slice (the first after the period's last record). */
export interface CheckpointRef {
  seq: number;
  hash: string;
  upToSeq: number;
  upToHash: string;
  keyId: string;
  sig: string;
}

export interface AuditSlice {
  source: AuditSource;
  /** Lines [start, end) of the source (its positions) go into the pack verbatim. */
  start: number;
  end: number;
  /** Where the period's last record ends (≤ end): what alerts.csv is read from. */
  periodEnd: number;
  /** Records inside the period. */
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  periodLastSeq: number | null;
  /** The hash the first copied record links to (64 zeros when it is seq 1). */
  prev: string | null;
  /** Bound on records between checkpoints in force where the slice starts. */
  checkpointEvery: number;
  checkpoint: CheckpointRef | null;
  /** The log's last complete record when it was read. */
  head: { seq: number; hash: string };
  signedHead: HeadFile | null;
  /** Records inside the period, by type. */
  counts: Record<string, number>;
}

const CHECKPOINT = 'audit.checkpoint';
/** `{"seq":…,"at":"…","type":"…"`: how every line the gateway writes starts (core/audit-line.ts). */
const PREFIX = /^\{"seq":(\d{1,16}),"at":"([^"\\]{1,40})","type":"([a-z0-9_.]{1,80})"/;
/** `…,"prev":"<64 hex>","hash":"<64 hex>"}`: the fixed-width tail of every line. */
const TAIL = 64 + 10 + 64 + 2;

const hashOf = (b: Buffer) => b.toString('latin1', b.length - 66, b.length - 2);
const prevOf = (b: Buffer) => b.toString('latin1', b.length - TAIL, b.length - TAIL + 64);

export async function sliceAuditLog(source: AuditSource, period: Period, key: VerifyKey): Promise<AuditSlice> {
  const broken = (line: number, seq: number, reason: string) =>
    conflict(
      'audit_log_broken',
      `the audit log is broken at record seq ${seq} (line ${line}): ${reason}. No pack is signed over a broken chain; run \`gatehouse audit verify\``,
    );

  const s: AuditSlice = {
    source,
    start: 0,
    end: 0,
    periodEnd: 0,
    records: 0,
    firstSeq: null,
    lastSeq: null,
    periodLastSeq: null,
    prev: null,
    checkpointEvery: DEFAULT_CHECKPOINT_EVERY,
    checkpoint: null,
    head: { seq: 0, hash: GENESIS_HASH },
    signedHead: (await source.signedHead().catch(() => undefined)) ?? null,
    counts: {},
  };
  let declaredEvery: number | undefined;
  let sinceCheckpoint = 0;
  let verifier: ChainVerifier | undefined;
  let closing: (CheckpointRef & { end: number }) | null = null;
  let lineNo = 0;

  for await (const { bytes, start: offset, end: lineEnd } of source.lines()) {
    lineNo++;
    const m = PREFIX.exec(bytes.toString('latin1', 0, Math.min(bytes.length, 160)));
    if (!m || bytes.length < TAIL + 40) throw broken(lineNo, s.head.seq + 1, 'the line is not an audit record');
    const seq = Number(m[1]);
    const atMs = Date.parse(m[2]!);
    const type = m[3]!;
    const inside = inPeriod(period, atMs);

    if (!verifier) {
      if (!inside) {
        // Before the slice: only what seeds the chain check is kept (previous hash, checkpoint bound).
        if (type === CHECKPOINT) {
          const every = (JSON.parse(bytes.toString('utf8')) as { data?: { every?: unknown } }).data?.every;
          if (typeof every === 'number') declaredEvery = every;
          sinceCheckpoint = 0;
        } else sinceCheckpoint++;
        s.head = { seq, hash: hashOf(bytes) };
        continue;
      }
      verifier = new ChainVerifier({ checkSignature: signatureCheck(key), checkpointEvery: DEFAULT_CHECKPOINT_EVERY });
      verifier.seq = s.head.seq;
      verifier.hash = s.head.hash;
      verifier.declaredEvery = declaredEvery;
      verifier.sinceCheckpoint = sinceCheckpoint;
      s.checkpointEvery = declaredEvery ?? DEFAULT_CHECKPOINT_EVERY;
      s.start = offset;
      s.firstSeq = seq;
      s.prev = prevOf(bytes);
    }
    // Every record from the slice's start to the end of the log is re-hashed: the pack must not vouch
    // for a chain the gateway itself would refuse to open.
    if (!verifier.pushBytes(bytes, 0, bytes.length)) {
      const f = verifier.failure!;
      throw broken(lineNo, f.seq, f.reason);
    }
    s.head = { seq, hash: verifier.hash };
    const checkpoint = () => {
      const d = (JSON.parse(bytes.toString('utf8')) as { data: Omit<CheckpointRef, 'seq' | 'hash'> }).data;
      return {
        seq,
        hash: verifier!.hash,
        upToSeq: d.upToSeq,
        upToHash: d.upToHash,
        keyId: d.keyId,
        sig: d.sig,
        end: lineEnd,
      };
    };
    if (inside) {
      s.records++;
      s.periodLastSeq = seq;
      s.periodEnd = lineEnd;
      s.counts[type] = (s.counts[type] ?? 0) + 1;
      // A checkpoint that is the period's last record already signs everything before it.
      closing = type === CHECKPOINT ? checkpoint() : null;
    } else if (type === CHECKPOINT && closing === null && s.periodLastSeq !== null) closing = checkpoint();
  }

  if (s.firstSeq === null) return s;
  if (closing) {
    const { end, ...ref } = closing;
    s.checkpoint = ref;
    s.end = end;
    s.lastSeq = ref.seq;
  } else {
    s.end = s.periodEnd;
    s.lastSeq = s.periodLastSeq;
  }
  return s;
}

/** The period's records of the given types, parsed, in order (streamed from the slice). */
export async function* sliceRecords(
  slice: AuditSlice,
  period: Period,
  types: ReadonlySet<string>,
): AsyncGenerator<AuditLine> {
  if (slice.firstSeq === null) return;
  for await (const { bytes } of slice.source.lines({ start: slice.start, end: slice.periodEnd })) {
    const m = PREFIX.exec(bytes.toString('latin1', 0, Math.min(bytes.length, 160)));
    if (!m || !types.has(m[3]!) || !inPeriod(period, Date.parse(m[2]!))) continue;
    yield JSON.parse(bytes.toString('utf8')) as AuditLine;
  }
}

export interface AuditLine {
  seq: number;
  at: string;
  type: string;
  actor: Record<string, unknown>;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
}
