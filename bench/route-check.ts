// Proof that a path went where it claims: the kernel names the process holding the TCP connection the target sshd sees.
import { once } from 'node:events';
import { isBelow, socketOwner } from './proc.js';
import type { World } from './world.js';

export type Hop = 'ssh client' | 'jump sshd' | 'gatehouse' | 'unknown';

export interface Route {
  /** Who holds the target's peer socket. */
  hop: Hop;
  /** $SSH_CONNECTION on the target: "client-ip client-port server-ip server-port". */
  sshConnection: string;
}

/**
 * Opens a session along `path`, reads $SSH_CONNECTION on the target, and while the session is still
 * open asks /proc which process owns the client end of that connection.
 */
export async function traceRoute(world: World, path: string): Promise<Route> {
  const child = world.ssh(path, { command: 'echo "$SSH_CONNECTION"; exec cat >/dev/null' });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const closed = once(child, 'close');
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${path}: no $SSH_CONNECTION within 30 s; stderr: ${err}`)),
        30_000,
      );
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl).trim());
        }
      });
      child.once('close', (code) => reject(new Error(`${path}: ssh exited (${code}) before printing; stderr: ${err}`)));
    });
    const port = Number(line.split(' ')[1]);
    const owner = Number.isInteger(port) ? await socketOwner(port) : undefined;
    let hop: Hop = 'unknown';
    if (owner !== undefined) {
      if (owner === child.pid) hop = 'ssh client';
      else if (await isBelow(owner, world.jump.pid)) hop = 'jump sshd';
      else if ([...world.gateways.values()].some((g) => g.pid === owner)) hop = 'gatehouse';
    }
    return { hop, sshConnection: line };
  } finally {
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await closed;
    clearTimeout(timer);
  }
}

export const EXPECTED_HOP: Record<string, Hop> = { direct: 'ssh client', proxyjump: 'jump sshd' };
export const expectedHop = (path: string): Hop => EXPECTED_HOP[path] ?? 'gatehouse';
