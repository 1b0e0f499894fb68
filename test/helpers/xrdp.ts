// A real xrdp (Debian's) for tests: foreground, loopback, free port, its own xrdp.ini, log and a certificate made
// here with the openssl CLI, so tests know its fingerprint independently of our code. Never a silent skip.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './ports.js';
import { requireBinary } from './sshd.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);
export const XRDP = '/usr/sbin/xrdp';
const OPENSSL = '/usr/bin/openssl';
const UNSHARE = '/usr/bin/unshare';
/** Compiled into xrdp: it refuses to start, even with --nodaemon, while this file exists (a system xrdp runs). */
const SYSTEM_PID_DIR = '/var/run/xrdp';

export interface Xrdp {
  host: '127.0.0.1';
  port: number;
  /** `openssl x509 -noout -fingerprint -sha256` of the served certificate, lower-case (the certSha256 form). */
  certSha256: string;
  /** notBefore / notAfter as openssl prints them. */
  notBefore: string;
  notAfter: string;
  dir: string;
  logPath: string;
  /** SIGTERM (SIGKILL after 5 s), then removes the temp dir. */
  stop(): Promise<void>;
}

export interface XrdpOptions {
  /** xrdp.ini security_layer: negotiate (TLS if the client offers it), tls, or rdp (legacy only). */
  securityLayer?: 'negotiate' | 'tls' | 'rdp';
  /** Certificate subject, openssl -subj form (default /CN=eng-ws-01). */
  subject?: string;
  /** Point xrdp at a certificate that does not exist (it then answers SSL_CERT_NOT_ON_SERVER). */
  missingCertificate?: boolean;
  startTimeoutMs?: number;
}

function xrdpIni(o: { dir: string; port: number; securityLayer: string; cert: string; key: string }): string {
  return [
    '[Globals]',
    'ini_version=1',
    'fork=false',
    `port=tcp://127.0.0.1:${o.port}`,
    `security_layer=${o.securityLayer}`,
    'crypt_level=high',
    `certificate=${o.cert}`,
    `key_file=${o.key}`,
    'ssl_protocols=TLSv1.2, TLSv1.3',
    '[Logging]',
    `LogFile=${join(o.dir, 'xrdp.log')}`,
    'LogLevel=INFO',
    'EnableSyslog=false',
    'EnableConsole=false',
    '[Channels]',
    '',
  ].join('\n');
}

export async function startXrdp(opts: XrdpOptions = {}): Promise<Xrdp> {
  requireBinary(XRDP, 'xrdp');
  requireBinary(OPENSSL, 'openssl');
  const tmp = await tempDir('gatehouse-xrdp-');
  const dir = tmp.path;
  try {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const subject = opts.subject ?? '/CN=eng-ws-01';
    await run(
      OPENSSL,
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', subject],
      { timeout: 30_000 },
    );
    const info = (await run(OPENSSL, ['x509', '-noout', '-fingerprint', '-sha256', '-dates', '-in', cert])).stdout;
    const fp = /Fingerprint=([0-9A-F:]+)/i.exec(info)?.[1];
    const notBefore = /notBefore=(.+)/.exec(info)?.[1];
    const notAfter = /notAfter=(.+)/.exec(info)?.[1];
    if (!fp || !notBefore || !notAfter) throw new Error(`unexpected openssl x509 output: ${info}`);
    const logPath = join(dir, 'xrdp.log');
    const outPath = join(dir, 'xrdp.out');
    const iniPath = join(dir, 'xrdp.ini');
    // With a system xrdp running, start ours in a private mount namespace where its pid folder is empty.
    const privateRun = existsSync(join(SYSTEM_PID_DIR, 'xrdp.pid'));
    if (privateRun) await requireUnshare();

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const missing = opts.missingCertificate;
      await writeFile(
        iniPath,
        xrdpIni({
          dir,
          port,
          securityLayer: opts.securityLayer ?? 'negotiate',
          cert: missing ? join(dir, 'none.pem') : cert,
          key: missing ? join(dir, 'none.key') : key,
        }),
      );
      const fd = openSync(outPath, 'a');
      const child = privateRun
        ? spawn(
            UNSHARE,
            [
              '--mount',
              '--propagation',
              'private',
              '--',
              'sh',
              '-c',
              'mount --bind "$1" "$2" && exec "$3" --nodaemon --config "$4"',
              'sh',
              dir,
              SYSTEM_PID_DIR,
              XRDP,
              iniPath,
            ],
            { stdio: ['ignore', fd, fd] },
          )
        : spawn(XRDP, ['--nodaemon', '--config', iniPath], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const killOnExit = () => child.kill('SIGKILL');
      process.once('exit', killOnExit);
      const alive = () => child.exitCode === null && child.signalCode === null;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const stopChild = async () => {
        process.removeListener('exit', killOnExit);
        if (!alive()) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      };
      const up = await waitForPort(port, { timeoutMs: opts.startTimeoutMs ?? 10_000, isAlive: alive });
      if (up && alive()) {
        return {
          host: '127.0.0.1',
          port,
          certSha256: fp.toLowerCase(),
          notBefore,
          notAfter,
          dir,
          logPath,
          stop: async () => {
            await stopChild();
            await tmp.remove();
          },
        };
      }
      await stopChild();
      const log = `${await readFile(outPath, 'utf8').catch(() => '')}${await readFile(logPath, 'utf8').catch(() => '')}`;
      // Another process may take the port between freePort() and xrdp's bind: try a new one.
      if (/trans_listen_address failed/.test(log) && attempt < 3) continue;
      throw new Error(`xrdp did not come up on 127.0.0.1:${port} (attempt ${attempt}); its output and log:\n${log}`);
    }
  } catch (e) {
    await tmp.remove();
    throw e;
  }
}

async function requireUnshare(): Promise<void> {
  const why = `a system xrdp is running (${SYSTEM_PID_DIR}/xrdp.pid exists) and xrdp refuses a second instance`;
  if (!existsSync(UNSHARE) || process.getuid?.() !== 0)
    throw new Error(
      `${why}; starting a private one needs root and ${UNSHARE} (util-linux). Stop the system xrdp or run as root.`,
    );
}
