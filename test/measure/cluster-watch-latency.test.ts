// A measurement, not a test of speed (it asserts no time): how much later a relayed live view on gw-b shows the
// vendor's output than a live view on the holder gw-a does. A measurement, not a test: outside npm test.
//   npx vitest run --config vitest.measure.config.ts test/measure/cluster-watch-latency.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnSsh } from '../helpers/openssh-vendor.js';
import { TARGET } from '../helpers/ssh-gateway.js';
import { type ClusterWorld, type Node, startClusterWorld } from '../integration/cluster-fixture.js';

const ROUNDS = 200;

describe('relayed live view latency', () => {
  let w: ClusterWorld;
  beforeAll(async () => {
    w = await startClusterWorld();
  }, 180_000);
  afterAll(async () => w?.close(), 60_000);

  /** A live view that notes when each `mark-N` line arrives. */
  const viewer = (node: Node, sessionId: string, cookie: string) => {
    const seen = new Map<number, number>();
    let text = '';
    const ws = new WebSocket(`${node.url.replace('http', 'ws')}/ws/monitor/${sessionId}`, {
      headers: { cookie },
      origin: node.url,
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) return;
      const at = performance.now();
      text += data.toString('utf8');
      for (const m of text.matchAll(/mark-(\d+)\r?\n/g)) if (!seen.has(Number(m[1]))) seen.set(Number(m[1]), at);
      text = text.slice(-64);
    });
    return { ws, seen, open: new Promise((r) => ws.once('message', r)) };
  };

  it('prints the median and p95 of the relay delay', async () => {
    const sup = await w.signIn(w.b, 'supervisor');
    const aud = await w.signIn(w.a, 'auditor');
    const ssh = await spawnSsh(w.sshHarness, TARGET, { options: ['-tt'], code: await w.sshHarness.nextCode() });
    await ssh.until(/[#$] $/, { ms: 20_000 });
    let sessionId = '';
    for (let i = 0; i < 200 && !sessionId; i++) {
      const res = await sup.fetch('/api/sessions');
      sessionId = ((await res.json()) as { sessions: Array<{ id: string }> }).sessions[0]?.id ?? '';
      if (!sessionId) await new Promise((r) => setTimeout(r, 50));
    }
    const local = viewer(w.a, sessionId, aud.jar.header(new URL('/ws/', w.a.url)));
    const remote = viewer(w.b, sessionId, sup.jar.header(new URL('/ws/', w.b.url)));
    await Promise.all([local.open, remote.open]);
    const typed = new Map<number, number>();
    for (let i = 1; i <= ROUNDS; i++) {
      typed.set(i, performance.now());
      ssh.write(`echo mark-$((${i}))\r`);
      for (let k = 0; k < 400 && !(local.seen.has(i) && remote.seen.has(i)); k++)
        await new Promise((r) => setTimeout(r, 5));
    }
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const pct = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
    const ids = [...typed.keys()].filter((i) => local.seen.has(i) && remote.seen.has(i));
    const localMs = ids.map((i) => local.seen.get(i)! - typed.get(i)!);
    const remoteMs = ids.map((i) => remote.seen.get(i)! - typed.get(i)!);
    const added = ids.map((i) => remote.seen.get(i)! - local.seen.get(i)!);
    const f = (x: number) => x.toFixed(2);
    console.log(
      `relayed live view, ${ids.length}/${ROUNDS} lines: typed→local view median ${f(pct(localMs, 50))} ms p95 ${f(pct(localMs, 95))}; ` +
        `typed→relayed view median ${f(pct(remoteMs, 50))} ms p95 ${f(pct(remoteMs, 95))}; ` +
        `added by the relay median ${f(pct(added, 50))} ms p95 ${f(pct(added, 95))}`,
    );
    expect(ids.length).toBeGreaterThan(0);
    local.ws.close();
    remote.ws.close();
    ssh.kill();
  }, 300_000);
});
