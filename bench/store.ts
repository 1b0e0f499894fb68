// State at a year's size: what one db.json update and one captured command cost, and how long each holds the event
// loop (every relay of the gateway waits that long). 10,000 sessions and requests in db.json, 200,000 commands in
// commands.jsonl (the full run; --quick: a tenth).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CommandLog } from '../gateway/command-log.js';
import type { AccessRequest, SessionRecord } from '../gateway/core/model.js';
import { Store } from '../gateway/store.js';

export interface StoreBenchCase {
  name: string;
  /** Mean wall time per operation, awaited one after another. */
  msPerOp: number;
  /** The longest the event loop was held meanwhile. */
  maxBlockMs: number;
}

const at = new Date('2026-11-23T10:00:00Z').toISOString();

function request(i: number): AccessRequest {
  return {
    id: `req_${i}`,
    grantId: `grt_${i}`,
    userId: 'usr_1',
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    purpose: 'Maintenance of the line 2 PLC program after the change request',
    ticket: 'CHG-12345',
    state: 'expired',
    createdAt: at,
    startsAt: at,
    endsAt: at,
    approvals: [{ userId: 'usr_2', at }],
  } as unknown as AccessRequest;
}

function session(i: number): SessionRecord {
  return {
    id: `ses_${i}`,
    grantId: `grt_${i}`,
    requestId: `req_${i}`,
    userId: 'usr_1',
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    via: 'ssh',
    startedAt: at,
    endedAt: at,
    endReason: 'client_closed',
    sourceIp: '10.1.2.3',
    recording: { path: `sessions/2026/11/23/ses_${i}.cast`, sha256: 'a'.repeat(64), bytes: 123_456 },
  };
}

async function measure(name: string, ops: number, op: (i: number) => Promise<unknown>): Promise<StoreBenchCase> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t = performance.now();
  for (let i = 0; i < ops; i++) await op(i);
  const msPerOp = (performance.now() - t) / ops;
  h.disable();
  return { name, msPerOp, maxBlockMs: h.max / 1e6 };
}

export async function benchStore(o: { sessions: number; commands: number }): Promise<StoreBenchCase[]> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-store-'));
  try {
    const store = await Store.open({ dir });
    const commands = await CommandLog.open({ store });
    await store.update((d) => {
      for (let i = 0; i < o.sessions; i++) {
        d.requests.push(request(i));
        d.sessions.push(session(i));
      }
    });
    for (let i = 0; i < o.commands; i += 1000)
      await Promise.all(
        Array.from({ length: Math.min(1000, o.commands - i) }, (_, k) =>
          commands.append({ id: `cmd_${i + k}`, sessionId: `ses_${(i + k) % o.sessions}`, at, text: `ls -la /var/log/app${i + k} | grep error`, verdict: 'allowed' }),
        ),
      );
    // One warm-up of each kind: the first update also builds the per-collection texts.
    await store.update((d) => void (d.meta.warm = true));
    const cases = [
      await measure('a captured command (commands.jsonl)', 50, (i) => commands.append({ id: `cmd_x${i}`, sessionId: 'ses_1', at, text: 'whoami', verdict: 'allowed' })),
      await measure('a session update (db.json)', 20, (i) => store.update((d) => void d.sessions.push({ ...session(o.sessions + i) }))),
      await measure('a web-session update (db.json)', 20, (i) =>
        store.update((d) => void d.webSessions.push({ id: `ws_${i}`, userId: 'usr_1', createdAt: at, lastSeenAt: at, expiresAt: at, csrfToken: 'x' })),
      ),
    ];
    await commands.close();
    await store.close();
    return cases;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
