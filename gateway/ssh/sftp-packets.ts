// SFTP v3 framing for the audit: one direction's byte stream read packet by packet, in bounded memory.
//
// Why streaming: a WRITE or DATA packet carries up to hundreds of KiB of file bytes. Only the fields
// before the data are copied (a few hundred bytes); the data itself is handed on as views of the
// relay's own chunks, which the relay forwards anyway. Whatever the peer sends, the reader holds at
// most MAX_FIELDS bytes, and a length beyond MAX_PACKET (a 4 GiB length, garbage) is refused.

export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  SETSTAT: 9,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  RENAME: 18,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  EXTENDED: 200,
} as const;

/** Packet size limit. OpenSSH's sftp-server stops at 256 KiB; other clients stay below 1 MiB. */
export const MAX_PACKET = 1024 * 1024;
/** Fields read whole (paths, handles, status) fit in this; so does the first packet (INIT/VERSION). */
export const MAX_FIELDS = 64 * 1024;
/** The SFTP drafts cap handles at 256 bytes. */
const MAX_HANDLE = 256;

export class SftpProtocolError extends Error {
  constructor(
    readonly code: 'sftp_packet_too_large' | 'sftp_malformed' | 'sftp_unsupported' | 'sftp_limit',
    message: string,
  ) {
    super(message);
    this.name = 'SftpProtocolError';
  }
}

/** The packets the audit reads; everything else is `other` (type and id only, body skipped). */
export type SftpMessage =
  | { t: 'init'; version: number }
  | { t: 'version'; version: number }
  | { t: 'open'; id: number; path: Buffer; pflags: number }
  | { t: 'close'; id: number; handle: Buffer }
  | { t: 'read'; id: number; handle: Buffer; offset: number; len: number }
  | { t: 'path'; id: number; op: 'setstat' | 'remove' | 'mkdir' | 'rmdir'; path: Buffer }
  | { t: 'rename'; id: number; op: 'rename' | 'posix-rename'; from: Buffer; to: Buffer }
  | { t: 'status'; id: number; code: number }
  | { t: 'handle'; id: number; handle: Buffer }
  /** WRITE (from the client) or DATA (from the server): `data` slices follow, then `dataEnd`. */
  | { t: 'write'; id: number; handle: Buffer; offset: number; len: number }
  | { t: 'data'; id: number; len: number }
  | { t: 'other'; type: number; id: number };

export interface SftpSink {
  message(m: SftpMessage): void;
  /** A view of the current WRITE/DATA payload, in order; valid as long as the relay's chunk is. */
  data(slice: Buffer): void;
  dataEnd(): void;
}

export type Direction = 'client' | 'server';

const PATH_OPS: Record<number, 'setstat' | 'remove' | 'mkdir' | 'rmdir'> = {
  [FXP.SETSTAT]: 'setstat',
  [FXP.REMOVE]: 'remove',
  [FXP.MKDIR]: 'mkdir',
  [FXP.RMDIR]: 'rmdir',
};

/** Types whose body (after type and id) is read whole, per direction. */
const WHOLE: Record<Direction, ReadonlySet<number>> = {
  client: new Set([
    FXP.OPEN,
    FXP.CLOSE,
    FXP.READ,
    FXP.SETSTAT,
    FXP.REMOVE,
    FXP.MKDIR,
    FXP.RMDIR,
    FXP.RENAME,
    FXP.EXTENDED,
  ]),
  server: new Set([FXP.STATUS, FXP.HANDLE]),
};

/** Bounds-checked field reader over one packet's buffered fields. */
class Fields {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  u32(): number {
    if (this.at + 4 > this.buf.length) throw malformed('a field runs past the end of its packet');
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    if (this.at + 8 > this.buf.length) throw malformed('a field runs past the end of its packet');
    const v = this.buf.readBigUInt64BE(this.at);
    this.at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('an offset beyond 2^53');
    return Number(v);
  }
  string(max = MAX_FIELDS): Buffer {
    const n = this.u32();
    if (n > max || this.at + n > this.buf.length) throw malformed('a string runs past the end of its packet');
    const s = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return s;
  }
}

const malformed = (why: string) => new SftpProtocolError('sftp_malformed', `malformed SFTP packet: ${why}`);

type Stage = 'length' | 'head' | 'handleLen' | 'writeHead' | 'dataLen' | 'whole' | 'data' | 'skip';

/** Reads one direction of an SFTP channel. push() throws SftpProtocolError; after that the reader is dead. */
export class SftpPacketReader {
  private stage: Stage = 'length';
  private buf = Buffer.allocUnsafe(5);
  private want = 4;
  private have = 0;
  private left = 0; // bytes of the current packet not yet consumed
  private type = 0;
  private id = 0;
  private handleLen = 0;
  private first = true;
  private dead: SftpProtocolError | undefined;

  constructor(
    private readonly from: Direction,
    private readonly sink: SftpSink,
  ) {}

  push(chunk: Buffer): void {
    if (this.dead) throw this.dead;
    try {
      this.consume(chunk);
    } catch (err) {
      this.dead = err instanceof SftpProtocolError ? err : malformed(String((err as Error)?.message ?? err));
      throw this.dead;
    }
  }

  /** True between packets: a channel that ends here ended cleanly. */
  get atBoundary(): boolean {
    return this.stage === 'length' && this.have === 0;
  }

