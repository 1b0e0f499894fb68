// The append-only audit log (`<storage>/audit.jsonl`): verified at open, durable group-committed appends,
// signed checkpoints and a signed head. The format and the chain rules live in core/audit*.ts.
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ACCEPT_MISSING_HEAD_FLAG,
  type DurableMark,
  type ExistingLog,
  GroupCommit,
  HEAD_FILE,
  type HeadFile,
  keyCopyInStorage,
  loadOrCreateSigningKey,
  LOG_FILE,
  probeRoom,
  replaceDurably,
  type SigningKey,
  syncDir,
  verifyExisting,
  verifyLog,
} from './audit/audit.js';
import { type Clock, isoTime } from './clock.js';
import { type AuditInput, type AuditRecord, type ChainHead, sealRecord } from './core/audit.js';
import {
  type CheckpointData,
  DEFAULT_CHECKPOINT_EVERY,
  MISSING_HEAD_ACCEPTED,
  type VerifyResult,
} from './core/audit-chain.js';
import { systemActor } from './core/model.js';
import { invalidInput, unavailable } from './errors.js';
import type { Logger } from './log.js';

export {
  ACCEPT_MISSING_HEAD_FLAG,
  AuditChainError,
  type HeadFile,
  loadOrCreateSigningKey,
  type SigningKey,
  verifyAuditFile,
  type VerifyOptions,
} from './audit/audit.js';
export type { VerifyResult } from './core/audit-chain.js';

export interface AuditLogOptions {
  dir: string;
  clock: Clock;
  logger?: Logger;
  /** Records between signed checkpoints (default 1000). */
  checkpointEvery?: number;
  /** No record waits longer than this for its signed checkpoint (default 60 s; 0 = off, for short CLI runs). */
  checkpointIntervalMs?: number;
  /** The private signing key's file (config audit.signingKey.file); default `<dir>/keys/audit-ed25519.pem`. */
  signingKeyFile?: string;
  /** Start although audit.head.json is missing beside a non-empty log; the acceptance is itself audited. */
  acceptMissingHead?: boolean;
  /** Runs `fn` once after `ms` (tests drive it by hand with the clock); default setTimeout, unref'd. */
  setTimer?: SetTimer;
}

export type SetTimer = (ms: number, fn: () => void) => { cancel(): void };

const realTimer: SetTimer = (ms, fn) => {
  const t = setTimeout(fn, ms);
  t.unref(); // a quiet gateway must still be able to exit
  return { cancel: () => clearTimeout(t) };
};

export interface AuditStats {
  /** Records appended by callers (checkpoints and recovery notes not counted). */
  appends: number;
  /** fsync calls: one per batch on audit.jsonl, plus the head file's. */
  fsyncs: number;
  /** Writes to audit.jsonl. */
  batches: number;
}

/**
 * append() resolves only once the record is written and fsync'd (see GroupCommit), so an action is
 * never acknowledged before its evidence is on disk. Records are chained (seq, prev, hash)
 * synchronously in call order and written in that order; concurrent appends share fsyncs.
 */
