// The RDP tests' world: a gateway whose guacd is the Guacamole-protocol stand-in (or a real guacd from the
// environment), people signed in with TOTP and a fresh step-up, RDP grants, token minting and a websocket client
// that reads the Guacamole stream.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import WebSocket from 'ws';
import { type Gateway, startGateway } from '../../gateway/app.js';
import { type Config, parseConfig } from '../../gateway/config.js';
import type { AccessRequest } from '../../gateway/core/model.js';
import { silentLogger } from '../../gateway/log.js';
import type { RdpRouteOptions } from '../../gateway/rdp/rdp-route.js';
import { testConfigInput } from '../helpers/config.js';
import { enc, type GuacdStandin, type Ins, type StandinOptions, startGuacdStandin } from '../helpers/guacd-standin.js';
import { startTestIdp, type TestIdp, type TestRole } from '../helpers/oidc.js';
import { freePort } from '../helpers/ports.js';
import { SteppingClock } from '../helpers/ssh-gateway.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';
import { type Browser, type Me, signIn } from '../helpers/web-login.js';
import { openGrant } from '../helpers/grants.js';

export const TARGET = 'eng-ws-01';
export const RDP_PASSWORD = `Rdp-Secret-${randomBytes(6).toString('hex')}`;

export interface Person {
  role: TestRole;
  browser: Browser;
  me: Me;
  secret: string;
}

export type AuditLine = {
  type: string;
  actor?: Record<string, unknown>;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
};

export interface RdpWorldOptions {
  guacd: { host: string; port: number; recordingDir?: string };
  /** Where the world's folder (with its storage) is made (default: the system temp folder). */
  parentDir?: string;
  /** The path under which guacd sees `parentDir` (a container's mount), if not the same. */
  guacdSeesParentAs?: string;
  /** Merged into the target's rdp block. */
  rdp?: Record<string, unknown>;
  tuning?: RdpRouteOptions['tuning'];
}

