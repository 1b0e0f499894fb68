// The audit chain in PostgreSQL: the same lines and hashes as audit.jsonl, one chain for all nodes.
// Every append locks the chain-head row inside its transaction, so nodes take turns and seq never forks;
// a state update's records are chained in the update's own transaction (PgState), so both commit or neither.
import type pg from 'pg';
import { checkHead, type HeadFile, signatureCheck, type SigningKey, type VerifyKey } from '../../audit/audit.js';
import { type Clock, isoTime } from '../../clock.js';
import { type AuditInput, type AuditRecord, type ChainHead, sealRecord } from '../../core/audit.js';
import { ChainVerifier, DEFAULT_CHECKPOINT_EVERY, type VerifyResult } from '../../core/audit-chain.js';
import { lineFields } from '../../core/audit-line.js';
import { systemActor } from '../../core/model.js';
import { invalidInput, isGatehouseError, unavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { DATABASE_FAULT, storageUnavailable } from '../../storage-faults.js';
import type { AuditPort, AuditStats } from '../port.js';
import { inTransaction } from './connect.js';

export interface PgAuditOptions {
  pool: pg.Pool;
  key: SigningKey;
  clock: Clock;
  logger: Logger;
  /** Named in every checkpoint this node signs. */
  nodeId: string;
  /** audit.signingKey's file, when the key is kept outside the storage folder (evidence packs sign with it). */
  signingKeyFile?: string;
  checkpointEvery?: number;
  checkpointIntervalMs?: number;
}

/** What chainIn linked, for `committed` once its transaction commits. */
export interface Chained {
  records: AuditRecord[];
  tail: ChainHead;
  appended: number;
}

/** A pool, a pooled client or a lone client: whatever can run a query. */
export type Queryable = Pick<pg.Pool, 'query'>;

interface HeadRow {
  seq: string;
  hash: string;
  since_checkpoint: number;
  signed: HeadFile | null;
}

/** Lines read per query while verifying or exporting. */
const PAGE = 5000;

export class PgAudit implements AuditPort {
  private durable: ChainHead = { seq: 0, hash: '' };
  private appends = 0;
  private commits = 0;
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly every: number;
  private readonly listeners = new Set<(head: ChainHead) => void>();

  private constructor(private readonly o: PgAuditOptions) {
    this.every = o.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  }

  /**
   * Verifies the whole chain before this node appends to it (a broken chain stops start-up, as on the
   * lowdb engine), refuses a signing key other than the one that signed the head, then seals a checkpoint.
   */
  static async open(o: PgAuditOptions): Promise<PgAudit> {
    const log = new PgAudit(o);
    const head = await readHeadRow(o.pool);
    if (head.signed && head.signed.keyId !== o.key.keyId)
      throw unavailable(
        'audit_key_mismatch',
        `this node's audit signing key ${o.key.keyId} is not the key that signed the chain (${head.signed.keyId}): every node must use the same key`,
      );
    const result = await verifyChain(o.pool, o.key, log.every);
    if (!result.ok)
      throw unavailable('audit_chain_broken', `audit chain broken at record seq ${result.seq}: ${result.reason}`);
    log.durable = { ...result.head };
    await log.sealNow();
    const ms = o.checkpointIntervalMs ?? 60_000;
    if (ms > 0) {
      log.timer = setInterval(() => void log.checkpoint().catch(() => {}), ms);
      log.timer.unref();
    }
    return log;
  }

  append(input: AuditInput): Promise<AuditRecord> {
    if (this.closing) return Promise.reject(unavailable('audit_closed', 'the audit log is closed'));
    if (input.type === 'audit.checkpoint')
      return Promise.reject(invalidInput('bad_audit_event', 'checkpoints are written by the audit log itself'));
    return this.commit((c) => this.chainIn(c, [input])).then((r) => r.records[0]!);
  }

  /**
   * Chains `inputs` inside the caller's transaction (the head row stays locked until it commits), adding
   * a signed checkpoint whenever `every` records have passed. Call `committed` once the caller commits.
   */
  async chainIn(
    client: pg.PoolClient,
    inputs: readonly AuditInput[],
    forceCheckpoint = false,
    opened = false,
  ): Promise<Chained> {
    const head = await lockHead(client);
    let tail: ChainHead = { seq: Number(head.seq), hash: head.hash };
    let since = head.since_checkpoint;
    let signed = head.signed;
    const out: AuditRecord[] = [];
    const rows: { seq: number; at: string; type: string; line: string; hash: string }[] = [];
    const link = (input: AuditInput) => {
      const at = isoTime(this.o.clock.now());
      const sealed = sealRecord(tail, input, at);
      rows.push({ seq: sealed.record.seq, at, type: input.type, line: sealed.line, hash: sealed.record.hash });
      out.push(sealed.record);
      tail = { seq: sealed.record.seq, hash: sealed.record.hash };
    };
    const checkpoint = () => {
      const sig = this.o.key.sign(`${tail.seq}:${tail.hash}`);
      // Which node signed it; every node signs with the one shared key (see docs/storage.md).
      const data = {
        upToSeq: tail.seq,
        upToHash: tail.hash,
        keyId: this.o.key.keyId,
        sig,
        every: this.every,
        node: this.o.nodeId,
        ...(opened && { opened: true }),
      };
      link({ type: 'audit.checkpoint', actor: systemActor('gateway'), data });
      signed = {
        seq: tail.seq,
        hash: tail.hash,
        keyId: this.o.key.keyId,
        sig: this.o.key.sign(`${tail.seq}:${tail.hash}`),
      };
      since = 0;
    };
    for (const input of inputs) {
      try {
        link(input);
      } catch (err) {
        throw invalidInput('bad_audit_event', (err as Error).message, err);
      }
      if (++since >= this.every) checkpoint();
    }
    if (forceCheckpoint && (since > 0 || tail.seq === 0 || opened)) checkpoint();
    const chained = { records: out, tail, appended: inputs.length };
    if (rows.length === 0) return chained;
    await client.query(
      `INSERT INTO gh_audit (seq, at, type, line, hash)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])`,
      [
        rows.map((r) => r.seq),
        rows.map((r) => r.at),
        rows.map((r) => r.type),
        rows.map((r) => r.line),
        rows.map((r) => r.hash),
      ],
    );
    await client.query(
      'UPDATE gh_audit_head SET seq = $1, hash = $2, since_checkpoint = $3, signed = $4 WHERE id = 1',
      [tail.seq, tail.hash, since, signed === null ? null : JSON.stringify(signed)],
    );
    return chained;
  }

  /** After the transaction that called chainIn committed. */
  committed(c: Chained): void {
    if (c.tail.seq > this.durable.seq) this.durable = c.tail;
    this.appends += c.appended;
    this.commits++;
    if (c.records.length > 0) for (const l of this.listeners) l(this.durable);
  }

  /** Calls `listener` after each of this node's commits that chained records (cheap and synchronous). */
  onCommitted(listener: (head: ChainHead) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  checkpoint(): Promise<AuditRecord | undefined> {
    if (this.closing) return Promise.reject(unavailable('audit_closed', 'the audit log is closed'));
    return this.commit((c) => this.chainIn(c, [], true)).then((r) => r.records[0]);
  }

  head(): { seq: number; hash: string } {
    return { ...this.durable };
  }

  stats(): AuditStats {
    return { appends: this.appends, fsyncs: this.commits, batches: this.commits };
  }

  verify(): Promise<VerifyResult> {
    return verifyChain(this.o.pool, this.o.key, this.every);
  }

  async *linesBackward(): AsyncGenerator<Buffer> {
    let before = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const r = await this.o.pool.query<{ seq: string; line: string }>(
        'SELECT seq, line FROM gh_audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2',
        [before, PAGE],
      );
      for (const row of r.rows) yield Buffer.from(row.line);
      if (r.rows.length < PAGE) return;
      before = Number(r.rows[r.rows.length - 1]!.seq);
    }
  }

  linesForward(after: number, upTo?: number): AsyncGenerator<Buffer> {
    return bufferLines(auditLines(this.o.pool, upTo, after));
  }

  readSignedHead(): Promise<HeadFile | undefined> {
    return signedHead(this.o.pool);
  }

  get keyId(): string {
    return this.o.key.keyId;
  }

  get signingKeyFile(): string | undefined {
    return this.o.signingKeyFile;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      await this.commit((c) => this.chainIn(c, [], true)).catch((err: unknown) =>
        this.o.logger.error({ err }, 'audit: could not sign the final checkpoint'),
      );
    })();
    return this.closing;
  }

  /**
   * Seals a checkpoint at start when the chain is new or records arrived since the last one. A chain that
   * ends in a lowdb gateway's final checkpoint (a site moved with `storage migrate`) gets the start
   * checkpoint lowdb would write (`opened`): without it the next record would read as appended while stopped.
   */
  private async sealNow(): Promise<void> {
    const last = await this.o.pool.query<{ line: string }>(
      "SELECT line FROM gh_audit WHERE type = 'audit.checkpoint' AND seq = (SELECT max(seq) FROM gh_audit)",
    );
    const final =
      last.rows[0] && (JSON.parse(last.rows[0].line) as { data?: { final?: unknown } }).data?.final === true;
    await this.commit((c) => this.chainIn(c, [], true, final === true));
  }

  private async commit(fn: (c: pg.PoolClient) => Promise<Chained>): Promise<Chained> {
    try {
      const out = await inTransaction(this.o.pool, fn);
      this.committed(out);
      return out;
    } catch (err) {
      if (isGatehouseError(err)) throw err;
      this.o.logger.error({ err: { message: (err as Error).message } }, 'audit: append to PostgreSQL failed');
      throw storageUnavailable(DATABASE_FAULT, err);
    }
  }
}

