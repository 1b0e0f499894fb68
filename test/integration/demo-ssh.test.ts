// `gatehouse demo`'s SSH path: the simulated PLC workstation on its own, then the whole flow through the
// gateway — key registered, request made and approved over the API, `plc status` run as the vendor.
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, type ConnectConfig } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../../gateway/demo/run.js';
import { startSimulatedTarget } from '../../gateway/demo/simulated-target.js';
import { silentLogger } from '../../gateway/log.js';
import { sshFingerprint } from '../../gateway/ssh/host-keys.js';
import { freePort } from '../helpers/ports.js';
import { collect, openExec, openShell } from '../helpers/ssh-vendor.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';
import { postAs, signInDemo } from '../helpers/demo-people.js';

const run = promisify(execFile);

let demo: Demo;
let dir: TempDir;
let sshPort: number;

beforeAll(async () => {
  dir = await tempDir('gh-demo-ssh-');
  sshPort = await freePort();
  demo = await startDemo({
    dir: dir.path,
    httpPort: await freePort(),
    idpPort: await freePort(),
    sshPort,
    targetPort: await freePort(),
    logger: silentLogger,
  });
});
afterAll(async () => {
  await demo?.close();
  await dir?.remove();
});

function connect(cfg: ConnectConfig, onKeyboard?: () => string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    if (onKeyboard) c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(onKeyboard)));
    c.connect({ host: '127.0.0.1', readyTimeout: 15_000, ...cfg });
  });
}

const targetLogin = async (extra: Partial<ConnectConfig> = {}) =>
  connect({
    port: demo.target.port,
    username: 'maint',
    privateKey: await readFile(join(dir.path, 'demo-target-key')),
    // The pin the gateway uses must be what the target presents.
    hostVerifier: (key: Buffer) => sshFingerprint(key) === demo.target.hostKeySha256,
    ...extra,
  });

