// A TCP relay between one gateway node and PostgreSQL that a test can break as networks break: cut (every connection
// reset, new ones refused, as a firewall that rejects) and restored; or only the connections that LISTEN stalled
// silently (their bytes held, no error, no RST, as a dead path that TCP has not noticed yet) and resumed.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface FaultLink {
  port: number;
  /** `url` with its host and port replaced by the relay's. */
  via(url: string): string;
  cut(): void;
  restore(): void;
  /** Holds the bytes of every connection that has sent a LISTEN, both ways, until `resumeListeners`. */
  stallListeners(): void;
  resumeListeners(): void;
  /** How many connections have sent a LISTEN (a check that the stall has something to hold). */
  listeners(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  listens: boolean;
  held: Array<{ to: Socket; b: Buffer }>;
}

const LISTEN = Buffer.from('LISTEN ');

export async function startFaultLink(to: { host: string; port: number }): Promise<FaultLink> {
  const pairs = new Set<Pair>();
  let cut = false;
  let stalled = false;
  const deliver = (p: Pair, dst: Socket, b: Buffer) => {
    if (stalled && p.listens) p.held.push({ to: dst, b });
    else if (!dst.destroyed) dst.write(b);
  };
  const server: Server = createServer((client) => {
    client.on('error', () => undefined);
    if (cut) return void client.destroy();
    const upstream = createConnection(to);
    upstream.on('error', () => undefined);
    const p: Pair = { client, upstream, listens: false, held: [] };
    pairs.add(p);
    client.on('data', (b: Buffer) => {
      // The query text travels in the clear on loopback: a LISTEN marks the gateway's notification connection.
      if (b.includes(LISTEN)) p.listens = true;
      deliver(p, upstream, b);
    });
    upstream.on('data', (b: Buffer) => deliver(p, client, b));
    const end = () => {
      pairs.delete(p);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      cut = true;
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.upstream.destroy();
      }
    },
    restore() {
      cut = false;
    },
    stallListeners() {
      stalled = true;
    },
    resumeListeners() {
      stalled = false;
      for (const p of pairs) for (const { to: dst, b } of p.held.splice(0)) if (!dst.destroyed) dst.write(b);
    },
    listeners: () => [...pairs].filter((p) => p.listens).length,
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
