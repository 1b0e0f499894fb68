// Two real nodes on one PostgreSQL behind one public URL, no sticky balancer: a sign-in begun on gw-a is finished on
// gw-b, once (also after gw-a was killed); an RDP token minted on one node opens /ws/rdp on the other, once, for its owner only, and of two nodes
// redeeming it at once exactly one wins. A database reader finds no verifier, nonce, state, token or web session id.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateSigningKey } from '../../gateway/audit/signing.js';
import { secretBoxFromKey } from '../../gateway/auth/secret-box.js';
import { clusterKeyFrom } from '../../gateway/cluster/internal-auth.js';
import { type GuacdStandin, startGuacdStandin } from '../helpers/guacd-standin.js';
import { authorizeWithPassword } from '../helpers/oidc.js';
import { beginLogin, Browser } from '../helpers/web-login.js';
import { type ClusterWorld, type Node, startClusterWorld } from './cluster-fixture.js';
import { type GuacConn, openGuac } from './rdp-fixture.js';

let w: ClusterWorld;
let db: pg.Client;
let guacdA: GuacdStandin;
let guacdB: GuacdStandin;

beforeAll(async () => {
  guacdA = await startGuacdStandin({ keepAliveMs: 300 });
  guacdB = await startGuacdStandin({ keepAliveMs: 300 });
  w = await startClusterWorld({ rdp: { guacd: { 'gw-a': guacdA, 'gw-b': guacdB } }, sharedPublicUrl: true });
  db = new pg.Client({ connectionString: w.db.url });
  await db.connect();
  await w.vendor.post('/api/me/step-up', { code: await w.sshHarness.nextCode() });
}, 180_000);
afterAll(async () => {
  await db?.end();
  await w?.close();
  await guacdA?.close();
  await guacdB?.close();
}, 60_000);

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const json = { accept: 'application/json' };
/** `path` (with its query) on `node`: the browser's cookies go with it, as a balancer would send them. */
const on = (node: Node, path: string) => new URL(path, node.url).href;
const rows = async (table: string) => (await db.query(`SELECT * FROM ${table}`)).rows as Array<Record<string, unknown>>;

/** A sign-in begun on gw-a up to the IdP's answer: the callback (not yet called) and the login cookie's id. */
async function begun(b: Browser): Promise<{ callback: URL; loginId: string; authorize: URL }> {
  const authorize = await beginLogin(b);
  const { login, password } = w.idp.users.supervisor;
  const { callbackUrl } = await authorizeWithPassword({ authorizeUrl: authorize, login, password });
  const callback = new URL(callbackUrl);
  return { callback, loginId: b.cookie('gh_login', '/auth/callback') ?? '', authorize };
}

describe('a sign-in across nodes', () => {
  it('begins on gw-a and finishes on gw-b, with nothing readable in the database', async () => {
    const b = new Browser(w.a.url);
    const { callback, loginId, authorize } = await begun(b);
    expect(loginId).not.toBe('');
    const row = (await rows('gh_login_pending')).find((r) => r.id_hash === sha256(loginId));
    expect(row).toBeDefined();
    const text = JSON.stringify(row);
    const state = authorize.searchParams.get('state') ?? '';
    const nonce = authorize.searchParams.get('nonce') ?? '';
    expect(state.length).toBeGreaterThan(10);
    expect(nonce.length).toBeGreaterThan(10);
    // What the nodes sealed is the verifier behind the challenge the IdP got; none of it is in the row's text.
    const key = clusterKeyFrom((await loadOrCreateSigningKey(w.storageDir)).privateKey, 'pending sign-ins v1');
    const sealed = JSON.parse(secretBoxFromKey(key).open(String(row!.sealed), sha256(loginId))) as {
      codeVerifier: string;
      nonce: string;
    };
    expect(createHash('sha256').update(sealed.codeVerifier).digest('base64url')).toBe(
      authorize.searchParams.get('code_challenge'),
    );
    expect(sealed.nonce).toBe(nonce);
    for (const secret of [loginId, state, nonce, sealed.codeVerifier]) expect(text).not.toContain(secret);

    const res = await b.fetch(on(w.b, callback.pathname + callback.search));
    expect(res.status).toBe(303);
    expect((await b.fetch(on(w.b, '/api/me'))).status).toBe(200);
    expect((await b.fetch(on(w.a, '/api/me'))).status).toBe(200);
    expect((await rows('gh_login_pending')).some((r) => r.id_hash === sha256(loginId))).toBe(false);

    // The same callback again on gw-a, the login cookie put back by hand: the transaction was used on gw-b.
    const replay = new Browser(w.a.url);
    replay.jar.store([`gh_login=${loginId}; Path=/auth`]);
    const again = await replay.fetch(callback.pathname + callback.search, { headers: json });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: { code: 'login_state_mismatch' } });
    await w.waitAudit('auth.login_failed', (a) => a.data?.reason === 'unknown_transaction');
  });

  it('refuses an expired sign-in on the other node, and the row is gone', async () => {
    const b = new Browser(w.a.url);
    const { callback, loginId } = await begun(b);
    const before = (await w.audit()).length;
    const aged = await db.query('UPDATE gh_login_pending SET expires_at = 0 WHERE id_hash = $1', [sha256(loginId)]);
    expect(aged.rowCount).toBe(1);
    const res = await b.fetch(on(w.b, callback.pathname + callback.search), { headers: json });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'login_state_mismatch' } });
    const failed = (await w.audit()).slice(before).filter((a) => a.type === 'auth.login_failed');
    expect(failed.map((a) => a.data?.reason)).toEqual(['unknown_transaction']);
    expect((await rows('gh_login_pending')).some((r) => r.id_hash === sha256(loginId))).toBe(false);
  });

  it('lets only one of two nodes finish the same callback at once', async () => {
    const b = new Browser(w.a.url);
    const { callback, loginId } = await begun(b);
    expect((await rows('gh_login_pending')).some((r) => r.id_hash === sha256(loginId))).toBe(true);
    const cookie = b.jar.header(new URL('/auth/callback', w.a.url));
    const path = callback.pathname + callback.search;
    const answers = await Promise.all(
      [w.a, w.b].map((n) => fetch(on(n, path), { headers: { cookie, ...json }, redirect: 'manual' })),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([303, 400]);
  });
});

