// Two real gateway processes (`gatehouse serve`, node-a and node-b) on one PostgreSQL database, a real sshd target
// and OpenSSH as the vendor: what one node does, the other sees and enforces.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { openMonitor } from './cluster-fixture.js';
import { Browser } from '../helpers/web-login.js';
import {
  type Cluster,
  type Codes,
  type Person,
  eventually,
  startCast,
  startCluster,
  TARGET,
  TARGET2,
} from '../helpers/cluster.js';

let c: Cluster;
/** The vendor signed in on node A (TOTP enrolled, stepped up there). */
let vendorA: Person;
let vendorCodes: Codes;
let vendorKey: string;
/** A supervisor signed in on node B, stepped up there. */
let supervisorB: Person;

const env = { GH_CLUSTER_TEST_PG: '' };
const purpose = 'Firmware update on the line 2 controller';

beforeAll(async () => {
  c = await startCluster(['node-a', 'node-b']);
  env.GH_CLUSTER_TEST_PG = c.db.url;
  ({ vendorA, vendorCodes, vendorKey, supervisorB } = await startCast(c));
}, 180_000);

afterAll(async () => {
  await c?.close();
}, 60_000);

/** Reads `event: request.changed` messages from GET /api/events until `want` matches one (bounded). */
async function streamUntil(p: Person, want: (e: { type: string; request: { id: string } }) => boolean, ms = 20_000) {
  const res = await p.browser.fetch('/api/events', { headers: { accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const timer = setTimeout(() => void reader.cancel(), ms);
  const ready = { resolve: () => {} };
  const opened = new Promise<void>((r) => (ready.resolve = r));
  const found = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffer += decoder.decode(value, { stream: true });
        if (buffer.includes(': connected')) ready.resolve();
        for (const block of buffer.split('\n\n').slice(0, -1)) {
          const data = /^event: request\.changed\ndata: (.*)$/m.exec(block)?.[1];
          if (!data) continue;
          const e = JSON.parse(data) as { type: string; request: { id: string } };
          if (want(e)) return e;
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n\n') + 2);
      }
    } finally {
      clearTimeout(timer);
      void reader.cancel().catch(() => {});
    }
  })();
  await Promise.race([opened, found]);
  return found;
}

