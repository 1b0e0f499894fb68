// Two (or more) real `gatehouse serve` processes on one PostgreSQL database: the multi-node tests' world.
// Every node has the same config except its node id and its listeners; they share storage.dir (the signing key,
// the SSH host key, recordings), the test IdP and a real sshd target.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { stringify } from 'yaml';
import { spawnSsh, type LiveSsh } from './openssh-vendor.js';
import { startCli } from './cli.js';
import { testConfigInput } from './config.js';
import { type TestIdp, type TestRole, startTestIdp } from './oidc.js';
import { freePort } from './ports.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { type Sshd, startSshd } from './sshd.js';
import { vendorSshOptions } from './ssh-options.js';
import { type TempDir, tempDir } from './tmp.js';
import { oathCode } from './totp.js';
import { Browser, type Me, signIn, type AuthHarness } from './web-login.js';

const run = promisify(execFile);
export const TARGET = 'eng-ws-01';
/** A target that needs two approvals. */
export const TARGET2 = 'eng-ws-02';
const PG_ENV = 'GH_CLUSTER_TEST_PG';

export interface NodeProcess {
  id: string;
  url: string;
  sshPort: number;
  configPath: string;
  child: Awaited<ReturnType<typeof startCli>>['child'];
  output(): string;
  exited: Promise<{ code: number | null }>;
}

export interface AuditLine {
  seq: number;
  type: string;
  actor?: Record<string, unknown>;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

/** The TOTP steps one person has used: each new code is from a later step (waiting for it when need be). */
export class Codes {
  private last = -1;
  constructor(readonly secret: string) {}

  /** A code the gateway has not seen: the current step, or the next (one step of drift is accepted). */
  async next(): Promise<string> {
    for (;;) {
      const now = Math.floor(Date.now() / 30_000);
      const step = Math.max(now, this.last + 1);
      if (step <= now + 1) {
        this.last = step;
        return oathCode(this.secret, step * 30_000 + 1000);
      }
      await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 100));
    }
  }

  /** The code most recently handed out (to replay it). */
  lastCode(): string {
    return oathCode(this.secret, this.last * 30_000 + 1000);
  }
}