describe('an RDP token across nodes', () => {
  const SIZE = { width: 1024, height: 768, dpi: 96 };
  const csrf = async () =>
    ((await (await w.vendor.browser.fetch('/api/me')).json()) as { csrfToken: string }).csrfToken;

  async function mintOn(node: Node): Promise<string> {
    const res = await w.vendor.browser.fetch(on(node, `/api/grants/${w.rdpGrantId}/rdp-token`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': await csrf() },
      body: JSON.stringify(SIZE),
    });
    expect(res.status).toBe(201);
    return String(((await res.json()) as { token: string }).token);
  }

  /** /ws/rdp on `node` from a page of the one public URL (gw-a's address), with `b`'s cookies. */
  const open = (node: Node, token: string, b: Browser = w.vendor.browser): GuacConn =>
    openGuac(node.url, `/ws/rdp?token=${token}`, b.jar.header(new URL('/ws/', node.url)), w.a.url);

  /** `ready`, or the code of the error the page was sent: whichever comes first. */
  async function outcome(c: GuacConn): Promise<string> {
    const until = Date.now() + 10_000;
    for (;;) {
      const m = c.messages.find((x) => x.type === 'ready' || x.type === 'error');
      if (m) return m.type === 'ready' ? 'ready' : String(m.code);
      if (Date.now() > until) throw new Error(`no ready or error (have ${JSON.stringify(c.messages)})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function ended(c: GuacConn): Promise<void> {
    c.ws.close();
    await c.closed;
  }

  it('opens on gw-a with a token minted on gw-b, once; the database holds only hashes', async () => {
    const token = await mintOn(w.b);
    const row = (await rows('gh_rdp_tokens')).find((r) => r.token_hash === sha256(token));
    expect(row).toBeDefined();
    const session = w.vendor.browser.cookie('gh_session') ?? '';
    expect(session.length).toBeGreaterThan(10);
    expect(row!.web_session_hash).toBe(sha256(session));
    const text = JSON.stringify(await rows('gh_rdp_tokens'));
    expect(text).not.toContain(token);
    expect(text).not.toContain(session);

    const c = open(w.a, token);
    expect((await c.message('ready')).sessionId).toMatch(/^ses_/);
    const again = open(w.b, token);
    expect((await again.message('error')).code).toBe('rdp_token_invalid');
    expect((await again.closed).code).toBe(4403);
    await ended(c);
  });

  it("refuses another user's token on the other node, and burns it", async () => {
    const token = await mintOn(w.b);
    const supervisor = await w.signIn(w.b, 'supervisor');
    const stolen = open(w.a, token, supervisor);
    expect((await stolen.message('error')).code).toBe('rdp_token_foreign');
    await w.waitAudit('access.denied', (a) => a.data?.code === 'rdp_token_foreign');
    const owner = open(w.b, token);
    expect((await owner.message('error')).code).toBe('rdp_token_invalid');
  });

  it('lets exactly one of two nodes redeem the same token at once', async () => {
    const token = await mintOn(w.a);
    expect((await rows('gh_rdp_tokens')).some((r) => r.token_hash === sha256(token))).toBe(true);
    const both = [open(w.a, token), open(w.b, token)];
    const outcomes = await Promise.all(both.map(outcome));
    expect(outcomes.sort()).toEqual(['rdp_token_invalid', 'ready']);
    await Promise.all(both.map(ended));
  });

  it('removes expired tokens when the next one is minted', async () => {
    const stale = await mintOn(w.a);
    const aged = await db.query('UPDATE gh_rdp_tokens SET expires_at = 0 WHERE token_hash = $1', [sha256(stale)]);
    expect(aged.rowCount).toBe(1);
    const expired = open(w.b, stale);
    expect((await expired.message('error')).code).toBe('rdp_token_expired');
    const left = await mintOn(w.a);
    expect(
      (await db.query('UPDATE gh_rdp_tokens SET expires_at = 0 WHERE token_hash = $1', [sha256(left)])).rowCount,
    ).toBe(1);
    await mintOn(w.b);
    expect((await rows('gh_rdp_tokens')).map((r) => r.token_hash)).not.toContain(sha256(left));
  });
});

// Last: gw-a does not come back.
describe('a sign-in whose first node died', () => {
  it('is finished by gw-b after gw-a was killed', async () => {
    const b = new Browser(w.a.url);
    const { callback } = await begun(b);
    w.a.serve.child.kill('SIGKILL');
    await w.a.serve.exited;
    const res = await b.fetch(on(w.b, callback.pathname + callback.search));
    expect(res.status).toBe(303);
    expect((await b.fetch(on(w.b, '/api/me'))).status).toBe(200);
  });
});
