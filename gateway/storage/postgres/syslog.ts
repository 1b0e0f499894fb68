// The SIEM stream's backlog on PostgreSQL: the one shared chain, streamed by one node at a time.
//
// What is guaranteed: at any moment at most one node streams (it holds a session-level advisory lock on a
// connection of its own); it sends every committed record after the cursor kept in gh_syslog_cursor, and
// saves the cursor there as deliveries are confirmed. When that node stops or dies its connection ends,
// the lock is free, and another node (or the same one restarted) takes the stream over from the saved
// cursor. So every committed record leaves at least once per cluster, in seq order; a record is sent
// twice only when it was sent but not yet confirmed as the connection to the SIEM or the streaming node
// was lost (the same seq and hash again, which the SIEM can tell apart).
import pg from 'pg';
import {
  CURSOR_START,
  type SyslogBacklog,
  type SyslogBatch,
  type SyslogCursor,
  type SyslogFramer,
} from '../../audit/audit.js';
import type { Logger } from '../../log.js';
import type { PgAudit, Queryable } from './audit.js';
import { LOCKS } from './migrations.js';

export interface PgSyslogOptions {
  pool: pg.Pool;
  /** For the connection of its own that holds the stream's lock (and saves the cursor). */
  clientOptions: pg.ClientConfig;
  audit: PgAudit;
  /** host:port of the SIEM: the cursor is kept per destination. */
  destination: string;
  nodeId: string;
  logger: Logger;
  /** How often a standby node tries to take the stream, and the streaming node looks for other nodes' records (default 1 s). */
  pollMs?: number;
}

/** Records read per batch. */
const PAGE = 1000;

export class PgSyslogBacklog implements SyslogBacklog {
  /** The lock's connection, while this node streams. */
  private lock: pg.Client | undefined;
  /** The chain's committed head while this node streams (position = seq). */
  private head: SyslogCursor = CURSOR_START;
  /** The stream's position: what durable() says while this node does not stream, so it sends nothing. */
  private next: SyslogCursor = CURSOR_START;
  private readonly listeners = new Set<(resume?: SyslogCursor) => void>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private closed = false;
  private unlisten: (() => void) | undefined;

  constructor(private readonly o: PgSyslogOptions) {}

  /** Whether this node streams now (tests, the log). */
  get streaming(): boolean {
    return this.lock !== undefined;
  }

  async load(): Promise<{ cursor: SyslogCursor; reset?: string }> {
    const r = await savedCursor(this.o.pool, this.o.destination);
    this.next = r.cursor;
    // This node's own commits go out at once; other nodes' within one poll.
    this.unlisten = this.o.audit.onCommitted((h) => {
      if (!this.lock || h.seq <= this.head.seq) return;
      this.head = { seq: h.seq, hash: h.hash, bytes: h.seq };
      this.emit();
    });
    this.timer = setInterval(() => this.tick(), this.o.pollMs ?? 1000);
    this.timer.unref();
    // After the stream has subscribed (it does so as soon as load resolves).
    setImmediate(() => this.tick());
    return r;
  }

  durable(): SyslogCursor {
    return this.lock ? this.head : this.next;
  }

