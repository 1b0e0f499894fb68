// The bench's world: a target sshd, a ProxyJump sshd, Gatehouse children, and one ssh_config naming every path.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminalText } from './recorder.js';
import { type GatehouseChild, startGatehouse } from './gatehouse.js';
import { TARGET_ID } from './gatehouse-spec.js';
import { type BenchSshd, keygen, osUser, requireBinaries, SSH, startSshd } from './openssh.js';

export type PathName = 'direct' | 'proxyjump' | 'gatehouse';
export const PATHS: readonly PathName[] = ['direct', 'proxyjump', 'gatehouse'];
export const PATH_LABEL: Record<PathName, string> = {
  direct: 'direct',
  proxyjump: 'ProxyJump',
  gatehouse: 'Gatehouse',
};

/**
 * What gen.sh repeats: whole lines of terminal text, 64 KiB with the newline yes(1) adds, so every
 * multiple of 64 KiB ends on a line (never inside a UTF-8 character: the recording's text must match
 * the bytes exactly). It starts with a word: yes(1) would read a leading `-rw-r--r--` as an option.
 */
function generatorBlock(): Buffer {
  const size = 64 * 1024 - 1;
  const text = Buffer.from(`total 4096\r\n${terminalText(2 * size).toString('utf8')}`).subarray(0, size);
  const whole = text.lastIndexOf('\r\n') + 2;
  return Buffer.concat([text.subarray(0, whole), Buffer.alloc(size - whole, '.')]);
}

export interface World {
  dir: string;
  target: BenchSshd;
  jump: BenchSshd;
  /** Gatehouse children by ssh_config alias ('gatehouse' records; others as started). */
  gateways: Map<string, GatehouseChild>;
  /** `sh <gen> N` on the target prints N bytes of terminal text (ANSI colours, UTF-8, CRLF); N a multiple of 64 KiB. */
  gen: string;
  /** A local file of terminal text for client → target uploads. */
  uploadFile(bytes: number): Promise<string>;
  startGatehouse(
    alias: string,
    o: { vendors: number; recording: boolean; cpuProfileDir?: string },
  ): Promise<GatehouseChild>;
  /** Spawns /usr/bin/ssh along `path` (a path name or a gateway alias); `tty` asks for a pty (-tt). */
  ssh(
    path: PathName | string,
    o?: { tty?: boolean; command?: string; stdin?: 'pipe' | 'ignore' | number; options?: string[] },
  ): ChildProcess;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  requireBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'));
  const user = osUser();
  const clientKey = join(dir, 'client_ed25519');
  const clientPublic = await keygen(clientKey, 'gatehouse-bench-client');
  // The gateway authenticates to the target with its own key (the injected credential), not the vendor's.
  const gatewayKey = join(dir, 'gateway_to_target_ed25519');
  const gatewayPublic = await keygen(gatewayKey, 'gatehouse-bench-gateway');
  const targetKeys = join(dir, 'target_authorized_keys');
  await writeFile(targetKeys, `${clientPublic}\n${gatewayPublic}\n`, { mode: 0o600 });
  const jumpKeys = join(dir, 'jump_authorized_keys');
  await writeFile(jumpKeys, `${clientPublic}\n`, { mode: 0o600 });
  const gen = join(dir, 'gen.sh');
  await writeFile(join(dir, 'block.txt'), generatorBlock());
  // yes(1) repeats the block at memory speed, head(1) cuts it exactly: the generator never limits a path.
  await writeFile(gen, `yes "$(cat '${join(dir, 'block.txt')}')" | head -c "$1"\n`);

  const target = await startSshd('target', join(dir, 'target'), targetKeys);
  let jump: BenchSshd;
  try {
    jump = await startSshd('jump', join(dir, 'jump'), jumpKeys);
  } catch (err) {
    await target.stop();
    throw err;
  }
  const gateways = new Map<string, GatehouseChild>();
  const sshConfig = join(dir, 'ssh_config');
  const knownHosts = join(dir, 'known_hosts');

  const writeClientConfig = async () => {
    const hosts = [
      `[127.0.0.1]:${target.port} ${target.hostKeyPublic}`,
      `[127.0.0.1]:${jump.port} ${jump.hostKeyPublic}`,
      ...[...gateways.values()].map((g) => `[127.0.0.1]:${g.sshPort} ${g.hostKeyPublic}`),
    ];
    await writeFile(knownHosts, `${hosts.join('\n')}\n`);
    const block = (alias: string, lines: string[]) => [`Host ${alias}`, ...lines.map((l) => `  ${l}`)];
    await writeFile(
      sshConfig,
      [
        ...block('direct', ['HostName 127.0.0.1', `Port ${target.port}`, `IdentityFile ${clientKey}`]),
        ...block('jump', ['HostName 127.0.0.1', `Port ${jump.port}`, `IdentityFile ${clientKey}`]),
        ...block('proxyjump', [
          'HostName 127.0.0.1',
          `Port ${target.port}`,
          `IdentityFile ${clientKey}`,
          'ProxyJump jump',
        ]),
        // The vendor's key comes with -i per login; TOTP through SSH_ASKPASS (see gatehouse.ts).
        ...[...gateways.values()].flatMap((g) =>
          block(g.alias, [
            'HostName 127.0.0.1',
            `Port ${g.sshPort}`,
            `User ${TARGET_ID}`,
            'BatchMode no',
            'PreferredAuthentications publickey,keyboard-interactive',
            'NumberOfPasswordPrompts 1',
          ]),
        ),
        // First match wins in ssh_config: the defaults go last.
        ...block('*', [
          `User ${user}`,
          'BatchMode yes',
          'IdentitiesOnly yes',
          'StrictHostKeyChecking yes',
          `UserKnownHostsFile ${knownHosts}`,
          'GlobalKnownHostsFile /dev/null',
          'UpdateHostKeys no',
          'LogLevel ERROR',
          'ConnectTimeout 30',
          'EscapeChar none',
          'ControlMaster no',
          'ControlPath none',
        ]),
        '',
      ].join('\n'),
    );
  };
  await writeClientConfig();

  const world: World = {
    dir,
    target,
    jump,
    gateways,
    gen,
    async uploadFile(bytes) {
      const path = join(dir, `upload-${bytes}.txt`);
      await writeFile(path, terminalText(bytes));
      return path;
    },
    async startGatehouse(alias, o) {
      const g = await startGatehouse({
        alias,
        dir: join(dir, alias),
        target: { port: target.port, username: user, hostKeySha256: target.hostKeySha256, credentialFile: gatewayKey },
        ...o,
      });
      gateways.set(alias, g);
      await writeClientConfig();
      return g;
    },
    ssh(path, o = {}) {
      const g = gateways.get(path);
      const login = g?.login();
      const argv = [
        '-F',
        sshConfig,
        ...(o.options ?? []),
        ...(o.tty ? ['-tt'] : []),
        ...(login ? ['-i', login.keyPath] : []),
        path,
      ];
      if (o.command !== undefined) argv.push(o.command);
      return spawn(SSH, argv, {
        env: { PATH: process.env.PATH, HOME: dir, ...login?.env },
        stdio: [o.stdin ?? 'pipe', 'pipe', 'pipe'],
      });
    },
    async stop() {
      for (const g of gateways.values()) await g.stop().catch(() => undefined);
      await jump.stop();
      await target.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
  return world;
}