async function lockHead(client: pg.PoolClient): Promise<HeadRow> {
  const r = await client.query<HeadRow>(
    'SELECT seq, hash, since_checkpoint, signed FROM gh_audit_head WHERE id = 1 FOR UPDATE',
  );
  return r.rows[0]!;
}

async function readHeadRow(pool: Queryable): Promise<HeadRow> {
  const r = await pool.query<HeadRow>('SELECT seq, hash, since_checkpoint, signed FROM gh_audit_head WHERE id = 1');
  return r.rows[0]!;
}

/** Each audit line in seq order (after < seq <= upTo), a page at a time (what audit.jsonl holds, without the newlines). */
export async function* auditLines(pool: Queryable, upTo = Number.MAX_SAFE_INTEGER, from = 0): AsyncGenerator<string> {
  let after = from;
  for (;;) {
    const r = await pool.query<{ seq: string; line: string }>(
      'SELECT seq, line FROM gh_audit WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3',
      [after, upTo, PAGE],
    );
    for (const row of r.rows) yield row.line;
    if (r.rows.length < PAGE) return;
    after = Number(r.rows[r.rows.length - 1]!.seq);
  }
}

/**
 * Each record's seq and hash in seq order, read from the line itself as audit.jsonl's reader does (what a
 * witness is compared with); a line that is not a record is skipped (chain verification names it).
 */
