// The demo's SSH target: a simulated PLC engineering workstation on 127.0.0.1. Its host key and the
// key pair the gateway logs in with are made once in the demo folder, so a re-run keeps the same pin.
// Only the gateway's key for user `maint` gets in; every answer is canned (see simulated-shell.ts).
import { timingSafeEqual } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { AuthContext, Connection, ServerChannel, Session } from 'ssh2';
import { loadHostKeys, Server, utils } from '../ssh/ssh.js';
import { runCommand, SIM_USER, SimulatedShell } from './simulated-shell.js';

export const TARGET_HOST_KEY_FILE = 'demo-target-host-key';
/** The gateway's credential for the target (config/demo.yaml: `credential: { file: demo-target-key }`). */
export const TARGET_CLIENT_KEY_FILE = 'demo-target-key';
/** The simulated PLC's port, reachable only as an SSH forward (config/demo.yaml: forwarding). */
export const SIM_PLC_PORT = 10102;

export interface SimulatedTargetOptions {
  dir: string;
  /** Default 2223; 0 picks a free port. */
  port?: number;
}

export interface SimulatedTarget {
  host: string;
  port: number;
  /** `SHA256:…` of the target's host key: the gateway's pin. */
  hostKeySha256: string;
  /** The private key the gateway logs in with (mode 0600). */
  clientKeyPath: string;
  close(): Promise<void>;
}

export async function startSimulatedTarget(opts: SimulatedTargetOptions): Promise<SimulatedTarget> {
  const dir = resolve(opts.dir);
  const clientKeyPath = join(dir, TARGET_CLIENT_KEY_FILE);
  // loadHostKeys creates a missing ed25519 key (0600, checked against ssh2's key-generation bug) and loads it.
  const [hostKey, clientKey] = await loadHostKeys([join(dir, TARGET_HOST_KEY_FILE), clientKeyPath]);
  const allowed = utils.parseKey(clientKey!.privateKey);
  if (allowed instanceof Error) throw new Error(`${clientKeyPath}: ${allowed.message}`);
  const allowedBlob = allowed.getPublicSSH();
  const startedAt = Date.now();
  const clients = new Set<Connection>();

  const keyMatches = (ctx: AuthContext): boolean => {
    if (ctx.method !== 'publickey' || ctx.username !== SIM_USER || ctx.key.algo !== allowed.type) return false;
    const data = ctx.key.data;
    return data.length === allowedBlob.length && timingSafeEqual(data, allowedBlob);
  };

  const server = new Server({ hostKeys: [hostKey!.privateKey], ident: 'GatehouseDemoTarget_1.0' }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined); // a dropped peer is not the demo's problem
    client.on('authentication', (ctx) => {
      if (!keyMatches(ctx) || ctx.method !== 'publickey') return ctx.reject(['publickey']);
      if (!ctx.signature) return ctx.accept(); // the client asks whether this key would do
      if (ctx.blob && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
      return ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => serveSession(acceptSession(), startedAt));
      client.on('tcpip', (accept, reject, info) => {
        if (info.destPort !== SIM_PLC_PORT || !['127.0.0.1', 'localhost'].includes(info.destIP)) return reject();
        simulatedPlcEcho(accept());
      });
      client.on('request', (accept, reject) => reject?.());
    });
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(new Error(`demo target: cannot listen on 127.0.0.1:${opts.port ?? 2223} (${err.code ?? err.message})`)),
    );
    server.listen(opts.port ?? 2223, '127.0.0.1', () => ok());
  });
  server.on('error', () => undefined);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 2223);
  return {
    host: '127.0.0.1',
    port,
    hostKeySha256: hostKey!.fingerprint,
    clientKeyPath,
    close: async () => {
      for (const c of clients) c.end();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

function serveSession(session: Session, startedAt: number): void {
  let pty = false;
  session.on('pty', (accept) => {
    pty = true;
    accept?.();
  });
  session.on('window-change', (accept) => accept?.());
  session.on('env', (accept) => accept?.());
  session.on('signal', (accept) => accept?.());
  session.on('auth-agent', (_accept, reject) => reject?.());
  session.on('x11', (_accept, reject) => reject?.());
  // No SFTP on the simulated workstation: the request is refused and the client says so.
  session.on('subsystem', (_accept, reject) => reject?.());
  session.on('shell', (accept) => {
    const ch = accept();
    const shell = new SimulatedShell(
      (text) => {
        if (ch.writable) ch.write(text);
      },
      (code) => endChannel(ch, code),
      startedAt,
    );
    ch.on('data', (d: Buffer) => shell.input(d));
    ch.on('error', () => undefined);
    shell.start();
  });
  session.on('exec', (accept, _reject, info) => {
    const ch = accept();
    ch.on('error', () => undefined);
    const nl = pty ? '\r\n' : '\n';
    const r = runCommand(info.command, startedAt);
    const text = r.lines.map((l) => `${l}${nl}`).join('');
    if (r.code === 0) ch.write(text);
    else ch.stderr.write(text);
    endChannel(ch, r.code);
  });
}

function endChannel(ch: ServerChannel, code: number): void {
  try {
    ch.exit(code);
  } catch {
    // already closed by the client
  }
  ch.end();
}

/** `direct-tcpip` to the simulated PLC's port: answered in-process with a labelled echo. */
function simulatedPlcEcho(ch: ServerChannel): void {
  ch.on('error', () => undefined);
  ch.write('simulated S7 PLC (Gatehouse demo) — echo service, not a real PLC\r\n');
  ch.on('data', (d: Buffer) => {
    if (ch.writable) ch.write(d);
  });
  ch.on('end', () => ch.end());
}
