// `gatehouse demo`: the whole system on one machine with no setup. State lives in --dir, else in one demo folder
// kept between runs (so the SSH host key a vendor's known_hosts holds stays the same), else with --fresh in a new
// temporary folder; always printed, and never a real site's storage.
import { mkdtemp } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIo, parseArgs } from './io.js';
import { waitForSignal } from './serve.js';

export async function runDemo(argv: string[], io: CliIo): Promise<number> {
  const { flags } = parseArgs(argv);
  const given = flags.get('dir');
  const dir =
    typeof given === 'string'
      ? given
      : flags.has('fresh')
        ? await mkdtemp(join(tmpdir(), 'gatehouse-demo-'))
        : keptDemoDir();
  const nodesFlag = flags.get('nodes');
  const nodes = nodesFlag === undefined ? 1 : Number(nodesFlag);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 4) {
    io.err('gatehouse demo: --nodes takes a number from 1 to 4');
    return 2;
  }
  const postgres = flags.get('postgres');
  if (postgres !== undefined && typeof postgres !== 'string') {
    io.err('gatehouse demo: --postgres takes a URL (postgres://user@host:port/database)');
    return 2;
  }
  // Loaded only here: the embedded identity provider exists only in demo mode.
  const { DEMO_TARGET_ID, startDemo } = await import('../demo/demo.js');
  const demo = await startDemo({ dir, nodes, ...(postgres !== undefined && { postgres }) });
  const url = demo.gateway.http.url;
  const nodeLines = demo.gateways.map(
    (g) => `  node ${g.cluster?.self ?? ''}: web ${g.http.url}/  SSH 127.0.0.1:${g.ssh?.port ?? '?'}`,
  );
  const width = Math.max(...demo.people.map((p) => p.login.length));
  const vendor = demo.people.find((p) => p.groups.includes('vendors'));
  const supervisor = demo.people.find((p) => p.groups.includes('ot-supervisors'));
  const sshPort = demo.gateway.ssh?.port ?? Number(demo.config.ssh.listen.split(':').at(-1));
  const hostKeys = demo.gateway.ssh?.hostKeys ?? [];
  // Every node serves the same host key: a vendor's known_hosts names each node's port with it.
  const sshPorts = [sshPort, ...demo.gateways.slice(1).flatMap((g) => (g.ssh ? [g.ssh.port] : []))];
  // Handlers before the banner: a script that waits for it may signal at once (see serve.ts).
  const stopped = waitForSignal({ stop: () => demo.close() }, io);
  io.out(
    [
      '',
      `Gatehouse demo — ${demo.config.site.name}`,
      `  web:       ${url}/`,
      ...(nodes > 1
        ? [`  ${nodes} gateway nodes on one PostgreSQL database (any node serves anyone):`, ...nodeLines]
        : []),
      `  identity:  ${demo.idp.issuer} (embedded demo provider)`,
      `  storage:   ${demo.gateway.storageDir}${typeof given === 'string' || flags.has('fresh') ? '' : ' (kept between runs; --fresh for a new one)'}`,
      `  SSH:       127.0.0.1:${sshPort}, host key ${hostKeys.map((k) => k.fingerprint).join(', ')}`,
      `             known_hosts: ${sshPorts
        .flatMap((port) => hostKeys.map((k) => `[127.0.0.1]:${port} ${k.publicKey}`))
        .join('\n                          ')}`,
      '',
      `Demo logins (password: ${demo.people[0]?.password}); TOTP codes: oathtool --totp -b SECRET`,
      ...demo.people.map(
        (p) => `  ${p.login.padEnd(width)}  ${p.groups.join(',').padEnd(15)}  TOTP secret ${p.totpSecret}`,
      ),
      '',
      `Try an SSH session to ${DEMO_TARGET_ID} (a simulated PLC engineering workstation on port ${demo.target.port}):`,
      `  1. Sign in at ${url}/ as ${vendor?.login ?? 'the vendor'}; add your SSH public key on ${url}/keys`,
      `  2. Request access to ${DEMO_TARGET_ID}`,
      `  3. In another browser profile, sign in as ${supervisor?.login ?? 'the supervisor'} and approve it`,
      `  4. ssh -p ${sshPort} ${DEMO_TARGET_ID}@127.0.0.1`,
      `     Verification code: oathtool --totp -b ${vendor?.totpSecret ?? 'SECRET'}`,
      `     or, without an SSH client, "Open browser terminal" on the approved request's page`,
      `  5. As the supervisor, watch it live from Sessions (or ${url}/sessions/<sessionId>/watch) and terminate it`,
      '',
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );
  return stopped;
}

/** The demo folder kept between runs: under XDG_STATE_HOME (or ~/.local/state), outside any checkout. */
function keptDemoDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'gatehouse', 'demo');
}
