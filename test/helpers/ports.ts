// Loopback ports for tests: pick a free one (bind 0, read, close) and wait until a server accepts on one.
import { type AddressInfo, connect, createServer } from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves once host:port accepts a TCP connection; false if it never did within timeoutMs. */
export async function waitForPort(
  port: number,
  {
    host = '127.0.0.1',
    timeoutMs = 10_000,
    isAlive = () => true,
  }: { host?: string; timeoutMs?: number; isAlive?: () => boolean } = {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && isAlive()) {
    if (await tryConnect(host, port)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
