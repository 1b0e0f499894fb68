// Per-file audit of one SFTP channel: OPEN → HANDLE, WRITE, READ → DATA, CLOSE tracked by request id;
// each file reported once with its name, direction, size and SHA-256 (file.transferred), and
// REMOVE/RENAME/MKDIR/RMDIR/SETSTAT reported with the server's answer (file.changed).
import type { FileChange, FileTransfer } from '../core/file-transfer.js';
import { HoldBudget, OffsetHash } from './sftp-hash.js';
import { type SftpMessage, SftpPacketReader, SftpProtocolError, type SftpSink } from './sftp-packets.js';

export type { FileChange, FileTransfer } from '../core/file-transfer.js';

export interface SftpReport {
  transferred(t: FileTransfer): void;
  changed(c: FileChange): void;
}

const PFLAG_WRITE = 0x02;
const PFLAG_APPEND = 0x04;
const STATUS_OK = 0;
const STATUS_EOF = 1;
/** OpenSSH keeps 64 requests in flight; far more means a client we cannot follow in bounded memory. */
const MAX_PENDING = 4096;
const MAX_OPEN = 1024;
const MAX_NAME = 4096;

interface Side {
  hash: OffsetHash;
  errors: number;
}

interface OpenFile {
  name: string;
  pflags: number;
  up?: Side;
  down?: Side;
  done: boolean;
}

type Pending =
  | { op: 'open'; name: string; pflags: number }
  | { op: 'read'; file: OpenFile; offset: number }
  | { op: 'write'; file: OpenFile }
  | { op: 'close'; key: string; file: OpenFile }
  | { op: 'change'; change: Omit<FileChange, 'ok' | 'status'> }
  | { op: 'other' };

/** The payload (WRITE or DATA bytes) being read now in one direction, and where it goes in its file. */
class Payload {
  cur: { side: Side; at: number } | undefined;
  data(slice: Buffer): void {
    if (!this.cur) return;
    this.cur.side.hash.add(this.cur.at, slice);
    this.cur.at += slice.length;
  }
  end(): void {
    this.cur = undefined;
  }
}

const text = (b: Buffer) => b.toString('utf8').slice(0, MAX_NAME);

/**
 * Feed it every chunk of both directions, in the order the relay forwards them; both feeds throw
 * SftpProtocolError on what cannot be audited (the relay then closes the channel, fail closed).
 */
export class SftpAudit {
  private readonly pending = new Map<number, Pending>();
  private readonly files = new Map<string, OpenFile>();
  private readonly budget = new HoldBudget();
  private readonly up = new Payload();
  private readonly down = new Payload();
  private readonly client: SftpPacketReader;
  private readonly server: SftpPacketReader;
  private ended = false;

  constructor(private readonly report: SftpReport) {
    const sink = (payload: Payload, on: (m: SftpMessage) => void): SftpSink => ({
      message: on,
      data: (s) => payload.data(s),
      dataEnd: () => payload.end(),
    });
    this.client = new SftpPacketReader(
      'client',
      sink(this.up, (m) => this.request(m)),
    );
    this.server = new SftpPacketReader(
      'server',
      sink(this.down, (m) => this.reply(m)),
    );
  }

  fromClient(chunk: Buffer): void {
    if (!this.ended) this.client.push(chunk);
  }

  fromServer(chunk: Buffer): void {
    if (!this.ended) this.server.push(chunk);
  }

