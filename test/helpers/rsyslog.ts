// A private rsyslogd per test (Debian's real one): imtcp on a loopback port, plain or TLS (gnutls), writing every
// message to a file in RFC 5424 form, as a SIEM's collector would keep it. Stop and start it to play an outage.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

export const RSYSLOGD = '/usr/sbin/rsyslogd';

export interface TestCa {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with openssl in `dir`. */
export function makeTestCa(dir: string, name = 'siem'): TestCa {
  const p = (f: string) => join(dir, `${name}-${f}`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
  ]);
  run(['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  execFileSync('sh', [
    '-c',
    `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > '${p('ext')}'`,
  ]);
  run([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('server.pem'),
    '-days',
    '2',
    '-extfile',
    p('ext'),
  ]);
  return { caFile: p('ca.pem'), certFile: p('server.pem'), keyFile: p('server.key') };
}

export interface Rsyslog {
  port: number;
  /** Where rsyslog writes what it received. */
  file: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The file's lines so far. */
  lines(): Promise<string[]>;
}

export async function rsyslogIn(dir: string, opts: { tls?: TestCa } = {}): Promise<Rsyslog> {
  const port = await freePort();
  const file = join(dir, 'siem.log');
  const conf = join(dir, 'rsyslog.conf');
  const t = opts.tls;
  await writeFile(
    conf,
    [
      `global(workDirectory="${dir}" maxMessageSize="256k"${t ? ` defaultNetstreamDriverCAFile="${t.caFile}" defaultNetstreamDriverCertFile="${t.certFile}" defaultNetstreamDriverKeyFile="${t.keyFile}"` : ''})`,
      t
        ? 'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")'
        : 'module(load="imtcp")',
      `input(type="imtcp" address="127.0.0.1" port="${port}")`,
      `action(type="omfile" file="${file}" template="RSYSLOG_SyslogProtocol23Format")`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let stderr = '';
  const r: Rsyslog = {
    port,
    file,
    async start() {
      stderr = '';
      const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      c.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
      child = c;
      const up = await waitForPort(port, { timeoutMs: 20_000, isAlive: () => c.exitCode === null });
      if (!up) throw new Error(`rsyslogd did not start: ${stderr}`);
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
      });
    },
    async lines() {
      const text = await readFile(file, 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean);
    },
  };
  await r.start();
  return r;
}

/** Seq → every hash received for it, from the structured data rsyslog kept. */
export function receivedBySeq(lines: string[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const l of lines) {
    const m = /\[gatehouse@32473 seq="(\d+)" hash="([0-9a-f]{64})"/.exec(l);
    if (!m) continue;
    const seq = Number(m[1]);
    out.set(seq, [...(out.get(seq) ?? []), m[2]!]);
  }
  return out;
}
