// Two real `gatehouse serve` nodes (gw-a, gw-b) on one PostgreSQL database and one shared storage.dir, a real
// sshd as the target, the test IdP; the vendor signed in on gw-a with a key and TOTP, and an open grant.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { loadOrCreateSigningKey } from '../../gateway/audit/signing.js';
import { systemClock } from '../../gateway/clock.js';
import { clusterKeyFrom, mintWatchToken, type RelayPurpose } from '../../gateway/cluster/internal-auth.js';
import { parseConfig } from '../../gateway/config.js';
import { silentLogger } from '../../gateway/log.js';
import { openPostgres } from '../../gateway/storage/postgres/engine.js';
import { startCli } from '../helpers/cli.js';
import { testConfigInput } from '../helpers/config.js';
import { openGrant } from '../helpers/grants.js';
import { startTestIdp, type TestIdp, type TestRole } from '../helpers/oidc.js';
import { freePort, waitForPort } from '../helpers/ports.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { TARGET } from '../helpers/ssh-gateway.js';
import { vendorSshOptions } from '../helpers/ssh-options.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';
import { type AuthHarness, type Browser, signIn } from '../helpers/web-login.js';
import { type Monitor, openMonitor } from '../helpers/page-socket.js';

export { type Monitor, openMonitor };

const run = promisify(execFile);

export interface Node {
  id: 'gw-a' | 'gw-b';
  url: string;
  sshPort: number;
  serve: Awaited<ReturnType<typeof startCli>>;
}

