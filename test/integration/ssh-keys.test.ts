// /api/me/keys: register, list, remove SSH public keys; a key belongs to one user; at most 10 per user; audited.
import { utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthHarness,
  auditRecords,
  type Browser,
  type Me,
  signIn,
  startAuthHarness,
} from '../helpers/web-login.js';

/** ssh2's generator drops a leading zero byte of the public key (~1 in 256): take only keys that load. */
function newPair() {
  for (;;) {
    const p = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(p.public) instanceof Error)) return p;
  }
}
const newKey = () => newPair().public;

let h: AuthHarness;
beforeAll(async () => {
  h = await startAuthHarness();
}, 60_000);
afterAll(async () => h?.close());

const call = (b: { browser: Browser; me: Me }, method: string, path: string, body?: unknown) =>
  b.browser.fetch(path, {
    method,
    headers: { 'content-type': 'application/json', 'x-csrf-token': b.me.csrfToken },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('SSH keys API', () => {
  it("registers, lists, refuses another user's key (409 key_in_use), caps at 10, removes", async () => {
    const alice = await signIn(h, 'vendor');
    const victor = await signIn(h, 'vendor2');
    const key = newKey();
    const added = await call(alice, 'POST', '/api/me/keys', { publicKey: `${key} alice@laptop` });
    expect(added.status).toBe(201);
    const view = (await added.json()) as { id: string; fingerprint: string; comment: string };
    expect(view.fingerprint).toMatch(/^SHA256:/);
    const list = (await (await call(alice, 'GET', '/api/me/keys')).json()) as { keys: Array<{ id: string }> };
    expect(list.keys.map((k) => k.id)).toEqual([view.id]);

    const stolen = await call(victor, 'POST', '/api/me/keys', { publicKey: key });
    expect(stolen.status).toBe(409);
    expect(((await stolen.json()) as { error: { code: string } }).error.code).toBe('key_in_use');
    expect((await call(alice, 'POST', '/api/me/keys', { publicKey: key })).status).toBe(409);
    expect((await call(alice, 'POST', '/api/me/keys', { publicKey: 'ssh-ed25519 garbage' })).status).toBe(400);

    for (let i = 0; i < 9; i++)
      expect((await call(alice, 'POST', '/api/me/keys', { publicKey: newKey() })).status).toBe(201);
    const eleventh = await call(alice, 'POST', '/api/me/keys', { publicKey: newKey() });
    expect(eleventh.status).toBe(409);

    expect((await call(victor, 'DELETE', `/api/me/keys/${view.id}`)).status).toBe(404);
    expect((await call(alice, 'DELETE', `/api/me/keys/${view.id}`)).status).toBe(204);
    expect((await call(victor, 'POST', '/api/me/keys', { publicKey: key })).status).toBe(201);
    const types = (await auditRecords(h.gw)).map((a) => a.type);
    expect(types.filter((t) => t === 'key.added')).toHaveLength(11);
    expect(types).toContain('key.removed');
  });

  it('needs the CSRF token to add a key', async () => {
    const alice = await signIn(h, 'vendor');
    const res = await alice.browser.fetch('/api/me/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ publicKey: newKey() }),
    });
    expect(res.status).toBe(403);
  });
});
