// Streams every audit record to the SIEM as RFC 5424 over TCP or TLS, at least once, from the log itself.
//
// The log is the backlog (audit.jsonl, or the PostgreSQL chain): the stream reads what is committed from
// its cursor on, so memory stays bounded (one read chunk) however long the SIEM is away, and nothing is
// dropped. The append path only tells the stream how far the log is durable, so a slow or dead SIEM never
// slows it.
import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { SyslogConfig } from '../config.js';
import type { AuditInput } from '../core/audit.js';
import { systemActor } from '../core/model.js';
import { type Logger, silentLogger } from '../log.js';
import { connectSyslog, errorCode } from './syslog-connect.js';
import type { SyslogBacklog, SyslogBatch } from './syslog-backlog.js';
import { CURSOR_START, type SyslogCursor } from './syslog-cursor.js';
import { type DurableLog, FileBacklog } from './syslog-file.js';
import { type SyslogIdentity, syslogFrames, syslogIdentity } from './syslog-format.js';

export interface SyslogStreamOptions {
  config: SyslogConfig;
  /** Where the stream's alerts (behind, caught up) are recorded. */
  audit: { append(input: AuditInput): Promise<unknown> };
  /** What is streamed; default audit.jsonl in `dir` (then `audit` must be that AuditLog). */
  backlog?: SyslogBacklog;
  dir?: string;
  clock: Clock;
  logger?: Logger;
  /** The webhook notifier (`notify.ts`), by shape: through it audit/ would reach storage/. */
  notifier?: { notify(event: string, payload: { text: string; [key: string]: unknown }): void };
  registry?: Registry;
  /** A write counts as delivered once its connection stayed up this long after it (default 2 s). */
  confirmMs?: number;
  /** How often delivery is confirmed, the cursor saved and the backlog judged (default 1 s). */
  tickMs?: number;
  /** Waits before reconnecting, the last repeated (default 0.5 s up to 30 s). */
  retryDelaysMs?: readonly number[];
  identity?: SyslogIdentity;
}

/** A batch handed to the kernel on the current connection; confirmed once the connection outlives it by confirmMs. */
interface Sent extends SyslogCursor {
  flushedAt?: number;
}

export class SyslogStream {
  private readonly id: SyslogIdentity;
  private readonly logger: Logger;
  private readonly confirmMs: number;
  private readonly retry: readonly number[];
  private readonly source: SyslogBacklog;
  private socket: Socket | undefined;
  private connected = false;
  /** Bumped on every connection loss: a read or write of an older connection is discarded. */
  private generation = 0;
  private attempts = 0;
  private durable: SyslogCursor = CURSOR_START;
  /** What was written on the current connection; rewound to `confirmed` when it is lost. */
  private sent: SyslogCursor = CURSOR_START;
  private confirmed: SyslogCursor = CURSOR_START;
  private saved: SyslogCursor = CURSOR_START;
  private inFlight: Sent[] = [];
  /** Bumped when the backlog says to resume elsewhere: a read begun before is discarded. */
  private epoch = 0;
  private pumping = false;
  private waitingDrain = false;
  private lastProgressAt: number;
  private lastError: string | undefined;
  private behind = false;
  private stopped = false;
  private saving: Promise<void> = Promise.resolve();
  private tickTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly sentTotal: Counter | undefined;

