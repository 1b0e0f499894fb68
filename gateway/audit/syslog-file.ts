// The SIEM stream's backlog on the lowdb engine: audit.jsonl itself, read from the cursor file's offset.
//
// The log file is the backlog: what is durable is read from the cursor on, so memory stays bounded (one
// read chunk) however long the SIEM is away. A caught-up stream is handed each durable batch in memory
// and never reads the file.
import { type FileHandle, open } from 'node:fs/promises';
import type { DurableMark } from './durable.js';
import type { SyslogBacklog, SyslogBatch, SyslogFramer } from './syslog-backlog.js';
import { CURSOR_START, readCursor, type SyslogCursor, writeCursor } from './syslog-cursor.js';

const CHUNK = 1 << 20;
const MAX_LINE = 16 << 20;
/** Batches kept in memory for a caught-up stream; beyond this it reads the file instead. */
const LIVE_MAX_BYTES = 4 << 20;

/** What the backlog reads of the audit log (`AuditLog`), by shape: audit/ does not import the log it serves. */
export interface DurableLog {
  readonly path: string;
  durableMark(): DurableMark;
  onDurable(listener: (mark: DurableMark) => void): () => void;
}

export class FileBacklog implements SyslogBacklog {
  private fh: FileHandle | undefined;
  private mark: DurableMark = { ...CURSOR_START };
  /** Where the stream reads next (its `sent`): live batches continue exactly from here. */
  private next = 0;
  /** Durable batches not read yet, contiguous from `next` (empty whenever the stream reads the file). */
  private live: Buffer[] = [];
  private liveBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly audit: DurableLog,
  ) {}

  async load(): Promise<{ cursor: SyslogCursor; reset?: string }> {
    const r = await readCursor(this.dir, this.audit.path);
    this.fh = await open(this.audit.path, 'r');
    this.mark = this.audit.durableMark();
    this.next = r.cursor.bytes;
    return r;
  }

  durable(): SyslogCursor {
    return { seq: this.mark.seq, hash: this.mark.hash, bytes: this.mark.bytes };
  }

  onChange(listener: () => void): () => void {
    return this.audit.onDurable((mark) => {
      this.keepLive(mark);
      this.mark = mark;
      listener();
    });
  }

  async read(from: SyslogCursor, frame: SyslogFramer): Promise<SyslogBatch | undefined> {
    const start = from.bytes;
    const framed = (buf: Buffer, lastNewline: number) => {
      const r = frame(buf, lastNewline, start);
      const head = r.last ?? from;
      const last = { seq: head.seq, hash: head.hash, bytes: start + r.end };
      this.next = last.bytes;
      return { text: r.text, count: r.count, last };
    };
    if (this.liveBytes > 0 && this.next === start) {
      const buf = this.live.length === 1 ? this.live[0]! : Buffer.concat(this.live, this.liveBytes);
      this.dropLive();
      return framed(buf, buf.length - 1);
    }
    this.dropLive();
    let size = Math.min(CHUNK, this.mark.bytes - start);
    for (;;) {
      const buf = Buffer.allocUnsafe(size);
      const { bytesRead } = await this.fh!.read(buf, 0, size, start);
      const lastNewline = buf.lastIndexOf(10, bytesRead - 1);
      if (lastNewline < 0) {
        // A line longer than the chunk: read more of it at once (bounded; the log has no such lines).
        if (size >= this.mark.bytes - start || size >= MAX_LINE) return undefined;
        size = Math.min(size * 2, this.mark.bytes - start, MAX_LINE);
        continue;
      }
      return framed(buf, lastNewline);
    }
  }

  rewind(to: SyslogCursor): void {
    this.next = to.bytes;
    this.dropLive();
  }

  save(c: SyslogCursor): Promise<void> {
    return writeCursor(this.dir, c);
  }

  async close(): Promise<void> {
    await this.fh?.close();
  }

  /**
   * Keeps a just-durable batch in memory when it continues exactly what is queued (so a caught-up stream
   * never reads the file); anything else drops the memory copy and the file is read instead.
   */
  private keepLive(mark: DurableMark): void {
    const batch = mark.batch;
    const queuedEnd = this.next + this.liveBytes;
    if (batch && queuedEnd === mark.bytes - batch.length && this.liveBytes + batch.length <= LIVE_MAX_BYTES) {
      this.live.push(batch);
      this.liveBytes += batch.length;
    } else this.dropLive();
  }

  private dropLive(): void {
    this.live = [];
    this.liveBytes = 0;
  }
}
