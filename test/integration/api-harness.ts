// What the API-router fixtures (requests, sessions library) share: people seeded as users with a web session each,
// a test-only sign-in (the `x-test-session` header names the web session), an express app on loopback, the audit file.
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type RequestHandler } from 'express';
import type { Role, User } from '../../gateway/core/model.js';
import type { WebSessionRecord } from '../../gateway/store.js';
import type { StatePort as Store } from '../../gateway/storage/port.js';

export interface PersonSpec {
  name: string;
  org: string;
  groups: string[];
  roles: Role[];
}

/**
 * Each person as a user `usr_<who>` with a confirmed TOTP and one web session `ws_<who>` (csrf `csrf_<who>`),
 * written in one update; `steppedUp` marks the sessions as stepped up at `at`.
 */
export async function seedPeople<W extends string>(
  store: Store,
  people: Record<W, PersonSpec>,
  o: { at: number; expiresAt: number; steppedUp: boolean },
): Promise<{ users: Record<W, User>; webSessions: Record<W, WebSessionRecord> }> {
  const users = {} as Record<W, User>;
  const webSessions = {} as Record<W, WebSessionRecord>;
  const at = new Date(o.at).toISOString();
  await store.update((d) => {
    for (const [who, p] of Object.entries(people) as Array<[W, PersonSpec]>) {
      const user: User = {
        id: `usr_${who}`,
        issuer: 'http://idp.test',
        subject: `sub-${who}`,
        email: `${who}@${p.org.toLowerCase().replace(/\s+/g, '')}.example`,
        createdAt: at,
        totp: { secretEnc: 'x', confirmed: true, failures: 0, enrolledAt: at },
        ...p,
      };
      const ws: WebSessionRecord = {
        id: `ws_${who}`,
        userId: user.id,
        createdAt: at,
        lastSeenAt: at,
        expiresAt: new Date(o.expiresAt).toISOString(),
        ...(o.steppedUp ? { stepUpAt: at } : {}),
        csrfToken: `csrf_${who}`,
      };
      d.users.push(user);
      d.webSessions.push(ws);
      users[who] = user;
      webSessions[who] = ws;
    }
  });
  return { users, webSessions };
}

/** Marks `who`'s web session (`ws_<who>`) as stepped up at `when`. */
export function stepUpPerson(store: Store, who: string, when: number): Promise<void> {
  return store.update((d) => {
    const s = d.webSessions.find((x) => x.id === `ws_${who}`);
    if (s) s.stepUpAt = new Date(when).toISOString();
  });
}

/** Test-only sign-in: the web session named by `x-test-session`, as the store holds it now. */
export function testSignIn(store: Store): RequestHandler {
  return (req, _res, next) => {
    const session = store.data.webSessions.find((s) => s.id === req.get('x-test-session'));
    const user = session && store.data.users.find((u) => u.id === session.userId);
    if (session && user) req.auth = { user, session };
    next();
  };
}

/** An express app with JSON bodies and the test sign-in, routed by `mount`, listening on loopback. */
export async function serveApi(
  store: Store,
  mount: (app: Express) => void,
): Promise<{ server: Server; port: number; base: string; close(): Promise<void> }> {
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use(testSignIn(store));
  mount(app);
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** The records audit.jsonl holds (what is durable). */
export async function readAuditLines<T>(dir: string): Promise<T[]> {
  const text = await readFile(`${dir}/audit.jsonl`, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}
