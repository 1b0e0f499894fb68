// The audit stream to a real rsyslogd (TCP and TLS): every record arrives, across a SIEM outage and a gateway
// restart, exactly once or resent with the same seq; the outage is alerted; rsyslog's file then serves as --witness.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AuditLog } from '../../gateway/audit-log.js';
import { SyslogStream, type SyslogStreamOptions } from '../../gateway/audit/syslog.js';
import { runAuditVerify } from '../../gateway/cli/audit-verify.js';
import { systemClock } from '../../gateway/clock.js';
import type { SyslogConfig } from '../../gateway/config.js';
import type { NotifyPayload } from '../../gateway/notify.js';
import { makeTestCa, type Rsyslog, receivedBySeq, rsyslogIn } from '../helpers/rsyslog.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let tmp: TempDir;
const started: Rsyslog[] = [];
beforeEach(async () => {
  tmp = await tempDir('gatehouse-syslog-');
});
afterEach(async () => {
  for (const r of started.splice(0)) await r.stop();
  await tmp.remove();
});

const event = (i: number) => ({
  type: 'command.executed' as const,
  actor: { kind: 'user' as const, id: 'usr_vendor', name: 'Vera Vendor' },
  subject: { sessionId: 'ses_1', targetId: 'eng-ws-01' },
  data: { text: `tail -n 50 /var/log/plc/line2-${i}.log | grep "Störung"`, verdict: 'allowed' },
});

const fast: Pick<SyslogStreamOptions, 'confirmMs' | 'tickMs' | 'retryDelaysMs'> = {
  confirmMs: 300,
  tickMs: 50,
  retryDelaysMs: [100, 200, 400],
};

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every seq 1..last arrived, and where one arrived more than once it was the same record. */
async function expectEverySeqOnce(r: Rsyslog, last: number): Promise<{ resent: number }> {
  const got = receivedBySeq(await r.lines());
  let resent = 0;
  for (let seq = 1; seq <= last; seq++) {
    const hashes = got.get(seq);
    expect(hashes, `seq ${seq} arrived`).toBeDefined();
    expect(new Set(hashes).size, `seq ${seq} resent unchanged`).toBe(1);
    resent += hashes!.length - 1;
  }
  return { resent };
}

async function verifyWitness(dir: string, witness: string) {
  const lines: string[] = [];
  const code = await runAuditVerify(['--dir', dir, '--witness', witness], {
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });
  return { code, output: lines.join('\n') };
}

