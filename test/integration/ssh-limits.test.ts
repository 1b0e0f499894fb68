// The SSH front's login limits against hostile clients: login grace time, per-IP caps with summarised audit,
// and malformed protocol input (garbage, endless banner, 4 GiB packet length) — none of it disturbs a live session.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Client, type ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../gateway/log.js';
import { type RunningSsh, startSshServer, type SshServerOptions } from '../../gateway/ssh/server.js';
import { type AuditLine, type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell } from '../helpers/ssh-vendor.js';

let h: SshGateway;
const extra: RunningSsh[] = [];

beforeAll(async () => {
  h = await startSshGateway();
  await h.grant();
}, 60_000);
afterAll(async () => {
  for (const s of extra) await s.close();
  await h?.close();
});

/** A second SSH front on the same gateway state, with the limits a test needs. */
async function front(o: Pick<SshServerOptions, 'loginGraceMs' | 'maxUnauthPerIp' | 'maxUnauth'>): Promise<RunningSsh> {
  const { gw } = h;
  const s = await startSshServer({
    deps: {
      config: gw.config,
      store: gw.store,
      audit: gw.audit,
      commands: gw.commands,
      clock: h.clock,
      logger: silentLogger,
      storageDir: gw.storageDir,
    },
    registry: gw.liveSessions,
    listen: '127.0.0.1:0',
    ...o,
  });
  extra.push(s);
  return s;
}

function vendorOn(port: number): Promise<Client> {
  const code = h.freshCode();
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => code)));
    c.connect({
      host: '127.0.0.1',
      port,
      username: TARGET,
      privateKey: readFileSync(h.vendor.keyPath),
      tryKeyboard: true,
      readyTimeout: 15_000,
      hostVerifier: () => true,
    });
  });
}

/** A live shell and a check that it still echoes. */
async function liveShell(port: number) {
  const c = await vendorOn(port);
  c.on('error', () => undefined);
  const ch: ClientChannel = await openShell(c);
  const out = collect(ch);
  let n = 0;
  const echoes = async () => {
    n++;
    ch.write(`echo alive-$((${n}*1000+7))\n`);
    // Generous: the target's first shell start takes seconds on a loaded machine (a bound, not a timing check).
    await out.until(new RegExp(`alive-${n * 1000 + 7}\\r?\\n`), 30_000);
  };
  await echoes();
  return { c, echoes };
}

interface Raw {
  sock: Socket;
  /** Everything received. */
  data(): Buffer;
  /** Resolves with ms from connect until close, or -1 if still open after `ms`. */
  closed(ms: number): Promise<number>;
  banner(ms?: number): Promise<string>;
}

function raw(port: number, localAddress?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    const t0 = Date.now();
    const got: Buffer[] = [];
    let closedAt = 0;
    sock.on('data', (b: Buffer) => got.push(b));
    sock.on('error', () => undefined);
    const done = new Promise<void>((r) => sock.once('close', () => ((closedAt = Date.now()), r())));
    sock.once('connect', () =>
      resolve({
        sock,
        data: () => Buffer.concat(got),
        closed: async (ms) => {
          await Promise.race([done, new Promise((r) => setTimeout(r, ms))]);
          return closedAt ? closedAt - t0 : -1;
        },
        banner: async (ms = 5000) => {
          const end = Date.now() + ms;
          while (!Buffer.concat(got).includes('\n')) {
            if (Date.now() > end || closedAt) throw new Error('no server banner');
            await new Promise((r) => setTimeout(r, 10));
          }
          return Buffer.concat(got).toString('latin1').split('\n')[0]!;
        },
      }),
    );
    sock.once('error', reject);
  });
}

const refusals = async (code: string) =>
  ((await h.audit()) as AuditLine[]).filter((a) => a.type === 'session.refused' && a.data?.code === code);

describe('login grace time', () => {
  it('cuts a connection that never authenticates after loginGraceMs, and audits it', async () => {
    const s = await front({ loginGraceMs: 500 });
    const r = await raw(s.port);
    expect(await r.banner()).toMatch(/^SSH-2\.0-Gatehouse/);
    r.sock.write('SSH-2.0-idle_client\r\n');
    const ms = await r.closed(5000);
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(3000);
    await h.waitAudit('session.refused', (a) => a.data?.code === 'login_grace_expired');
  });

  it('does not cut a session that authenticated in time', async () => {
    const s = await front({ loginGraceMs: 3000 });
    const { c, echoes } = await liveShell(s.port);
    await new Promise((r) => setTimeout(r, 3500));
    await echoes();
    c.end();
  }, 90_000);
});

describe('login grace time from TCP accept', () => {
  it('cuts a socket that never sends a byte, and a client that sends its identification one byte at a time', async () => {
    const s = await front({ loginGraceMs: 1500 });
    const before = (await refusals('login_grace_expired')).length;
    const silent = await raw(s.port);
    const slow = await raw(s.port);
    const ident = Buffer.from('SSH-2.0-slow_client_that_never_ends_its_identification_line');
    let sent = 0;
    const drip = setInterval(() => {
      if (!slow.sock.destroyed) slow.sock.write(ident.subarray(sent % ident.length, (sent % ident.length) + 1));
      sent++;
    }, 200);
    try {
      expect(await silent.closed(20_000)).toBeGreaterThanOrEqual(0);
      expect(await slow.closed(20_000)).toBeGreaterThanOrEqual(0);
    } finally {
      clearInterval(drip);
    }
    expect(sent).toBeGreaterThan(3); // it was still sending when it was cut
    await h.waitAudit('session.refused', (a) => a.data?.code === 'login_grace_expired' && a.data?.ip === '127.0.0.1');
    expect((await refusals('login_grace_expired')).length).toBeGreaterThan(before);
  }, 30_000);
});

