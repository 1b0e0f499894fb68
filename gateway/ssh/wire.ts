// The SSH disconnect ssh2 cannot send with text of ours: one that says why.
import type { Connection } from 'ssh2';
import { oneLine } from '../text.js';

/** The parts of ssh2's Protocol (1.x) used here; checked at run time, so another version only loses the text. */
interface Proto {
  disconnect(reason: number): void;
  _packetRW: {
    write: {
      allocStart: number;
      allocStartKEX: number;
      alloc(n: number, force?: boolean): Buffer;
      finalize(p: Buffer, force?: boolean): Buffer;
    };
  };
  _cipher: { encrypt(p: Buffer): void };
  ghSaid?: true;
}

const MSG_DISCONNECT = 1;

const protoOf = (client: Connection): Proto | undefined => {
  const p = (client as unknown as { _protocol?: Partial<Proto> })._protocol;
  return p && typeof p.disconnect === 'function' && p._packetRW?.write && p._cipher ? (p as Proto) : undefined;
};

/** string fields as SSH encodes them: uint32 length, then the bytes. */
const fields = (type: number, head: number[], strings: string[]): Buffer => {
  const parts = strings.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.alloc(1 + head.length * 4 + parts.reduce((n, b) => n + 4 + b.length, 0));
  let p = out.writeUInt8(type, 0);
  for (const h of head) p = out.writeUInt32BE(h, p);
  for (const b of parts) {
    p = out.writeUInt32BE(b.length, p);
    p += b.copy(out, p);
  }
  return out;
};

/**
 * Ends the connection with a DISCONNECT whose description is `line` (one line, no control characters). Why: both
 * OpenSSH ("Received disconnect from …: 11: <description>") and PuTTY ("Remote side sent disconnect message …")
 * print it with or without a terminal; ssh2's own disconnect leaves it empty.
 */
export function disconnectSaying(client: Connection, line: string): void {
  const proto = protoOf(client);
  if (proto && !proto.ghSaid) {
    proto.ghSaid = true;
    const text = oneLine(line, 600);
    proto.disconnect = (reason: number) => {
      const body = fields(MSG_DISCONNECT, [reason], [text, '']);
      const w = proto._packetRW.write;
      const p = w.allocStartKEX;
      const packet = w.alloc(body.length, true);
      body.copy(packet, p);
      // Like ssh2's own disconnect: encrypted and sent at once, even in the middle of a key exchange.
      proto._cipher.encrypt(w.finalize(packet, true));
    };
  }
  client.end();
}
