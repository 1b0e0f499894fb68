// `gatehouse rdp-cert`: the certificate SHA-256 of a real xrdp, checked against openssl's own fingerprint; and
// what it says to servers that are absent, stall, speak something else, refuse TLS or are hostile.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { main } from '../../gateway/main.js';
import { runCli } from '../helpers/cli.js';
import { testConfigInput } from '../helpers/config.js';
import { freePort } from '../helpers/ports.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { startXrdp, type Xrdp } from '../helpers/xrdp.js';

const run = promisify(execFile);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}
async function rdpCert(...args: string[]) {
  const c = capture();
  const code = await main(['rdp-cert', ...args], c.io);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
}
/** openssl's notBefore/notAfter ("Nov 23 13:32:37 2026 GMT") as the CLI prints a day. */
const day = (openssl: string) => new Date(openssl).toISOString().slice(0, 10);
const pinLine = (sha: string, under = 'targets[].rdp') => `certSha256: "${sha}"     # paste under ${under}`;

/** A Connection Confirm: TPKT + X.224 CC (+ RDP_NEG_RSP or RDP_NEG_FAILURE when `neg` is given). */
function confirm(neg?: { type: 2 | 3; value: number }): Buffer {
  const b = Buffer.alloc(neg ? 19 : 11);
  b.writeUInt8(3, 0);
  b.writeUInt16BE(b.length, 2);
  b.writeUInt8(b.length - 5, 4);
  b.writeUInt8(0xd0, 5);
  if (neg) {
    b.writeUInt8(neg.type, 11);
    b.writeUInt16LE(8, 13);
    b.writeUInt32LE(neg.value, 15);
  }
  return b;
}

