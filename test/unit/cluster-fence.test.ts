// The fence on its own: a node whose last written heartbeat is too old closes its sessions, refuses new ones, keeps
// closing while fenced, lifts once a heartbeat sent after the fence began was written, and records the fence then.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import { FENCED_MESSAGE, NodeFence } from '../../gateway/cluster/fence.js';
import { silentLogger } from '../../gateway/log.js';
import { type LiveSession, LiveSessions } from '../../gateway/sessions.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';

describe('NodeFence', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  const live = (id: string, closed: string[]): LiveSession => ({
    id,
    grantId: 'grt_1',
    userId: 'usr_1',
    targetId: 'plc-1',
    protocol: 'ssh',
    startedAt: '2026-11-23T10:00:00.000Z',
    close: async (reason, message) => void closed.push(`${id}:${reason}:${message}`),
  });

  it('fences after the fence time without a written heartbeat, and lifts on the first one written after', async () => {
    dir = await tempDir('gh-fence-');
    const clock = new ManualClock();
    const audit = await AuditLog.open({ dir: dir.path, clock, logger: silentLogger });
    const sessions = new LiveSessions();
    const closed: string[] = [];
    sessions.register(live('ses_a', closed));
    // Milliseconds since the last written heartbeat was sent, as the registry would say.
    let since = 0;
    let beatAt = performance.now();
    const fence = new NodeFence({
      node: 'node-a',
      sinceLastBeat: () => since || performance.now() - beatAt,
      sessions,
      audit,
      now: () => clock.now(),
      logger: silentLogger,
      afterMs: 10_000,
    });
    since = 9_999;
    fence.check();
    expect(fence.isFenced).toBe(false);
    expect(closed).toEqual([]);

    since = 10_001;
    fence.check();
    expect(fence.isFenced).toBe(true);
    await vi.waitFor(() => expect(closed).toEqual([`ses_a:gateway_fenced:${FENCED_MESSAGE}`]));
    expect(() => sessions.register(live('ses_b', closed))).toThrow(FENCED_MESSAGE);

    // Still no heartbeat: still fenced, nothing left to close.
    since = 15_000;
    fence.check();
    expect(fence.isFenced).toBe(true);

    // A heartbeat sent after the fence began is written: the node serves again and records the fence.
    since = 0;
    beatAt = performance.now();
    clock.advance(20_000);
    fence.check();
    expect(fence.isFenced).toBe(false);
    expect(() => sessions.register(live('ses_c', closed))).not.toThrow();
    await fence.stop();
    await audit.close();
    const lines = (await readFile(join(dir.path, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const fenced = lines.filter((l) => l.type === 'gateway.fenced');
    expect(fenced).toHaveLength(1);
    expect(fenced[0]!.data).toEqual({
      node: 'node-a',
      from: '2026-11-23T10:00:00.000Z',
      to: '2026-11-23T10:00:20.000Z',
      sinceHeartbeatMs: 10_001,
      sessionsClosed: ['ses_a'],
    });
  });
});