  private consume(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.stage === 'data' || this.stage === 'skip') {
        const n = Math.min(this.left, chunk.length - pos);
        if (this.stage === 'data') this.sink.data(chunk.subarray(pos, pos + n));
        pos += n;
        this.left -= n;
        if (this.left === 0) this.endPacket();
        continue;
      }
      const n = Math.min(this.want - this.have, chunk.length - pos);
      chunk.copy(this.buf, this.have, pos, pos + n);
      this.have += n;
      pos += n;
      if (this.have === this.want) this.step();
    }
  }

  /** Asks for the next `n` field bytes of this packet (or finishes it when n is 0). */
  private expect(stage: Stage, n: number): void {
    if (n > this.left) throw malformed('fields longer than the packet');
    this.left -= n;
    this.stage = stage;
    this.want = n;
    this.have = 0;
    if (this.buf.length < n) this.buf = Buffer.allocUnsafe(n);
    if (n === 0) this.step();
  }

  private step(): void {
    const b = this.buf;
    switch (this.stage) {
      case 'length': {
        const len = b.readUInt32BE(0);
        if (len > MAX_PACKET || (this.first && len > MAX_FIELDS))
          throw new SftpProtocolError(
            'sftp_packet_too_large',
            `an SFTP packet of ${len} bytes (the limit is ${this.first ? MAX_FIELDS : MAX_PACKET})`,
          );
        if (len < 5) throw malformed(`a packet of ${len} bytes`);
        this.left = len;
        return this.expect('head', 5);
      }
      case 'head': {
        this.type = b[0]!;
        this.id = b.readUInt32BE(1);
        if (this.first) {
          const opening = this.from === 'client' ? FXP.INIT : FXP.VERSION;
          if (this.type !== opening)
            throw malformed(`the first packet is not ${this.from === 'client' ? 'INIT' : 'VERSION'}`);
          this.first = false;
          if (this.type === FXP.VERSION && this.id !== 3)
            throw new SftpProtocolError('sftp_unsupported', `SFTP version ${this.id} (only version 3 can be audited)`);
          this.sink.message(
            this.type === FXP.INIT ? { t: 'init', version: this.id } : { t: 'version', version: this.id },
          );
          return this.skip();
        }
        if (this.from === 'client' && this.type === FXP.WRITE) return this.expect('handleLen', 4);
        if (this.from === 'server' && this.type === FXP.DATA) return this.expect('dataLen', 4);
        if (WHOLE[this.from].has(this.type)) {
          if (this.left > MAX_FIELDS)
            throw new SftpProtocolError('sftp_limit', `an SFTP request of ${this.left} bytes of fields`);
          return this.expect('whole', this.left);
        }
        this.sink.message({ t: 'other', type: this.type, id: this.id });
        return this.skip();
      }
      case 'handleLen':
        this.handleLen = b.readUInt32BE(0);
        if (this.handleLen > MAX_HANDLE) throw malformed('a handle longer than 256 bytes');
        return this.expect('writeHead', this.handleLen + 12);
      case 'writeHead': {
        const handle = Buffer.from(b.subarray(0, this.handleLen));
        const f = new Fields(b.subarray(this.handleLen, this.handleLen + 12));
        const offset = f.u64();
        const len = f.u32();
        if (len !== this.left) throw malformed('WRITE data length does not match the packet');
        this.sink.message({ t: 'write', id: this.id, handle, offset, len });
        return this.startData();
      }
      case 'dataLen': {
        const len = b.readUInt32BE(0);
        if (len !== this.left) throw malformed('DATA length does not match the packet');
        this.sink.message({ t: 'data', id: this.id, len });
        return this.startData();
      }
      case 'whole':
        this.sink.message(this.decode(new Fields(Buffer.from(b.subarray(0, this.want)))));
        return this.endPacket();
      default:
        throw malformed(`reader in stage ${this.stage}`);
    }
  }

  private decode(f: Fields): SftpMessage {
    const id = this.id;
    switch (this.type) {
      case FXP.OPEN:
        return { t: 'open', id, path: f.string(), pflags: f.u32() };
      case FXP.CLOSE:
        return { t: 'close', id, handle: f.string(MAX_HANDLE) };
      case FXP.READ:
        return { t: 'read', id, handle: f.string(MAX_HANDLE), offset: f.u64(), len: f.u32() };
      case FXP.RENAME:
        return { t: 'rename', id, op: 'rename', from: f.string(), to: f.string() };
      case FXP.EXTENDED: {
        const name = f.string().toString('latin1');
        if (name === 'posix-rename@openssh.com')
          return { t: 'rename', id, op: 'posix-rename', from: f.string(), to: f.string() };
        return { t: 'other', type: this.type, id };
      }
      case FXP.STATUS:
        return { t: 'status', id, code: f.u32() };
      case FXP.HANDLE:
        return { t: 'handle', id, handle: f.string(MAX_HANDLE) };
      default: {
        const op = PATH_OPS[this.type];
        if (op) return { t: 'path', id, op, path: f.string() };
        return { t: 'other', type: this.type, id };
      }
    }
  }

  private startData(): void {
    this.stage = 'data';
    if (this.left === 0) this.endPacket();
  }

  private skip(): void {
    this.stage = 'skip';
    if (this.left === 0) this.endPacket();
  }

  private endPacket(): void {
    if (this.stage === 'data') this.sink.dataEnd();
    this.stage = 'length';
    this.want = 4;
    this.have = 0;
  }
}
