// `gatehouse rdp-cert HOST[:PORT] | --target ID`: print an RDP server's certificate SHA-256 for targets[].rdp.certSha256
// (the RDP counterpart of `ssh-keyscan HOST | ssh-keygen -lf -`).
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { isHost, normalizeCertSha256, parseHostPort } from '../config.js';
import { printable, probeRdpCertificate, RdpProbeError } from '../rdp/rdp.js';
import { type CliIo, parseArgs } from './io.js';

const usage = `usage: gatehouse rdp-cert HOST[:PORT]                  (port default 3389)
       gatehouse rdp-cert --target ID [--config PATH]   (host and port from targets[].rdp; default config/gatehouse.yaml)
  connects like an RDP client, negotiates TLS and prints the SHA-256 of the server's certificate to pin as
  targets[].rdp.certSha256. Sends no credentials. Like ssh-keyscan it trusts the network path between here and
  the server: run it where no one can sit in between, or compare with the certificate on the server itself.
  --timeout SECONDS  bound on the whole exchange (default 10)`;

interface Where {
  host: string;
  port: number;
  /** Set for --target: the target id, the config path and the pin it holds, if any. */
  target?: { id: string; config: string; pin?: unknown };
}

/** `argv` is what follows `rdp-cert`. Exit 0 printed, 1 the server or the config failed us, 2 usage error. */
export async function runRdpCert(argv: string[], io: CliIo): Promise<number> {
  const { flags, words } = parseArgs(argv);
  if (flags.has('help')) {
    io.out(usage);
    return 0;
  }
  const bad = usageProblem(flags, words);
  if (bad) {
    io.err(`gatehouse rdp-cert: ${bad}`);
    io.err(usage);
    return 2;
  }
  const timeout = flags.get('timeout');
  const timeoutMs = typeof timeout === 'string' ? Number(timeout) * 1000 : 10_000;

  let where: Where;
  const target = flags.get('target');
  if (typeof target === 'string') {
    const config = (flags.get('config') as string | undefined) ?? 'config/gatehouse.yaml';
    const found = await fromConfig(config, target);
    if (typeof found === 'string') {
      io.err(`gatehouse rdp-cert: ${found}`);
      return 1;
    }
    where = found;
  } else {
    where = hostPortOf(words[0]!) as Where;
  }

  const shown = isIP(where.host) === 6 ? `[${where.host}]:${where.port}` : `${where.host}:${where.port}`;
  try {
    const cert = await probeRdpCertificate(where.host, where.port, { timeoutMs });
    const day = (d: Date) => (Number.isNaN(d.getTime()) ? '?' : d.toISOString().slice(0, 10));
    io.out(
      `${shown}  subject ${cert.subject}  issuer ${cert.issuer}  valid ${day(cert.validFrom)} → ${day(cert.validTo)}`,
    );
    const under = where.target ? `the rdp: of target ${where.target.id}` : 'targets[].rdp';
    io.out(`certSha256: "${cert.sha256}"     # paste under ${under}`);
    if (where.target && where.target.pin !== undefined) comparePin(io, where.target, cert.sha256);
    return 0;
  } catch (err) {
    if (!(err instanceof RdpProbeError)) throw err;
    io.err(`gatehouse rdp-cert: ${shown}: ${err.message}`);
    return 1;
  }
}

function usageProblem(flags: Map<string, string | true>, words: string[]): string | undefined {
  const unknown = [...flags.keys()].find((k) => !['target', 'config', 'timeout'].includes(k));
  if (unknown) return `unknown option --${unknown}`;
  for (const k of ['target', 'config', 'timeout']) if (flags.get(k) === true) return `--${k} needs a value`;
  const timeout = flags.get('timeout');
  if (typeof timeout === 'string') {
    const s = Number(timeout);
    if (!(s > 0 && s <= 600)) return `--timeout takes seconds, 0 < s <= 600 (got "${printable(timeout, 40)}")`;
  }
  if (flags.has('target')) {
    if (words.length > 0) return 'give HOST[:PORT] or --target ID, not both';
    return undefined;
  }
  if (flags.has('config')) return '--config only goes with --target ID';
  if (words.length === 0) return 'which server? give HOST[:PORT] or --target ID';
  if (words.length > 1) return `unexpected argument '${printable(words[1]!, 80)}'`;
  const hp = hostPortOf(words[0]!);
  return 'error' in hp ? `${printable(words[0]!, 80)}: ${hp.error}` : undefined;
}

/** HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; a bare IPv6 address is a host (as ssh reads it). */
function hostPortOf(s: string): { host: string; port: number } | { error: string } {
  if (isIP(s) === 6) return { host: s, port: 3389 };
  if (/^\[[^\]]*\]$/.test(s)) return hostPortOf(s.slice(1, -1));
  if (s.includes(':')) return parseHostPort(s);
  return isHost(s) ? { host: s, port: 3389 } : { error: 'not a hostname or IP address' };
}

/** targets[id].rdp host and port, from the YAML as written: the config may be half-done (a pin not yet
 * pasted is the very reason to run this), so it is not validated as a whole. A string is what went wrong. */
async function fromConfig(path: string, id: string): Promise<Where | string> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(path, 'utf8'));
  } catch (err) {
    return `cannot read ${path}: ${(err as Error).message.split('\n')[0]}`;
  }
  const targets = (doc as { targets?: unknown } | null)?.targets;
  const entry = Array.isArray(targets)
    ? (targets as unknown[]).find((t) => (t as { id?: unknown } | null)?.id === id)
    : undefined;
  if (!entry) return `no target '${printable(id, 80)}' in ${path}`;
  const rdp = (entry as { rdp?: unknown }).rdp as { host?: unknown; port?: unknown; certSha256?: unknown } | undefined;
  if (typeof rdp !== 'object' || rdp === null) return `target '${id}' in ${path} has no rdp section`;
  if (typeof rdp.host !== 'string' || !isHost(rdp.host))
    return `target '${id}' in ${path}: rdp.host is not a hostname or IP address`;
  const port = rdp.port ?? 3389;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    return `target '${id}' in ${path}: rdp.port is not a port number`;
  return { host: rdp.host, port, target: { id, config: path, pin: rdp.certSha256 } };
}

/** Re-running after a certificate change is the common case: say whether the config's pin still holds. */
function comparePin(io: CliIo, target: NonNullable<Where['target']>, sha256: string): void {
  const pin = typeof target.pin === 'string' ? normalizeCertSha256(target.pin) : undefined;
  if (pin === sha256) io.out(`# ${target.config} already pins this certificate for ${target.id}`);
  else if (pin === undefined)
    io.err(
      `note: ${target.config}: the certSha256 of ${target.id} is not a fingerprint (gatehouse config check says why)`,
    );
  else
    io.err(
      `warning: ${target.config} pins a different certificate for ${target.id} (${pin}): the server's certificate ` +
        'changed, or something sits in between; replace the pin only if the change was expected',
    );
}
