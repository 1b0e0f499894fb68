// The HTTP front against slow and greedy clients: slowloris headers, a trickled body, silent sockets and one
// source holding many sockets are cut while normal requests are answered; HSTS only on https answers.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../gateway/log.js';
import { createMetrics } from '../../gateway/http/metrics.js';
import { createHttpApp, type HttpLimits, type RunningHttp, startHttpServer } from '../../gateway/http/server.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const servers: RunningHttp[] = [];
let dir: TempDir;
const app = () =>
  createHttpApp({
    logger: silentLogger,
    metrics: createMetrics(),
    health: () => ({ ok: true, detail: {} }),
    webRoot: dir.path,
  });

beforeAll(async () => {
  dir = await tempDir('gh-http-slow-');
});
afterAll(async () => {
  for (const s of servers) await s.close(100);
  await dir?.remove();
});

async function serve(limits: HttpLimits): Promise<RunningHttp> {
  const s = await startHttpServer(app(), '127.0.0.1:0', limits);
  servers.push(s);
  return s;
}

interface Raw {
  sock: Socket;
  received(): string;
  /** True once the server closed it (waits up to `ms`). */
  closed(ms: number): Promise<boolean>;
}

function raw(port: number, localAddress: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    let isClosed = false;
    const done = new Promise<void>((r) => sock.once('close', () => ((isClosed = true), r())));
    sock.on('data', (b: Buffer) => (got += b.toString('latin1')));
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.off('error', reject);
      sock.on('error', () => undefined);
      resolve({
        sock,
        received: () => got,
        closed: async (ms) => (await Promise.race([done, new Promise((r) => setTimeout(r, ms))]), isClosed),
      });
    });
  });
}

/** Writes `text` one byte every `everyMs` until the socket closes or the text runs out; returns bytes sent. */
async function trickle(r: Raw, text: string, everyMs: number): Promise<number> {
  let i = 0;
  while (i < text.length && !r.sock.destroyed && !(await r.closed(everyMs))) r.sock.write(text[i++]!);
  return i;
}

describe('slow clients are cut, others are served', () => {
  it('a slowloris client (headers a byte at a time) is cut at the headers timeout while normal requests are answered', async () => {
    const s = await serve({ headersTimeoutMs: 1500, requestTimeoutMs: 3000 });
    const loris = await raw(s.port, '127.0.0.21');
    const headers = `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-Slow-${i}: ${'a'.repeat(20)}\r\n`).join('')}\r\n`;
    const sending = trickle(loris, headers, 100);
    let served = 0;
    while (!(await loris.closed(0)) && served < 500) {
      const res = await fetch(`${s.url}/healthz`);
      expect(res.status).toBe(200);
      served++;
      await new Promise((r) => setTimeout(r, 50));
    }
    const sent = await sending;
    expect(await loris.closed(20_000)).toBe(true);
    expect(sent).toBeLessThan(headers.length); // cut long before it finished
    expect(served).toBeGreaterThan(0);
    expect(loris.received()).not.toContain('200 OK');
  }, 60_000);

  it('a body trickled in is cut at the request timeout; a socket that sends nothing at the headers timeout', async () => {
    const s = await serve({ headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
    const silent = await raw(s.port, '127.0.0.22');
    const slowBody = await raw(s.port, '127.0.0.23');
    slowBody.sock.write(
      'POST /api/nothing HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n',
    );
    const body = `{"a":"${'b'.repeat(3990)}"}`;
    const sent = await trickle(slowBody, body, 100);
    expect(sent).toBeLessThan(body.length);
    expect(await slowBody.closed(20_000)).toBe(true);
    expect(await silent.closed(20_000)).toBe(true);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('one source holding maxConnectionsPerIp sockets gets no more; other sources are served', async () => {
    const s = await serve({ maxConnectionsPerIp: 5, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const held = await Promise.all(Array.from({ length: 5 }, () => raw(s.port, '127.0.0.24')));
    const extra = await raw(s.port, '127.0.0.24');
    expect(await extra.closed(10_000)).toBe(true);
    expect(extra.received()).toBe('');
    for (const h of held) expect(await h.closed(0)).toBe(false);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // A freed slot is usable again.
    held[0]!.sock.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await raw(s.port, '127.0.0.24');
    again.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await again.closed(10_000)).toBe(true);
    expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
    for (const h of held) h.sock.destroy();
  }, 30_000);
});

describe('Strict-Transport-Security', () => {
  it('is absent on plain http answers and present on https ones', async () => {
    const s = await serve({});
    expect((await fetch(`${s.url}/healthz`)).headers.get('strict-transport-security')).toBeNull();
    const key = join(dir.path, 'tls.key');
    const cert = join(dir.path, 'tls.crt');
    await run(
      '/usr/bin/openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { timeout: 20_000 },
    );
    const tls = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, app());
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = tls.address() as AddressInfo;
      const hsts = await new Promise<string | undefined>((resolve, reject) => {
        const req = connectTls(port, resolve);
        req.on('error', reject);
      });
      expect(hsts).toBe('max-age=31536000; includeSubDomains');
    } finally {
      tls.close();
      tls.closeAllConnections();
    }
  }, 30_000);
});

const connectTls = (port: number, done: (hsts: string | undefined) => void) =>
  httpsRequest({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
    res.resume();
    done(res.headers['strict-transport-security'] as string | undefined);
  }).end();
