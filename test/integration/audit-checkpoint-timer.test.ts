// The time bound on unsigned records: a signed checkpoint at most checkpointIntervalMs after any record, driven by the injected clock.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, type SetTimer } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import type { AuditRecord } from '../../gateway/core/audit.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/** Timers that run only when the test moves the clock past their deadline. */
class ClockTimers {
  private timers: { due: number; fn: () => void; live: boolean }[] = [];
  constructor(private readonly clock: ManualClock) {}
  readonly set: SetTimer = (ms, fn) => {
    const t = { due: this.clock.now() + ms, fn, live: true };
    this.timers.push(t);
    return { cancel: () => void (t.live = false) };
  };
  pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
  advance(ms: number): void {
    this.clock.advance(ms);
    for (const t of this.timers.filter((x) => x.live && x.due <= this.clock.now())) {
      t.live = false;
      t.fn();
    }
    this.timers = this.timers.filter((t) => t.live);
  }
}

let tmp: TempDir;
beforeEach(async () => {
  tmp = await tempDir('gatehouse-audit-timer-');
});
afterEach(() => tmp.remove());

const records = async (): Promise<AuditRecord[]> =>
  (await readFile(join(tmp.path, 'audit.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
/** The records once the last one is a checkpoint (the timer's write is queued, not awaited). */
async function settled(): Promise<AuditRecord[]> {
  for (let i = 0; i < 200; i++) {
    const r = await records();
    if (r.at(-1)?.type === 'audit.checkpoint') return r;
    await new Promise((ok) => setTimeout(ok, 10));
  }
  return records();
}
const event = (i: number) => ({ type: 'auth.login' as const, actor: { kind: 'user' as const, id: `usr_${i}` } });

describe('checkpoint on time', () => {
  it('signs within the interval after the last record too, and nothing while idle', async () => {
    const clock = new ManualClock('2026-11-23T10:00:00.000Z');
    const timers = new ClockTimers(clock);
    const log = await AuditLog.open({ dir: tmp.path, clock, checkpointIntervalMs: 60_000, setTimer: timers.set });
    expect(timers.pending()).toBe(0); // the start's own checkpoint left nothing unsigned

    clock.advance(10_000);
    await log.append(event(1)); // the first unsigned record sets the deadline: 10:01:10
    clock.advance(30_000);
    await log.append(event(2)); // does not push the deadline back
    timers.advance(29_999);
    await log.append(event(3));
    expect((await records()).at(-1)!.type).toBe('auth.login');
    timers.advance(1); // 60 s after record 1: the last records are signed although nothing else arrives
    const after = await settled();
    const cp = after.at(-1)!;
    expect(cp).toMatchObject({ type: 'audit.checkpoint', at: '2026-11-23T10:01:10.000Z', data: { upToSeq: 4 } });
    const firstUnsigned = after.find((r) => r.seq === 2)!;
    expect(Date.parse(cp.at) - Date.parse(firstUnsigned.at)).toBe(60_000);

    timers.advance(10 * 60_000); // idle: no timer armed, no checkpoint
    expect(timers.pending()).toBe(0);
    expect(await records()).toHaveLength(after.length);

    await log.append(event(4)); // a new deadline from this record
    expect(timers.pending()).toBe(1);
    timers.advance(60_000);
    expect((await settled()).at(-1)).toMatchObject({ type: 'audit.checkpoint', data: { upToSeq: after.length + 1 } });
    await log.close();
    expect(timers.pending()).toBe(0);
  });

  it('a count checkpoint clears the deadline; the next record sets a new one', async () => {
    const clock = new ManualClock();
    const timers = new ClockTimers(clock);
    const log = await AuditLog.open({
      dir: tmp.path,
      clock,
      checkpointEvery: 2,
      checkpointIntervalMs: 60_000,
      setTimer: timers.set,
    });
    await log.append(event(1));
    expect(timers.pending()).toBe(1);
    await log.append(event(2)); // the second record makes a checkpoint by count
    expect(timers.pending()).toBe(0);
    await log.append(event(3));
    expect(timers.pending()).toBe(1);
    await log.close();
  });
});
