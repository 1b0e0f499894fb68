// A gateway with a real sshd behind it, a signed-in vendor (registered key, TOTP enrolled) and grants: the SSH tests' world.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Gateway, startGateway } from '../../gateway/app.js';
import type { Clock } from '../../gateway/clock.js';
import { type Config, parseConfig } from '../../gateway/config.js';
import type { AccessRequest } from '../../gateway/core/model.js';
import { silentLogger } from '../../gateway/log.js';
import type { EngineName } from '../../gateway/storage/port.js';
import { testConfigInput } from './config.js';
import { readAuditText, storageSection } from './engines.js';
import { startTestIdp, type TestIdp } from './oidc.js';
import { freePort } from './ports.js';
import { SSH, type Sshd, startSshd } from './sshd.js';
import { type TempDir, tempDir } from './tmp.js';
import { oathCode } from './totp.js';
import { type Browser, type Me, signIn } from './web-login.js';
import { openGrant } from './grants.js';
import { vendorSshOptions } from './ssh-options.js';

const run = promisify(execFile);
export const TARGET = 'eng-ws-01';

/** Real time plus an offset: each SSH login moves it one TOTP step on, so every code is fresh (no 30 s waits). */
export class SteppingClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  nextStep(): number {
    this.offset += 30_000;
    return this.now();
  }
}

