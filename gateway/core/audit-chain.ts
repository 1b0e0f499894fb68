// Verifies a chain of audit lines in order: every line, every link, every checkpoint. Pure; callers
// feed lines (from a file, a pack, a test) and inject the signature check.
import { checkLine } from './audit-check.js';
import { GENESIS_HASH } from './audit-line.js';

/** The data of an `audit.checkpoint` record. `sig` is base64 Ed25519 over `${upToSeq}:${upToHash}`. */
export interface CheckpointData {
  upToSeq: number;
  upToHash: string;
  keyId: string;
  sig: string;
  /** The most records the writer lets pass before the next checkpoint. */
  every?: number;
  /** Written by a clean close: nothing but a start's `opened` checkpoint may follow it. */
  final?: boolean;
  /** Written first by every start (so a record appended while the gateway was stopped stands out). */
  opened?: boolean;
  /** Records from this seq up to upToSeq were signed at a start after an unclean stop, not as written. */
  lateFrom?: number;
}

export interface ChainVerifierOptions {
  /** Returns why a checkpoint's signature does not hold, or undefined. Omit to check structure only. */
  checkSignature?: (checkpoint: CheckpointData) => string | undefined;
  /** Bound on records between checkpoints until the log declares its own (default 1000). */
  checkpointEvery?: number;
}

export type VerifyFailure = { ok: false; seq: number; line: number; reason: string; records: number };
export type VerifyResult =
  | {
      ok: true;
      records: number;
      checkpoints: number;
      lastCheckpointSeq: number;
      head: { seq: number; hash: string };
      /** What an auditor should look at although the chain holds (late signatures, an accepted missing head). */
      notes?: string[];
    }
  | VerifyFailure;

export const DEFAULT_CHECKPOINT_EVERY = 1000;
const MAX_NOTES = 20;
/** Written when an operator starts the gateway on a log whose signed head is gone (an explicit flag). */
export const MISSING_HEAD_ACCEPTED = 'audit.missing_head_accepted' as const;

export class ChainVerifier {
  /** The last good record. */
  seq = 0;
  hash = GENESIS_HASH;
  lines = 0;
  checkpoints = 0;
  lastCheckpoint = { seq: 0, hash: '' };
  previousCheckpoint = { seq: 0, hash: '' };
  /** Ordinary records since the last checkpoint. */
  sinceCheckpoint = 0;
  /** The `every` the last checkpoint declared, if any. */
  declaredEvery: number | undefined;
  failure: VerifyFailure | undefined;
  /** The seq of a final checkpoint (clean close) when it is the last record seen. */
  afterFinal: number | undefined;
  readonly notes: string[] = [];
  private notesLeftOff = 0;
  /** Set before pushing to learn the hash of the record with this seq (the signed head's record). */
  watchSeq: number | undefined;
  watchedHash: string | undefined;

  constructor(private readonly opts: ChainVerifierOptions = {}) {}

  /** Checks the next line; false once the chain is broken (later lines are not looked at). */
  push(text: string): boolean {
    const bytes = Buffer.from(text);
    return this.pushBytes(bytes, 0, bytes.length);
  }