/** A signed-in person on one node: a cookie jar, the CSRF token, JSON calls. */
export class Person {
  constructor(
    readonly role: TestRole,
    readonly browser: Browser,
    readonly me: Me,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await this.browser.fetch(path, {
      method,
      headers: { 'content-type': 'application/json', 'x-csrf-token': this.me.csrfToken },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json;
  }
}

export interface Cluster {
  db: TestDatabase;
  idp: TestIdp;
  sshd: Sshd;
  dir: TempDir;
  nodes: Map<string, NodeProcess>;
  knownHosts: string;
  /** Starts (or restarts) a node by id. */
  start(id: string): Promise<NodeProcess>;
  /** Signs `role` in on `node`. */
  signIn(node: string, role: TestRole): Promise<Person>;
  /** Enrols TOTP for a signed-in person (through the API), returning their code source. */
  enrol(p: Person): Promise<Codes>;
  /** Signs `role` in on `node`, enrols TOTP and steps up there. */
  signInSteppedUp(node: string, role: TestRole): Promise<{ person: Person; codes: Codes }>;
  /** An SSH key registered for `p`; returns the private key's path. */
  addKey(p: Person): Promise<string>;
  /** /usr/bin/ssh to `node` as the holder of `keyPath`, kept open. */
  ssh(node: string, keyPath: string, code: string, command: string): Promise<LiveSsh>;
  /** The audit log as the database holds it. */
  audit(): Promise<AuditLine[]>;
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** The live state's sessions collection as rows (what every node reads). */
  session(id: string): Promise<Record<string, unknown> | undefined>;
  /** The session's record once its end is recorded, polled (`what` names the wait in a timeout's error). */
  sessionEnded(id: string, what: string, ms?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** The database URL node `id` is given (a relay in front of the database: fault-link.ts); default `url`. */
  dbUrl?: (id: string, url: string) => string;
}

export async function startCluster(ids: readonly string[], opts: ClusterOptions = {}): Promise<Cluster> {
  const db = await createTestDatabase('gh_cluster');
  const sshd = await startSshd();
  const idp = await startTestIdp({ pathPrefix: '/oidc' });
  const dir = await tempDir('gh-cluster-');
  const secretFile = join(dir.path, 'oidc-secret');
  await writeFile(secretFile, idp.client.clientSecret, { mode: 0o600 });
  // One host key for every node (a vendor's known_hosts names the site, not a node).
  const hostKey = join(dir.path, 'ssh_host_ed25519_key');
  await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gatehouse', '-f', hostKey]);
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  const ports = new Map<string, { http: number; ssh: number }>();
  for (const id of ids) ports.set(id, { http: await freePort(), ssh: await freePort() });
  const knownHosts = join(dir.path, 'known_hosts');
  await writeFile(knownHosts, [...ports.values()].map((p) => `[127.0.0.1]:${p.ssh} ${hostPub}\n`).join(''));
  idp.setRedirectUris([...ports.values()].map((p) => `http://127.0.0.1:${p.http}/auth/callback`));

  // Each node its own variable when their URLs differ.
  const envOf = (id: string) => (opts.dbUrl ? `${PG_ENV}_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}` : PG_ENV);
  const base = (testConfigInput(join(dir.path, 'storage')).targets as Array<Record<string, unknown>>)[0]!;
  const ssh = {
    host: '127.0.0.1',
    port: sshd.port,
    username: sshd.user,
    hostKeySha256: sshd.hostKeySha256,
    credential: { file: sshd.clientKey.privateKeyPath },
  };
  for (const [id, p] of ports) {
    const input = testConfigInput(join(dir.path, 'storage'));
    input.http = { listen: `127.0.0.1:${p.http}`, publicUrl: `http://127.0.0.1:${p.http}` };
    input.ssh = { listen: `127.0.0.1:${p.ssh}`, hostKeys: [hostKey] };
    input.oidc = {
      ...(input.oidc as object),
      issuer: idp.issuer,
      clientId: idp.client.clientId,
      clientSecret: { file: secretFile },
    };
    input.storage = { dir: join(dir.path, 'storage'), engine: 'postgres', postgres: { url: { env: envOf(id) } } };
    input.node = { id, internalUrl: `http://127.0.0.1:${p.http}` };
    // No timed checkpoints during a test: every audit record a test counts comes from what it did.
    input.audit = { checkpointEverySeconds: 3600 };
    input.targets = [
      // A command rule that alerts (never blocks), for the command alerts across nodes.
      {
        ...base,
        ssh,
        commands: { mode: 'alert', rules: [{ match: 'alert-me', action: 'alert', reason: 'test rule' }] },
      },
      { ...base, id: TARGET2, name: 'Engineering workstation 02', ssh, approvalsRequired: 2 },
    ];
    await writeFile(join(dir.path, `${id}.yaml`), stringify(input));
  }

  const nodes = new Map<string, NodeProcess>();
  const env = {
    [PG_ENV]: db.url,
    ...Object.fromEntries(ids.map((id) => [envOf(id), opts.dbUrl?.(id, db.url) ?? db.url])),
  };
  const start = async (id: string) => {
    const s = await startCli(['serve', '--config', `${id}.yaml`], /serving Test plant on (http:\S+)/, {
      cwd: dir.path,
      env,
      timeoutMs: 60_000,
    });
    const node: NodeProcess = {
      id,
      url: s.match[1]!,
      sshPort: ports.get(id)!.ssh,
      configPath: join(dir.path, `${id}.yaml`),
      child: s.child,
      output: s.output,
      exited: s.exited,
    };
    nodes.set(id, node);
    return node;
  };
  for (const id of ids) await start(id);

  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
    (await pool.query<R>(sql, params)).rows;

  const cluster: Cluster = {
    db,
    idp,
    sshd,
    dir,
    nodes,
    knownHosts,
    start,
    async signIn(node, role) {
      const url = nodes.get(node)!.url;
      const { browser, me } = await signIn({ idp, url } as AuthHarness, role);
      return new Person(role, browser, me);
    },
    async enrol(p) {
      const { secret } = (await p.ok('POST', '/api/me/totp/enroll', {})) as { secret: string };
      const codes = new Codes(secret);
      await p.ok('POST', '/api/me/totp/confirm', { code: await codes.next() });
      return codes;
    },
    async signInSteppedUp(node, role) {
      const person = await cluster.signIn(node, role);
      const codes = await cluster.enrol(person);
      await person.ok('POST', '/api/me/step-up', { code: await codes.next() });
      return { person, codes };
    },
    async addKey(p) {
      const keyPath = join(dir.path, `key-${p.me.id}`);
      await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', p.role, '-f', keyPath]);
      await p.ok('POST', '/api/me/keys', { publicKey: await readFile(`${keyPath}.pub`, 'utf8') });
      return keyPath;
    },
    ssh(node, keyPath, code, command) {
      const port = nodes.get(node)!.sshPort;
      const h = {
        dir,
        freshCode: () => code,
        sshArgs: (login: string, extra: string[] = []) => [
          ...vendorSshOptions({ keyPath, knownHosts }),
          '-p',
          String(port),
          ...extra,
          `${login}@127.0.0.1`,
        ],
      };
      return spawnSsh(h, TARGET, { code, command, timeoutMs: 120_000 });
    },
    async audit() {
      const rows = await query<{ line: string }>('SELECT line FROM gh_audit ORDER BY seq');
      return rows.map((r) => JSON.parse(r.line) as AuditLine);
    },
    query,
    async session(id) {
      const rows = await query<{ doc: string }>(
        "SELECT doc::text AS doc FROM gh_rows WHERE collection = 'sessions' AND id = $1 AND doc IS NOT NULL",
        [id],
      );
      return rows[0] ? (JSON.parse(rows[0].doc) as Record<string, unknown>) : undefined;
    },
    sessionEnded(id, what, ms) {
      return eventually(
        what,
        async () => {
          const s = await cluster.session(id);
          return s?.endedAt ? s : undefined;
        },
        ms,
      );
    },
    async close() {
      for (const n of nodes.values()) {
        if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
        await Promise.race([n.exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
      }
      await pool.end();
      await idp.close();
      await sshd.stop();
      await db.drop();
      await dir.remove();
    },
  };
  return cluster;
}

/** The people most two-node tests start with, on nodes `node-a` and `node-b`. */
export interface Cast {
  /** The vendor signed in on node A (TOTP enrolled, stepped up there). */
  vendorA: Person;
  vendorCodes: Codes;
  /** The vendor's registered SSH key (the private key's path). */
  vendorKey: string;
  /** A supervisor signed in on node B, stepped up there. */
  supervisorB: Person;
}

export async function startCast(c: Cluster): Promise<Cast> {
  const { person: vendorA, codes: vendorCodes } = await c.signInSteppedUp('node-a', 'vendor');
  const vendorKey = await c.addKey(vendorA);
  const { person: supervisorB } = await c.signInSteppedUp('node-b', 'supervisor');
  return { vendorA, vendorCodes, vendorKey, supervisorB };
}

/** Polls `probe` until it returns something (bounded). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
