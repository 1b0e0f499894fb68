// The demo system: the embedded identity provider with demo users (TOTP already enrolled), and the
// gateway on top. Demo users and their secrets are kept in the demo folder so a re-run with the
// same --dir signs in the same people.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateSecret } from 'otplib';
import pg from 'pg';
import { type Gateway, startGateway } from '../app.js';
import { mapRoles, secretBoxFor } from '../auth/auth.js';
import { isoTime } from '../clock.js';
import { type Config, loadConfig } from '../config.js';
import type { Logger } from '../log.js';
import { shippedConfigDir } from '../paths.js';
import { type DemoUser, demoUsers, type IdentityProvider, startIdentityProvider } from './identity-provider.js';
import { type SimulatedTarget, startSimulatedTarget } from './simulated-target.js';

export const DEMO_TARGET_ID = 'demo-plc-ws';

export interface DemoOptions {
  dir: string;
  httpPort?: number;
  idpPort?: number;
  /** The gateway's SSH listener (default: config/demo.yaml's ssh.listen, port 2222). */
  sshPort?: number;
  /** The simulated target's SSH port (default 2223). */
  targetPort?: number;
  logger?: Logger;
  /** Gateway nodes (default 1). More than one share a PostgreSQL database (`postgres`), as a cluster does. */
  nodes?: number;
  /** The PostgreSQL server for several nodes: the demo keeps its state in a schema of its own there. */
  postgres?: string;
}

export interface DemoPerson extends DemoUser {
  totpSecret: string;
}

export interface Demo {
  /** The first node. */
  gateway: Gateway;
  /** Every node, the first one included (web on 8080, 8090, …; SSH on 2222, 2232, …). */
  gateways: Gateway[];
  idp: IdentityProvider;
  /** The simulated PLC engineering workstation the demo target points at. */
  target: SimulatedTarget;
  people: DemoPerson[];
  config: Config;
  close(): Promise<void>;
}

interface DemoFile {
  clientSecret: string;
  people: DemoPerson[];
}

async function loadOrCreateDemoFile(dir: string): Promise<DemoFile> {
  const path = join(dir, 'demo-users.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DemoFile;
  } catch {
    // One password per run is easy to type in a demo; every person still gets their own TOTP secret.
    const password = `demo-${randomBytes(4).toString('hex')}`;
    const file: DemoFile = {
      clientSecret: randomBytes(24).toString('base64url'),
      people: demoUsers(password).map((u) => ({ ...u, totpSecret: generateSecret({ length: 20 }) })),
    };
    await writeFile(path, JSON.stringify(file, null, 2), { mode: 0o600 });
    return file;
  }
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const httpPort = opts.httpPort ?? 8080;
  const idpPort = opts.idpPort ?? 8081;
  const demo = await loadOrCreateDemoFile(dir);
  // The demo's client secret is made per demo folder: nothing secret is shipped in the repository.
  process.env.GATEHOUSE_DEMO_OIDC_SECRET = demo.clientSecret;

  const config = await loadConfig(join(shippedConfigDir, 'demo.yaml'), { cwd: dir, resolveSecrets: false });
  config.storage.dir = dir;
  config.http.listen = `127.0.0.1:${httpPort}`;
  config.http.publicUrl = `http://127.0.0.1:${httpPort}`;
  config.oidc.issuer = `http://127.0.0.1:${idpPort}/oidc`;
  if (opts.sshPort !== undefined) config.ssh.listen = `127.0.0.1:${opts.sshPort}`;

  // The simulated target first: its host key (made once in the demo folder) becomes the gateway's pin.
  const target = await startSimulatedTarget({ dir, port: opts.targetPort ?? 2223 });
  const demoTarget = config.targets.find((t) => t.id === DEMO_TARGET_ID);
  if (demoTarget?.ssh) {
    demoTarget.ssh.port = target.port;
    demoTarget.ssh.hostKeySha256 = target.hostKeySha256;
  }

  let idp: IdentityProvider;
  try {
    idp = await startIdentityProvider({
      host: '127.0.0.1',
      port: idpPort,
      pathPrefix: '/oidc',
      clients: [
        {
          clientId: config.oidc.clientId,
          clientSecret: demo.clientSecret,
          redirectUris: [`${config.http.publicUrl}/auth/callback`],
        },
      ],
      users: demo.people,
    });
  } catch (err) {
    await target.close();
    throw err;
  }
  const configs = (opts.nodes ?? 1) > 1 ? await clusterConfigs(config, dir, opts.nodes!, opts.postgres) : [config];
  idp.registerClient({
    clientId: config.oidc.clientId,
    clientSecret: demo.clientSecret,
    redirectUris: configs.map((c) => `${c.http.publicUrl}/auth/callback`),
  });
  const gateways: Gateway[] = [];
  const stopAll = async () => {
    for (const g of gateways.reverse()) await g.stop('demo stopped');
    await idp.close();
    await target.close();
  };
  try {
    for (const c of configs)
      gateways.push(await startGateway({ config: c, cwd: dir, ...(opts.logger ? { logger: opts.logger } : {}) }));
    // One store for all nodes: the people are seeded once, through the first.
    await seedPeople(gateways[0]!, idp.issuer, demo.people, config);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    gateway: gateways[0]!,
    gateways: [...gateways],
    idp,
    target,
    people: demo.people,
    config: configs[0]!,
    close: stopAll,
  };
}

