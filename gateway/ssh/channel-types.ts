// The two ends a channel relay joins, named apart from the relay so its helpers (shell input, SFTP) need not import it back.
import type { Duplex } from 'node:stream';
import type { ServerChannel } from 'ssh2';

/** What the recorder must offer (CastWriter fits): false from output/input means "pause until drained()". */
export interface Recorder {
  output(buf: Buffer): boolean;
  input(buf: Buffer): boolean;
  resize(cols: number, rows: number): void;
  marker(label: string): void;
  drained(): Promise<void>;
}

/** What relayChannel needs of the vendor's channel: ssh2's ServerChannel, or the browser terminal's websocket adapter. */
export type VendorChannel = Pick<ServerChannel, 'stderr' | 'exit'> & Duplex;
