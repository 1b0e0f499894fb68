// The bench measures what it claims: each path really goes where its name says, and the Gatehouse path is recorded and audited.
// Tiny sizes, no timing assertions; needs `npm run build` (the gateway under test runs from dist/bench/gatehouse-child.js).
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRecords, castFiles, newCasts, summarizeCast } from '../../bench/recordings.js';
import { traceRoute } from '../../bench/route-check.js';
import { keystrokeTimes } from '../../bench/keys-probe.js';
import { bulkDown, keystrokes, streaming } from '../../bench/ssh-measure.js';
import { startWorld, type World } from '../../bench/world.js';

let world: World;
const accepted = async (log: string) => ((await readFile(log, 'utf8')).match(/Accepted publickey for /g) ?? []).length;

beforeAll(async () => {
  world = await startWorld();
  await world.startGatehouse('gatehouse', { vendors: 8, recording: true });
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

describe('bench paths', () => {
  it('direct: the target sshd is talking to the ssh client itself, and the jump sshd sees nothing', async () => {
    const jumpLogins = await accepted(world.jump.logPath);
    const r = await traceRoute(world, 'direct');
    expect(r.hop).toBe('ssh client');
    expect(r.sshConnection).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${world.target.port}$`));
    expect(await accepted(world.jump.logPath)).toBe(jumpLogins);
  });

  it('ProxyJump: the jump sshd authenticates the client and holds the connection to the target', async () => {
    const jumpLogins = await accepted(world.jump.logPath);
    const r = await traceRoute(world, 'proxyjump');
    expect(r.hop).toBe('jump sshd');
    expect(await accepted(world.jump.logPath)).toBe(jumpLogins + 1);
  });

  it('Gatehouse: the gateway process holds the connection to the target', async () => {
    const r = await traceRoute(world, 'gatehouse');
    expect(r.hop).toBe('gatehouse');
  });

  it('Gatehouse: streamed sessions are audited (session.started) and recorded byte for byte', async () => {
    const g = world.gateways.get('gatehouse')!;
    const before = await castFiles(g.storageDir);
    const tag = `bench-test-${Date.now()}`;
    const r = await streaming(world, 'gatehouse', 2, 128 * 1024, tag);
    const casts = await newCasts(g.storageDir, before);
    expect(casts).toHaveLength(2);
    const audit = await auditRecords(g.storageDir);
    for (const cast of casts) {
      const s = await summarizeCast(cast);
      const client = r.sessions.find((x) => s.markers.some((m) => m.startsWith(`: ${x.tag};`)));
      expect(client, `a client for ${s.sessionId}`).toBeDefined();
      expect(s.outputBytes).toBe(128 * 1024 + 1); // the "ready" byte, then the stream
      expect(s.outputSha256).toBe(client!.sha256);
      expect(audit.some((a) => a.type === 'session.started' && a.subject?.sessionId === s.sessionId)).toBe(true);
    }
  });

  it('the bulk measure checks its byte count on every path (direct, ProxyJump, Gatehouse)', async () => {
    for (const path of ['direct', 'proxyjump', 'gatehouse']) {
      const r = await bulkDown(world, path, 256 * 1024);
      expect(r.mbPerSec).toBeGreaterThan(0);
    }
  });

  it('Gatehouse keystrokes are also timed inside the gateway, one figure per keystroke typed', async () => {
    const probe = await world.gateways.get('gatehouse')!.keysProbe();
    let inside: Awaited<ReturnType<typeof probe.stop>> | undefined;
    const r = await keystrokes(world, 'gatehouse', 40, {
      warmup: 30,
      typing: { started: () => probe.start(), ended: async () => void (inside = await probe.stop()) },
      paceMs: 5,
    });
    expect(r.p99).toBeGreaterThan(0);
    expect(inside!.gatewayMs).toHaveLength(70);
    for (const ms of inside!.gatewayMs) expect(ms).toBeGreaterThan(0);
    expect(inside!.mainCpuMs).toBeGreaterThan(0);
  });

  it('the keystroke match skips what is not a keystroke (a window adjustment in between, a lone write)', () => {
    const at = (side: 'vendor' | 'target', op: 'r' | 'w', t: number) => [side, op, t] as const;
    expect(
      keystrokeTimes([
        at('vendor', 'w', 0), // not a keystroke: no read came first
        at('vendor', 'r', 1),
        at('target', 'w', 1.5),
        at('vendor', 'r', 2), // a window adjustment: the match restarts here
        at('target', 'w', 2.25),
        at('target', 'r', 5),
        at('vendor', 'w', 5.5),
        at('target', 'r', 6), // no keystroke before it
      ]),
    ).toEqual([0.75]);
  });

  it('recording off (bench only): bytes still flow, the recording holds no output', async () => {
    const off = await world.startGatehouse('gatehouse-norec', { vendors: 4, recording: false });
    try {
      const before = await castFiles(off.storageDir);
      await bulkDown(world, 'gatehouse-norec', 256 * 1024);
      const casts = await newCasts(off.storageDir, before);
      expect(casts).toHaveLength(1);
      const s = await summarizeCast(casts[0]!);
      expect(s.outputBytes).toBe(0);
      expect(s.markers.some((m) => m.startsWith('sh '))).toBe(true); // the exec marker is still written
    } finally {
      await off.stop();
    }
  }, 60_000);
});
