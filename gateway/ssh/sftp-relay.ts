// An SFTP channel relayed with its per-file audit; what cannot be audited closes the channel (fail closed).
import type { ClientChannel } from 'ssh2';
import type { VendorChannel } from './channel-types.js';
import { trackWritable, Valve, writeHeld } from '../pipe.js';
import { type FileChange, type FileTransfer, SftpAudit } from './sftp-audit.js';
import { SftpProtocolError } from './sftp-packets.js';

export interface SftpHost {
  fileTransferred(t: FileTransfer): void;
  fileChanged(c: FileChange): void;
  refused(kind: string, detail: Record<string, unknown>): void;
}

type Exit = [number] | [string, boolean, string];

/**
 * Relays with backpressure (pipe.ts); the audit reads each chunk before it is forwarded. Why stop the
 * channel on a parse error rather than pass the bytes on: from there on, files could move unaudited.
 */
export function relaySftp(host: SftpHost, front: VendorChannel, back: ClientChannel): void {
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
  const relay = (
    from: VendorChannel | ClientChannel,
    to: VendorChannel | ClientChannel,
    feed: (buf: Buffer) => void,
  ) => {
    const valve = new Valve(from);
    trackWritable(to);
    from.on('data', (buf: Buffer) => {
      if (stopped) return;
      try {
        feed(buf);
      } catch (err) {
        return stop(err);
      }
      writeHeld(to, buf, valve, 'peer');
    });
  };
  relay(front, back, (b) => audit.fromClient(b));
  relay(back, front, (b) => audit.fromServer(b));
  // The vendor's EOF goes on; the target's end waits for its close so its exit status can go first
  // (scp in SFTP mode fails without one; end() would close the vendor's channel before it).
  front.once('end', () => back.end());
  let exit: Exit | undefined;
  back.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
    exit = code === null || code === undefined ? [String(signal ?? 'KILL'), !!dump, String(desc ?? '')] : [code];
  });
  back.once('close', () => {
    audit.end();
    if (front.destroyed || front.writableEnded) return;
    // After the output already queued: exit-status must not overtake it, and end() closes the channel.
    front.write(Buffer.alloc(0), () => {
      if (front.destroyed || front.writableEnded) return;
      try {
        if (exit?.length === 1) front.exit(exit[0]);
        else if (exit) front.exit(exit[0], exit[1], exit[2]);
      } catch {
        front.exit(255); // ssh2 throws on a signal name it does not know
      }
      front.end();
    });
  });
  front.once('close', () => {
    audit.end();
    back.close();
  });
  front.on('error', () => back.close());
  back.on('error', () => front.destroy());
}
