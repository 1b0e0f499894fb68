// A slow network link for tests: a TCP relay on loopback that delivers every chunk `delayMs` after it came, in order (a WAN to a remote site).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface LatencyLink {
  port: number;
  close(): Promise<void>;
}

/** Relays 127.0.0.1:<port> to `to` with `delayMs` one way in each direction. */
export async function startLatencyLink(to: { host: string; port: number }, delayMs: number): Promise<LatencyLink> {
  const sockets = new Set<Socket>();
  const later = (from: Socket, dst: Socket) => {
    from.on('data', (b: Buffer) => void setTimeout(() => dst.destroyed || dst.write(b), delayMs));
    from.on('end', () => void setTimeout(() => dst.end(), delayMs));
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection(to);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    later(client, upstream);
    later(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
