// Files crossing an RDP session as Guacamole streams (drive redirection, drag-and-drop uploads): each one audited
// with name, direction, size and SHA-256, as SFTP files are. The relay shows this every instruction both ways.
//
// Streams that carry files: `file` (stream, mimetype, name) either way; `put` (object, stream, mimetype, name)
// from the browser (upload into the redirected drive); `body` (object, stream, mimetype, name) from guacd (a
// drive file the browser asked for with `get`). Their bytes follow as base64 `blob` (stream, data) until `end`.
// Clipboard contents (`clipboard` (stream, mimetype) either way, where the target enables the clipboard) are
// audited the same way but apart, by mimetype, size and SHA-256 only: what is pasted may be a password.
// Every other stream (images, audio) is ignored.
import { createHash, type Hash } from 'node:crypto';
import type { FileTransfer } from '../core/file-transfer.js';
import type { Instruction } from '../guac/wire.js';

/**
 * Open streams tracked per direction. Beyond this a stream cannot be audited: it is counted, and `overflow` is
 * called so the session can close (fail closed: files must not cross unaudited by opening many streams at once).
 */
export const MAX_OPEN_STREAMS = 256;
const MAX_NAME = 1024;

interface Open {
  /** The file's name; for a clipboard stream, its mimetype. */
  label: string;
  size: number;
  hash: Hash;
  clipboard: boolean;
}

type Direction = FileTransfer['direction'];

/** One clipboard content that crossed the session: upload = into the desktop, download = out of it. */
export interface ClipboardTransfer {
  direction: Direction;
  mimetype: string;
  size: number;
  /** Absent when the stream did not end (the session closed first). */
  sha256?: string;
}

export interface GuacTransferListeners {
  file(t: FileTransfer): void;
  /** Absent: clipboard streams are ignored like images. */
  clipboard?(t: ClipboardTransfer): void;
  /** Called once, at the first stream that cannot be tracked (see MAX_OPEN_STREAMS). */
  overflow?(): void;
}

export class GuacFileAudit {
  private readonly open = { upload: new Map<string, Open>(), download: new Map<string, Open>() };
  private untracked = 0;

  constructor(private readonly on: GuacTransferListeners) {}

  /** Browser → guacd instructions (only those the relay let through). */
  fromBrowser(ins: readonly Instruction[]): void {
    for (const i of ins) this.see('upload', i, i.opcode === 'put');
  }

  /** guacd → browser instructions. */
  fromGuacd(ins: readonly Instruction[]): void {
    for (const i of ins) this.see('download', i, i.opcode === 'body');
  }

  /** Streams opened and never ended (the session closed mid-transfer): reported without a hash. Returns how many could not be tracked at all. */
  finish(): number {
    for (const dir of ['upload', 'download'] as const) {
      for (const f of this.open[dir].values()) {
        if (f.clipboard) this.on.clipboard?.({ direction: dir, mimetype: f.label, size: f.size });
        else this.on.file({ name: f.label, direction: dir, size: f.size, sequential: true, closed: false });
      }
      this.open[dir].clear();
    }
    return this.untracked;
  }

  private see(dir: Direction, i: Instruction, objectStream: boolean): void {
    const streams = this.open[dir];
    const clipboard = i.opcode === 'clipboard' && this.on.clipboard !== undefined;
    if (i.opcode === 'file' || objectStream || clipboard) {
      // file: stream, mimetype, name — put/body: object, stream, mimetype, name — clipboard: stream, mimetype.
      const [stream, mimetype, name] = objectStream ? i.args.slice(1) : i.args;
      if (stream === undefined) return;
      if (streams.size >= MAX_OPEN_STREAMS && !streams.has(stream)) {
        if (this.untracked++ === 0) this.on.overflow?.();
        return;
      }
      const label = clipboard ? mimetype : name;
      streams.set(stream, {
        label: String(label ?? '').slice(0, MAX_NAME),
        size: 0,
        hash: createHash('sha256'),
        clipboard,
      });
    } else if (i.opcode === 'blob') {
      const f = streams.get(i.args[0] ?? '');
      if (!f) return;
      const bytes = Buffer.from(i.args[1] ?? '', 'base64');
      f.size += bytes.length;
      f.hash.update(bytes);
    } else if (i.opcode === 'end') {
      const stream = i.args[0] ?? '';
      const f = streams.get(stream);
      if (!f) return;
      streams.delete(stream);
      if (f.clipboard)
        this.on.clipboard?.({ direction: dir, mimetype: f.label, size: f.size, sha256: f.hash.digest('hex') });
      else
        this.on.file({
          name: f.label,
          direction: dir,
          size: f.size,
          sha256: f.hash.digest('hex'),
          sequential: true,
          closed: true,
        });
    }
  }
}
