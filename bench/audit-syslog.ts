// The SIEM stream's cost: durable audit appends with the syslog stream on and off, and a supervisor's approve
// through the broker with it on and off. The receiver is a TCP sink in a child process, as a SIEM would be
// elsewhere (on this 2-core machine it still takes CPU from the gateway).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { fork } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../gateway/app.js';
import { AuditLog } from '../gateway/audit-log.js';
import { SyslogStream } from '../gateway/audit/syslog.js';
import { isoTime, systemClock } from '../gateway/clock.js';
import { type Config, parseConfig, type SyslogConfig } from '../gateway/config.js';
import type { User } from '../gateway/core/model.js';
import { silentLogger } from '../gateway/log.js';
import { appendConcurrently } from './audit.js';

export interface SyslogBench {
  appendPerSec: { off: number; on: number };
  /** Records the sink received per second, from the first append until the last record arrived. */
  deliveredPerSec: number;
  approveMs: { off: { mean: number; p95: number }; on: { mean: number; p95: number } };
}

interface Sink {
  port: number;
  frames(): Promise<number>;
  stop(): void;
}

/** The receiver in a child process (bench/syslog-sink.ts), so its work is not counted as the gateway's. */
async function startSink(): Promise<Sink> {
  const child = fork(fileURLToPath(new URL('./syslog-sink.js', import.meta.url)));
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  return {
    port,
    frames: () =>
      new Promise((resolve) => {
        child.once('message', (m: { frames: number }) => resolve(m.frames));
        child.send('count');
      }),
    stop: () => child.disconnect(),
  };
}

const siem = (port: number): SyslogConfig => ({
  host: '127.0.0.1',
  port,
  transport: 'tcp',
  appName: 'gatehouse',
  alertBacklog: 1_000_000,
  alertAfterSeconds: 3600,
});

async function appends(events: number, writers: number, port: number | undefined, frames?: () => Promise<number>) {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-syslog-'));
  try {
    const log = await AuditLog.open({ dir, clock: systemClock });
    const stream =
      port === undefined
        ? undefined
        : new SyslogStream({ config: siem(port), dir, audit: log, clock: systemClock, logger: silentLogger });
    await stream?.start();
    const before = (await frames?.()) ?? 0;
    const t0 = performance.now();
    const appendSeconds = await appendConcurrently(log, events, writers);
    const target = log.head().seq;
    const deadline = Date.now() + 60_000;
    while (frames && (await frames()) - before < target && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    const deliveredSeconds = (performance.now() - t0) / 1000;
    await log.close();
    await stream?.stop();
    return { perSec: Math.round(events / appendSeconds), deliveredPerSec: Math.round(target / deliveredSeconds) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function benchConfig(dir: string, port: number | undefined): Config {
  const parsed = parseConfig({
    site: { name: 'Bench plant', timezone: 'UTC' },
    http: { listen: '127.0.0.1:0', publicUrl: 'http://127.0.0.1:9' },
    ssh: { listen: '127.0.0.1:0', hostKeys: [join(dir, 'ssh_host_ed25519_key')] },
    oidc: {
      issuer: 'http://127.0.0.1:9/oidc',
      clientId: 'bench',
      clientSecret: { env: 'GATEHOUSE_BENCH_UNUSED_SECRET' },
      roles: { vendor: ['vendors'], supervisor: ['supervisors'], auditor: [], admin: [] },
    },
    storage: { dir },
    ...(port === undefined ? {} : { audit: { syslog: siem(port) } }),
    targets: [
      {
        id: 'eng-ws-01',
        name: 'Bench target',
        zone: 'bench',
        securityLevel: 2,
        ssh: {
          host: '127.0.0.1',
          username: 'maint',
          hostKeySha256: `SHA256:${'A'.repeat(43)}`,
          credential: { file: join(dir, 'unused') },
        },
        approvers: ['supervisors'],
      },
    ],
  });
  if (!parsed.ok) throw new Error(`bench config invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.config;
}

interface Approver {
  approve(): Promise<number>;
  stop(): Promise<void>;
}

/** A gateway (no SSH) with a vendor and a supervisor; each approve() creates a request and times only its approval. */
async function approverGateway(port: number | undefined): Promise<Approver> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-approve-'));
  const gw = await startGateway({ config: benchConfig(dir, port), logger: silentLogger, ssh: false });
  const now = isoTime(Date.now());
  const person = (vendor: boolean): User => ({
    id: `usr_${randomBytes(9).toString('base64url')}`,
    issuer: 'http://127.0.0.1:9/oidc',
    subject: vendor ? 'bench-vendor' : 'bench-supervisor',
    name: vendor ? 'Bench Vendor' : 'Bench Supervisor',
    email: vendor ? 'vendor@bench.example' : 'supervisor@bench.example',
    org: 'bench.example',
    groups: [vendor ? 'vendors' : 'supervisors'],
    roles: [vendor ? 'vendor' : 'supervisor'],
    createdAt: now,
  });
  const vendor = person(true);
  const supervisor = person(false);
  await gw.store.update((d) => void d.users.push(vendor, supervisor));
  let i = 0;
  return {
    async approve() {
      const purpose = `benchmark approval ${i++}`;
      const r = await gw.broker.create(
        { user: vendor },
        { targetId: 'eng-ws-01', protocol: 'ssh', durationMinutes: 60, purpose },
      );
      const t = performance.now();
      await gw.broker.approve({ user: supervisor }, r.id);
      return performance.now() - t;
    },
    async stop() {
      await gw.stop('bench done');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const summary = (ms: number[]) => {
  ms.sort((a, b) => a - b);
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  return { mean: Number(mean.toFixed(2)), p95: Number(ms[Math.floor(ms.length * 0.95)]!.toFixed(2)) };
};

/**
 * Approvals on two gateways side by side, stream off and on, taken in turn: on a shared machine the noise
 * then falls on both alike.
 */
async function approvals(count: number, port: number) {
  const off = await approverGateway(undefined);
  const on = await approverGateway(port);
  try {
    const ms = { off: [] as number[], on: [] as number[] };
    for (let i = 0; i < count; i++) {
      ms.off.push(await off.approve());
      ms.on.push(await on.approve());
    }
    return { off: summary(ms.off), on: summary(ms.on) };
  } finally {
    await off.stop();
    await on.stop();
  }
}

export async function benchAuditSyslog(
  opts: { events?: number; writers?: number; approvals?: number } = {},
): Promise<SyslogBench> {
  const events = opts.events ?? 20_000;
  const writers = opts.writers ?? 32;
  const sink = await startSink();
  try {
    // Off and on alternate three times; the best of each is kept (the machine is shared and noisy).
    const off: number[] = [];
    const on: { perSec: number; deliveredPerSec: number }[] = [];
    for (let round = 0; round < 3; round++) {
      off.push((await appends(events, writers, undefined)).perSec);
      on.push(await appends(events, writers, sink.port, sink.frames));
    }
    const approveMs = await approvals(opts.approvals ?? 300, sink.port);
    return {
      appendPerSec: { off: Math.max(...off), on: Math.max(...on.map((o) => o.perSec)) },
      deliveredPerSec: Math.max(...on.map((o) => o.deliveredPerSec)),
      approveMs,
    };
  } finally {
    sink.stop();
  }
}