describe('total cap on unauthenticated connections', () => {
  it('a silent flood from many loopback addresses does not lock a real user out: the oldest silent socket makes room', async () => {
    const perIp = 5;
    const sources = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 10}`);
    const s = await front({ loginGraceMs: 120_000, maxUnauthPerIp: perIp, maxUnauth: perIp * sources.length });
    const flood = (await Promise.all(
      sources.flatMap((ip) => Array.from({ length: perIp }, () => raw(s.port, ip))),
    )) as Raw[];
    for (const r of flood) expect(await r.closed(0)).toBe(-1); // all held, the cap is full
    const t0 = Date.now();
    const r = await h.ssh(TARGET, {
      port: s.port,
      options: ['-o', `HostKeyAlias=[127.0.0.1]:${h.port}`],
      command: 'echo through-the-flood',
    });
    console.log(`login through a full cap of ${flood.length} silent sockets took ${Date.now() - t0} ms`);
    expect(r.stdout).toBe('through-the-flood\n');
    expect(r.code).toBe(0);
    // Exactly the oldest silent socket gave its slot; the grace time (2 min) cut none of them.
    const cut = [];
    for (const [i, f] of flood.entries()) if ((await f.closed(0)) >= 0) cut.push(i);
    expect(cut).toEqual([0]);
    await h.waitAudit('session.refused', (a) => a.data?.code === 'too_many_connections' && a.data?.ip === sources[0]);
    for (const f of flood) f.sock.destroy();
  }, 60_000);
});

describe('per-IP cap on unauthenticated connections', () => {
  it('refuses connections over maxUnauthPerIp before the handshake, keeps an authenticated session working, audits one summary per burst', async () => {
    const s = await front({ maxUnauthPerIp: 3 });
    const live = await liveShell(s.port); // authenticated first: it holds no unauthenticated slot
    const before = (await refusals('too_many_connections_from_ip')).length;
    const holders = await Promise.all([1, 2, 3].map(() => raw(s.port)));
    for (const r of holders) expect(await r.banner()).toMatch(/^SSH-2\.0-Gatehouse/);
    const flood = await Promise.all(Array.from({ length: 12 }, () => raw(s.port)));
    for (const r of flood) {
      expect(await r.closed(3000)).toBeGreaterThanOrEqual(0);
      expect(r.data().length).toBe(0); // refused before any banner or key exchange
    }
    for (const r of holders) expect(await r.closed(50)).toBe(-1);
    await live.echoes();
    // One record at the start of the burst; the rest are only counted until the burst is reported.
    await h.waitAudit('session.refused', (a) => a.data?.code === 'too_many_connections_from_ip');
    expect((await refusals('too_many_connections_from_ip')).length - before).toBe(1);
    live.c.end();
    for (const r of holders) r.sock.destroy();
    await s.close();
    // The summary append is not awaited by close.
    await h.waitAudit(
      'session.refused',
      (a) => a.data?.code === 'too_many_connections_from_ip' && a.data?.burst === 'summary',
    );
    const after = (await refusals('too_many_connections_from_ip')).slice(before);
    expect(after.map((a) => [a.data?.burst, a.data?.count])).toEqual([
      ['first', undefined],
      ['summary', 11],
    ]);
    // A slot frees once the holders are gone: a new login on the main front works.
    await (await vendorOn(h.port)).end();
  }, 90_000);
});

describe('malformed protocol input', () => {
  let live: Awaited<ReturnType<typeof liveShell>>;
  beforeAll(async () => {
    live = await liveShell(h.port);
  }, 90_000);
  afterAll(() => live?.c.end());

  it('garbage bytes instead of an SSH banner are disconnected; the live session still echoes', async () => {
    const r = await raw(h.port);
    await r.banner();
    r.sock.write(
      Buffer.concat([
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) & 0xff)),
      ]),
    );
    expect(await r.closed(5000)).toBeGreaterThanOrEqual(0);
    await live.echoes();
  });

  it('an endless banner line is disconnected without being buffered forever; the live session still echoes', async () => {
    const r = await raw(h.port);
    await r.banner();
    r.sock.write('SSH-2.0-');
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    const t0 = Date.now();
    while (!r.sock.destroyed && !r.sock.writableEnded && Date.now() - t0 < 5000 && sent < 64 * 1024 * 1024) {
      if (!r.sock.write(chunk)) await Promise.race([new Promise((res) => r.sock.once('drain', res)), r.closed(200)]);
      sent += chunk.length;
      if ((await r.closed(0)) >= 0) break;
    }
    expect(await r.closed(5000)).toBeGreaterThanOrEqual(0);
    await live.echoes();
  }, 20_000);

  it('a packet with a 4 GiB length field is disconnected; the live session still echoes', async () => {
    const r = await raw(h.port);
    await r.banner();
    r.sock.write('SSH-2.0-OpenSSH_9.6 hostile\r\n');
    const pkt = Buffer.alloc(4 + 1 + 11);
    pkt.writeUInt32BE(0xffffffff, 0);
    pkt.writeUInt8(4, 4);
    pkt.writeUInt8(20, 5); // SSH_MSG_KEXINIT
    r.sock.write(pkt);
    expect(await r.closed(5000)).toBeGreaterThanOrEqual(0);
    await live.echoes();
  });
});