describe('audit stream to rsyslog', () => {
  it('TCP: survives a SIEM outage and a gateway restart without a gap; alerts while behind; the file is a witness', async () => {
    const rsyslog = await rsyslogIn(tmp.path);
    started.push(rsyslog);
    const dir = `${tmp.path}/storage`;
    const config: SyslogConfig = {
      host: '127.0.0.1',
      port: rsyslog.port,
      transport: 'tcp',
      appName: 'gatehouse',
      alertBacklog: 150,
      alertAfterSeconds: 3600,
    };
    const alerts: { event: string; payload: NotifyPayload }[] = [];
    const notifier = { notify: (event: string, payload: NotifyPayload) => void alerts.push({ event, payload }) };
    const registry = new Registry();

    let log = await AuditLog.open({ dir, clock: systemClock, checkpointEvery: 50 });
    let stream = new SyslogStream({ config, dir, audit: log, clock: systemClock, notifier, registry, ...fast });
    await stream.start();
    let n = 0;
    const write = async (count: number) => {
      for (let i = 0; i < count; i++) await log.append(event(n++));
    };
    await write(100);
    await until('the first records at rsyslog', async () => receivedBySeq(await rsyslog.lines()).size >= 20);

    // The SIEM goes away mid-stream; the gateway keeps appending at full speed.
    const stopping = rsyslog.stop();
    await write(100);
    await stopping;
    await write(150); // beyond alertBacklog while nothing is delivered
    await until('the behind alert', () => alerts.length > 0);
    expect(alerts[0]).toMatchObject({
      event: 'audit.syslog_behind',
      payload: { host: '127.0.0.1', port: rsyslog.port },
    });
    expect(await registry.getSingleMetricAsString('gatehouse_audit_syslog_behind')).toMatch(/ 1$/m);

    await rsyslog.start();
    await until('catching up', () => stream.backlog() === 0);
    await until(
      'the caught-up record',
      async () => (await log.verify()).ok && JSON.stringify(await rsyslog.lines()).includes('audit.syslog_caught_up'),
    );

    // A gateway restart: the cursor file says where to go on; what it had not confirmed is sent again.
    await log.close();
    await stream.stop();
    // A clean stop confirms everything it flushed (the final checkpoint too): the next start resends nothing.
    expect(stream.cursor().seq).toBe(log.head().seq);
    log = await AuditLog.open({ dir, clock: systemClock, checkpointEvery: 50 });
    stream = new SyslogStream({ config, dir, audit: log, clock: systemClock, notifier, ...fast });
    await stream.start();
    await write(30);
    await log.close();
    await stream.stop();

    const last = log.head().seq;
    await until('everything at rsyslog', async () => receivedBySeq(await rsyslog.lines()).size >= last);
    await expectEverySeqOnce(rsyslog, last);
    const types = (await rsyslog.lines()).join('\n');
    expect(types).toMatch(/audit\.syslog_behind \[gatehouse@32473 seq="\d+"/);
    // RFC 5424 as rsyslog re-wrote it: facility 13 (log audit), informational, our APP-NAME and MSGID.
    expect(types).toMatch(
      /^<110>1 \S+ \S+ gatehouse \d+ command\.executed \[gatehouse@32473 seq="\d+" hash="[0-9a-f]{64}" prev="[0-9a-f]{64}"\] \{"seq":/m,
    );

    const witness = await verifyWitness(dir, rsyslog.file);
    expect(witness.code).toBe(0);
    expect(witness.output).toMatch(new RegExp(`witness agrees: ${last} records compared`));
  }, 120_000);

  it('TLS: delivers through rsyslog-gnutls; an unknown CA is refused without harm to the appends', async () => {
    const ca = makeTestCa(tmp.path);
    const rsyslog = await rsyslogIn(tmp.path, { tls: ca });
    started.push(rsyslog);
    const dir = `${tmp.path}/storage`;
    const base = {
      host: '127.0.0.1',
      port: rsyslog.port,
      transport: 'tls' as const,
      appName: 'gh-plant3',
      alertBacklog: 10_000,
      alertAfterSeconds: 3600,
    };

    // First with a CA that did not sign the server's certificate: nothing goes out, nothing breaks.
    const other = makeTestCa(tmp.path, 'other');
    const log = await AuditLog.open({ dir, clock: systemClock });
    const wrong = new SyslogStream({
      config: { ...base, caFile: other.caFile },
      dir,
      audit: log,
      clock: systemClock,
      ...fast,
    });
    await wrong.start();
    for (let i = 0; i < 20; i++) await log.append(event(i));
    await new Promise((r) => setTimeout(r, 500));
    expect(wrong.backlog()).toBeGreaterThan(0);
    await wrong.stop();
    expect(await rsyslog.lines()).toEqual([]);

    const stream = new SyslogStream({
      config: { ...base, caFile: ca.caFile },
      dir,
      audit: log,
      clock: systemClock,
      ...fast,
    });
    await stream.start();
    for (let i = 20; i < 60; i++) await log.append(event(i));
    await log.close();
    await stream.stop();
    const last = log.head().seq;
    await until('everything at rsyslog over TLS', async () => receivedBySeq(await rsyslog.lines()).size >= last);
    await expectEverySeqOnce(rsyslog, last);
    expect((await rsyslog.lines())[0]).toMatch(/ gh-plant3 /);
    expect((await verifyWitness(dir, rsyslog.file)).code).toBe(0);
  }, 120_000);
});