  /** The channel is gone: files still open are reported as not closed. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const f of this.files.values()) this.finish(f, false);
    this.files.clear();
    for (const p of this.pending.values()) if (p.op === 'change') this.report.changed({ ...p.change, ok: null });
    this.pending.clear();
  }

  private request(m: SftpMessage): void {
    switch (m.t) {
      case 'open':
        return this.expect(m.id, { op: 'open', name: text(m.path), pflags: m.pflags });
      case 'close': {
        const key = m.handle.toString('latin1');
        const file = this.files.get(key);
        return this.expect(m.id, file ? { op: 'close', key, file } : { op: 'other' });
      }
      case 'read': {
        const file = this.files.get(m.handle.toString('latin1'));
        if (file) file.down ??= { hash: new OffsetHash(this.budget), errors: 0 };
        return this.expect(m.id, file ? { op: 'read', file, offset: m.offset } : { op: 'other' });
      }
      case 'write': {
        const file = this.files.get(m.handle.toString('latin1'));
        if (file) file.up ??= { hash: new OffsetHash(this.budget), errors: 0 };
        this.up.cur = file ? { side: file.up!, at: m.offset } : undefined;
        return this.expect(m.id, file ? { op: 'write', file } : { op: 'other' });
      }
      case 'path':
        return this.expect(m.id, { op: 'change', change: { op: m.op, path: text(m.path) } });
      case 'rename':
        return this.expect(m.id, { op: 'change', change: { op: 'rename', path: text(m.from), to: text(m.to) } });
      case 'other':
        return this.expect(m.id, { op: 'other' });
      default:
        return; // INIT
    }
  }

  private reply(m: SftpMessage): void {
    if (m.t === 'version' || m.t === 'init') return;
    const p = 'id' in m ? this.take(m.id) : undefined;
    switch (m.t) {
      case 'handle': {
        if (p?.op !== 'open') return;
        const key = m.handle.toString('latin1');
        const old = this.files.get(key);
        if (old)
          this.finish(old, false); // a server reusing an open handle: the old file is over
        else if (this.files.size >= MAX_OPEN)
          throw new SftpProtocolError('sftp_limit', `more than ${MAX_OPEN} files open at once`);
        this.files.set(key, { name: p.name, pflags: p.pflags, done: false });
        return;
      }
      case 'data':
        this.down.cur = p?.op === 'read' && p.file.down ? { side: p.file.down, at: p.offset } : undefined;
        return;
      case 'status':
        if (!p) return;
        if (p.op === 'write' && m.code !== STATUS_OK) p.file.up!.errors++;
        else if (p.op === 'read' && m.code !== STATUS_OK && m.code !== STATUS_EOF) p.file.down!.errors++;
        else if (p.op === 'close') {
          this.finish(p.file, m.code === STATUS_OK);
          if (this.files.get(p.key) === p.file) this.files.delete(p.key);
        } else if (p.op === 'change')
          this.report.changed({
            ...p.change,
            ok: m.code === STATUS_OK,
            ...(m.code === STATUS_OK ? {} : { status: m.code }),
          });
        return;
      default:
        return;
    }
  }

  private expect(id: number, p: Pending): void {
    // Why refuse a reused id: two requests under one id would let a client pair a reply with the wrong offset.
    if (this.pending.has(id))
      throw new SftpProtocolError('sftp_malformed', `request id ${id} reused while still pending`);
    if (this.pending.size >= MAX_PENDING)
      throw new SftpProtocolError('sftp_limit', `more than ${MAX_PENDING} requests in flight`);
    this.pending.set(id, p);
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    return p;
  }

  private finish(f: OpenFile, closed: boolean): void {
    if (f.done) return;
    f.done = true;
    // Opened for writing counts as an upload even with no WRITE: an empty file was created or truncated.
    const up = f.up ?? (f.pflags & PFLAG_WRITE ? { hash: new OffsetHash(this.budget), errors: 0 } : undefined);
    for (const [direction, side] of [
      ['upload', up],
      ['download', f.down],
    ] as const) {
      if (!side) continue;
      const r = side.hash.finish();
      // With APPEND the server ignores offsets: the bytes hashed are not the file's.
      const sequential = r.sequential && !(direction === 'upload' && f.pflags & PFLAG_APPEND);
      this.report.transferred({
        name: f.name,
        direction,
        size: side.hash.bytes,
        ...(sequential ? { sha256: r.sha256 } : {}),
        sequential,
        closed,
        ...(side.errors > 0 ? { errors: side.errors } : {}),
      });
    }
  }
}