  constructor(private readonly o: SyslogStreamOptions) {
    this.id = o.identity ?? syslogIdentity(o.config.appName);
    this.logger = o.logger ?? silentLogger;
    this.confirmMs = o.confirmMs ?? 2000;
    this.retry = o.retryDelaysMs ?? [500, 1000, 2000, 5000, 10_000, 30_000];
    this.lastProgressAt = o.clock.now();
    this.source = o.backlog ?? new FileBacklog(o.dir ?? '.', o.audit as SyslogStreamOptions['audit'] & DurableLog);
    if (o.registry) {
      const registers = [o.registry];
      const gauge = (name: string, help: string, value: () => number) =>
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(value());
          },
        });
      gauge('gatehouse_audit_syslog_backlog', 'Audit records not yet confirmed delivered to the SIEM', () =>
        this.backlog(),
      );
      gauge('gatehouse_audit_syslog_connected', '1 while connected to the SIEM', () => (this.connected ? 1 : 0));
      gauge('gatehouse_audit_syslog_behind', '1 while the SIEM stream is behind (alerted)', () =>
        this.behind ? 1 : 0,
      );
      this.sentTotal = new Counter({
        name: 'gatehouse_audit_syslog_sent_total',
        help: 'Audit records written to the SIEM connection (resends included)',
        registers,
      });
    }
  }

  /** Loads the cursor, starts connecting and returns; never fails for network reasons. */
  async start(): Promise<void> {
    const { cursor, reset } = await this.source.load();
    if (reset)
      this.logger.warn({ reason: reset }, 'SIEM stream: cursor does not fit the log; resending it from the start');
    this.confirmed = this.saved = this.sent = cursor;
    this.durable = this.source.durable();
    this.unsubscribe = this.source.onChange((resume) => {
      if (resume) this.resumeAt(resume);
      this.durable = this.source.durable();
      if (!this.pumping && !this.waitingDrain) setImmediate(() => this.pump());
    });
    this.tickTimer = setInterval(() => this.tick(), this.o.tickMs ?? 1000);
    this.tickTimer.unref();
    this.connect();
  }

  /** Goes on from `c` (the backlog took the stream over from another node): what is in flight is not ours to confirm. */
  private resumeAt(c: SyslogCursor): void {
    this.epoch++;
    this.inFlight = [];
    this.confirmed = this.saved = this.sent = c;
    this.source.rewind(c);
    this.logger.info({ fromSeq: c.seq + 1 }, 'SIEM stream resumes from the shared cursor');
  }

  /** Records durable locally but not yet confirmed delivered. */
  backlog(): number {
    return Math.max(0, this.durable.seq - this.confirmed.seq);
  }

  /** The last record confirmed delivered (what the cursor file holds once saved). */
  cursor(): SyslogCursor {
    return { ...this.confirmed };
  }

  /**
   * Sends what is durable (within `flushMs`), ends the connection cleanly and saves the cursor. Call it
   * after the audit log closed, so its final records go out too.
   */
  async stop(flushMs = 3000): Promise<void> {
    if (this.stopped) return;
    const deadline = Date.now() + flushMs;
    while (this.connected && (this.sent.bytes < this.durable.bytes || this.waitingDrain) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.tickTimer);
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (socket && this.connected && !this.waitingDrain) {
      // A clean end after everything was flushed: the receiver reads all of it before the FIN. What was sent
      // is taken now: the connection's own close handler (lost) rewinds `sent` before the promise below resolves.
      const sent = this.sent;
      const ended = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.max(200, deadline - Date.now()));
        socket.once('close', (hadError) => {
          clearTimeout(timer);
          resolve(!hadError);
        });
        socket.end();
      });
      if (ended) this.confirmed = sent;
    }
    socket?.destroy();
    await this.saveCursor();
    await this.source.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = this.generation;
    let socket: Socket;
    try {
      socket = connectSyslog(this.o.config, () => {
        if (gen !== this.generation || this.stopped) return;
        this.connected = true;
        this.attempts = 0;
        this.logger.info(
          { host: this.o.config.host, port: this.o.config.port, fromSeq: this.sent.seq + 1 },
          'SIEM stream connected',
        );
        this.pump();
      });
    } catch (err) {
      // A CA file that cannot be read: retried like a refused connection, and alerted on the same way.
      this.lastError = errorCode(err);
      this.logger.error({ err }, 'SIEM stream cannot connect');
      this.generation++;
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.setKeepAlive(true, 10_000);
    socket.unref(); // the stream never keeps the process alive on its own
    socket.on('error', (err) => {
      this.lastError = errorCode(err);
    });
    socket.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    // The receiver closing its side means it takes nothing more: give up this connection.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.lost(gen));
  }

  private lost(gen: number): void {
    if (gen !== this.generation) return;
    this.generation++;
    if (this.connected)
      this.logger.warn(
        { host: this.o.config.host, error: this.lastError ?? 'closed' },
        'SIEM stream lost its connection; resending what was not confirmed',
      );
    this.connected = false;
    this.waitingDrain = false;
    this.socket = undefined;
    // Whatever was not confirmed may not have arrived: send it again (the receiver sees the same seq twice).
    this.inFlight = [];
    this.sent = this.confirmed;
    this.source.rewind(this.sent);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.retry[Math.min(this.attempts++, this.retry.length - 1)]!;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }

  /** Reads the next durable chunk from the cursor on and writes it as one batch of frames. */
  private pump(): void {
    if (this.pumping || this.waitingDrain || !this.connected || this.stopped) return;
    if (this.sent.bytes >= this.durable.bytes) return;
    this.pumping = true;
    const gen = this.generation;
    const epoch = this.epoch;
    let failed = false;
    this.source
      .read(this.sent, (buf, lastNewline, offset) => this.frames(buf, lastNewline, offset))
      .then((batch: SyslogBatch | undefined) => {
        if (!batch || gen !== this.generation || epoch !== this.epoch || !this.socket) return;
        const mark: Sent = batch.last;
        this.sent = batch.last;
        this.sentTotal?.inc(batch.count);
        this.inFlight.push(mark);
        const more = this.socket.write(batch.text, (err) => {
          if (!err) mark.flushedAt = this.o.clock.now();
        });
        if (!more) this.waitingDrain = true;
      })
      .catch((err: unknown) => {
        failed = true;
        this.lastError = errorCode(err);
        this.logger.error({ err }, 'SIEM stream could not read the audit log');
      })
      .finally(() => {
        this.pumping = false;
        // After a failed read the next tick tries again (a database away must not spin the loop).
        if (!failed && gen === this.generation && this.sent.bytes < this.durable.bytes) setImmediate(() => this.pump());
      });
  }

  /** The frames for the whole lines in buf[0, lastNewline], which starts at position `offset` of the backlog. */
  private frames(buf: Buffer, lastNewline: number, offset: number) {
    const skip = (start: number) =>
      this.logger.error({ offset, at: start }, 'SIEM stream: skipped a line that is not an audit record');
    const r = syslogFrames(buf, lastNewline, this.id, skip);
    const last = r.last ? { seq: r.last.fields.seq, hash: r.last.fields.hash } : undefined;
    return { text: r.frames, count: r.count, last, end: r.end };
  }

  private tick(): void {
    const now = this.o.clock.now();
    let advanced = false;
    while (
      this.connected &&
      this.inFlight[0]?.flushedAt !== undefined &&
      now - this.inFlight[0].flushedAt >= this.confirmMs
    ) {
      const { seq, hash, bytes } = this.inFlight.shift()!;
      this.confirmed = { seq, hash, bytes };
      advanced = true;
    }
    if (advanced || this.backlog() === 0) this.lastProgressAt = now;
    // saveCursor() logs its own failures and never rejects.
    if (this.confirmed.bytes !== this.saved.bytes) this.saveCursor().catch(() => {});
    this.judge(now);
    this.pump();
  }

  /** Alerts once when the stream falls behind (too many records, or no progress for too long), and once when it recovers. */
  private judge(now: number): void {
    const { alertBacklog, alertAfterSeconds, host, port } = this.o.config;
    const backlog = this.backlog();
    const stalled = backlog > 0 && now - this.lastProgressAt > alertAfterSeconds * 1000;
    if (!this.behind && (backlog > alertBacklog || stalled)) {
      this.behind = true;
      const error = this.connected ? null : (this.lastError ?? 'not_connected');
      const data = { host, port, backlog, unsentFromSeq: this.confirmed.seq + 1, error };
      this.logger.error(data, 'SIEM stream is behind');
      this.audit('audit.syslog_behind', data);
      this.o.notifier?.notify('audit.syslog_behind', {
        text: `Audit stream to the SIEM ${host}:${port} is behind: ${backlog} records not delivered${error ? ` (${error})` : ''}`,
        ...data,
      });
    } else if (this.behind && !stalled && backlog <= alertBacklog / 2) {
      this.behind = false;
      this.audit('audit.syslog_caught_up', { host, port, backlog });
    }
  }

  private audit(type: 'audit.syslog_behind' | 'audit.syslog_caught_up', data: Record<string, unknown>): void {
    this.o.audit.append({ type, actor: systemActor('gateway'), data }).catch((err: unknown) => {
      this.logger.error({ err, type }, 'could not audit the SIEM stream state');
    });
  }

  /** Saves the confirmed cursor durably; saves never overlap, and a failure is logged, never thrown. */
  private saveCursor(): Promise<void> {
    this.saving = this.saving.then(async () => {
      const c = this.confirmed;
      if (c.bytes === this.saved.bytes) return;
      try {
        await this.source.save(c);
        this.saved = c;
      } catch (err) {
        this.logger.error(
          { err },
          'SIEM stream could not save its cursor; it resends from the last saved one after a restart',
        );
      }
    });
    return this.saving;
  }
}