export class AuditLog {
  private readonly writer: GroupCommit<AuditRecord>;
  private closing: Promise<void> | undefined;
  /** Armed by the first record after a checkpoint: the deadline for the next one. */
  private timer: { cancel(): void } | undefined;
  private intervalMs = 0;
  private readonly listeners = new Set<(mark: DurableMark) => void>();
  private appends = 0;
  private headFsyncs = 0;
  /** The last chained record (may still be queued). */
  private tail: ChainHead;
  /** The last record known to be on disk. */
  private durable: ChainHead;
  private durableIsCheckpoint = false;
  private sinceCheckpoint: number;
  /** Records from here on were written before this start and never signed (a crash), if > 0. */
  private readonly lateFrom: number;
  /** What audit.head.json holds now. */
  private signedHead: HeadFile | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly dir: string,
    private readonly key: SigningKey,
    private readonly clock: Clock,
    private readonly every: number,
    private readonly logger: Logger | undefined,
    private readonly setTimer: SetTimer,
    /** The private key's file when config names one outside the storage folder (evidence packs sign with it too). */
    readonly signingKeyFile: string | undefined,
    existing: ExistingLog,
  ) {
    this.tail = { seq: existing.verifier.seq, hash: existing.verifier.hash };
    this.durable = this.tail;
    this.sinceCheckpoint = existing.verifier.sinceCheckpoint;
    this.lateFrom = this.sinceCheckpoint > 0 ? existing.verifier.lastCheckpoint.seq + 1 : 0;
    this.signedHead = existing.head;
    const { size, partialBytes } = existing.scan;
    this.writer = new GroupCommit<AuditRecord>(
      fh,
      {
        durable: (r, batch) => {
          this.durable = { seq: r.seq, hash: r.hash };
          this.durableIsCheckpoint = r.type === 'audit.checkpoint';
          const mark = { seq: r.seq, hash: r.hash, bytes: this.writer.durableBytes, batch };
          for (const l of this.listeners) l(mark);
        },
        // A checkpoint ends its batch: the head file is replaced before anything after that checkpoint
        // is written, so after a crash the head is current or lags only a checkpoint that is the last line.
        afterBarrier: (r) => this.writeHead(r),
        failed: (err) => {
          this.logger?.error({ err }, 'audit log write failed; all further audited actions are refused');
          return unavailable('audit_write_failed', 'the audit log cannot be written; refusing the action', err);
        },
      },
      size - partialBytes,
    );
  }

  /** Opens (creating if needed) and fully verifies the log; a broken chain throws AuditChainError. */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const every = opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!Number.isSafeInteger(every) || every < 1) throw invalidInput('bad_option', 'checkpointEvery must be >= 1');
    await mkdir(opts.dir, { recursive: true });
    const key = await loadOrCreateSigningKey(opts.dir, opts.signingKeyFile);
    if (await keyCopyInStorage(opts.dir, opts.signingKeyFile))
      opts.logger?.warn(
        { dir: opts.dir },
        'a copy of the audit signing key is still in <storage>/keys/audit-ed25519.pem although audit.signingKey names another file: delete it, or whoever reads the storage folder can re-sign the log',
      );
    const existing = await verifyExisting(opts.dir, key, every, opts.acceptMissingHead === true);
    const { scan } = existing;
    const fh = await open(join(opts.dir, LOG_FILE), 'a', 0o640);
    try {
      if (!scan.exists) await syncDir(opts.dir);
      // A line without its newline was never acknowledged (append resolves after the full write and
      // fsync), so cutting it off loses nothing anyone was told is recorded.
      if (scan.partialBytes > 0) {
        await fh.truncate(scan.size - scan.partialBytes);
        await fh.sync();
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    const log = new AuditLog(
      fh,
      opts.dir,
      key,
      opts.clock,
      every,
      opts.logger,
      opts.setTimer ?? realTimer,
      opts.signingKeyFile,
      existing,
    );
    try {
      await log.start(opts.checkpointIntervalMs ?? 60_000, existing);
    } catch (err) {
      await log.close().catch(() => {});
      throw err;
    }
    return log;
  }

  private async start(intervalMs: number, { verifier, scan, missingHeadAccepted }: ExistingLog): Promise<void> {
    // Every start signs a checkpoint first: it seals a tail a crash left unsigned (saying so), declares
    // the record bound, brings the head file up to date, and marks where this run's records begin, so a
    // record appended while the gateway was stopped (after a final checkpoint) stands out.
    const startup: Promise<unknown>[] = [this.chainCheckpoint({ opened: true })];
    const notes: AuditInput[] = [];
    if (scan.partialBytes > 0) {
      const data = { droppedBytes: scan.partialBytes, afterSeq: verifier.seq };
      this.logger?.warn(data, 'audit log: cut off a partial last line left by a crash');
      notes.push({ type: 'audit.recovered', actor: systemActor('gateway'), data });
    }
    if (missingHeadAccepted) {
      const data = {
        records: verifier.seq,
        lastCheckpointSeq: verifier.lastCheckpoint.seq,
        flag: ACCEPT_MISSING_HEAD_FLAG,
      };
      this.logger?.warn(data, 'audit log: started without audit.head.json, as the operator accepted');
      notes.push({ type: MISSING_HEAD_ACCEPTED, actor: systemActor('gateway'), data });
    }
    for (const n of notes) startup.push(this.chain(n));
    if (notes.length > 0) startup.push(this.chainCheckpoint());
    await Promise.all(startup);
    await this.writer.idle();
    if (this.writer.failure) throw this.writer.failure;
    this.intervalMs = intervalMs;
  }

  /** Resolves with the record once it is durable; rejects after close() or a failed write. */
  append(input: AuditInput): Promise<AuditRecord> {
    if (this.closing) return Promise.reject(unavailable('audit_closed', 'the audit log is closed'));
    if (this.writer.failure) return Promise.reject(this.writer.failure);
    if (input.type === 'audit.checkpoint')
      return Promise.reject(invalidInput('bad_audit_event', 'checkpoints are written by the audit log itself'));
    let done: Promise<AuditRecord>;
    try {
      done = this.chain(input);
    } catch (err) {
      return Promise.reject(invalidInput('bad_audit_event', (err as Error).message, err));
    }
    this.appends++;
    return done;
  }

  /** The error every append is refused with since a write failed, until recover() succeeds. */
  get failure(): Error | undefined {
    return this.writer.failure;
  }

  /**
   * After a failed write (a full disk that has space again): cuts the log back to its last durable record,
   * forgets the records that were refused (their callers were told), and seals the durable chain with a
   * checkpoint (or re-signs the head of the one it ends with). False if the disk still refuses.
   * First a fresh file must show there is room (probeRoom): the cut and the small checkpoint succeed on a disk
   * with a few bytes free, and the next append would fail again, a recovery on record every round.
   */
  async recover(): Promise<boolean> {
    if (!this.writer.failure) return true;
    if (this.closing) return false;
    try {
      await probeRoom(this.dir);
      await this.writer.reset();
      this.tail = { ...this.durable };
      if (this.durableIsCheckpoint) {
        if (this.signedHead?.seq !== this.durable.seq) await this.writeHead(this.durable);
        this.sinceCheckpoint = 0;
      } else {
        this.sinceCheckpoint = 1;
        await this.chainCheckpoint();
      }
      return !this.writer.failure;
    } catch {
      return false;
    }
  }

  /** Appends a signed checkpoint now if records arrived since the last one. */
  checkpoint(): Promise<AuditRecord | undefined> {
    if (this.closing) return Promise.reject(unavailable('audit_closed', 'the audit log is closed'));
    if (this.writer.failure) return Promise.reject(this.writer.failure);
    return this.sinceCheckpoint > 0 ? this.chainCheckpoint() : Promise.resolve(undefined);
  }

  /** The last durable record. */
  head(): { seq: number; hash: string } {
    return { ...this.durable };
  }

  /** The last durable record and the file's durable length (where a reader may read up to). */
  durableMark(): DurableMark {
    return { ...this.durable, bytes: this.writer.durableBytes };
  }

  stats(): AuditStats {
    const { fsyncs, batches } = this.writer.stats;
    return { appends: this.appends, fsyncs: fsyncs + this.headFsyncs, batches };
  }

  /**
   * Verifies the log while the gateway keeps appending: up to the bytes known durable, against the
   * head this process last signed (taken in the same tick, so the two always belong together).
   */
  verify(): Promise<VerifyResult> {
    const head = this.signedHead;
    const limitBytes = this.writer.durableBytes;
    return verifyLog(this.dir, { key: this.key, head, checkpointEvery: this.every, limitBytes });
  }

  get keyId(): string {
    return this.key.keyId;
  }

  /** The audit.jsonl this log writes. */
  get path(): string {
    return join(this.dir, LOG_FILE);
  }

  /** Calls `listener` after each durable batch (cheap and synchronous: it runs on the append path). */
  onDurable(listener: (mark: DurableMark) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Finishes queued writes, signs a final checkpoint, closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.timer?.cancel();
      // Always a final checkpoint, even right after another: it tells a verifier the run ended cleanly.
      if (!this.writer.failure) this.chainCheckpoint({ final: true }).catch(() => {});
      await this.writer.idle();
      await this.fh.close();
    })();
    return this.closing;
  }

  /** Links a record into the chain now and queues it; throws (chain untouched) on bad input. */
  private chain(input: AuditInput): Promise<AuditRecord> {
    const done = this.link(sealRecord(this.tail, input, isoTime(this.clock.now())), false);
    // Placed in the chain right here, not at flush time: exactly `every` records between
    // checkpoints whatever the batching, which is the bound the verifier enforces.
    if (++this.sinceCheckpoint >= this.every) this.chainCheckpoint().catch(() => {});
    else this.armTimer();
    return done;
  }

  private async writeHead({ seq, hash }: ChainHead): Promise<void> {
    const head = { seq, hash, keyId: this.key.keyId, sig: this.key.sign(`${seq}:${hash}`) };
    await replaceDurably(this.dir, join(this.dir, HEAD_FILE), `${JSON.stringify(head)}\n`);
    this.signedHead = head;
    this.headFsyncs += 2;
  }

  /**
   * The time bound: the first record after a checkpoint sets a deadline `intervalMs` away, so no record
   * waits longer for its signature, including the last one before a quiet spell.
   */
  private armTimer(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = this.setTimer(this.intervalMs, () => {
      this.timer = undefined;
      if (this.sinceCheckpoint > 0 && !this.closing && !this.writer.failure) this.chainCheckpoint().catch(() => {});
    });
  }

  private chainCheckpoint(flags: Pick<CheckpointData, 'final' | 'opened'> = {}): Promise<AuditRecord> {
    this.timer?.cancel();
    this.timer = undefined;
    // Signs the previous record's hash: that hash covers the whole chain before it, so re-chaining
    // the file without the private key leaves signatures that no longer match.
    const { seq: upToSeq, hash: upToHash } = this.tail;
    const sig = this.key.sign(`${upToSeq}:${upToHash}`);
    const late = flags.opened && this.lateFrom > 0 ? { lateFrom: this.lateFrom } : {};
    const data = { upToSeq, upToHash, keyId: this.key.keyId, sig, every: this.every, ...flags, ...late };
    const input = { type: 'audit.checkpoint', actor: systemActor('gateway'), data } as const;
    this.sinceCheckpoint = 0;
    return this.link(sealRecord(this.tail, input, isoTime(this.clock.now())), true);
  }

  private link(sealed: { record: AuditRecord; line: string }, checkpoint: boolean): Promise<AuditRecord> {
    this.tail = { seq: sealed.record.seq, hash: sealed.record.hash };
    return this.writer.push(sealed.line, sealed.record, checkpoint);
  }
}
