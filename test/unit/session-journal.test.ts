// The session journal on a real store and audit log: one session's record and its start and end records, for each
// fate of the recording, and the crash path run twice.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import { userActor } from '../../gateway/core/model.js';
import { silentLogger } from '../../gateway/log.js';
import {
  endInterrupted,
  type JournalOpening,
  type LiveEnd,
  requestTermination,
  SessionJournal,
  terminationOf,
} from '../../gateway/sessions/journal.js';
import { PendingEnds } from '../../gateway/sessions/pending-ends.js';
import { Store } from '../../gateway/store.js';
import { storageUnavailable } from '../../gateway/storage-faults.js';
import type { StatePort } from '../../gateway/storage/port.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';

interface Line {
  type: string;
  actor: Record<string, unknown>;
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

describe('SessionJournal', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  async function open(node?: string, pendingEnds?: PendingEnds) {
    dir = await tempDir('gh-journal-');
    const storageDir = join(dir.path, 'storage');
    const clock = new ManualClock();
    const store = await Store.open({ dir: storageDir, logger: silentLogger });
    const audit = await AuditLog.open({ dir: storageDir, clock, logger: silentLogger });
    await store.attachAudit(audit);
    const lines = async (): Promise<Line[]> =>
      (await readFile(join(storageDir, 'audit.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line)
        .filter((l) => l.type !== 'audit.checkpoint');
    const opening = (id: string, protocol: 'ssh' | 'rdp' = 'ssh'): JournalOpening => ({
      id,
      grantId: 'grt_1',
      requestId: 'req_1',
      userId: 'usr_1',
      targetId: 'plc-1',
      protocol,
      via: protocol,
      startedAt: clock.now(),
      sourceIp: '192.0.2.7',
      actor: userActor({ id: 'usr_1', name: 'Vera Vendor', email: 'vera@example.com' }, '192.0.2.7'),
    });
    // The state as a session sees it: refusing every update while `full` (what the store does on a full disk).
    // `lostAnswer`: the update commits, but its answer is lost (a database commit that timed out on the way back).
    const gate = { full: false, auditFull: false, lostAnswer: false };
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const gated = new Proxy(store, {
      get: (target, key, receiver) =>
        key === 'update' && gate.full
          ? () => Promise.reject(storageUnavailable('db.json', full))
          : key === 'update' && gate.lostAnswer
            ? (fn: Parameters<Store['update']>[0]) =>
                target.update(fn).then(() => Promise.reject(storageUnavailable('db.json', full)))
            : (Reflect.get(target, key, receiver) as unknown),
    }) as StatePort;
    const journal = (id: string, protocol: 'ssh' | 'rdp' = 'ssh') =>
      new SessionJournal(
        {
          store: gated,
          audit: {
            append: (r: Parameters<AuditLog['append']>[0]) =>
              gate.auditFull ? Promise.reject(storageUnavailable('audit.jsonl', full)) : audit.append(r),
          },
          clock,
          ...(node ? { node } : {}),
          ...(pendingEnds ? { pendingEnds } : {}),
        },
        opening(id, protocol),
      );
    return {
      store,
      audit,
      clock,
      lines,
      journal,
      opening,
      gate,
      close: () => Promise.all([audit.close(), store.close()]),
    };
  }

  it('writes the record with its node, then the sealed recording and the end, in that order and about one subject', async () => {
    const t = await open('node-a');
    const j = t.journal('ses_sealed0001');
    await j.start({ via: 'ssh', keyFingerprint: 'SHA256:abc' });
    await j.recordingPlaced({ path: 'sessions/x.cast', keystrokes: false });
    t.clock.advance(65_000);
    await j.end({
      reason: 'client_closed',
      recording: { kind: 'sealed', sha256: 'a'.repeat(64), bytes: 120, incomplete: false },
      details: { refusalsNotAudited: 3 },
    });
    const rec = t.store.data.sessions.find((s) => s.id === 'ses_sealed0001');
    expect(rec).toMatchObject({
      node: 'node-a',
      protocol: 'ssh',
      sourceIp: '192.0.2.7',
      endReason: 'client_closed',
      endedAt: '2026-11-23T10:01:05.000Z',
      recording: { path: 'sessions/x.cast', keystrokes: false, sha256: 'a'.repeat(64), bytes: 120 },
    });
    expect(rec?.recording?.incomplete).toBeUndefined();
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual(['session.started', 'recording.sealed', 'session.ended']);
    for (const l of lines) expect(l.subject).toEqual(j.subject);
    expect(lines[0]!.data).toEqual({ via: 'ssh', keyFingerprint: 'SHA256:abc' });
    expect(lines[1]!.data).toEqual({ sha256: 'a'.repeat(64), bytes: 120, incomplete: false });
    expect(lines[2]!.data).toEqual({ reason: 'client_closed', durationMs: 65_000, refusalsNotAudited: 3 });
    await t.close();
  });

  it('leaves the node out on a single node, and marks a lost recording incomplete with its failure audited', async () => {
    const t = await open();
    const j = t.journal('ses_lostrec001', 'rdp');
    await j.start({ via: 'rdp' }, { path: 'sessions/y.guac' });
    await j.end({
      reason: 'error',
      recording: { kind: 'lost', failure: { error: 'no recording: missing', path: 'sessions/y.guac' } },
      details: { via: 'rdp', message: 'the gateway could not start the session' },
    });
    const rec = t.store.data.sessions.find((s) => s.id === 'ses_lostrec001');
    expect(rec && 'node' in rec).toBe(false);
    expect(rec?.recording).toEqual({ path: 'sessions/y.guac', incomplete: true });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual(['session.started', 'recording.failed', 'session.ended']);
    expect(lines[1]!.data).toEqual({ error: 'no recording: missing', path: 'sessions/y.guac' });
    expect(lines[2]!.data).toMatchObject({ reason: 'error', via: 'rdp', durationMs: 0 });
    await t.close();
  });

  it('writes a recording failure once: at the time, and not again at the end', async () => {
    const t = await open();
    const j = t.journal('ses_failedrec1', 'rdp');
    await j.start({ via: 'rdp' }, { path: 'sessions/z.guac' });
    await j.recordingFailed({ error: 'guacd did not create the recording', path: 'sessions/z.guac' });
    await j.end({ reason: 'recording_failed', recording: { kind: 'lost' } });
    expect((await t.lines()).map((l) => l.type)).toEqual(['session.started', 'recording.failed', 'session.ended']);
    expect(t.store.data.sessions[0]?.recording?.incomplete).toBe(true);
    await t.close();
  });

  it('finish records the end though the cut-off and the seal throw: the recording lost, its failure audited', async () => {
    const t = await open();
    const j = t.journal('ses_sealthrow1');
    await j.start({ via: 'ssh' });
    await j.recordingPlaced({ path: 'sessions/v.cast', keystrokes: false });
    const steps: string[] = [];
    await j.finish({
      reason: 'client_closed',
      logger: silentLogger,
      cutOff: () => {
        steps.push('cutOff');
        throw new Error('a viewer could not be told');
      },
      recordingPath: 'sessions/v.cast',
      seal: () => {
        steps.push('seal');
        return Promise.reject(new Error('EIO: i/o error, close'));
      },
      details: () => {
        steps.push('details');
        return Promise.resolve({ refusalsNotAudited: 1 });
      },
    });
    expect(steps).toEqual(['cutOff', 'seal', 'details']);
    const rec = t.store.data.sessions[0];
    expect(rec?.endReason).toBe('client_closed');
    expect(rec?.recording).toEqual({ path: 'sessions/v.cast', keystrokes: false, incomplete: true });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual(['session.started', 'recording.failed', 'session.ended']);
    expect(lines[1]!.data).toEqual({
      error: 'the recording could not be sealed: EIO: i/o error, close',
      path: 'sessions/v.cast',
    });
    expect(lines[2]!.data).toEqual({ reason: 'client_closed', durationMs: 0, refusalsNotAudited: 1 });
    await t.close();
  });

  it('finish after a recording failure: a seal that throws is not audited again, and the end still is', async () => {
    const t = await open();
    const j = t.journal('ses_sealthrow2');
    await j.start({ via: 'ssh' });
    await j.recordingPlaced({ path: 'sessions/u.cast', keystrokes: false });
    await j.recordingFailed({ error: 'ENOSPC: no space left on device, write' });
    await j.finish({
      reason: 'recording_failed',
      logger: silentLogger,
      cutOff: () => undefined,
      recordingPath: 'sessions/u.cast',
      seal: () => Promise.reject(new Error('seal failed')),
      details: () => Promise.reject(new Error('details failed')),
    });
    expect(t.store.data.sessions[0]).toMatchObject({ endReason: 'recording_failed', recording: { incomplete: true } });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual(['session.started', 'recording.failed', 'session.ended']);
    expect(lines[2]!.data).toEqual({ reason: 'recording_failed', durationMs: 0 });
    await t.close();
  });

  it('drops the recording of a connection that never opened, with no recording record', async () => {
    const t = await open();
    const j = t.journal('ses_dropped001', 'rdp');
    await j.start({ via: 'rdp' }, { path: 'sessions/w.guac' });
    await j.end({ reason: 'error', recording: { kind: 'dropped' } });
    expect(t.store.data.sessions[0]?.recording).toBeUndefined();
    expect((await t.lines()).map((l) => l.type)).toEqual(['session.started', 'session.ended']);
    await t.close();
  });

  it('ends a session whose start never got stored without inventing a record', async () => {
    const t = await open();
    await t.journal('ses_neverstart').end({ reason: 'error' });
    expect(t.store.data.sessions).toEqual([]);
    expect((await t.lines()).map((l) => [l.type, l.data?.reason])).toEqual([['session.ended', 'error']]);
    await t.close();
  });

  it('keeps the first end when the leader already ended the session as crashed: the seal is written, the late end is its own event', async () => {
    const t = await open('node-a');
    const j = t.journal('ses_splitend01');
    await j.start({ via: 'ssh' }, { path: 'sessions/s.cast', keystrokes: false });
    t.clock.advance(20_000);
    // The leader, having seen node-a's heartbeat stop, ends the session with the repaired file's hash.
    const rec = t.store.data.sessions[0]!;
    await endInterrupted({ store: t.store, clock: t.clock }, rec, {
      repaired: { sha256: 'c'.repeat(64), bytes: 40 },
      incomplete: { reason: 'gateway_crashed' },
    });
    const crashedAt = t.store.data.sessions[0]!.endedAt;
    t.clock.advance(10_000);
    // node-a comes back and its session ends: the file it closed is the true recording.
    await j.end({
      reason: 'client_closed',
      recording: { kind: 'sealed', sha256: 'd'.repeat(64), bytes: 90, incomplete: false },
      details: { via: 'ssh' },
    });
    expect(t.store.data.sessions[0]).toMatchObject({
      endedAt: crashedAt,
      endReason: 'gateway_crashed',
      recording: { path: 'sessions/s.cast', sha256: 'd'.repeat(64), bytes: 90 },
    });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual([
      'session.started',
      'recording.incomplete',
      'session.ended',
      'recording.sealed',
      'session.ended_late',
    ]);
    expect(lines.filter((l) => l.type === 'session.ended')).toHaveLength(1);
    expect(lines[3]!.data).toEqual({ sha256: 'd'.repeat(64), bytes: 90, incomplete: false });
    expect(lines[4]!.subject).toEqual(j.subject);
    expect(lines[4]!.data).toEqual({
      reason: 'client_closed',
      via: 'ssh',
      durationMs: 30_000,
      endedAt: '2026-11-23T10:00:30.000Z',
      recordedEnd: { at: crashedAt, reason: 'gateway_crashed' },
      node: 'node-a',
    });
    await t.close();
  });

  it('writes a late lost recording as a failure and keeps the record incomplete', async () => {
    const t = await open();
    const j = t.journal('ses_splitlost1');
    await j.start({ via: 'ssh' }, { path: 'sessions/l.cast', keystrokes: false });
    await endInterrupted({ store: t.store, clock: t.clock }, t.store.data.sessions[0]!, {});
    await j.end({
      reason: 'recording_failed',
      recording: { kind: 'lost', failure: { error: 'disk full', path: 'sessions/l.cast' } },
    });
    expect(t.store.data.sessions[0]).toMatchObject({ endReason: 'gateway_crashed', recording: { incomplete: true } });
    const types = (await t.lines()).map((l) => l.type);
    expect(types).toEqual(['session.started', 'session.ended', 'recording.failed', 'session.ended_late']);
    await t.close();
  });

  it('ends an interrupted session once, however often recovery runs', async () => {
    const t = await open();
    await t.journal('ses_crashed001').start({ via: 'ssh' }, { path: 'sessions/c.cast' });
    const rec = t.store.data.sessions[0]!;
    const end = { repaired: { sha256: 'b'.repeat(64), bytes: 77 }, incomplete: { reason: 'gateway_crashed' as const } };
    await endInterrupted({ store: t.store, clock: t.clock }, rec, end);
    await endInterrupted({ store: t.store, clock: t.clock }, rec, end);
    expect(t.store.data.sessions[0]).toMatchObject({
      endReason: 'gateway_crashed',
      recording: { sha256: 'b'.repeat(64), bytes: 77, incomplete: true },
    });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual(['session.started', 'recording.incomplete', 'session.ended']);
    expect(lines[2]).toMatchObject({
      actor: { kind: 'system', id: 'gateway' },
      data: { reason: 'gateway_crashed', via: 'ssh', recovered: true, startedAt: rec.startedAt },
    });
    await t.close();
  });

  const terminate = {
    at: '2026-11-23T10:00:05.000Z',
    by: 'usr_sup',
    byName: 'Sam Supervisor',
    reason: 'wrong PLC',
    message: 'Sam Supervisor terminated this session: wrong PLC',
  };

  it('keeps a terminate on the live record only, and a crash end of such a session is the terminate', async () => {
    const t = await open('node-a');
    await t.journal('ses_termreq001').start({ via: 'ssh' });
    expect(await t.store.update((d) => requestTermination(d, 'ses_termreq001', terminate))).toBe(true);
    // A second request adds nothing: the first stands.
    await t.store.update((d) => requestTermination(d, 'ses_termreq001', { ...terminate, by: 'usr_other' }));
    expect(terminationOf(t.store.data.sessions, 'ses_termreq001')).toEqual(terminate);
    expect(terminationOf(t.store.data.sessions, 'ses_nosuch00001')).toBeUndefined();
    // The holder crashed before it read the request: recovery ends the session as the terminate it was.
    await endInterrupted({ store: t.store, clock: t.clock }, t.store.data.sessions[0]!, {});
    expect(t.store.data.sessions[0]).toMatchObject({ endReason: 'terminated', terminateRequested: terminate });
    const ended = (await t.lines()).filter((l) => l.type === 'session.ended');
    expect(ended.map((l) => l.data?.reason)).toEqual(['terminated']);
    // An ended session takes no request.
    expect(await t.store.update((d) => requestTermination(d, 'ses_termreq001', terminate))).toBe(false);
    await t.close();
  });

  it('a late end after the crash sweep repaired the sealed file keeps the repair’s hash on the record', async () => {
    const t = await open('node-a');
    const j = t.journal('ses_fencedend1');
    await j.start({ via: 'ssh' }, { path: 'sessions/f.cast', keystrokes: false });
    t.clock.advance(5_000);
    // The fenced node sealed its file at +5 s, but could not record it (the end is written once it can).
    const sealedAt = t.clock.now();
    t.clock.advance(10_000);
    // The leader repaired the sealed file at +15 s (the node's bytes and the incomplete marker).
    await endInterrupted({ store: t.store, clock: t.clock }, t.store.data.sessions[0]!, {
      repaired: { sha256: 'e'.repeat(64), bytes: 140 },
      incomplete: { reason: 'gateway_crashed' },
    });
    const late = new SessionJournal(
      { store: t.store, audit: t.audit, clock: new ManualClock(sealedAt), node: 'node-a' },
      t.opening('ses_fencedend1'),
    );
    await late.end({
      reason: 'gateway_fenced',
      recording: { kind: 'sealed', sha256: 'f'.repeat(64), bytes: 100, incomplete: false },
    });
    expect(t.store.data.sessions[0]).toMatchObject({
      endReason: 'gateway_crashed',
      recording: { sha256: 'e'.repeat(64), bytes: 140, incomplete: true },
    });
    const lines = await t.lines();
    expect(lines.find((l) => l.type === 'recording.sealed')?.data).toMatchObject({ sha256: 'f'.repeat(64) });
    expect(lines.find((l) => l.type === 'session.ended_late')?.data).toMatchObject({ reason: 'gateway_fenced' });
    await t.close();
  });

  it('writes an end the storage refused again, with the time it happened', async () => {
    const t = await open('node-a');
    let refuse = 1;
    // The store as the journal sees it, refusing its first two writes as a full disk would.
    const flaky: StatePort = {
      get data() {
        return t.store.data;
      },
      get withHistory() {
        return t.store.withHistory;
      },
      update: (fn) =>
        refuse-- > 0
          ? Promise.reject(storageUnavailable('db.json', Object.assign(new Error('no space'), { code: 'ENOSPC' })))
          : t.store.update(fn),
      close: () => t.store.close(),
    };
    await t.journal('ses_retryend01').start({ via: 'ssh' });
    // No monitor recovery comes (a node cut off from its database): the queue's own timer writes it.
    const pending = new PendingEnds({ logger: silentLogger });
    const j = new SessionJournal(
      { store: flaky, audit: t.audit, clock: t.clock, node: 'node-a', pendingEnds: pending },
      t.opening('ses_retryend01'),
    );
    t.clock.advance(7_000);
    const endedAt = new Date(t.clock.now()).toISOString();
    await expect(j.end({ reason: 'client_closed' })).rejects.toThrow(/no space/);
    t.clock.advance(60_000);
    // Written again within a retry period (2 s), with the end's own time.
    const rec = await vi.waitFor(
      () => {
        const s = t.store.data.sessions[0]!;
        if (!s.endedAt) throw new Error('not yet');
        return s;
      },
      { timeout: 6000, interval: 100 },
    );
    expect(rec).toMatchObject({ endedAt, endReason: 'client_closed' });
    const ended = (await t.lines()).filter((l) => l.type === 'session.ended');
    expect(ended).toHaveLength(1);
    expect(ended[0]!.data).toMatchObject({ reason: 'client_closed', durationMs: 7_000, recordedLate: true, endedAt });
    expect(pending.size).toBe(0);
    pending.stop();
    await t.close();
  });

  /** A live end whose steps all work: only the state may refuse it. */
  const liveEnd = (seal: { sha256: string; bytes: number }): LiveEnd => ({
    reason: 'client_closed',
    logger: silentLogger,
    cutOff: () => undefined,
    recordingPath: 'sessions/p.cast',
    seal: () => Promise.resolve({ kind: 'sealed', ...seal, incomplete: false }),
    details: () => Promise.resolve({}),
  });

  it('an end the state refuses waits, then is recorded once with its true time, reason and seal', async () => {
    const pending = new PendingEnds({ logger: silentLogger });
    const t = await open(undefined, pending);
    const j = t.journal('ses_refused001');
    await j.start({ via: 'ssh' }, { path: 'sessions/p.cast', keystrokes: false });
    t.clock.advance(65_000);
    t.gate.full = true;
    await j.finish(liveEnd({ sha256: 'e'.repeat(64), bytes: 300 }));
    // Not recorded, and kept: the session still looks live in the state.
    expect(t.store.data.sessions[0]?.endedAt).toBeUndefined();
    expect(pending.size).toBe(1);
    t.clock.advance(30_000);
    await pending.retry(); // storage still refuses: kept for the next try
    expect(pending.size).toBe(1);
    expect((await t.lines()).map((l) => l.type)).toEqual(['session.started']);
    t.gate.full = false;
    await pending.retry();
    await pending.retry(); // nothing left: no second end
    expect(pending.size).toBe(0);
    expect(t.store.data.sessions[0]).toMatchObject({
      endedAt: '2026-11-23T10:01:05.000Z',
      endReason: 'client_closed',
      recording: { path: 'sessions/p.cast', sha256: 'e'.repeat(64), bytes: 300 },
    });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual(['session.started', 'recording.sealed', 'session.ended']);
    expect(lines[2]!.data).toEqual({
      reason: 'client_closed',
      durationMs: 65_000,
      recordedLate: true,
      endedAt: '2026-11-23T10:01:05.000Z',
    });
    await t.close();
  });

  it('a refused end retried after the session was ended as crashed is the late end, never a second session.ended', async () => {
    const pending = new PendingEnds({ logger: silentLogger });
    const t = await open('node-a', pending);
    const j = t.journal('ses_refused002');
    await j.start({ via: 'ssh' }, { path: 'sessions/q.cast', keystrokes: false });
    t.clock.advance(10_000);
    t.gate.full = true;
    await j.finish(liveEnd({ sha256: 'f'.repeat(64), bytes: 12 }));
    // The leader ends it meanwhile (this node looked dead while its storage refused).
    await endInterrupted({ store: t.store, clock: t.clock }, t.store.data.sessions[0]!, {});
    t.gate.full = false;
    await pending.retry();
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual([
      'session.started',
      'session.ended',
      'recording.sealed',
      'session.ended_late',
    ]);
    expect(lines[3]!.data).toMatchObject({
      reason: 'client_closed',
      recordedLate: true,
      endedAt: '2026-11-23T10:00:10.000Z',
    });
    expect(t.store.data.sessions[0]?.endReason).toBe('gateway_crashed');
    await t.close();
  });
  it('a retried end whose first try was committed (its answer lost) is not written again as a late end', async () => {
    const pending = new PendingEnds({ logger: silentLogger });
    const t = await open('node-a', pending);
    const j = t.journal('ses_lostans001');
    await j.start({ via: 'ssh' }, { path: 'sessions/l.cast', keystrokes: false });
    t.clock.advance(3_000);
    t.gate.lostAnswer = true;
    await j.finish(liveEnd({ sha256: 'c'.repeat(64), bytes: 40 }));
    t.gate.lostAnswer = false;
    expect(pending.size).toBe(1);
    await pending.retry();
    expect(pending.size).toBe(0);
    expect((await t.lines()).map((l) => l.type)).toEqual(['session.started', 'recording.sealed', 'session.ended']);
    expect(t.store.data.sessions[0]).toMatchObject({ endedAt: '2026-11-23T10:00:03.000Z', endReason: 'client_closed' });
    pending.stop();
    await t.close();
  });

  it('a recording.failed the audit log refused is written with the end, before the seal', async () => {
    const t = await open();
    const j = t.journal('ses_refused003');
    await j.start({ via: 'ssh' }, { path: 'sessions/r.cast', keystrokes: false });
    t.gate.auditFull = true;
    await j.recordingFailed({ error: 'ENOSPC: no space left on device, write' });
    t.gate.auditFull = false;
    await j.end({
      reason: 'recording_failed',
      recording: { kind: 'sealed', sha256: 'a'.repeat(64), bytes: 5, incomplete: true },
    });
    const lines = await t.lines();
    expect(lines.map((l) => l.type)).toEqual([
      'session.started',
      'recording.failed',
      'recording.sealed',
      'session.ended',
    ]);
    expect(lines[1]!.data).toEqual({ error: 'ENOSPC: no space left on device, write' });
    await t.close();
  });
});

describe('PendingEnds', () => {
  it('keeps at most `max` ends, dropping the oldest, and keeps those that still fail', async () => {
    const pending = new PendingEnds({ logger: silentLogger, max: 2 });
    const recorded: string[] = [];
    let refuse = true;
    const end = (sessionId: string) => ({
      sessionId,
      record: () => (refuse ? Promise.reject(new Error('full')) : Promise.resolve(void recorded.push(sessionId))),
    });
    for (const id of ['ses_a', 'ses_b', 'ses_c']) pending.add(end(id));
    expect(pending.size).toBe(2);
    await pending.retry();
    expect(pending.size).toBe(2);
    refuse = false;
    await pending.retry();
    expect(recorded).toEqual(['ses_b', 'ses_c']);
    expect(pending.size).toBe(0);
    pending.stop();
  });

  it('tries on its own timer while an end waits, and stops once it is recorded', async () => {
    const pending = new PendingEnds({ logger: silentLogger, everyMs: 20 });
    let tries = 0;
    pending.add({
      sessionId: 'ses_t',
      record: () => (++tries < 3 ? Promise.reject(new Error('full')) : Promise.resolve()),
    });
    await vi.waitFor(() => expect(pending.size).toBe(0), { timeout: 5000, interval: 10 });
    expect(tries).toBe(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(tries).toBe(3); // recorded: never tried again
    pending.stop();
  });

  it('gives an end up once its time is over, and stops trying it', async () => {
    let now = 0;
    const pending = new PendingEnds({ logger: silentLogger, forMs: 1000, now: () => now });
    pending.stop(); // only the rounds below
    let tries = 0;
    pending.add({ sessionId: 'ses_g', record: () => Promise.reject(new Error(`full ${++tries}`)) });
    now = 999;
    await pending.retry();
    expect(pending.size).toBe(1);
    now = 1000;
    await pending.retry();
    expect(pending.size).toBe(0);
    await pending.retry();
    expect(tries).toBe(2);
  });

  it('never runs two tries of one end at once: a round asked for during one runs after it', async () => {
    const pending = new PendingEnds({ logger: silentLogger });
    pending.stop();
    let running = 0;
    let most = 0;
    let tries = 0;
    let open!: () => void;
    pending.add({
      sessionId: 'ses_o',
      record: async () => {
        tries++;
        most = Math.max(most, ++running);
        // The first try hangs until released, then fails; the next one succeeds.
        if (tries === 1) await new Promise<void>((r) => (open = r));
        running--;
        if (tries === 1) throw new Error('full');
      },
    });
    const first = pending.retry();
    const second = pending.retry();
    const third = pending.retry();
    expect(second).toBe(third); // asks during a round share one next round
    open();
    await Promise.all([first, second, third]);
    expect(most).toBe(1);
    expect(tries).toBe(2);
    expect(pending.size).toBe(0);
  });
});