/** Opens GET /api/events and collects its `command.alert` events until stopped (or `ms`). */
async function collectAlerts(p: Person, ms = 60_000) {
  const res = await p.browser.fetch('/api/events', { headers: { accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const alerts: Array<Record<string, unknown>> = [];
  let buffer = '';
  let connected = false;
  const timer = setTimeout(() => void reader.cancel(), ms);
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        if (buffer.includes(': connected')) connected = true;
        const blocks = buffer.split('\n\n');
        buffer = blocks.pop()!;
        for (const block of blocks) {
          const data = /^event: command\.alert\ndata: (.*)$/m.exec(block)?.[1];
          if (data) alerts.push(JSON.parse(data) as Record<string, unknown>);
        }
      }
    } catch {
      // cancelled
    }
  })();
  await eventually('the event stream opened', async () => (connected ? true : undefined));
  return {
    alerts,
    stop: async () => {
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}

const errorCode = (r: { json: Record<string, unknown> }) => (r.json.error as { code?: string } | undefined)?.code;

const createRequest = async (p: Person, targetId: string) =>
  (await p.ok('POST', '/api/requests', { targetId, protocol: 'ssh', durationMinutes: 60, purpose })) as {
    id: string;
    grantId?: string;
  };

describe('two gateway nodes on one database', () => {
  it('a request made on node A and approved on node B reaches A’s event stream and A’s API', async () => {
    const request = await createRequest(vendorA, TARGET);
    const onA = streamUntil(vendorA, (e) => e.request.id === request.id && e.type === 'request.approved');
    // The stream is open before the approval: what it shows came across from B.
    await new Promise((r) => setTimeout(r, 300));
    await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
    const event = await onA;
    expect(event?.type).toBe('request.approved');
    const seen = await vendorA.ok('GET', `/api/requests/${request.id}`);
    expect(seen.state).toBe('approved');
  });

  it('approvals given at the same moment on both nodes count each once (two approvers needed)', async () => {
    const { person: supervisor2A } = await c.signInSteppedUp('node-a', 'supervisor2');
    const request = await createRequest(vendorA, TARGET2);
    const [a, b] = await Promise.all([
      supervisor2A.call('POST', `/api/requests/${request.id}/approve`, {}),
      supervisorB.call('POST', `/api/requests/${request.id}/approve`, {}),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    // Node A reads its cache, which takes in B's commit on its NOTIFY (milliseconds): the final state, once there.
    const final = await eventually('node A shows the request approved', async () => {
      const r = await vendorA.ok('GET', `/api/requests/${request.id}`);
      return r.state === 'pending' ? undefined : r;
    });
    expect(final.state).toBe('approved');
    const audit = (await c.audit()).filter((x) => x.subject?.requestId === request.id);
    expect(audit.filter((x) => x.type === 'request.approval_recorded')).toHaveLength(1);
    expect(audit.filter((x) => x.type === 'request.approved')).toHaveLength(1);
    // A third approval, on either node, is refused: the request is no longer pending.
    const third = await supervisorB.call('POST', `/api/requests/${request.id}/approve`, {});
    expect(third.status).toBe(409);
  });

  it('a TOTP code used on node A is refused on node B, and failures on both nodes add up to one lockout', async () => {
    const vendorB = await c.signIn('node-b', 'vendor');
    const replay = await vendorB.call('POST', '/api/me/step-up', { code: vendorCodes.lastCode() });
    expect(replay.status).toBe(400);
    expect(errorCode(replay)).toBe('totp_replayed');

    const auditorA = await c.signIn('node-a', 'auditor');
    const codes = await c.enrol(auditorA);
    const auditorB = await c.signIn('node-b', 'auditor');
    const wrong = (n: number) => String((Number(codes.lastCode()) + 111_111 * n) % 1_000_000).padStart(6, '0');
    const answers = [];
    for (let i = 1; i <= 5; i++)
      answers.push(errorCode(await (i % 2 ? auditorA : auditorB).call('POST', '/api/me/step-up', { code: wrong(i) })));
    expect(answers).toEqual(['totp_invalid', 'totp_invalid', 'totp_invalid', 'totp_invalid', 'totp_locked']);
    // Locked on A by failures that were partly B's: even a right code is refused there.
    const right = await auditorA.call('POST', '/api/me/step-up', { code: await codes.next() });
    expect(errorCode(right)).toBe('totp_locked');
  });

  it('a sign-out on node A ends the event stream the same web session holds open on node B', async () => {
    const adminA = await c.signIn('node-a', 'admin');
    // The same browser (cookie) on node B: web sessions live in the shared store.
    const onB = Object.assign(new Browser(c.nodes.get('node-b')!.url), { jar: adminA.browser.jar });
    // At once: node B asks the database when its copy does not know the session yet (no 401, no cleared cookie).
    expect((await onB.fetch('/api/me')).status).toBe(200);
    const res = await onB.fetch('/api/events', { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const ended = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    })();
    await eventually('the stream open on B', async () => (text.includes(': connected') ? true : undefined), 10_000);
    const out = await adminA.browser.fetch('/auth/logout', {
      method: 'POST',
      headers: { 'x-csrf-token': adminA.me.csrfToken },
    });
    expect(out.status).toBe(204);
    const timeout = setTimeout(() => void reader.cancel(), 15_000);
    const all = await ended;
    clearTimeout(timeout);
    expect(all).toMatch(/event: session\.ended\ndata: \{"reason":"logout"\}/);
  });

  it('a revoke on node B closes the OpenSSH session node A holds, with one record each', async () => {
    const request = await createRequest(vendorA, TARGET);
    await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
    const ssh = await c.ssh('node-a', vendorKey, await vendorCodes.next(), 'echo ready; exec sleep 120');
    await ssh.until(/ready/, { ms: 30_000 });
    const grantId = ((await vendorA.ok('GET', `/api/requests/${request.id}`)) as { grantId: string }).grantId;
    const rows = await c.query<{ id: string }>(
      "SELECT id FROM gh_rows WHERE collection = 'sessions' AND doc->>'grantId' = $1",
      [grantId],
    );
    const sessionId = rows[0]!.id;
    expect((await c.session(sessionId))?.node).toBe('node-a');

    const t0 = performance.now();
    await supervisorB.ok('POST', `/api/requests/${request.id}/revoke`, { reason: 'work order cancelled' });
    const code = await Promise.race([ssh.exited, new Promise((r) => setTimeout(() => r('open'), 20_000))]);
    const closeMs = performance.now() - t0;
    expect(code).not.toBe('open');
    console.log(`cluster: revoke on node B → ssh on node A exited after ${closeMs.toFixed(0)} ms`);
    const ended = await c.sessionEnded(sessionId, 'the session recorded as ended');
    expect(ended.endReason).toBe('revoked');
    const audit = await c.audit();
    expect(audit.filter((x) => x.type === 'grant.revoked' && x.subject?.requestId === request.id)).toHaveLength(1);
    expect(audit.filter((x) => x.type === 'session.ended' && x.subject?.sessionId === sessionId)).toHaveLength(1);
  }, 120_000);

  it('a revoke on node B closes the browser terminal node A holds, with one record each', async () => {
    const request = await createRequest(vendorA, TARGET);
    await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
    const grantId = await eventually('node A shows the grant', async () => {
      const r = (await vendorA.ok('GET', `/api/requests/${request.id}`)) as { grantId?: string };
      return r.grantId;
    });
    // The browser terminal wants a fresh step-up.
    await vendorA.ok('POST', '/api/me/step-up', { code: await vendorCodes.next() });
    const base = c.nodes.get('node-a')!.url;
    const term = openMonitor(
      base,
      `/ws/ssh/${grantId}?cols=80&rows=24`,
      { cookie: vendorA.browser.jar.header(new URL('/ws/', base)) ?? '' },
      base,
    );
    // A refusal (a stale step-up, a fenced node) fails at once and says which, instead of waiting out the poll.
    const ready = await eventually(
      'the terminal is ready',
      async () => {
        const refused = term.controls.find((x) => x.type === 'error');
        if (refused) throw new Error(`the browser terminal was refused: ${JSON.stringify(refused)}`);
        return term.controls.find((x) => x.type === 'ready');
      },
      60_000,
    );
    const sessionId = String(ready.sessionId);
    term.ws.send(Buffer.from('echo web-$((6*7))\r'), { binary: true });
    await term.until(/web-42/, 30_000);
    await supervisorB.ok('POST', `/api/requests/${request.id}/revoke`, { reason: 'wrong work order' });
    const closed = term.closed.then((x) => x.code);
    const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('open'), 20_000))]);
    expect(code).toBe(1000);
    const ended = await c.sessionEnded(sessionId, 'the session recorded as ended');
    expect(ended).toMatchObject({ endReason: 'revoked', node: 'node-a', via: 'web' });
    const audit = await c.audit();
    expect(audit.filter((x) => x.type === 'grant.revoked' && x.subject?.requestId === request.id)).toHaveLength(1);
    expect(audit.filter((x) => x.type === 'session.ended' && x.subject?.sessionId === sessionId)).toHaveLength(1);
  }, 120_000);

  it('a supervisor on node B terminates a session held by node A', async () => {
    const request = await createRequest(vendorA, TARGET);
    await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
    const ssh = await c.ssh('node-a', vendorKey, await vendorCodes.next(), 'echo ready; exec sleep 120');
    await ssh.until(/ready/, { ms: 30_000 });
    const grantId = ((await vendorA.ok('GET', `/api/requests/${request.id}`)) as { grantId: string }).grantId;
    const [row] = await c.query<{ id: string }>(
      "SELECT id FROM gh_rows WHERE collection = 'sessions' AND doc->>'grantId' = $1",
      [grantId],
    );
    // Node B's library shows A's session as live, with Watch and Terminate offered, in the list and on its page.
    type Listed = { id: string; live: boolean; can: { watch: boolean; terminate: boolean } };
    const listed = await eventually('node B lists A’s session as live', async () => {
      const page = (await supervisorB.ok('GET', '/api/sessions?live=true')) as { sessions: Listed[] };
      return page.sessions.find((s) => s.id === row!.id);
    });
    expect(listed).toMatchObject({ live: true, can: { watch: true, terminate: true } });
    expect(await supervisorB.ok('GET', `/api/sessions/${row!.id}`)).toMatchObject({
      live: true,
      endedAt: null,
      can: { watch: true, terminate: true },
    });
    const t0 = performance.now();
    const r = await supervisorB.ok('POST', `/api/sessions/${row!.id}/terminate`, { reason: 'wrong controller' });
    expect(r.closed).toBe(true);
    const code = await Promise.race([ssh.exited, new Promise((res) => setTimeout(() => res('open'), 20_000))]);
    expect(code).not.toBe('open');
    console.log(`cluster: terminate on node B → ssh on node A exited after ${(performance.now() - t0).toFixed(0)} ms`);
    expect((await c.session(row!.id))?.endReason).toBe('terminated');
    // Ended: no longer live on either node.
    for (const p of [supervisorB, vendorA]) {
      const after = (await p.ok('GET', '/api/sessions?live=true')) as { sessions: { id: string }[] };
      expect(after.sessions.map((s) => s.id)).not.toContain(row!.id);
    }
    expect(await supervisorB.ok('GET', `/api/sessions/${row!.id}`)).toMatchObject({
      live: false,
      can: { watch: false, terminate: false },
    });
    const audit = await c.audit();
    expect(audit.filter((x) => x.type === 'session.terminated' && x.subject?.sessionId === row!.id)).toHaveLength(1);
    expect(audit.filter((x) => x.type === 'session.ended' && x.subject?.sessionId === row!.id)).toHaveLength(1);
  }, 120_000);

  it('a command alert on a session held by node A reaches a supervisor’s event stream on node B, once; a forged one does not', async () => {
    const request = await createRequest(vendorA, TARGET);
    await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
    const onB = await collectAlerts(supervisorB);
    // Forged on the channel before the real one (delivered in order): an alert about a session that does not exist.
    const forged = JSON.stringify({
      k: 'alert',
      from: 'node-a',
      a: {
        sessionId: 'ses_doesnotexist01',
        targetId: TARGET,
        userId: vendorA.me.id,
        userName: 'forged',
        verdict: 'blocked',
        text: 'forged-alert',
        at: new Date().toISOString(),
      },
    });
    await c.query('SELECT pg_notify($1, $2)', ['gatehouse_cluster', forged]);
    // The alerted command runs on node A (an exec, judged like a shell line).
    const ssh = await c.ssh(
      'node-a',
      vendorKey,
      await vendorCodes.next(),
      'echo alert-me-across-nodes; exec sleep 120',
    );
    const got = await eventually('the alert on node B’s stream', async () =>
      onB.alerts.find((a) => typeof a.text === 'string' && a.text.includes('alert-me-across-nodes')),
    );
    ssh.kill();
    await ssh.exited;
    expect(got).toMatchObject({
      targetId: TARGET,
      userId: vendorA.me.id,
      verdict: 'alerted',
      text: 'echo alert-me-across-nodes; exec sleep 120',
      reason: 'test rule',
    });
    const session = await c.session(String(got.sessionId));
    expect(session).toMatchObject({ node: 'node-a', targetId: TARGET });
    // The holder records it once (behind the relay, so a moment later); B's stream shows it once, never the forged one.
    const recorded = await eventually('the alert audited on node A', async () => {
      const hits = (await c.audit()).filter(
        (x) => x.type === 'command.alerted' && x.subject?.sessionId === got.sessionId,
      );
      return hits.length > 0 ? hits : undefined;
    });
    expect(recorded).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 500));
    await onB.stop();
    expect(onB.alerts.filter((a) => a.sessionId === got.sessionId)).toHaveLength(1);
    expect(onB.alerts.filter((a) => a.text === 'forged-alert')).toEqual([]);
  }, 120_000);

  it('a second process with a running node’s id is refused at start, naming the node', async () => {
    const before = (await c.audit()).length;
    const res = await runCli(['serve', '--config', 'node-b.yaml'], { cwd: c.dir.path, env, timeoutMs: 60_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('node node-b is already running');
    // Refused before it opened the shared storage: not even a start-up checkpoint of its own.
    expect((await c.audit()).slice(before).map((r) => r.type)).toEqual([]);
    // Node B itself is untouched.
    expect((await fetch(`${c.nodes.get('node-b')!.url}/healthz`)).status).toBe(200);
  }, 90_000);

  it('a timed expiry is recorded once with two nodes running', async () => {
    // A pending request whose window ends in two seconds, written the way a third node would (its own engine).
    const { openStorage } = await import('../../gateway/storage/open.js');
    const { systemClock } = await import('../../gateway/clock.js');
    const { silentLogger } = await import('../../gateway/log.js');
    const { openGrant } = await import('../helpers/grants.js');
    process.env.GH_CLUSTER_TEST_PG = c.db.url;
    const storage = await openStorage({
      config: {
        storage: { dir: 'storage', engine: 'postgres', postgres: { url: { env: 'GH_CLUSTER_TEST_PG' }, poolSize: 2 } },
        node: undefined,
      },
      storageDir: join(c.dir.path, 'storage'),
      clock: systemClock,
      logger: silentLogger,
      checkpointIntervalMs: 0,
    });
    const now = Date.now();
    const pending = openGrant(
      { userId: vendorA.me.id, targetId: TARGET, protocol: 'ssh', now },
      {
        state: 'pending',
        grantId: undefined,
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + 2000).toISOString(),
      },
    );
    await storage.state.update((d) => void d.requests.push(pending));
    await storage.close();
    await eventually('the request expired', async () => {
      const seen = await vendorA.ok('GET', `/api/requests/${pending.id}`);
      return seen.state === 'expired' ? seen : undefined;
    });
    // Both nodes have swept several times since.
    await new Promise((r) => setTimeout(r, 3000));
    const records = (await c.audit()).filter(
      (x) => x.type === 'request.expired' && x.subject?.requestId === pending.id,
    );
    expect(records).toHaveLength(1);
  }, 60_000);

  it('node A killed with a live session: node B leads and ends it as gateway_crashed; A restarts cleanly; B’s own session lives on', async () => {
    const request = await createRequest(vendorA, TARGET);
    await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
    const ssh = await c.ssh('node-a', vendorKey, await vendorCodes.next(), 'echo ready; exec sleep 120');
    await ssh.until(/ready/, { ms: 30_000 });
    const grantId = ((await vendorA.ok('GET', `/api/requests/${request.id}`)) as { grantId: string }).grantId;
    const [row] = await c.query<{ id: string }>(
      "SELECT id FROM gh_rows WHERE collection = 'sessions' AND doc->>'grantId' = $1",
      [grantId],
    );
    const sessionId = row!.id;
    // A session node B holds under the same grant: neither A's crash nor A's restart may touch it.
    const onB = await c.ssh('node-b', vendorKey, await vendorCodes.next(), 'echo ready; exec sleep 120');
    await onB.until(/ready/, { ms: 30_000 });
    const bSessionId = await eventually('node B’s session recorded', async () => {
      const rows = await c.query<{ id: string }>(
        "SELECT id FROM gh_rows WHERE collection = 'sessions' AND doc->>'grantId' = $1 AND doc->>'node' = 'node-b'",
        [grantId],
      );
      return rows[0]?.id;
    });
    const [beat] = await c.query<{ at: Date }>("SELECT heartbeat_at AS at FROM gh_nodes WHERE id = 'node-a'");

    const nodeA = c.nodes.get('node-a')!;
    nodeA.child.kill('SIGKILL');
    await nodeA.exited;
    const killedAt = Date.now();
    await ssh.exited;
    const ended = await c.sessionEnded(sessionId, 'node A’s session ended by node B', 60_000);
    const detectedAt = Date.now();
    expect(ended.endReason).toBe('gateway_crashed');
    console.log(
      `cluster: node A killed; its session ended ${detectedAt - killedAt} ms after the kill, ` +
        `${Date.parse(ended.endedAt as string) - beat!.at.getTime()} ms after its last heartbeat`,
    );
    const leader = await c.query<{ name: string }>(
      `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 7466002 AND l.granted
        AND a.datname = current_database()`,
    );
    expect(leader.map((l) => l.name)).toEqual(['gatehouse-node:node-b']);
    const audit = await c.audit();
    const endings = audit.filter((x) => x.type === 'session.ended' && x.subject?.sessionId === sessionId);
    expect(endings).toHaveLength(1);
    expect(endings[0]!.data).toMatchObject({ reason: 'gateway_crashed', node: 'node-a' });

    // The same id starts again at once: the lock died with the process; nothing of its own is left to end.
    const again = await c.start('node-a');
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    const after = (await c.audit()).filter((x) => x.type === 'session.ended' && x.subject?.sessionId === sessionId);
    expect(after).toHaveLength(1);
    expect((await c.session(bSessionId))?.endedAt).toBeUndefined();
    expect(onB.child.exitCode).toBeNull();
    onB.write('');
    onB.kill();
    await onB.exited;
  }, 150_000);
});

