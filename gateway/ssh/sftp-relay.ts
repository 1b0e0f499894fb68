// An SFTP channel relayed with its per-file audit; what cannot be audited closes the channel (fail closed).
import type { Duplex, Writable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { pipeBoth } from './pipe.js';
import { type FileChange, type FileTransfer, SftpAudit } from './sftp-audit.js';
import { SftpProtocolError } from './sftp-packets.js';

export interface SftpHost {
  fileTransferred(t: FileTransfer): void;
  fileChanged(c: FileChange): void;
  refused(kind: string, detail: Record<string, unknown>): void;
}

/**
 * Relays with backpressure (pipe.ts); the audit reads each chunk before it is forwarded. Why stop the
 * channel on a parse error rather than pass the bytes on: from there on, files could move unaudited.
 */
export function relaySftp(host: SftpHost, front: Duplex & { stderr: Writable }, back: ClientChannel): void {
  const audit = new SftpAudit({ transferred: (t) => host.fileTransferred(t), changed: (c) => host.fileChanged(c) });
  let stopped = false;
  const stop = (err: unknown) => {
    stopped = true;
    audit.end();
    const code = err instanceof SftpProtocolError ? err.code : 'sftp_audit_failed';
    const reason = err instanceof SftpProtocolError ? err.message : 'the file transfer could not be audited';
    host.refused('sftp', { code, reason });
    front.stderr.write(`[gatehouse] file transfer stopped: ${reason}\n`);
    back.close();
    front.end();
  };
  const tap = (feed: (buf: Buffer) => void) => (buf: Buffer) => {
    if (stopped) return false;
    try {
      feed(buf);
      return true;
    } catch (err) {
      stop(err);
      return false;
    }
  };
  pipeBoth(front, back, { a: tap((b) => audit.fromClient(b)), b: tap((b) => audit.fromServer(b)) });
  front.once('close', () => audit.end());
  back.once('close', () => audit.end());
}
