// The embedded OpenID Connect provider used only by `gatehouse demo` and tests: a real login page, PKCE, groups/org claims.
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
// @ts-expect-error oidc-provider ships no type declarations; the few members used are typed below.
import ProviderModule, { interactionPolicy } from 'oidc-provider';
// @ts-expect-error internal module of oidc-provider (no package "exports"), pinned by the test suite.
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

export interface DemoUser {
  sub: string;
  login: string;
  password: string;
  name: string;
  email: string;
  groups: string[];
  org?: string;
}

export interface DemoClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** openid-client v6 defaults to client_secret_post; oidc-provider accepts exactly one method per client. */
  tokenEndpointAuthMethod?: 'client_secret_post' | 'client_secret_basic';
}

export interface IdentityProviderOptions {
  host?: string;
  port?: number;
  /** e.g. '/oidc': the provider answers only under this path, and the issuer ends with it. */
  pathPrefix?: string;
  clients: DemoClient[];
  users: DemoUser[];
  issuerOverride?: string;
  /** Keep the IdP's browser session between sign-ins (default false: every sign-in asks for the password). */
  sso?: boolean;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type Grant = { addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; save(): Promise<string> };
type Interaction = {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[] } };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
};
/** The members of oidc-provider's Provider (a Koa app) that Gatehouse uses. */
export interface OidcProvider {
  issuer: string;
  proxy: boolean;
  callback(): Handler;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: object, o?: object): Promise<void>;
  Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant> };
}
const Provider = ProviderModule as new (issuer: string, config: object) => OidcProvider;
const { Check, base } = interactionPolicy as {
  Check: new (reason: string, description: string, check: (ctx: { oidc: { result?: object } }) => boolean) => unknown;
  base: () => Array<{ name: string; checks: Set<unknown> }>;
};

export interface IdentityProvider {
  issuer: string;
  /** Where the server listens, e.g. http://127.0.0.1:41234 (without the prefix). */
  url: string;
  /** The request handler, for mounting the provider in another server under the same prefix. */
  handler: Handler;
  provider: OidcProvider;
  /** Adds or replaces a client after start (e.g. once the gateway under test knows its port). */
  registerClient(client: DemoClient): void;
  close(): Promise<void>;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE =
  'body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0}main{max-width:22rem;margin:4rem auto;' +
  'background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px #0003}label{display:block;' +
  'margin:.8rem 0 .2rem}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}button{margin-top:1rem;' +
  'width:100%;padding:.6rem;font-size:1rem}.error{color:#b91c1c}small{color:#555}';
// No scripts and no web fonts (oidc-provider's own pages load Google Fonts; sites are air-gapped).
const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
};
const html = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
  `<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>` +
  `<body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;
const page = (res: ServerResponse, status: number, title: string, body: string): void => {
  res.writeHead(status, HEADERS).end(html(title, body));
};
type KoaCtx = { set(headers: object): void; body: string };
const koaPage = (ctx: KoaCtx, title: string, body: string): void => {
  ctx.set(HEADERS);
  ctx.body = html(title, body);
};

function loginForm(action: string, clientId: string, login: string, error?: string): string {
  return (
    `<p><small>Gatehouse demo identity provider — signing in to <b>${esc(clientId)}</b></small></p>` +
    (error ? `<p class="error" role="alert">${esc(error)}</p>` : '') +
    `<form method="post" action="${esc(action)}/login" autocomplete="off"><label for="login">Username</label>` +
    `<input id="login" name="login" type="text" required autofocus value="${esc(login)}">` +
    `<label for="password">Password</label><input id="password" name="password" type="password" required>` +
    `<button type="submit">Sign in</button></form><p><a href="${esc(action)}/abort">Cancel</a></p>`
  );
}

async function readForm(req: IncomingMessage, limit = 16 * 1024): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
/** Compares digests in constant time, so a wrong password and an unknown login take the same path. */
function findUser(users: DemoUser[], login: string, password: string): DemoUser | undefined {
  const user = users.find((u) => u.login.toLowerCase() === login.trim().toLowerCase());
  const ok = timingSafeEqual(digest(user?.password ?? randomBytes(16).toString('hex')), digest(password));
  return user && ok ? user : undefined;
}

const clientMetadata = (c: DemoClient) => ({
  client_id: c.clientId,
  client_secret: c.clientSecret,
  redirect_uris: c.redirectUris,
  post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? 'client_secret_post',
});

function configuration(prefix: string, users: DemoUser[], clients: Map<string, object>, sso: boolean): object {
  const policy = base();
  // Demo users switch roles in one browser: unless sso, every authorization request asks for the password.
  const everyTime = new Check(
    'demo_every_time',
    'the demo provider asks every time',
    (ctx) => !('login' in (ctx.oidc.result ?? {})),
  );
  if (!sso) policy.find((p) => p.name === 'login')?.checks.add(everyTime);
  // Clients are read through the adapter from our map, so they can change after start; other models use
  // oidc-provider's memory adapter (handing it over ourselves also silences its "development-only" warning).
  const memory = (createMemoryAdapter as (clockTolerance: number) => (model: string) => unknown)(15);
  const clientAdapter = {
    find: async (id: string) => clients.get(id),
    upsert: async () => {},
    destroy: async () => {},
  };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    alg: 'RS256',
  };
  return {
    adapter: (model: string) => (model === 'Client' ? clientAdapter : memory(model)),
    async findAccount(_ctx: unknown, sub: string) {
      const user = users.find((u) => u.sub === sub);
      if (!user) return undefined;
      const { name, email, groups, org } = user;
      const claims = { sub, name, email, email_verified: true, groups, ...(org ? { org } : {}) };
      return { accountId: sub, claims: async () => claims };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'org'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Scope claims go into the ID token itself (the default keeps them for userinfo only), as most IdPs do.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    ttl: {
      AuthorizationCode: 60,
      AccessToken: 600,
      IdToken: 600,
      Interaction: 900,
      Session: 28_800,
      Grant: 28_800,
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [{ ...signingKey, use: 'sig' }] },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        logoutSource: (ctx: KoaCtx, form: string) =>
          koaPage(
            ctx,
            'Sign out?',
            `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
          ),
        postLogoutSuccessSource: (ctx: KoaCtx) => koaPage(ctx, 'Signed out', '<p>You have signed out.</p>'),
      },
    },
    interactions: { policy, url: (_ctx: unknown, i: { uid: string }) => `${prefix}/interaction/${i.uid}` },
    clientBasedCORS: () => false,
    renderError: (ctx: KoaCtx, out: Record<string, string>) =>
      koaPage(
        ctx,
        'Sign-in error',
        Object.entries(out)
          .map(([k, v]) => `<p><b>${esc(k)}</b>: ${esc(String(v))}</p>`)
          .join(''),
      ),
  };
}