export interface SshGatewayOptions {
  /** Merged into the target's config (commands, forwarding, fileTransfer, ssh overrides…). */
  target?: Record<string, unknown>;
  sshd?: Sshd;
  /** storage.dir (default `<tmp>/storage`): the storage-fault tests put a small tmpfs there. */
  storageDir?: string;
  /** The storage engine (default lowdb); postgres gets a database schema of its own, dropped on close. */
  engine?: EngineName;
  /** access.denied records per IP a minute before they are only counted (the gateway's default unless given). */
  refusalsPerMinute?: number;
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type AuditLine = {
  type: string;
  actor?: Record<string, unknown>;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
};

export interface SshGateway {
  gw: Gateway;
  sshd: Sshd;
  idp: TestIdp;
  dir: TempDir;
  clock: SteppingClock;
  url: string;
  vendor: { browser: Browser; me: Me; totpSecret: string; keyPath: string };
  /** The gateway's SSH port and a known_hosts file naming its host key. */
  port: number;
  knownHosts: string;
  /** Writes a request for the vendor straight into the store (approved, with a grant id, unless told otherwise). */
  grant(o?: Partial<AccessRequest>): Promise<AccessRequest>;
  /** argv for /usr/bin/ssh to the gateway as `login`. */
  sshArgs(login: string, extra?: string[], port?: number): string[];
  /** Runs /usr/bin/ssh; askpass answers `Verification code:` with a fresh code (or `code`). */
  ssh(
    login: string,
    o?: {
      options?: string[];
      port?: number;
      command?: string;
      identity?: string;
      env?: NodeJS.ProcessEnv;
      input?: string;
      code?: string;
      timeoutMs?: number;
    },
  ): Promise<SshResult>;
  /** A fresh code for the vendor (advances the clock one step). */
  freshCode(): string;
  /** Prompts askpass was asked, in order. */
  askpassPrompts(): Promise<string[]>;
  /** Waits until an audit record of `type` matching `where` is written (appends run behind the relay). */
  waitAudit(type: string, where?: (a: AuditLine) => boolean, ms?: number): Promise<AuditLine>;
  audit(): Promise<Array<{ type: string; subject?: Record<string, unknown>; data?: Record<string, unknown> }>>;
  close(): Promise<void>;
}

/** The askpass program: prints the code file named in the environment, logs the prompt it was shown. */
const ASKPASS = '#!/bin/sh\nprintf \'%s\\n\' "$1" >> "$GH_ASKPASS_LOG"\ncat "$GH_CODE_FILE"\n';

export async function startSshGateway(opts: SshGatewayOptions = {}): Promise<SshGateway> {
  const sshd = opts.sshd ?? (await startSshd());
  const idp = await startTestIdp({ pathPrefix: '/oidc' });
  const dir = await tempDir('gh-ssh-');
  const clock = new SteppingClock();
  const secretFile = join(dir.path, 'oidc-secret');
  await writeFile(secretFile, idp.client.clientSecret, { mode: 0o600 });
  const httpPort = await freePort();
  const storageDir = opts.storageDir ?? join(dir.path, 'storage');
  const input = testConfigInput(storageDir);
  const section = await storageSection(storageDir, opts.engine ?? 'lowdb');
  input.storage = section.storage;
  input.http = { listen: `127.0.0.1:${httpPort}`, publicUrl: `http://127.0.0.1:${httpPort}` };
  input.ssh = { listen: '127.0.0.1:0', hostKeys: [join(dir.path, 'keys', 'ssh_host_ed25519_key')] };
  input.oidc = {
    ...(input.oidc as object),
    issuer: idp.issuer,
    clientId: idp.client.clientId,
    clientSecret: { file: secretFile },
  };
  const base = (input.targets as Array<Record<string, unknown>>)[0]!;
  const { ssh: sshOverride, ...rest } = opts.target ?? {};
  input.targets = [
    {
      ...base,
      ssh: {
        host: '127.0.0.1',
        port: sshd.port,
        username: sshd.user,
        hostKeySha256: sshd.hostKeySha256,
        credential: { file: sshd.clientKey.privateKeyPath },
        ...(sshOverride as object | undefined),
      },
      ...rest,
    },
  ];
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new Error(`config invalid: ${JSON.stringify(parsed.problems)}`);
  const config: Config = parsed.config;
  const gw = await startGateway({
    config,
    clock,
    logger: silentLogger,
    auth: {
      loginPerMinute: 1000,
      session: { idleMs: 24 * 3600_000, absoluteMs: 48 * 3600_000 },
      ...(opts.refusalsPerMinute === undefined ? {} : { refusalsPerMinute: opts.refusalsPerMinute }),
    },
    ssh: { listen: '127.0.0.1:0' },
  });
  idp.setRedirectUris([`${config.http.publicUrl}/auth/callback`]);
  const url = config.http.publicUrl;
  const h = { idp, gw, dir, url, close: async () => undefined };
  const { browser, me } = await signIn(h, 'vendor');
  const post = async (path: string, body: unknown) => {
    const res = await browser.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const { secret } = (await post('/api/me/totp/enroll', {})) as { secret: string };
  await post('/api/me/totp/confirm', { code: oathCode(secret, clock.now()) });
  const keyPath = join(dir.path, 'vendor_ed25519');
  await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vendor@test', '-f', keyPath]);
  await post('/api/me/keys', { publicKey: await readFile(`${keyPath}.pub`, 'utf8') });

  const ssh = gw.ssh!;
  const knownHosts = join(dir.path, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${ssh.port} ${ssh.hostKeys[0]!.publicKey}\n`);
  const askpass = join(dir.path, 'askpass.sh');
  await writeFile(askpass, ASKPASS);
  await chmod(askpass, 0o700);
  const askpassLog = join(dir.path, 'askpass.log');

  const freshCode = () => oathCode(secret, clock.nextStep());
  // The first -p wins in OpenSSH: another port (a second front) goes in here, not in `extra`.
  const sshArgs = (login: string, extra: string[] = [], port = ssh.port) => [
    ...vendorSshOptions({ keyPath, knownHosts }),
    '-p',
    String(port),
    ...extra,
    `${login}@127.0.0.1`,
  ];

  const runSsh: SshGateway['ssh'] = async (login, o = {}) => {
    const codeFile = join(dir.path, `code-${randomBytes(4).toString('hex')}`);
    await writeFile(codeFile, `${o.code ?? freshCode()}\n`);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir.path,
      SSH_ASKPASS: askpass,
      SSH_ASKPASS_REQUIRE: 'force',
      GH_CODE_FILE: codeFile,
      GH_ASKPASS_LOG: askpassLog,
      ...o.env,
    };
    const args = sshArgs(login, o.options, o.port).map((a) => (a === keyPath && o.identity ? o.identity : a));
    const argv = [...args, ...(o.command === undefined ? [] : [o.command])];
    const child = spawn(SSH, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    clearTimeout(timer);
    return { code, stdout, stderr };
  };

  const grant: SshGateway['grant'] = async (o = {}) => {
    const now = clock.now();
    const r = openGrant({ userId: me.id, targetId: TARGET, protocol: 'ssh', now }, o);
    await gw.store.update((d) => void d.requests.push(r));
    return r;
  };
  /** Drops every request, so each test states the grants it needs. */
  const audit = async () => (await readAuditText(gw.storage, gw.storageDir)).map((l) => JSON.parse(l));
  const waitAudit: SshGateway['waitAudit'] = async (type, where = () => true, ms = 10_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = ((await audit()) as AuditLine[]).filter((a) => a.type === type && where(a)).at(-1);
      // Audit records are durable before the state that goes with them (the store's audit-first path): a no-op
      // update queues behind the batch that wrote this one, so the state a test reads next is there too.
      if (hit)
        return gw.store
          .update(() => undefined)
          .then(
            () => hit,
            () => hit,
          );
      if (Date.now() > end) throw new Error(`no ${type} audit record within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const close = async () => {
    await gw.stop('test');
    await idp.close();
    if (!opts.sshd) await sshd.stop();
    await section.drop();
    await dir.remove();
  };
  return {
    gw,
    sshd,
    idp,
    dir,
    clock,
    url,
    vendor: { browser, me, totpSecret: secret, keyPath },
    port: ssh.port,
    knownHosts,
    grant,
    sshArgs,
    ssh: runSsh,
    freshCode,
    askpassPrompts: async () => (await readFile(askpassLog, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    audit,
    waitAudit,
    close,
  };
}