  onChange(listener: (resume?: SyslogCursor) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async read(from: SyslogCursor, frame: SyslogFramer): Promise<SyslogBatch | undefined> {
    const upTo = this.durable().seq;
    if (upTo <= from.seq) return undefined;
    const r = await this.o.pool.query<{ seq: string; hash: string; line: string }>(
      'SELECT seq, hash, line FROM gh_audit WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3',
      [from.seq, upTo, PAGE],
    );
    const rows = r.rows;
    if (rows.length === 0) return undefined;
    const buf = Buffer.from(`${rows.map((x) => x.line).join('\n')}\n`);
    const f = frame(buf, buf.length - 1, from.seq);
    const tail = rows[rows.length - 1]!;
    const seq = f.last?.seq ?? Number(tail.seq);
    const last = { seq, hash: f.last?.hash ?? tail.hash, bytes: seq };
    this.next = last;
    return { text: f.text, count: f.count, last };
  }

  rewind(to: SyslogCursor): void {
    this.next = to;
  }

  /** Saved on the lock's connection: a node that lost the stream cannot overwrite its successor's cursor. */
  async save(c: SyslogCursor): Promise<void> {
    const lock = this.lock;
    if (!lock) return;
    await lock.query(
      `INSERT INTO gh_syslog_cursor (destination, seq, hash, node, saved_at) VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (destination) DO UPDATE SET seq = $2, hash = $3, node = $4, saved_at = now()`,
      [this.o.destination, c.seq, c.hash, this.o.nodeId],
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.unlisten?.();
    await this.round;
    const lock = this.lock;
    this.lock = undefined;
    if (!lock) return;
    // Released at once, so another node takes over without waiting for the connection to time out.
    await lock.query('SELECT pg_advisory_unlock($1)', [LOCKS.syslog]).catch(() => {});
    await lock.end().catch(() => {});
  }

  private emit(resume?: SyslogCursor): void {
    for (const l of this.listeners) l(resume);
  }

  private tick(): void {
    if (this.closed) return;
    this.round ??= (this.lock ? this.poll(this.lock) : this.take())
      .catch((err: unknown) =>
        this.o.logger.warn({ err: { message: (err as Error).message } }, 'SIEM stream: database'),
      )
      .finally(() => {
        this.round = undefined;
      });
  }

  /** The head the other nodes moved; read on the lock's connection, so a dead one is noticed here too. */
  private async poll(lock: pg.Client): Promise<void> {
    let head: SyslogCursor;
    try {
      head = await chainHead(lock);
    } catch (err) {
      this.lost(lock, err);
      return;
    }
    if (this.lock === lock && head.seq > this.head.seq) {
      this.head = head;
      this.emit();
    }
  }

  /** Tries to become the streaming node; on success goes on from the cursor the last one saved. */
  private async take(): Promise<void> {
    const client = new pg.Client(this.o.clientOptions);
    client.on('error', (err) => this.lost(client, err));
    try {
      await client.connect();
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCKS.syslog]);
      if (!r.rows[0]?.ok || this.closed) {
        await client.end();
        return;
      }
      const saved = await savedCursor(client, this.o.destination);
      const head = await chainHead(client);
      if (saved.reset) this.o.logger.warn({ reason: saved.reset }, 'SIEM stream: resending the chain from the start');
      this.lock = client;
      client.on('end', () => this.lost(client, new Error('the connection ended')));
      this.head = head;
      this.next = saved.cursor;
      this.o.logger.info(
        { node: this.o.nodeId, fromSeq: saved.cursor.seq + 1, headSeq: head.seq },
        'SIEM stream: this node streams the audit chain',
      );
      this.emit(saved.cursor);
    } catch (err) {
      if (this.lock !== client) await client.end().catch(() => {});
      throw err;
    }
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.lock !== client) return;
    this.lock = undefined;
    this.o.logger.warn(
      { err: { message: (err as Error)?.message } },
      'SIEM stream: lost its database connection; another node (or this one, later) goes on from the saved cursor',
    );
    void client.end().catch(() => {});
    this.emit();
  }
}

async function chainHead(q: Queryable): Promise<SyslogCursor> {
  const r = await q.query<{ seq: string; hash: string }>('SELECT seq, hash FROM gh_audit_head WHERE id = 1');
  const seq = Number(r.rows[0]!.seq);
  return { seq, hash: r.rows[0]!.hash, bytes: seq };
}

/** The saved cursor when the chain holds that record with that hash; else the start and why. */
async function savedCursor(q: Queryable, destination: string): Promise<{ cursor: SyslogCursor; reset?: string }> {
  const r = await q.query<{ seq: string; hash: string }>(
    'SELECT seq, hash FROM gh_syslog_cursor WHERE destination = $1',
    [destination],
  );
  const row = r.rows[0];
  if (!row || Number(row.seq) === 0) return { cursor: CURSOR_START };
  const seq = Number(row.seq);
  const at = await q.query<{ hash: string }>('SELECT hash FROM gh_audit WHERE seq = $1', [seq]);
  if (at.rows[0]?.hash === row.hash) return { cursor: { seq, hash: row.hash, bytes: seq } };
  return {
    cursor: CURSOR_START,
    reset: `the chain does not hold record seq ${seq} with the hash the saved cursor names`,
  };
}
