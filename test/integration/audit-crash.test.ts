// SIGKILL mid-append: every acknowledged record survives, and the next start repairs and verifies.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyAuditFile } from '../../gateway/audit-log.js';
import { systemClock } from '../../gateway/clock.js';
import { packageRoot } from '../../gateway/paths.js';
import { bundleForChild } from '../helpers/bundle.js';

/** The child: 16 writers appending as fast as acknowledgements come, printing each acknowledged seq. */
const childSource = (auditLogTs: string) => `
import { AuditLog } from ${JSON.stringify(auditLogTs)};
const log = await AuditLog.open({ dir: process.argv[2], clock: { now: () => Date.now() }, checkpointEvery: 50 });
let n = 0;
await Promise.all(Array.from({ length: 16 }, async (_, w) => {
  for (;;) {
    const r = await log.append({ type: 'command.executed', actor: { kind: 'system', id: 'gateway' }, data: { w, n: n++, pad: 'x'.repeat(200) } });
    // A write to a pipe is synchronous on Linux: once the parent reads this, the ack happened.
    process.stdout.write(r.seq + '\\n');
  }
}));
`;

let child: string;
const dirs: string[] = [];
beforeAll(async () => {
  const src = await mkdtemp(join(tmpdir(), 'gatehouse-audit-child-'));
  dirs.push(src);
  const entry = join(src, 'audit-child.ts');
  await writeFile(entry, childSource(join(packageRoot, 'gateway', 'audit-log.ts')));
  child = await bundleForChild(entry);
  dirs.push(dirname(child));
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs the child until it has acknowledged `acks` records, then SIGKILLs it; returns the acked seqs. */
function runAndKill(dir: string, acks: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seen: number[] = [];
    let buffered = '';
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    p.stdout.on('data', (d: Buffer) => {
      buffered += d;
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const s of parts) seen.push(Number(s));
      if (seen.length >= acks && !p.killed) p.kill('SIGKILL');
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(seen);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

describe('audit log under SIGKILL', () => {
  it('keeps every acknowledged record; the next open repairs the tail and verifies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-audit-kill-'));
    dirs.push(dir);
    for (let round = 0; round < 3; round++) {
      const acked = await runAndKill(dir, 300);
      expect(acked.length).toBeGreaterThanOrEqual(300);

      const raw = await readFile(join(dir, 'audit.jsonl'));
      const complete = raw.subarray(0, raw.lastIndexOf(10) + 1);
      const bySeq = new Map(
        complete
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l) => [JSON.parse(l).seq as number, JSON.parse(l).type as string]),
      );
      for (const seq of acked) expect(bySeq.get(seq), `acknowledged seq ${seq}`).toBe('command.executed');

      const log = await AuditLog.open({ dir, clock: systemClock });
      // The repair cuts at most the unacknowledged partial line: every complete line is kept as it was.
      const after = await readFile(join(dir, 'audit.jsonl'));
      expect(after.subarray(0, complete.length).equals(complete)).toBe(true);
      const partial = raw.length - complete.length;
      if (partial > 0) expect(after.toString()).toContain(`"droppedBytes":${partial}`);
      await log.close();
      expect(await verifyAuditFile(dir)).toMatchObject({ ok: true });
    }
  });
});