export interface RdpWorld {
  gw: Gateway;
  idp: TestIdp;
  dir: TempDir;
  clock: SteppingClock;
  url: string;
  config: Config;
  /** Signs `role` in (a new web session), enrols TOTP the first time and steps up (unless told not to). */
  person(role: TestRole, o?: { stepUp?: boolean }): Promise<Person>;
  /** A fresh step-up for `p`'s web session (moves the gateway clock one TOTP step on). */
  stepUp(p: Person): Promise<void>;
  /** An approved RDP grant for `p`, written straight into the store. */
  grant(p: Person, o?: Partial<AccessRequest>): Promise<AccessRequest & { grantId: string }>;
  post(p: Person, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  /** POST /api/grants/:id/rdp-token. */
  token(
    p: Person,
    grantId: string,
    size?: Record<string, unknown>,
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  open(p: Person | null, path: string, o?: { origin?: string | null }): GuacConn;
  waitAudit(type: string, where?: (a: AuditLine) => boolean, ms?: number): Promise<AuditLine>;
  audit(): Promise<AuditLine[]>;
  close(): Promise<void>;
}

export interface GuacConn {
  ws: WebSocket;
  /** Guacamole instructions received (without `gatehouse` ones). */
  instructions: Ins[];
  /** Gatehouse messages (the `gatehouse` instruction's JSON, or a JSON refusal before the stream). */
  messages: Array<Record<string, unknown>>;
  send(...els: Array<string | number>): void;
  message(type: string, ms?: number): Promise<Record<string, unknown>>;
  instruction(opcode: string, where?: (i: Ins) => boolean, ms?: number): Promise<Ins>;
  closed: Promise<{ code: number; reason: string }>;
}

async function dirIn(parent: string): Promise<TempDir> {
  const path = await mkdtemp(join(parent, 'gh-rdp-'));
  return { path, remove: () => rm(path, { recursive: true, force: true, maxRetries: 3 }) };
}

const poll = async <T>(what: string, get: () => T | undefined, ms: number): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Parses whole instructions (the browser side's view: every websocket message holds whole ones). */
export function parseFrame(text: string): Ins[] {
  const out: Ins[] = [];
  let i = 0;
  while (i < text.length) {
    const els: string[] = [];
    for (;;) {
      const dot = text.indexOf('.', i);
      const n = Number(text.slice(i, dot));
      const value = [...text.slice(dot + 1)].slice(0, n).join('');
      els.push(value);
      const t = text[dot + 1 + value.length];
      i = dot + 2 + value.length;
      if (t === ';') break;
      if (t !== ',') throw new Error(`not a whole instruction: ${text.slice(0, 80)}`);
    }
    out.push({ opcode: els[0]!, args: els.slice(1) });
  }
  return out;
}

/** A Guacamole websocket client on `base` + `path`, as a page of `origin` would open it (with the browser's cookie). */
export function openGuac(base: string, path: string, cookie: string | undefined, origin: string | null): GuacConn {
  const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, {
    headers: cookie ? { cookie } : {},
    ...(origin ? { origin } : {}),
  });
  const instructions: Ins[] = [];
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    if (text.startsWith('{')) return void messages.push(JSON.parse(text) as Record<string, unknown>);
    for (const i of parseFrame(text)) {
      if (i.opcode === 'gatehouse') messages.push(JSON.parse(i.args[0] ?? '{}') as Record<string, unknown>);
      else instructions.push(i);
    }
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
  );
  return {
    ws,
    instructions,
    messages,
    send: (...els) => ws.readyState === WebSocket.OPEN && ws.send(enc(...els)),
    message: (type, ms = 10_000) =>
      poll(
        `gatehouse message ${type} (have ${JSON.stringify(messages)})`,
        () => messages.find((m) => m.type === type),
        ms,
      ),
    instruction: (opcode, where = () => true, ms = 10_000) =>
      poll(`instruction ${opcode}`, () => instructions.find((i) => i.opcode === opcode && where(i)), ms),
    closed,
  };
}

export async function startRdpWorld(o: RdpWorldOptions): Promise<RdpWorld> {
  const idp = await startTestIdp({ pathPrefix: '/oidc' });
  const dir = o.parentDir ? await dirIn(o.parentDir) : await tempDir('gh-rdp-');
  const clock = new SteppingClock();
  const secretFile = join(dir.path, 'oidc-secret');
  await writeFile(secretFile, idp.client.clientSecret, { mode: 0o600 });
  const rdpSecret = join(dir.path, 'rdp-password');
  await writeFile(rdpSecret, `${RDP_PASSWORD}\n`, { mode: 0o600 });
  const httpPort = await freePort();
  const input = testConfigInput(join(dir.path, 'storage'));
  input.http = { listen: `127.0.0.1:${httpPort}`, publicUrl: `http://127.0.0.1:${httpPort}` };
  input.ssh = { listen: '127.0.0.1:0', hostKeys: [join(dir.path, 'keys', 'ssh_host_ed25519_key')] };
  input.oidc = {
    ...(input.oidc as object),
    issuer: idp.issuer,
    clientId: idp.client.clientId,
    clientSecret: { file: secretFile },
  };
  input.guacd = o.guacdSeesParentAs
    ? { ...o.guacd, recordingDir: posix.join(o.guacdSeesParentAs, basename(dir.path), 'storage', 'sessions') }
    : o.guacd;
  const base = (input.targets as Array<Record<string, unknown>>)[0]!;
  const { ssh: _ssh, ...rest } = base;
  input.targets = [
    {
      ...rest,
      rdp: {
        host: '10.2.0.15',
        port: 3389,
        username: 'maint',
        credential: { file: rdpSecret },
        security: 'nla',
        ...o.rdp,
      },
    },
    { ...rest, id: 'ssh-only', name: 'SSH only box', ssh: base.ssh },
  ];
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new Error(`config invalid: ${JSON.stringify(parsed.problems)}`);
  const config = parsed.config;
  const gw = await startGateway({
    config,
    clock,
    logger: silentLogger,
    ssh: false,
    auth: { loginPerMinute: 1000, session: { idleMs: 24 * 3600_000, absoluteMs: 48 * 3600_000 } },
    ...(o.tuning ? { rdp: o.tuning } : {}),
  });
  idp.setRedirectUris([`${config.http.publicUrl}/auth/callback`]);
  const url = config.http.publicUrl;
  const harness = { idp, gw, dir, url, close: async () => undefined };

  const post: RdpWorld['post'] = async (p, path, body) => {
    const res = await p.browser.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': p.me.csrfToken },
      body: JSON.stringify(body ?? {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  const secrets = new Map<TestRole, string>();
  const stepUp: RdpWorld['stepUp'] = async (p) => {
    const up = await post(p, '/api/me/step-up', { code: oathCode(p.secret, clock.nextStep()) });
    if (up.status !== 200) throw new Error(`step-up: ${up.status} ${JSON.stringify(up.json)}`);
  };
  const person: RdpWorld['person'] = async (role, opts = {}) => {
    const { browser, me } = await signIn(harness, role);
    const p: Person = { role, browser, me, secret: secrets.get(role) ?? '' };
    if (!p.secret) {
      const enrol = await post(p, '/api/me/totp/enroll');
      p.secret = String(enrol.json.secret);
      const confirm = await post(p, '/api/me/totp/confirm', { code: oathCode(p.secret, clock.now()) });
      if (confirm.status !== 200) throw new Error(`totp confirm: ${confirm.status} ${JSON.stringify(confirm.json)}`);
      secrets.set(role, p.secret);
    }
    if (opts.stepUp !== false) await stepUp(p);
    return p;
  };

  const grant: RdpWorld['grant'] = async (p, over = {}) => {
    const now = clock.now();
    const r = openGrant({ userId: p.me.id, targetId: TARGET, protocol: 'rdp', now, purpose: 'rdp test' }, over);
    await gw.store.update((d) => void d.requests.push(r));
    return r as AccessRequest & { grantId: string };
  };

  const open: RdpWorld['open'] = (p, path, opts = {}) =>
    openGuac(url, path, p?.browser.jar.header(new URL('/ws/', url)), opts.origin === undefined ? url : opts.origin);

  const audit = async (): Promise<AuditLine[]> =>
    (await readFile(join(gw.storageDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditLine);
  const waitAudit: RdpWorld['waitAudit'] = async (type, where = () => true, ms = 10_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = (await audit()).filter((a) => a.type === type && where(a)).at(-1);
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

  return {
    gw,
    idp,
    dir,
    clock,
    url,
    config,
    person,
    stepUp,
    grant,
    post,
    token: (p, grantId, size = { width: 1280, height: 720, dpi: 96 }) =>
      post(p, `/api/grants/${encodeURIComponent(grantId)}/rdp-token`, size),
    open,
    waitAudit,
    audit,
    close: async () => {
      await gw.stop('test');
      await idp.close();
      await dir.remove();
    },
  };
}

/** A Guacamole-protocol stand-in, a world whose guacd it is (short waits: a failure shows in seconds) and a vendor. */
export interface StandinWorld {
  standin: GuacdStandin;
  w: RdpWorld;
  vendor: Person;
  close(): Promise<void>;
}

/** Starts a StandinWorld for one test file; `rdp` is merged into the target's rdp block. */
export async function startStandinWorld(
  rdp?: Record<string, unknown>,
  standinOptions: StandinOptions = {},
): Promise<StandinWorld> {
  const standin = await startGuacdStandin({ keepAliveMs: 300, ...standinOptions });
  try {
    const w = await startRdpWorld({
      guacd: { host: standin.host, port: standin.port },
      ...(rdp ? { rdp } : {}),
      tuning: {
        idleMs: 2000,
        handshakeMs: 3000,
        recordingAppearMs: 2000,
        firstFrameMs: 3000,
        settleQuietMs: 150,
        settleMaxMs: 3000,
      },
    });
    const vendor = await w.person('vendor');
    return {
      standin,
      w,
      vendor,
      close: async () => {
        await w.close();
        await standin.close();
      },
    };
  } catch (err) {
    await standin.close();
    throw err;
  }
}