  /** push() for bytes [start, end) of `buf`, as read from disk (the fast path never decodes them). */
  pushBytes(buf: Buffer, start: number, end: number): boolean {
    if (this.failure) return false;
    this.lines++;
    const expected = this.seq + 1;
    const line = checkLine(buf, start, end, expected, this.hash);
    if (!line.ok) return this.fail(expected, line.reason);
    const afterFinal = this.afterFinal;
    this.afterFinal = undefined;
    if (line.checkpoint) {
      const cp = this.checkCheckpoint(line.data);
      if (typeof cp === 'string') return this.fail(expected, cp);
      if (afterFinal !== undefined && cp.opened !== true) return this.fail(expected, appendedWhileStopped(afterFinal));
      if (cp.final === true) this.afterFinal = line.seq;
      if (cp.lateFrom !== undefined)
        this.note(
          `records seq ${cp.lateFrom}-${cp.upToSeq} were signed when the gateway restarted after an unclean stop, not as they were written: compare them with the SIEM's copy (--witness)`,
        );
      this.previousCheckpoint = this.lastCheckpoint;
      this.lastCheckpoint = { seq: line.seq, hash: line.hash };
      this.checkpoints++;
      this.sinceCheckpoint = 0;
    } else if (afterFinal !== undefined) {
      // Why: every start signs a checkpoint before its first record, so a record right after a clean
      // close's checkpoint was not written by the gateway.
      return this.fail(expected, appendedWhileStopped(afterFinal));
    } else if (++this.sinceCheckpoint > this.every()) {
      // Why: without the key an attacker can only re-chain by dropping checkpoints, so a long run
      // without one is itself the evidence. The writer never lets more than `every` pass.
      return this.fail(
        expected,
        `more than ${this.every()} records without a signed checkpoint (checkpoints removed or the log re-chained)`,
      );
    }
    if (line.auditType === MISSING_HEAD_ACCEPTED)
      this.note(
        `seq ${line.seq}: the gateway was started with a missing audit.head.json accepted by the operator; records up to seq ${line.seq - 1} had no signed head to vouch for them`,
      );
    this.seq = line.seq;
    this.hash = line.hash;
    if (line.seq === this.watchSeq) this.watchedHash = line.hash;
    return true;
  }

  private note(text: string): void {
    if (this.notes.length < MAX_NOTES) this.notes.push(text);
    else this.notesLeftOff++;
  }

  every(): number {
    return this.declaredEvery ?? this.opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  }

  /** Records a failure found outside the lines (partial tail, head file) and returns false. */
  fail(seq: number, reason: string, line = this.lines): false {
    this.failure ??= { ok: false, seq, line, reason, records: this.seq };
    return false;
  }

  result(): VerifyResult {
    if (this.failure) return this.failure;
    const notes = this.notesLeftOff > 0 ? [...this.notes, `(${this.notesLeftOff} more notes left off)`] : this.notes;
    return {
      ok: true,
      records: this.seq,
      checkpoints: this.checkpoints,
      lastCheckpointSeq: this.lastCheckpoint.seq,
      head: { seq: this.seq, hash: this.hash },
      ...(notes.length > 0 ? { notes: [...notes] } : {}),
    };
  }

  /** The checkpoint's data once it holds, else why it does not. */
  private checkCheckpoint(dataJson: string | undefined): CheckpointData | string {
    let d: Partial<CheckpointData>;
    try {
      d = dataJson === undefined ? {} : JSON.parse(dataJson);
    } catch {
      return 'checkpoint data is unreadable';
    }
    if (d.upToSeq !== this.seq || d.upToHash !== this.hash)
      return 'checkpoint does not cover the record before it (records were inserted, removed or re-chained)';
    if (typeof d.keyId !== 'string' || typeof d.sig !== 'string') return 'checkpoint is not signed';
    if (d.every !== undefined && !(Number.isSafeInteger(d.every) && d.every > 0))
      return 'checkpoint declares a bad interval';
    if (d.lateFrom !== undefined && !(Number.isSafeInteger(d.lateFrom) && d.lateFrom > 0 && d.lateFrom <= d.upToSeq))
      return 'checkpoint declares a bad late range';
    const bad = this.opts.checkSignature?.(d as CheckpointData);
    if (bad) return bad;
    if (d.every !== undefined) this.declaredEvery = d.every;
    return d as CheckpointData;
  }
}

const appendedWhileStopped = (finalSeq: number) =>
  `a record follows the final checkpoint of a clean stop (seq ${finalSeq}) without the signed checkpoint every start writes first: it was appended while the gateway was stopped`;

/** Verifies lines in memory (tests, packs); the file verifier streams into a ChainVerifier instead. */
export function verifyRecords(lines: Iterable<string>, opts: ChainVerifierOptions = {}): VerifyResult {
  const verifier = new ChainVerifier(opts);
  for (const line of lines) if (!verifier.push(line)) break;
  return verifier.result();
}