describe('the simulated PLC workstation', () => {
  it('keeps its keys in the demo folder (private key 0600) and pins its host key into the config', async () => {
    const target = demo.config.targets.find((t) => t.id === 'demo-plc-ws')!;
    expect(target.ssh!.port).toBe(demo.target.port);
    expect(target.ssh!.hostKeySha256).toBe(demo.target.hostKeySha256);
    expect(demo.target.hostKeySha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect((await stat(join(dir.path, 'demo-target-key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir.path, 'demo-target-host-key'))).mode & 0o777).toBe(0o600);
  });

  it('loads the same keys on a re-run', async () => {
    const again = await startSimulatedTarget({ dir: dir.path, port: 0 });
    try {
      expect(again.hostKeySha256).toBe(demo.target.hostKeySha256);
      const c = await connect({
        port: again.port,
        username: 'maint',
        privateKey: await readFile(join(dir.path, 'demo-target-key')),
      });
      c.end();
    } finally {
      await again.close();
    }
  });

  it('shows the simulation banner and runs plc status in a shell, with echo and backspace', async () => {
    const c = await targetLogin();
    try {
      const ch = await openShell(c);
      const out = collect(ch);
      await out.until(/maint@plc-ws-sim:~\$ $/);
      expect(out.text).toContain('SIMULATION — Gatehouse demo target, not a real workstation');
      ch.write('plc statux\x7fs\r');
      await out.until(/mode: RUN[\s\S]*maint@plc-ws-sim:~\$ $/);
      expect(out.text).toContain('plc statux\b \bs\r\n');
      expect(out.text).toContain('CPU 1516-3 PN/DP');
      ch.write('frobnicate\r');
      await out.until(/sim: command not found/);
      const closed = new Promise<number>((r) => ch.on('exit', (code: number) => r(code)));
      ch.write('exit\r');
      expect(await closed).toBe(0);
    } finally {
      c.end();
    }
  });

  it('runs exec commands with exit status 0 or 127', async () => {
    const c = await targetLogin();
    try {
      const ok = await openExec(c, 'cat project.txt');
      const okOut = collect(ok);
      const okCode = await new Promise<number>((r) => ok.on('exit', (code: number) => r(code)));
      await okOut.until(/TIA Portal project/);
      expect(okCode).toBe(0);
      const bad = await openExec(c, 'rm -rf /');
      const badOut = collect(bad);
      expect(await new Promise<number>((r) => bad.on('exit', (code: number) => r(code)))).toBe(127);
      await badOut.until(/sim: command not found/);
    } finally {
      c.end();
    }
  });

  it('lets nothing else in: another key, another user, a password', async () => {
    const other = join(dir.path, 'other_ed25519');
    await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    await expect(targetLogin({ privateKey: await readFile(other) })).rejects.toThrow(/authentication methods failed/);
    await expect(targetLogin({ username: 'root' })).rejects.toThrow(/authentication methods failed/);
    await expect(
      connect({ port: demo.target.port, username: 'maint', password: 'maint', hostVerifier: () => true }),
    ).rejects.toThrow(/authentication methods failed/);
  });
});

async function findCasts(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && e.name.endsWith('.cast')).map((e) => join(e.parentPath, e.name));
}

describe('the demo flow through the gateway', () => {
  it('vendor registers a key, requests, supervisor approves, then `plc status` runs through the gateway and is recorded', async () => {
    const vendor = await signInDemo(demo, 'vendors');
    await postAs(vendor, '/api/me/step-up', { code: oathCode(vendor.secret) });
    const keyPath = join(dir.path, 'vendor_ed25519');
    await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vendor@demo', '-f', keyPath]);
    await postAs(vendor, '/api/me/keys', { publicKey: await readFile(`${keyPath}.pub`, 'utf8') });
    const request = await postAs(vendor, '/api/requests', {
      targetId: 'demo-plc-ws',
      protocol: 'ssh',
      durationMinutes: 60,
      purpose: 'Check the PLC status for the demo',
    });
    expect(request.state).toBe('pending');

    const supervisor = await signInDemo(demo, 'ot-supervisors');
    await postAs(supervisor, '/api/me/step-up', { code: oathCode(supervisor.secret) });
    const approved = await postAs(supervisor, `/api/requests/${String(request.id)}/approve`, {});
    expect(approved.state).toBe('approved');

    // The vendor's second code: the next time step (a step is accepted only once per user).
    const code = oathCode(vendor.secret, Date.now() + 30_000);
    const c = await connect(
      {
        port: sshPort,
        username: 'demo-plc-ws',
        privateKey: await readFile(keyPath),
        tryKeyboard: true,
        hostVerifier: () => true,
      },
      () => code,
    );
    try {
      const ch = await openExec(c, 'plc status');
      const out = collect(ch);
      const exit = new Promise<number>((r) => ch.on('exit', (n: number) => r(n)));
      await out.until(/CPU 1516-3 PN\/DP\s+mode: RUN/);
      expect(await exit).toBe(0);

      // A shell on the same connection: the typed line is captured and the demo's alert rule fires.
      const sh = await openShell(c);
      const screen = collect(sh);
      await screen.until(/SIMULATION[\s\S]*maint@plc-ws-sim:~\$ $/);
      sh.write('plc download\r');
      await screen.until(/nothing was sent[\s\S]*maint@plc-ws-sim:~\$ $/);
      await expect
        .poll(async () => (await readFile(join(demo.gateway.storageDir, 'audit.jsonl'), 'utf8')).split('\n'), {
          timeout: 10_000,
        })
        .toContainEqual(expect.stringMatching(/"command\.alerted".*plc download/));
      sh.write('exit\r');
    } finally {
      c.end();
    }

    const end = Date.now() + 10_000;
    let casts: string[] = [];
    while (casts.length === 0 && Date.now() < end) {
      casts = await findCasts(join(demo.gateway.storageDir, 'sessions'));
      if (casts.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(casts.length).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => readFile(casts[0]!, 'utf8'), { timeout: 10_000 }).toContain('mode: RUN');
  });
});
