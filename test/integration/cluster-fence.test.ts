// Issue 14: closing sessions across nodes must not depend on one NOTIFY, and a node cut off from the database stops
// serving. Two real `gatehouse serve` nodes on the machine's PostgreSQL, node A behind a TCP relay the test breaks
// (fault-link.ts), a real sshd target and OpenSSH as the vendor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { openMonitor } from './cluster-fixture.js';
import {
  type Cluster,
  type Codes,
  eventually,
  type Person,
  startCast,
  startCluster,
  TARGET,
} from '../helpers/cluster.js';
import { type FaultLink, startFaultLink } from '../helpers/fault-link.js';
import { TEST_POSTGRES } from '../helpers/postgres.js';

let c: Cluster;
let link: FaultLink;
let vendorA: Person;
let vendorCodes: Codes;
let vendorKey: string;
let supervisorB: Person;

beforeAll(async () => {
  const pgAt = new URL(TEST_POSTGRES);
  link = await startFaultLink({ host: pgAt.hostname, port: Number(pgAt.port || 5432) });
  c = await startCluster(['node-a', 'node-b'], { dbUrl: (id, url) => (id === 'node-a' ? link.via(url) : url) });
  ({ vendorA, vendorCodes, vendorKey, supervisorB } = await startCast(c));
}, 180_000);

afterAll(async () => {
  link?.restore();
  link?.resumeListeners();
  await c?.close();
  await link?.close();
}, 60_000);

/** An approved grant, and the vendor's OpenSSH session on node A under it, with its session id. */
async function sessionOnA() {
  const request = (await vendorA.ok('POST', '/api/requests', {
    targetId: TARGET,
    protocol: 'ssh',
    durationMinutes: 60,
    purpose: 'Firmware update on the line 2 controller',
  })) as { id: string };
  await supervisorB.ok('POST', `/api/requests/${request.id}/approve`, {});
  const grantId = await eventually('node A shows the grant', async () => {
    const r = (await vendorA.ok('GET', `/api/requests/${request.id}`)) as { state: string; grantId?: string };
    return r.state === 'approved' ? r.grantId : undefined;
  });
  const ssh = await c.ssh('node-a', vendorKey, await vendorCodes.next(), 'echo ready; exec sleep 120');
  await ssh.until(/ready/, { ms: 30_000 });
  const sessionId = await eventually('the session recorded', async () => {
    const rows = await c.query<{ id: string }>(
      "SELECT id FROM gh_rows WHERE collection = 'sessions' AND doc->>'requestId' = $1 AND doc->>'node' = 'node-a'",
      [request.id],
    );
    return rows[0]?.id;
  });
  return { request, grantId, ssh, sessionId };
}

const exitWithin = (ssh: { exited: Promise<number | null> }, ms: number) =>
  Promise.race([ssh.exited.then(() => 'exited' as const), new Promise((r) => setTimeout(() => r('open'), ms))]);

const count = async (type: string, sessionId: string) =>
  (await c.audit()).filter((x) => x.type === type && x.subject?.sessionId === sessionId).length;

describe('closing sessions across nodes without the notification', () => {
  it('a terminate on B reaches A whose LISTEN connection is silently stalled: A’s sweep reads it', async () => {
    const { ssh, sessionId } = await sessionOnA();
    // Anyone who can NOTIFY can forge the hint: with no terminate on the record, it closes nothing.
    const forged = { k: 'close', from: 'node-b', to: 'node-a', sid: sessionId, reason: 'terminated', msg: 'forged' };
    await c.query('SELECT pg_notify($1, $2)', ['gatehouse_cluster', JSON.stringify(forged)]);
    expect(await exitWithin(ssh, 2000)).toBe('open');
    link.stallListeners();
    try {
      expect(link.listeners()).toBeGreaterThan(0);
      const t0 = performance.now();
      const r = await supervisorB.ok('POST', `/api/sessions/${sessionId}/terminate`, { reason: 'wrong controller' });
      expect(await exitWithin(ssh, 5000)).toBe('exited');
      console.log(
        `cluster-fence: terminate on B, A's LISTEN stalled → ssh exited after ${(performance.now() - t0).toFixed(0)} ms`,
      );
      expect(typeof r.closed).toBe('boolean');
      const rec = await c.sessionEnded(sessionId, 'the end recorded');
      expect(rec).toMatchObject({
        endReason: 'terminated',
        terminateRequested: { by: supervisorB.me.id, reason: 'wrong controller' },
      });
      expect(ssh.text).toMatch(/terminated this session: wrong controller/);
      expect(await count('session.terminated', sessionId)).toBe(1);
      expect(await count('session.ended', sessionId)).toBe(1);
    } finally {
      link.resumeListeners();
    }
  }, 120_000);

  it('a terminate on B while A is cut off: the answer says not closed yet, and A closes it once it reads the state again', async () => {
    const { ssh, sessionId } = await sessionOnA();
    link.cut();
    let restored = false;
    try {
      const r = await supervisorB.ok('POST', `/api/sessions/${sessionId}/terminate`, { reason: 'cut off' });
      // Recorded on B (the record and session.terminated), not closed: A heard nothing, the message is lost.
      expect(r.closed).toBe(false);
      expect((await c.session(sessionId))?.terminateRequested).toMatchObject({ reason: 'cut off' });
      expect(await count('session.terminated', sessionId)).toBe(1);
      expect(ssh.child.exitCode).toBeNull();
      link.restore();
      restored = true;
      const t0 = performance.now();
      expect(await exitWithin(ssh, 5000)).toBe('exited');
      console.log(
        `cluster-fence: terminate during a cut → ssh exited ${(performance.now() - t0).toFixed(0)} ms after the link came back`,
      );
      const rec = await c.sessionEnded(sessionId, 'the end recorded');
      expect(rec.endReason).toBe('terminated');
      expect(await count('session.ended', sessionId)).toBe(1);
    } finally {
      if (!restored) link.restore();
    }
  }, 120_000);

  it('a revoke on B while A’s LISTEN connection is silently stalled closes A’s session within about a sweep', async () => {
    const { request, ssh, sessionId } = await sessionOnA();
    link.stallListeners();
    try {
      const t0 = performance.now();
      await supervisorB.ok('POST', `/api/requests/${request.id}/revoke`, { reason: 'work order cancelled' });
      expect(await exitWithin(ssh, 4000)).toBe('exited');
      console.log(
        `cluster-fence: revoke on B, A's LISTEN stalled → ssh exited after ${(performance.now() - t0).toFixed(0)} ms`,
      );
      const rec = await c.sessionEnded(sessionId, 'the end recorded');
      expect(rec.endReason).toBe('revoked');
      expect(await count('session.ended', sessionId)).toBe(1);
    } finally {
      link.resumeListeners();
    }
  }, 120_000);
});