export interface AuditRow {
  seq: number;
  type: string;
  actor?: Record<string, unknown>;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

export interface ClusterWorld {
  db: TestDatabase;
  dir: TempDir;
  storageDir: string;
  sshd: Sshd;
  idp: TestIdp;
  a: Node;
  b: Node;
  vendor: {
    browser: Browser;
    id: string;
    totpSecret: string;
    keyPath: string;
    knownHosts: string;
    /** A JSON POST as the vendor's page on gw-a (with its CSRF token); throws on an answer of 300 or more. */
    post(path: string, body: unknown): Promise<Record<string, unknown>>;
  };
  /** With ClusterOptions.rdp: the vendor's open grant on RDP_TARGET. */
  rdpGrantId?: string;
  signIn(node: Node, role: TestRole): Promise<Browser>;
  /** What OpenSSH helpers (openssh-vendor.ts) need to log the vendor in to gw-a. */
  sshHarness: {
    dir: TempDir;
    nextCode(): Promise<string>;
    freshCode(): string;
    sshArgs(login: string, extra?: string[]): string[];
  };
  /** Every audit record of the shared chain (from seq `after` on). */
  audit(after?: number): Promise<AuditRow[]>;
  waitAudit(type: string, where?: (a: AuditRow) => boolean, ms?: number): Promise<AuditRow>;
  /** Opens a websocket to `path` on `node` as a page of that node would (its Origin, the browser's cookie). */
  monitor(node: Node, path: string, browser: Browser): Monitor;
  close(): Promise<void>;
}

export const PG_ENV = 'GH_TEST_CLUSTER_PG';
/** With ClusterOptions.rdp: a second target, reached over RDP through each node's own guacd. */
export const RDP_TARGET = 'hmi-01';

export interface ClusterOptions {
  /**
   * Both nodes answer to one public URL (gw-a's address), as behind a load balancer: the IdP's redirect_uri is the
   * same whichever node began the sign-in, so its callback may be sent to either node. Node.url stays each node's own.
   */
  sharedPublicUrl?: boolean;
  /** Each node's guacd, and what is merged into RDP_TARGET's rdp block (default: an address nothing dials). */
  rdp?: {
    guacd: Record<Node['id'], { host: string; port: number }>;
    /** `password` goes to the credential file. */
    target?: Record<string, unknown> & { password?: string };
  };
}

async function poll<T>(what: string, get: () => T | undefined | Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What gw-a's internal route answered a raw upgrade: its refusal, or the open socket and the text of what it sent. */
export type InternalAnswer =
  | { status: number; body: { error?: { code?: string; message?: string } } }
  | { ws: WebSocket; got: string[]; first: Promise<string> };

/** gw-a's internal routes as gw-b (or someone who is not a node) reaches them, raw. */
export interface InternalProbe {
  /** The bearer header of a node token from gw-b for `sid`; `o` changes what is minted (a forgery, a stale one). */
  token(sid: string, o?: { now?: number; to?: string; key?: Buffer; purpose?: RelayPurpose }): string;
  /** A raw upgrade to `path` on gw-a. */
  dial(path: string, headers?: Record<string, string>, o?: { origin?: string }): Promise<InternalAnswer>;
  /**
   * A raw upgrade to `path` that must be refused with `code` and `status`, and audited as an anonymous
   * access.denied naming the path; returns the refusal's message.
   */
  refused(
    path: string,
    headers: Record<string, string>,
    code: string,
    status?: number,
    o?: { origin?: string },
  ): Promise<string | undefined>;
  /**
   * Every bad node token refused on `path` (the route for session `sid`), each audited: absent, forged, expired, for
   * another session, replayed. `token` mints a good one for that route.
   */
  refusesBadTokens(sid: string, path: string, token: InternalProbe['token']): Promise<void>;
}

export async function internalProbe(w: ClusterWorld): Promise<InternalProbe> {
  const key = clusterKeyFrom((await loadOrCreateSigningKey(w.storageDir)).privateKey);
  const dial: InternalProbe['dial'] = (path, headers = {}, o = {}) => {
    const ws = new WebSocket(`${w.a.url.replace('http', 'ws')}${path}`, {
      headers,
      ...(o.origin ? { origin: o.origin } : {}),
    });
    ws.on('error', () => undefined);
    // Listening before the handshake ends: the first frame may come in the same packet as the 101.
    const got: string[] = [];
    ws.on('message', (d: Buffer) => got.push(d.toString('utf8')));
    const first = new Promise<string>((r) => ws.once('message', (d: Buffer) => r(d.toString('utf8'))));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ ws, got, first }));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') }));
      });
      setTimeout(() => reject(new Error('no answer from the internal route')), 10_000).unref();
    });
  };
  const refused: InternalProbe['refused'] = async (path, headers, code, status = 401, o = {}) => {
    const before = (await w.audit()).at(-1)?.seq ?? 0;
    const r = await dial(path, headers, o);
    expect('status' in r ? r : 'opened').toMatchObject({ status, body: { error: { code } } });
    const a = await w.waitAudit('access.denied', (x) => x.seq > before && x.data?.code === code);
    expect(a.data).toMatchObject({ status, path: new URL(path, w.a.url).pathname });
    expect(a.actor?.kind).toBe('anonymous');
    return 'status' in r ? r.body.error?.message : undefined;
  };
  return {
    token: (sid, o = {}) =>
      `Bearer ${mintWatchToken(o.key ?? key, {
        sid,
        from: 'gw-b',
        to: o.to ?? 'gw-a',
        now: o.now ?? Date.now(),
        ...(o.purpose ? { purpose: o.purpose } : {}),
      })}`,
    dial,
    refused,
    async refusesBadTokens(sid, path, token) {
      expect(await refused(path, {}, 'relay_token_missing')).toMatch(/needs a node token/);
      const forged = token(sid, { key: randomBytes(32) });
      expect(await refused(path, { authorization: forged }, 'relay_token_invalid')).toMatch(/not signed by a node/);
      await refused(path, { authorization: token(sid, { now: Date.now() - 120_000 }) }, 'relay_token_expired');
      await refused(path, { authorization: token('ses_someoneelse0') }, 'relay_token_wrong_session');
      const once = token(sid);
      const used = await dial(path, { authorization: once });
      expect('ws' in used).toBe(true);
      if ('ws' in used) used.ws.close();
      expect(await refused(path, { authorization: once }, 'relay_token_replayed')).toMatch(/used already/);
    },
  };
}

