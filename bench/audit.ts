// Audit log throughput: concurrent durable appends (group commit), then full-file verification speed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AuditLog, verifyAuditFile } from '../gateway/audit-log.js';
import { systemClock } from '../gateway/clock.js';
import type { AuditInput } from '../gateway/core/audit.js';

export interface AuditBench {
  appendPerSec: number;
  /** First verification in this process, JIT still cold: what one `gatehouse audit verify` run sees. */
  verifyPerSec: number;
  /** Best of three more passes: the rate a start-up verifying a long log settles at. */
  verifyWarmPerSec: number;
  events: number;
  writers: number;
  /** fsyncs per appended event (group commit: well below 1). */
  fsyncsPerEvent: number;
}

/** A realistic mix: people acting on requests and sessions, commands with free text. */
export function eventFor(writer: number, i: number): AuditInput {
  const actor = {
    kind: 'user',
    id: `usr_${writer}x${(i % 7) + 1}`,
    name: 'Vera Vendor',
    ip: '10.1.2.3',
  } as const;
  switch (i % 4) {
    case 0:
      return {
        type: 'command.executed',
        actor,
        subject: { sessionId: `ses_${writer}_${i >> 4}`, targetId: 'eng-ws-01' },
        data: {
          text: `tail -n 200 /var/log/plc/line2-${i}.log | grep -i "fault"`,
          via: 'shell',
          verdict: 'allowed',
          wouldBe: 'allowed',
          mode: 'observe',
        },
      };
    case 1:
      return {
        type: 'session.started',
        actor,
        subject: { sessionId: `ses_${writer}_${i}`, grantId: `grt_${writer}`, targetId: 'eng-ws-01' },
        data: { protocol: 'ssh', via: 'ssh', sourceIp: '192.0.2.14' },
      };
    case 2:
      return {
        type: 'request.approved',
        actor: { kind: 'user', id: 'usr_sup1', name: 'Sam Supervisor', email: 'sam@plant.example' },
        subject: { requestId: `req_${writer}_${i}`, targetId: 'eng-ws-01' },
        data: {
          by: 'usr_sup1',
          approvals: 1,
          required: 1,
          approvers: ['usr_sup1'],
          startsAt: '2026-11-23T10:00:00.000Z',
          endsAt: '2026-11-23T12:00:00.000Z',
        },
      };
    default:
      return {
        type: 'auth.login',
        actor,
        data: {
          issuer: 'https://idp.example/realms/plant',
          subject: 'vera',
          roles: ['vendor'],
          session: 'ws_1a2b3c',
        },
      };
  }
}

/** `events` appends by `writers` concurrent writers; returns the seconds they took. */
export async function appendConcurrently(log: AuditLog, events: number, writers: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  // Each writer waits for its own acknowledgement before the next append, like a request handler.
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = next++; i < events; i = next++) await log.append(eventFor(w, i));
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function benchAudit(opts: { dir: string; events?: number; writers?: number }): Promise<AuditBench> {
  const events = opts.events ?? 20_000;
  const writers = opts.writers ?? 32;
  const log = await AuditLog.open({ dir: opts.dir, clock: systemClock });
  const appendSeconds = await appendConcurrently(log, events, writers);
  const { fsyncs } = log.stats();
  await log.close();

  const verifyRates: number[] = [];
  for (let pass = 0; pass < 4; pass++) {
    const verifyStarted = performance.now();
    const result = await verifyAuditFile(opts.dir);
    const verifySeconds = (performance.now() - verifyStarted) / 1000;
    if (!result.ok) throw new Error(`bench log does not verify: ${result.reason}`);
    verifyRates.push(Math.round(result.records / verifySeconds));
  }
  return {
    appendPerSec: Math.round(events / appendSeconds),
    verifyPerSec: verifyRates[0]!,
    verifyWarmPerSec: Math.max(...verifyRates.slice(1)),
    events,
    writers,
    fsyncsPerEvent: Number((fsyncs / events).toFixed(3)),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-audit-'));
  try {
    const events = Number(process.env.AUDIT_BENCH_EVENTS ?? 20_000);
    const r = await benchAudit({ dir, events });
    console.log(`audit append: ${r.appendPerSec} events/s (${r.writers} writers, fsync per batch, ${r.events} events)`);
    console.log(`audit verify: ${r.verifyPerSec} events/s`);
    console.log(JSON.stringify(r));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
