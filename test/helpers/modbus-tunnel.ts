// Modbus/TCP peers for the conduit's tests: Debian's pymodbus server and client, and a vendor's `ssh -L` tunnel through the gateway.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './ports.js';
import { type SshGateway, TARGET } from './ssh-gateway.js';

const run = promisify(execFile);
/** Debian's python, which has python3-pymodbus (the pyenv one first on PATH does not). */
export const PYTHON = '/usr/bin/python3';
const SCRIPTS = join(import.meta.dirname, 'modbus');

/** A pymodbus server on a free loopback port: holding register i holds i + 1 as the client reads it (pymodbus offsets by one). */
export async function startModbusServer(): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const child: ChildProcess = spawn(PYTHON, [join(SCRIPTS, 'server.py'), String(port)], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  if (!(await waitForPort(port, { timeoutMs: 20_000, isAlive: () => child.exitCode === null }))) {
    child.kill();
    throw new Error('the pymodbus server did not start (is python3-pymodbus with python3-serial-asyncio installed?)');
  }
  return { port, stop: () => void child.kill() };
}

/** The vendor's `ssh -L` to `port` through the gateway, held open by a command that waits for close(). */
export async function openTunnel(h: SshGateway, port: number): Promise<{ local: number; close(): Promise<void> }> {
  const local = await freePort();
  const stopFile = join(h.dir.path, `stop-tunnel-${local}`);
  const done = h.ssh(TARGET, {
    options: ['-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:127.0.0.1:${port}`],
    command: `while [ ! -e ${stopFile} ]; do sleep 0.2; done`,
    timeoutMs: 170_000,
  });
  if (!(await waitForPort(local, { timeoutMs: 30_000 })))
    throw new Error(
      `the tunnel did not open: ${JSON.stringify(await Promise.race([done, Promise.resolve('still running')]))}`,
    );
  return {
    local,
    close: async () => {
      await writeFile(stopFile, '');
      await done;
    },
  };
}

/** Runs pymodbus's client against `local` (see modbus/client.py for the operations); one parsed JSON line each. */
export async function modbusClient(local: number, ...ops: Array<string | number>): Promise<Array<Record<string, any>>> {
  const { stdout } = await run(PYTHON, [join(SCRIPTS, 'client.py'), String(local), ...ops.map(String)], {
    timeout: 150_000,
  });
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
}
