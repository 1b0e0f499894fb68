// `gatehouse demo` with the real OpenSSH client: a vendor's `ssh -tt` through the demo gateway to the
// simulated PLC workstation — banner, shell, commands captured (one alerted), an exec over the same
// (multiplexed) connection, the recording with its command markers.
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, DEMO_TARGET_ID, startDemo } from '../../gateway/demo/run.js';
import { silentLogger } from '../../gateway/log.js';
import { spawnSsh } from '../helpers/openssh-vendor.js';
import { freePort } from '../helpers/ports.js';
import { SSH } from '../helpers/sshd.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';
import { postAs, signInDemo } from '../helpers/demo-people.js';
import { vendorSshOptions } from '../helpers/ssh-options.js';

const run = promisify(execFile);

let demo: Demo;
let dir: TempDir;
let sshPort: number;
let vendorSecret: string;
let keyPath: string;
let knownHosts: string;

const sshArgs = (login: string, extra: string[] = []) => [
  ...vendorSshOptions({ keyPath, knownHosts }),
  '-p',
  String(sshPort),
  ...extra,
  `${login}@127.0.0.1`,
];

beforeAll(async () => {
  dir = await tempDir('gh-demo-openssh-');
  sshPort = await freePort();
  demo = await startDemo({
    dir: dir.path,
    httpPort: await freePort(),
    idpPort: await freePort(),
    sshPort,
    targetPort: await freePort(),
    logger: silentLogger,
  });
  // The vendor: a key registered, a request approved by the demo supervisor (each with a step-up).
  const vendor = await signInDemo(demo, 'vendors');
  vendorSecret = vendor.secret;
  await postAs(vendor, '/api/me/step-up', { code: oathCode(vendor.secret) });
  keyPath = join(dir.path, 'vendor_ed25519');
  await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vendor@demo', '-f', keyPath]);
  await postAs(vendor, '/api/me/keys', { publicKey: await readFile(`${keyPath}.pub`, 'utf8') });
  const request = await postAs(vendor, '/api/requests', {
    targetId: DEMO_TARGET_ID,
    protocol: 'ssh',
    durationMinutes: 60,
    purpose: 'OpenSSH through the demo',
  });
  const supervisor = await signInDemo(demo, 'ot-supervisors');
  await postAs(supervisor, '/api/me/step-up', { code: oathCode(supervisor.secret) });
  expect((await postAs(supervisor, `/api/requests/${String(request.id)}/approve`, {})).state).toBe('approved');
  knownHosts = join(dir.path, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${sshPort} ${demo.gateway.ssh!.hostKeys[0]!.publicKey}\n`);
}, 60_000);
afterAll(async () => {
  await demo?.close();
  await dir?.remove();
});

async function findCasts(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && e.name.endsWith('.cast')).map((e) => join(e.parentPath, e.name));
}

describe('OpenSSH ssh through the demo gateway to the simulated PLC workstation', () => {
  it('shell with banner, commands captured (plc download alerted), exec on the same connection, recorded', async () => {
    const control = join(dir.path, 'mux.sock');
    // The step-up used this time step; a TOTP step is accepted once per user: the login takes the next.
    const h = { dir, freshCode: () => oathCode(vendorSecret, Date.now() + 30_000), sshArgs };
    const s = await spawnSsh(h, DEMO_TARGET_ID, {
      options: ['-tt', '-o', 'ControlMaster=yes', '-o', `ControlPath=${control}`],
    });
    try {
      await s.until(/SIMULATION — Gatehouse demo target[\s\S]*maint@plc-ws-sim:~\$ $/);
      s.write('plc status\r');
      await s.until(/mode: RUN[\s\S]*maint@plc-ws-sim:~\$ $/);
      s.write('plc download\r');
      await s.until(/nothing was sent[\s\S]*maint@plc-ws-sim:~\$ $/);

      // A second OpenSSH process reuses the connection (no second login): an exec channel.
      const exec = await run(SSH, [...sshArgs(DEMO_TARGET_ID, ['-o', `ControlPath=${control}`]), 'cat project.txt'], {
        timeout: 20_000,
      });
      expect(exec.stdout).toContain('TIA Portal project: Line1_Packaging');

      s.write('exit\r');
      expect(await s.exited).toBe(0);
      expect(s.text).toMatch(/\$ exit\r\nlogout\r\n/); // the simulated shell's last line reaches the vendor
    } finally {
      s.kill();
    }

    const commands = demo.gateway.commands.records.map((c) => [c.text, c.verdict]);
    expect(commands).toEqual(
      expect.arrayContaining([
        ['plc status', 'allowed'],
        ['plc download', 'alerted'],
        ['cat project.txt', 'allowed'],
      ]),
    );
    const audit = (await readFile(join(demo.gateway.storageDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(audit.find((a) => a.type === 'command.alerted')).toMatchObject({
      data: { text: 'plc download', via: 'shell', reason: 'changes PLC state' },
    });
    expect(audit.find((a) => a.type === 'command.executed' && a.data.via === 'exec')).toMatchObject({
      data: { text: 'cat project.txt' },
    });

    // The session ends when the master connection closes; its recording is sealed and holds the markers.
    await expect
      .poll(() => demo.gateway.store.data.sessions.find((x) => x.recording?.sha256)?.endReason, { timeout: 10_000 })
      .toBe('client_closed');
    const casts = await findCasts(join(demo.gateway.storageDir, 'sessions'));
    expect(casts).toHaveLength(1);
    const cast = await readFile(casts[0]!, 'utf8');
    expect(cast).toMatch(/"m", ?"plc status"/);
    expect(cast).toMatch(/"m", ?"plc download"/);
    expect(cast).toContain('mode: RUN');
  });
});