describe('faults between the nodes and the database', () => {
  const health = async (node: string) =>
    (await (await fetch(`${c.nodes.get(node)!.url}/healthz`)).json()) as { status: string; leader?: boolean };
  const leaders = async () => {
    const all = await Promise.all(['node-a', 'node-b'].map(async (n) => ({ n, h: await health(n) })));
    return all.filter((x) => x.h.leader === true).map((x) => x.n);
  };

  it('drops malformed or unknown messages on the cluster channel and keeps serving', async () => {
    const hostile = [
      'not json',
      'null',
      '{"k":"close"}',
      JSON.stringify({ k: 'close', from: 'x', to: 'node-a', sid: 'ses_none', reason: 'gateway_crashed', msg: 'x' }),
      JSON.stringify({ k: 'close', from: 'x', to: 'node-b', sid: 'ses_none', reason: 'terminated', msg: 'x' }),
      JSON.stringify({ k: 'request', from: 'x', id: 'req_none', type: 'request.approved' }),
      JSON.stringify({ k: 'request', from: 'x', id: 'req_none', type: '<script>' }),
      JSON.stringify({ k: 'something-else', from: 'x' }),
    ];
    for (const p of hostile) await c.query('SELECT pg_notify($1, $2)', ['gatehouse_cluster', p]);
    await new Promise((r) => setTimeout(r, 500));
    for (const n of ['node-a', 'node-b']) expect((await health(n)).status).toBe('ok');
    expect(await leaders()).toHaveLength(1);
  });

  it('PostgreSQL cuts the leader’s own connection: it stops leading, reconnects, and one node leads again', async () => {
    const [before] = await leaders();
    expect(before).toBeDefined();
    const cut = await c.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
      [`gatehouse-node:${before}`],
    );
    expect(cut.map((r) => r.ok)).toEqual([true]);
    // The node lock is taken again on the new connection, and exactly one node leads.
    await eventually('both node locks held again and one leader', async () => {
      const locks = await c.query<{ name: string }>(
        `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.classid = 7466004 AND l.granted
          AND a.datname = current_database() ORDER BY 1`,
      );
      const names = locks.map((l) => l.name);
      const lead = await leaders();
      return names.length === 2 && lead.length === 1 ? names : undefined;
    });
    for (const n of ['node-a', 'node-b']) expect((await health(n)).status).toBe('ok');
  }, 60_000);
});
