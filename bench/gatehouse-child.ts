// The Gatehouse under test, in a process of its own (so its RSS and CPU profile are the gateway's alone):
// a real config pinned to the bench's target sshd, vendors with registered keys and TOTP, grants via the broker.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { startGateway } from '../gateway/app.js';
import { secretBoxFor } from '../gateway/auth/secret-box.js';
import { isoTime } from '../gateway/clock.js';
import { type Config, parseConfig } from '../gateway/config.js';
import type { User } from '../gateway/core/model.js';
import { parsePublicKeyLine } from '../gateway/http/routes/keys.js';
import { silentLogger } from '../gateway/log.js';
import { benchOnlyDropRecordedStreams } from '../gateway/recording/asciicast.js';
import { memoryParts } from './gateway-memory.js';
import { type ChildReady, type ChildSpec, TARGET_ID } from './gatehouse-spec.js';
import { armKeysProbe } from './keys-probe.js';

function configFor(spec: ChildSpec): Config {
  const parsed = parseConfig({
    site: { name: 'Bench plant', timezone: 'UTC' },
    http: { listen: '127.0.0.1:0', publicUrl: 'http://127.0.0.1:9' },
    ssh: { listen: '127.0.0.1:0', hostKeys: [join(spec.storageDir, 'ssh_host_ed25519_key')] },
    // Never contacted: the bench's vendors are seeded, not signed in through an IdP.
    oidc: {
      issuer: 'http://127.0.0.1:9/oidc',
      clientId: 'gatehouse-bench',
      clientSecret: { env: 'GATEHOUSE_BENCH_UNUSED_SECRET' },
      roles: { vendor: ['vendors'], supervisor: ['supervisors'], auditor: ['auditors'], admin: ['admins'] },
    },
    storage: { dir: spec.storageDir },
    targets: [
      {
        id: TARGET_ID,
        name: 'Bench target (private OpenSSH sshd)',
        zone: 'bench',
        securityLevel: 2,
        ssh: {
          host: '127.0.0.1',
          port: spec.target.port,
          username: spec.target.username,
          hostKeySha256: spec.target.hostKeySha256,
          credential: { file: spec.target.credentialFile },
        },
        approvers: ['supervisors'],
        // observe: every command is captured, judged and audited, none blocked.
        commands: { mode: 'observe', rules: [{ match: '^rm -rf /$', action: 'alert', reason: 'bench rule' }] },
      },
    ],
  });
  if (!parsed.ok) throw new Error(`bench gateway config invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.config;
}

async function main(spec: ChildSpec): Promise<void> {
  if (!spec.recording) benchOnlyDropRecordedStreams(true);
  const config = configFor(spec);
  const gw = await startGateway({
    config,
    logger: silentLogger,
    // Every bench client comes from 127.0.0.1: the per-IP handshake cap would otherwise throttle the scale cases.
    ssh: { listen: '127.0.0.1:0', maxUnauthPerIp: 2000, maxUnauth: 2000 },
  });
  const seeded = performance.now();
  const box = await secretBoxFor(gw.storageDir);
  const now = isoTime(Date.now());
  const person = (i: number | 'sup'): User => {
    const id = `usr_${randomBytes(9).toString('base64url')}`;
    const vendor = i !== 'sup';
    return {
      id,
      issuer: 'http://127.0.0.1:9/oidc',
      subject: vendor ? `bench-vendor-${i}` : 'bench-supervisor',
      name: vendor ? `Bench Vendor ${i}` : 'Bench Supervisor',
      email: vendor ? `vendor${i}@bench.example` : 'supervisor@bench.example',
      org: 'bench.example',
      groups: [vendor ? 'vendors' : 'supervisors'],
      roles: [vendor ? 'vendor' : 'supervisor'],
      createdAt: now,
    };
  };
  const supervisor = person('sup');
  const vendors = spec.vendors.map((v, i) => {
    const u = person(i);
    u.totp = { secretEnc: box.seal(v.totpSecret, u.id), confirmed: true, failures: 0, enrolledAt: now };
    return { user: u, key: parsePublicKeyLine(v.publicKey) };
  });
  await gw.store.update((d) => {
    d.users.push(supervisor, ...vendors.map((v) => v.user));
    for (const v of vendors)
      d.sshKeys.push({
        id: `key_${randomBytes(9).toString('base64url')}`,
        userId: v.user.id,
        createdAt: now,
        ...v.key,
      });
  });
  // The grants go the product's way: a vendor's request, a supervisor's approval (audited like any other).
  const grants: string[] = [];
  for (const v of vendors) {
    const r = await gw.broker.create(
      { user: v.user },
      { targetId: TARGET_ID, protocol: 'ssh', durationMinutes: 240, purpose: 'benchmark: side by side with OpenSSH' },
    );
    grants.push((await gw.broker.approve({ user: supervisor }, r.id)).grantId ?? '');
  }
  // A browser for vendor 0: a web session as sign-in and a TOTP step-up would leave it (there is no IdP here).
  // Made when the bench asks, just before the browser phase: one made at start idles out during a long run.
  const signIn = async (): Promise<string> => {
    const id = randomBytes(32).toString('base64url');
    const at = isoTime(Date.now());
    await gw.store.update((d) => {
      d.webSessions.push({
        id,
        userId: vendors[0]!.user.id,
        createdAt: at,
        lastSeenAt: at,
        expiresAt: isoTime(Date.now() + 12 * 3600_000),
        stepUpAt: at,
        csrfToken: randomBytes(16).toString('hex'),
      });
    });
    return `gh_session=${id}`;
  };
  const ready: ChildReady = {
    ready: true,
    sshPort: gw.ssh!.port,
    hostKeyPublic: gw.ssh!.hostKeys[0]!.publicKey,
    httpUrl: gw.http.url,
    seedMs: Math.round(performance.now() - seeded),
    browser: {
      origin: new URL(config.http.publicUrl).origin,
      grantId: grants[0] ?? '',
    },
  };
  // Why the inspector and not --cpu-prof: the profile should show the relay, not start-up and seeding.
  const profiler = spec.cpuProfilePath ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const stop = async () => {
    if (profiler && spec.cpuProfilePath) {
      const { profile } = await profiler.post('Profiler.stop');
      await writeFile(spec.cpuProfilePath, JSON.stringify(profile));
    }
    await gw.stop('bench done');
  };
  process.send!(ready);
  let probe: ReturnType<typeof armKeysProbe> | undefined;
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'keys-arm') {
      probe = armKeysProbe(gw.ssh!.port, spec.target.port);
      process.send!({ keysArmed: true });
    } else if (m.cmd === 'keys-start') {
      try {
        probe?.start();
        process.send!({ keysStarted: true });
      } catch (err) {
        probe = undefined;
        process.send!({ keysFailed: (err as Error).message });
      }
    } else if (m.cmd === 'keys-stop') {
      const result = probe?.stop();
      probe = undefined;
      process.send!(result ? { keys: result } : { keysFailed: 'the probe was not started' });
    } else if (m.cmd === 'sign-in') {
      signIn().then(
        (cookie) => process.send!({ signedIn: cookie }),
        (err: unknown) => process.send!({ signInFailed: String((err as Error).message ?? err) }),
      );
    } else if (m.cmd === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      process.send!({ gcDone: true });
    } else if (m.cmd === 'mem') {
      // Two collections: the first runs the finalizers that free native memory (sockets, cipher contexts) of
      // objects it found dead; the second sees the heap without them.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      setImmediate(() => {
        gc?.();
        process.send!({ mem: memoryParts() });
      });
    } else if (m.cmd === 'heap-snapshot') {
      // Investigation only (GH_BENCH_HEAP_SNAPSHOTS): a .heapsnapshot for diffing what sessions hold.
      const path = (m as { cmd: string; path?: string }).path;
      process.send!({ heapSnapshot: path ? writeHeapSnapshot(path) : '' });
    } else if (m.cmd === 'stop') {
      void stop().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => void gw.stop('bench parent gone').finally(() => process.exit(0)));
}

process.once('message', (spec: ChildSpec) => {
  main(spec).catch((err: unknown) => {
    process.stderr.write(`bench gateway failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
});