export async function* chainHashes(pool: Queryable): AsyncGenerator<{ seq: number; hash: string }> {
  for await (const line of auditLines(pool)) {
    const buf = Buffer.from(line);
    const f = lineFields(buf, 0, buf.length);
    if (f) yield { seq: f.seq, hash: f.hash };
  }
}

async function* bufferLines(lines: AsyncIterable<string>): AsyncGenerator<Buffer> {
  for await (const line of lines) yield Buffer.from(line);
}

/** The signed head as audit.head.json would hold it (undefined before the first checkpoint). */
export async function signedHead(pool: Queryable): Promise<HeadFile | undefined> {
  return (await readHeadRow(pool)).signed ?? undefined;
}

/** Verifies the chain in the database end to end against `key`: every line, every checkpoint, the signed head. */
export async function verifyChain(
  pool: Queryable,
  key: VerifyKey | undefined,
  checkpointEvery = DEFAULT_CHECKPOINT_EVERY,
): Promise<VerifyResult> {
  // Head first: lines appended after it are checked too, and it can only lag the lines, never lead.
  const head = await signedHead(pool);
  const v = new ChainVerifier({ checkSignature: signatureCheck(key), checkpointEvery });
  v.watchSeq = head?.seq;
  for await (const line of auditLines(pool)) if (!v.push(line)) break;
  checkHead(v, head, key);
  return v.result();
}