describe('a node cut off from the database', () => {
  it('closes its sessions within the fence time, refuses logins, and its records are consistent once it is back', async () => {
    const { grantId, ssh, sessionId } = await sessionOnA();
    const cutAt = performance.now();
    link.cut();
    let restored = false;
    try {
      // The fence (10 s without a written heartbeat; the last one was sent at most 3 s before the cut) closes it.
      expect(await exitWithin(ssh, 13_000)).toBe('exited');
      console.log(
        `cluster-fence: A cut off → its ssh session closed after ${(performance.now() - cutAt).toFixed(0)} ms`,
      );
      expect(ssh.text).toMatch(/lost its connection to the database/);
      // A new login on A is refused with a clear line, before any code is asked for.
      const refused = await c.ssh('node-a', vendorKey, vendorCodes.lastCode(), 'echo should-not-run');
      expect(await refused.exited).not.toBe(0);
      expect(refused.text).toMatch(/Gatehouse: this gateway node has lost its connection to the database/);
      expect(refused.text).not.toMatch(/should-not-run/);
      // So is the browser terminal, before the target is dialled.
      const url = c.nodes.get('node-a')!.url;
      const cookie = vendorA.browser.jar.header(new URL('/ws/', url));
      const terminal = openMonitor(url, `/ws/ssh/${grantId}`, cookie ? { cookie } : {}, url);
      expect(await terminal.control('error')).toMatchObject({
        code: 'node_fenced',
        message: expect.stringMatching(/lost its connection to the database/),
      });
      terminal.ws.close();
      // B's leader, not hearing from A for 15 s, ends the session as crashed.
      const crashed = await c.sessionEnded(sessionId, 'B ends A’s session as crashed', 40_000);
      expect(crashed.endReason).toBe('gateway_crashed');
      link.restore();
      restored = true;
      // Back: A records its own end late (with its reason), and the fence.
      const late = await eventually('A’s late end', async () =>
        (await c.audit()).find((x) => x.type === 'session.ended_late' && x.subject?.sessionId === sessionId),
      );
      expect(late.data).toMatchObject({
        reason: 'gateway_fenced',
        node: 'node-a',
        recordedEnd: { reason: 'gateway_crashed' },
      });
      const fenced = await eventually('the fence recorded', async () =>
        (await c.audit()).find((x) => x.type === 'gateway.fenced' && x.data?.node === 'node-a'),
      );
      expect(fenced.data?.sessionsClosed).toContain(sessionId);
      expect(await count('session.ended', sessionId)).toBe(1);
      expect(await count('recording.sealed', sessionId)).toBe(1);
      const rec = await c.session(sessionId);
      expect(rec).toMatchObject({ endReason: 'gateway_crashed', recording: { sha256: expect.any(String) } });
      // A sealed its recording before B's sweep: B left the file as sealed (no incomplete marker appended), so the
      // record holds A's seal, and the file verifies against it below.
      const sealed = (await c.audit()).find((x) => x.type === 'recording.sealed' && x.subject?.sessionId === sessionId);
      const recording = (rec as { recording?: { sha256?: string; incomplete?: boolean } } | undefined)?.recording;
      expect(recording?.sha256).toBe(sealed?.data?.sha256);
      expect(recording?.incomplete).toBeUndefined();
      expect(await count('recording.incomplete', sessionId)).toBe(0);
      // The chain and the recordings verify.
      const env = { GH_CLUSTER_TEST_PG: c.db.url, GH_CLUSTER_TEST_PG_NODE_B: c.db.url };
      const audit = await runCli(['audit', 'verify', '--config', 'node-b.yaml'], {
        cwd: c.dir.path,
        env,
        timeoutMs: 60_000,
      });
      expect(audit.code, audit.stdout + audit.stderr).toBe(0);
      const recordings = await runCli(['recordings', 'verify', '--config', 'node-b.yaml'], {
        cwd: c.dir.path,
        env,
        timeoutMs: 60_000,
      });
      expect(recordings.code, recordings.stdout + recordings.stderr).toBe(0);
      // And A serves again.
      const again = await c.ssh('node-a', vendorKey, await vendorCodes.next(), 'echo back-again');
      await again.until(/back-again/, { ms: 30_000 });
      await again.exited;
    } finally {
      if (!restored) link.restore();
    }
  }, 180_000);
});