/** Where `--postgres` is not given: GATEHOUSE_TEST_POSTGRES, else the local server. */
export const DEFAULT_DEMO_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Node i: web on 8080 + 10·i, SSH on 2222 + 10·i, id node-1, node-2, …; all in one database of their own on the
 * given server, named after the demo folder (the folder's audit signing key signed that database's chain: a new
 * folder, a new database). A database, not a schema: the advisory locks (leader, node ids) are per database.
 */
async function clusterConfigs(config: Config, dir: string, nodes: number, given?: string): Promise<Config[]> {
  const url = new URL(given ?? process.env.GATEHOUSE_TEST_POSTGRES ?? DEFAULT_DEMO_POSTGRES);
  const database = `gatehouse_demo_${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: url.toString() });
  try {
    await admin.connect();
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`);
  } catch (err) {
    throw new Error(`could not prepare the demo's database ${database} on ${url.host}: ${(err as Error).message}`);
  } finally {
    await admin.end().catch(() => {});
  }
  url.pathname = `/${database}`;
  process.env.GATEHOUSE_DEMO_POSTGRES_URL = url.toString();
  const webPort = Number(config.http.listen.split(':').at(-1));
  const sshPort = Number(config.ssh.listen.split(':').at(-1));
  return Array.from({ length: nodes }, (_, i) => {
    const web = webPort + 10 * i;
    return {
      ...config,
      http: { ...config.http, listen: `127.0.0.1:${web}`, publicUrl: `http://127.0.0.1:${web}` },
      ssh: { ...config.ssh, listen: `127.0.0.1:${sshPort + 10 * i}` },
      storage: {
        ...config.storage,
        engine: 'postgres' as const,
        postgres: { url: { env: 'GATEHOUSE_DEMO_POSTGRES_URL' }, poolSize: 10 },
      },
      node: { id: `node-${i + 1}`, internalUrl: `http://127.0.0.1:${web}` },
    };
  });
}

/** Creates the demo users bound to the IdP's (issuer, subject) with TOTP confirmed, once. */
async function seedPeople(gateway: Gateway, issuer: string, people: DemoPerson[], config: Config): Promise<void> {
  const box = await secretBoxFor(gateway.storageDir);
  const now = isoTime(Date.now());
  await gateway.store.update((db) => {
    for (const p of people) {
      if (db.users.some((u) => u.issuer === issuer && u.subject === p.sub)) continue;
      const id = `usr_${randomBytes(9).toString('base64url')}`;
      db.users.push({
        id,
        issuer,
        subject: p.sub,
        name: p.name,
        email: p.email,
        org: p.org ?? p.email.split('@')[1] ?? '',
        groups: p.groups,
        roles: mapRoles(p.groups, config.oidc.roles),
        createdAt: now,
        totp: { secretEnc: box.seal(p.totpSecret, id), confirmed: true, failures: 0, enrolledAt: now },
      });
    }
  });
}