/** A throwaway TCP server on loopback that runs `onRequest` once the client's first bytes arrive. */
async function peer(
  onRequest: (s: Socket, request: Buffer) => void,
): Promise<{ server: Server; port: number; requests: Buffer[]; closed: Promise<void> }> {
  const requests: Buffer[] = [];
  let sawClose!: () => void;
  const closed = new Promise<void>((r) => (sawClose = r));
  const server = createServer((s) => {
    s.on('error', () => {});
    s.once('close', () => sawClose());
    s.once('data', (d) => {
      requests.push(d);
      onRequest(s, d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  peers.push(server);
  return { server, port: (server.address() as { port: number }).port, requests, closed };
}
const peers: Server[] = [];

let tmp: TempDir;
let hostile: { key: string; cert: string; sha256: string };
const xrdps: Xrdp[] = [];

beforeAll(async () => {
  tmp = await tempDir('gatehouse-rdp-cert-');
  // A certificate whose subject carries a C1 control character (CSI): printed raw it would drive the terminal.
  const [key, cert] = [join(tmp.path, 'hostile.key'), join(tmp.path, 'hostile.pem')];
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-utf8',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=evil\u009b2J',
    ],
    { timeout: 30_000 },
  );
  const fp = (await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', cert])).stdout;
  hostile = {
    key: await readFile(key, 'utf8'),
    cert: await readFile(cert, 'utf8'),
    sha256: fp.split('=')[1]!.trim().toLowerCase(),
  };
});
afterAll(async () => {
  for (const s of peers) s.close();
  await Promise.all(xrdps.map((x) => x.stop()));
  await tmp?.remove();
});

async function xrdp(opts: Parameters<typeof startXrdp>[0] = {}): Promise<Xrdp> {
  const x = await startXrdp(opts);
  xrdps.push(x);
  return x;
}

describe('gatehouse rdp-cert against a real xrdp', () => {
  let negotiate: Xrdp;
  beforeAll(async () => {
    negotiate = await xrdp({ securityLayer: 'negotiate', subject: '/CN=eng-ws-01' });
  });

  it('prints the SHA-256 of the certificate exactly as openssl computes it', async () => {
    const r = await runCli(['rdp-cert', `127.0.0.1:${negotiate.port}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `127.0.0.1:${negotiate.port}  subject CN=eng-ws-01  issuer CN=eng-ws-01  valid ${day(negotiate.notBefore)} → ${day(negotiate.notAfter)}`,
      pinLine(negotiate.certSha256),
    ]);
    expect(negotiate.certSha256).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/);
  });

  it('takes host and port from --target in the config, and says whether the pin there still holds', async () => {
    const input = testConfigInput(tmp.path);
    const target = (input.targets as Record<string, unknown>[])[0]!;
    const rdp = {
      host: '127.0.0.1',
      port: negotiate.port,
      username: 'maint',
      credential: { env: 'X' },
      security: 'tls',
    };
    const config = join(tmp.path, 'gatehouse.yaml');
    const write = (extra: Record<string, unknown>) =>
      writeFile(config, stringify({ ...input, targets: [{ ...target, rdp: { ...rdp, ...extra } }] }));

    await write({});
    const r = await runCli(['rdp-cert', '--target', 'eng-ws-01', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(pinLine(negotiate.certSha256, 'the rdp: of target eng-ws-01'));
    expect(r.stderr).toBe('');

    // The same pin, written as 64 upper-case digits: recognised.
    await write({ certSha256: negotiate.certSha256.replaceAll(':', '').toUpperCase() });
    const same = await rdpCert('--target', 'eng-ws-01', '--config', config);
    expect(same.code).toBe(0);
    expect(same.out).toContain(`# ${config} already pins this certificate for eng-ws-01`);
    expect(same.err).toBe('');

    const other = '00:'.repeat(31) + '01';
    await write({ certSha256: other });
    const changed = await rdpCert('--target', 'eng-ws-01', '--config', config);
    expect(changed.code).toBe(0);
    expect(changed.out).toContain(negotiate.certSha256);
    expect(changed.err).toContain(`pins a different certificate for eng-ws-01 (${other})`);
  });

  it('reads the certificate from an xrdp that requires TLS', async () => {
    const tls = await xrdp({ securityLayer: 'tls', subject: '/O=Plant 2/CN=hmi-03' });
    const r = await rdpCert(`localhost:${tls.port}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('subject O=Plant 2, CN=hmi-03');
    expect(r.out).toContain(pinLine(tls.certSha256));
  });

  it('refuses an xrdp that only speaks legacy "rdp" security: nothing to pin', async () => {
    const legacy = await xrdp({ securityLayer: 'rdp' });
    const r = await rdpCert(`127.0.0.1:${legacy.port}`);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `gatehouse rdp-cert: 127.0.0.1:${legacy.port}: the server selected PROTOCOL_RDP: legacy "rdp" security has no certificate to pin; configure the server for security nla or tls`,
    );
  });

  it("names xrdp's RDP_NEG_FAILURE when it requires TLS but has no certificate", async () => {
    const broken = await xrdp({ securityLayer: 'tls', missingCertificate: true });
    const r = await rdpCert(`127.0.0.1:${broken.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('the server refused TLS: RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER (0x3)');
  });
});

describe('gatehouse rdp-cert against absent, slow and hostile servers', () => {
  it('says connection refused when nothing listens', async () => {
    const port = await freePort();
    const r = await runCli(['rdp-cert', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(`gatehouse rdp-cert: 127.0.0.1:${port}: connection refused (nothing listens there?)`);
  });

  it('sends a well-formed X.224 Connection Request offering TLS and NLA, and gives up on a server that stalls', async () => {
    const p = await peer(() => {});
    const r = await rdpCert(`127.0.0.1:${p.port}`, '--timeout', '0.3');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `gatehouse rdp-cert: 127.0.0.1:${p.port}: timeout: no answer within 0.3 s (waiting for the X.224 Connection Confirm)`,
    );
    // TPKT v3, length 19; X.224 CR (LI 14, 0xE0); RDP_NEG_REQ type 1, length 8, PROTOCOL_SSL | PROTOCOL_HYBRID.
    expect(p.requests[0]!.toString('hex')).toBe('030000130ee000000000000100080003000000');
    await p.closed;
  });

  it('says "not an RDP server" to something that answers HTTP, without echoing control characters', async () => {
    const p = await peer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\u001b[2J\r\n'));
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('not an RDP server: the answer is not a TPKT header ("HTTP/1.1 400 Bad Request');
    expect(r.err).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
  });

  it('rejects an oversized TPKT length at once and stops reading', async () => {
    const p = await peer((s) => {
      s.write(Buffer.from([3, 0, 0xff, 0xff]));
      s.write(Buffer.alloc(1 << 20, 0x41), () => {});
    });
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('not an RDP server: TPKT length 65535 does not fit a Connection Confirm (11..64)');
    await p.closed;
  });

  it('names the RDP_NEG_FAILURE code and why there is nothing to pin', async () => {
    const p = await peer((s) => s.end(confirm({ type: 3, value: 0x2 })));
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `gatehouse rdp-cert: 127.0.0.1:${p.port}: the server refused TLS: RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER (0x2); legacy "rdp" security has no certificate to pin; configure the server for security nla or tls`,
    );
  });

  it('explains a server that does not negotiate at all (plain Connection Confirm)', async () => {
    const p = await peer((s) => s.end(confirm()));
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'the server did not negotiate (no RDP_NEG_RSP): legacy "rdp" security has no certificate to pin',
    );
  });

  it('reports a server that hangs up half-way through its answer', async () => {
    const p = await peer((s) => s.end(confirm({ type: 2, value: 1 }).subarray(0, 7)));
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('the server closed the connection (waiting for the X.224 Connection Confirm)');
  });

  it('reports a TLS handshake failure when the server selects TLS and then does not speak it', async () => {
    const p = await peer((s) => {
      s.write(confirm({ type: 2, value: 1 }));
      s.once('data', () => s.end('this is not TLS at all\r\n'));
    });
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('TLS handshake failed');
  });

  it('completes an NLA (HYBRID) negotiation and escapes control characters in the certificate subject', async () => {
    const p = await peer((s) => {
      s.write(confirm({ type: 2, value: 2 }));
      const tls = new TLSSocket(s, { isServer: true, key: hostile.key, cert: hostile.cert });
      tls.on('error', () => {});
    });
    const r = await rdpCert(`127.0.0.1:${p.port}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('subject CN=evil\\x9b2J  issuer CN=evil\\x9b2J');
    expect(r.out).not.toContain('\u009b');
    expect(r.out).toContain(pinLine(hostile.sha256));
  });
});

describe('gatehouse rdp-cert usage', () => {
  it('exits 2 with the usage for missing, conflicting or malformed arguments', async () => {
    const none = await runCli(['rdp-cert']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('which server? give HOST[:PORT] or --target ID');
    expect(none.stderr).toContain('usage: gatehouse rdp-cert HOST[:PORT]');

    const cases: [string[], string][] = [
      [['10.0.0.1', '--target', 'eng-ws-01'], 'give HOST[:PORT] or --target ID, not both'],
      [['10.0.0.1:70000'], 'port 70000 is outside 1..65535'],
      [['bad_host!'], 'not a hostname or IP address'],
      [['10.0.0.1', '10.0.0.2'], "unexpected argument '10.0.0.2'"],
      [['10.0.0.1', '--port', '3389'], 'unknown option --port'],
      [['10.0.0.1', '--timeout', '0'], '--timeout takes seconds'],
      [['10.0.0.1', '--config', 'x.yaml'], '--config only goes with --target ID'],
      [['--target'], '--target needs a value'],
    ];
    for (const [args, message] of cases) {
      const r = await rdpCert(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toContain(message);
    }
  });

  it('exits 1 naming the problem when the config has no such target or it has no rdp', async () => {
    const config = join(tmp.path, 'targets.yaml');
    await writeFile(config, stringify(testConfigInput(tmp.path)));
    const missing = await rdpCert('--target', 'nope', '--config', config);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`no target 'nope' in ${config}`);
    const sshOnly = await rdpCert('--target', 'eng-ws-01', '--config', config);
    expect(sshOnly.code).toBe(1);
    expect(sshOnly.err).toContain(`target 'eng-ws-01' in ${config} has no rdp section`);
    const noFile = await rdpCert('--target', 'eng-ws-01', '--config', join(tmp.path, 'absent.yaml'));
    expect(noFile.code).toBe(1);
    expect(noFile.err).toContain('cannot read');
  });

  it('is listed in the top-level usage', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out.join('\n')).toContain('gatehouse rdp-cert HOST[:PORT] | --target ID [--config PATH]');
  });
});