export async function startClusterWorld(o: ClusterOptions = {}): Promise<ClusterWorld> {
  const db = await createTestDatabase('gh_relay');
  process.env[PG_ENV] = db.url;
  const dir = await tempDir('gh-relay-');
  const sshd = await startSshd();
  const idp = await startTestIdp({ pathPrefix: '/oidc' });
  const storageDir = join(dir.path, 'shared-storage');
  await mkdir(join(dir.path, 'keys'), { recursive: true });
  const secretFile = join(dir.path, 'oidc-secret');
  await writeFile(secretFile, idp.client.clientSecret, { mode: 0o600 });
  const rdpSecret = join(dir.path, 'rdp-password');
  await writeFile(rdpSecret, `${o.rdp?.target?.password ?? 'Rdp-Secret-cluster'}\n`, { mode: 0o600 });

  let publicUrl: string | undefined;
  const configFor = async (id: Node['id']) => {
    const http = await freePort();
    const ssh = await freePort();
    const hostKey = join(dir.path, 'keys', `${id}_host_ed25519`);
    await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', id, '-f', hostKey]);
    const input = testConfigInput(storageDir);
    const url = `http://127.0.0.1:${http}`;
    input.http = { listen: `127.0.0.1:${http}`, publicUrl: o.sharedPublicUrl ? (publicUrl ??= url) : url };
    input.ssh = { listen: `127.0.0.1:${ssh}`, hostKeys: [hostKey] };
    input.oidc = {
      ...(input.oidc as object),
      issuer: idp.issuer,
      clientId: idp.client.clientId,
      clientSecret: { file: secretFile },
    };
    input.storage = { dir: storageDir, engine: 'postgres', postgres: { url: { env: PG_ENV }, poolSize: 4 } };
    input.node = { id, internalUrl: url };
    const base = (input.targets as Array<Record<string, unknown>>)[0]!;
    input.targets = [
      {
        ...base,
        ssh: {
          host: '127.0.0.1',
          port: sshd.port,
          username: sshd.user,
          hostKeySha256: sshd.hostKeySha256,
          credential: { file: sshd.clientKey.privateKeyPath },
        },
        commands: { mode: 'alert', rules: [{ match: '^\\s*echo\\s+alert-me', action: 'alert', reason: 'test rule' }] },
      },
    ];
    if (o.rdp) {
      const { ssh: _ssh, ...rest } = base;
      const { password: _password, ...rdp } = o.rdp.target ?? {};
      input.guacd = { host: o.rdp.guacd[id].host, port: o.rdp.guacd[id].port };
      (input.targets as unknown[]).push({
        ...rest,
        id: RDP_TARGET,
        name: 'HMI 01',
        rdp: { host: '10.2.0.15', port: 3389, username: 'maint', credential: { file: rdpSecret }, ...rdp },
      });
    }
    const parsed = parseConfig(input);
    if (!parsed.ok) throw new Error(`config invalid: ${JSON.stringify(parsed.problems)}`);
    const path = join(dir.path, `${id}.yaml`);
    await writeFile(path, JSON.stringify(input, null, 2));
    return { path, url, ssh, hostKey };
  };

  const start = async (id: Node['id']): Promise<Node & { hostKey: string }> => {
    const c = await configFor(id);
    const serve = await startCli(['serve', '--config', c.path], /Gatehouse serving/, {
      cwd: dir.path,
      env: { [PG_ENV]: db.url },
      timeoutMs: 60_000,
    });
    await waitForPort(c.ssh);
    return { id, url: c.url, sshPort: c.ssh, serve, hostKey: c.hostKey };
  };
  // One after the other: the first start creates the shared signing key, the second finds it.
  const a = await start('gw-a');
  const b = await start('gw-b');
  idp.setRedirectUris([`${a.url}/auth/callback`, `${b.url}/auth/callback`]);

  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  // Each node's address, as the cluster's node registry announces it (kept if the registry wrote it already).
  for (const n of [a, b])
    await admin.query(
      `INSERT INTO gh_nodes (id, internal_url, started_at, heartbeat_at) VALUES ($1, $2, now(), now())
       ON CONFLICT (id) DO UPDATE SET internal_url = EXCLUDED.internal_url`,
      [n.id, n.url],
    );

  const signInOn = async (node: Node, role: TestRole) =>
    (await signIn({ idp, url: node.url } as unknown as AuthHarness, role)).browser;

  // The vendor: signed in on gw-a, TOTP enrolled, an SSH key registered.
  const { browser, me } = await signIn({ idp, url: a.url } as unknown as AuthHarness, 'vendor');
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
  await post('/api/me/totp/confirm', { code: oathCode(secret) });
  const keyPath = join(dir.path, 'vendor_ed25519');
  await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vendor@test', '-f', keyPath]);
  await post('/api/me/keys', { publicKey: await readFile(`${keyPath}.pub`, 'utf8') });
  const knownHosts = join(dir.path, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${a.sshPort} ${await readFile(`${a.hostKey}.pub`, 'utf8')}`);

  // An open grant, written as a third node would (the approval flow is not what these tests are about).
  const seed = await openPostgres({
    postgres: { url: { env: PG_ENV }, poolSize: 2 },
    storageDir,
    clock: systemClock,
    logger: silentLogger,
    nodeId: 'test-seed',
    checkpointIntervalMs: 0,
  });
  let rdpGrantId: string | undefined;
  try {
    const grant = openGrant({ userId: me.id, targetId: TARGET, protocol: 'ssh', now: Date.now() });
    const rdp = o.rdp && openGrant({ userId: me.id, targetId: RDP_TARGET, protocol: 'rdp', now: Date.now() });
    rdpGrantId = rdp?.grantId;
    await seed.state.update((d) => void d.requests.push(grant, ...(rdp ? [rdp] : [])));
  } finally {
    await seed.close();
  }

  // Each SSH login uses a TOTP step after the last one used (a step is never accepted twice; the enrolment used the
  // current one) and at most one ahead of now: a second login may have to wait for the next step to begin.
  let lastStep = Math.floor(Date.now() / 30_000);
  const nextCode = async () => {
    while (Math.floor(Date.now() / 30_000) + 1 <= lastStep) await new Promise((r) => setTimeout(r, 250));
    lastStep = Math.floor(Date.now() / 30_000) + 1;
    return oathCode(secret, lastStep * 30_000 + 1000);
  };
  const sshHarness = {
    dir,
    nextCode,
    freshCode: () => {
      throw new Error('pass { code: await nextCode() } instead');
    },
    sshArgs: (login: string, extra: string[] = []) => [
      ...vendorSshOptions({ keyPath, knownHosts }),
      '-p',
      String(a.sshPort),
      ...extra,
      `${login}@127.0.0.1`,
    ],
  };

  const audit = async (after = 0): Promise<AuditRow[]> => {
    const r = await admin.query<{ seq: string; line: string }>(
      'SELECT seq, line FROM gh_audit WHERE seq > $1 ORDER BY seq',
      [after],
    );
    return r.rows.map((row) => ({ ...(JSON.parse(row.line) as AuditRow), seq: Number(row.seq) }));
  };
  const waitAudit = (type: string, where: (a: AuditRow) => boolean = () => true, ms = 15_000) =>
    poll(`a ${type} audit record`, async () => (await audit()).filter((x) => x.type === type && where(x)).at(-1), ms);

  const stopNode = async (n: Node) => {
    if (n.serve.child.exitCode !== null || n.serve.child.signalCode !== null) return;
    n.serve.child.kill('SIGTERM');
    const timer = setTimeout(() => n.serve.child.kill('SIGKILL'), 20_000);
    await n.serve.exited;
    clearTimeout(timer);
  };
  return {
    db,
    dir,
    storageDir,
    sshd,
    idp,
    a,
    b,
    vendor: { browser, id: me.id, totpSecret: secret, keyPath, knownHosts, post },
    ...(rdpGrantId ? { rdpGrantId } : {}),
    signIn: signInOn,
    sshHarness,
    audit,
    waitAudit,
    monitor: (node, path, b) => {
      const cookie = b.jar.header(new URL('/ws/', node.url));
      return openMonitor(node.url, path, cookie ? { cookie } : {}, node.url);
    },
    async close() {
      await Promise.all([stopNode(a), stopNode(b)]);
      await admin.end();
      await idp.close();
      await sshd.stop();
      await db.drop();
      delete process.env[PG_ENV];
      await dir.remove();
    },
  };
}