export async function startIdentityProvider(opts: IdentityProviderOptions): Promise<IdentityProvider> {
  const prefix = (opts.pathPrefix ?? '').replace(/\/+$/, '');
  let handler: Handler = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address}:${port}`;
  const issuer = opts.issuerOverride ?? `${url}${prefix}`;
  const clients = new Map(opts.clients.map((c) => [c.clientId, clientMetadata(c)]));
  const registerClient = (c: DemoClient) => void clients.set(c.clientId, clientMetadata(c));
  const provider = new Provider(issuer, configuration(prefix, opts.users, clients, opts.sso ?? false));
  provider.proxy = false; // plain http on loopback: trust the socket, never X-Forwarded-*
  const oidcCallback = provider.callback();
  const quoted = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const interactionRoute = new RegExp(`^${quoted}/interaction/([\\w-]+)(/login|/abort)?$`);

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, step: string) {
    // The interaction cookie (SameSite=Lax, path-scoped to this uid) is what ties a POST to this sign-in.
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    const clientId = String(details.params.client_id ?? '');
    const base = `${prefix}/interaction/${uid}`;
    if (step === '/abort') {
      const result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    }
    if (details.prompt.name === 'consent') {
      // First-party clients only: consent is granted for whatever the client asked for.
      const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session?.accountId ?? '', clientId });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
    }
    if (details.prompt.name !== 'login') return page(res, 501, 'Sign-in error', '<p>Unsupported prompt.</p>');
    if (step !== '/login' || req.method !== 'POST') {
      const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
      return page(res, 200, 'Sign in', loginForm(base, clientId, hint));
    }
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const user = findUser(opts.users, login, form.get('password') ?? '');
    if (!user) return page(res, 401, 'Sign in', loginForm(base, clientId, login, 'Wrong username or password.'));
    const result = { login: { accountId: user.sub, amr: ['pwd'] } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }

  handler = (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const m = interactionRoute.exec(path);
    if (m) {
      interaction(req, res, m[1] ?? '', m[2] ?? '').catch(() => {
        if (res.headersSent) return void res.destroy();
        page(
          res,
          400,
          'Sign-in error',
          '<p>This sign-in expired or was not found. Start again from the application.</p>',
        );
      });
      return;
    }
    if (prefix && path !== prefix && !path.startsWith(`${prefix}/`)) return page(res, 404, 'Not found', '');
    // As Express mounts it: the provider sees the path below the prefix and finds its mount path in originalUrl.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
    req.url = (req.url ?? '/').slice(prefix.length) || '/';
    oidcCallback(req, res);
  };

  async function close(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
  return { issuer, url, handler: (req, res) => handler(req, res), provider, registerClient, close };
}

/** The demo's people, one or two per role; passwords from the caller (one for all, or per login), else random. */
export function demoUsers(password?: string | ((login: string) => string)): DemoUser[] {
  const pw = (login: string) =>
    typeof password === 'function' ? password(login) : (password ?? randomBytes(12).toString('base64url'));
  const u = (sub: string, login: string, name: string, groups: string[], org?: string): DemoUser => ({
    ...{ sub, login, password: pw(login), name, email: login, groups },
    ...(org ? { org } : {}),
  });
  return [
    u('demo-vendor-acme', 'vendor@acme.example', 'Vera Vendor', ['vendors'], 'Acme Automation'),
    u('demo-vendor-beta', 'vendor2@beta.example', 'Victor Vendor', ['vendors'], 'Beta Controls'),
    u('demo-supervisor-1', 'supervisor@plant.example', 'Sam Supervisor', ['ot-supervisors']),
    u('demo-supervisor-2', 'supervisor2@plant.example', 'Sue Supervisor', ['ot-supervisors']),
    u('demo-auditor', 'auditor@plant.example', 'Alex Auditor', ['auditors']),
    u('demo-admin', 'admin@plant.example', 'Ada Admin', ['ot-admins']),
  ];
}
