// A session's conduit without sockets: staged verdicts, the confirm wait (timeout, session end, decision), replies paired, records bounded.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../gateway/clock.js';
import type { PlcRequest } from '../../gateway/conduit/operation.js';
import type { PlcOperationRecord } from '../../gateway/conduit/record.js';
import type { PlcRulesConfig } from '../../gateway/conduit/rules.js';
import { type PlcLiveEvent, SessionConduit } from '../../gateway/conduit/session-conduit.js';

const write: PlcRequest = {
  protocol: 'modbus',
  key: '1/1',
  unit: '1',
  function: 'write-single-register',
  class: 'write',
  code: 6,
  target: 'holding 3',
  values: '77',
};
const read: PlcRequest = {
  protocol: 'modbus',
  key: '2/1',
  unit: '1',
  function: 'read-holding-registers',
  class: 'read',
  code: 3,
  target: 'holding 0-9',
  count: 10,
};

function conduit(rules: PlcRulesConfig) {
  const stored: PlcOperationRecord[] = [];
  const audited: Array<{ type: string; actor: unknown; data?: Record<string, unknown> }> = [];
  const told: PlcLiveEvent[] = [];
  const writes: Promise<unknown>[] = [];
  const c = new SessionConduit({
    deps: {
      clock: new ManualClock('2026-12-06T10:00:00.000Z'),
      audit: { append: async (e: any) => void audited.push(e) } as any,
      plc: { append: async (r: PlcOperationRecord) => (stored.push(r), r) } as any,
    },
    rules,
    actor: { kind: 'user', id: 'usr_vendor' },
    subject: { sessionId: 'ses_1', targetId: 'eng-ws-01' },
    later: (p) => void writes.push(p),
    tell: (e) => void told.push(e),
  });
  const settle = async () => {
    await Promise.all(writes);
    await new Promise((r) => setImmediate(r));
  };
  return { c, stored, audited, told, settle };
}

const confirmWrites: PlcRulesConfig = {
  mode: 'enforce',
  confirmSeconds: 30,
  rules: [{ match: { function: ['write'] }, action: 'confirm', reason: 'setpoints' }],
};

afterEach(() => void vi.useRealTimers());

describe('SessionConduit', () => {
  it('observe: everything passes, the record says what enforce would have done', async () => {
    const r = conduit({
      mode: 'observe',
      rules: [{ match: { function: ['write-single-register'] }, action: 'block', reason: 'no writes' }],
    });
    const f = r.c.forward('10.0.0.1:502', 'modbus');
    expect(f.record.judge(write)).toEqual({ pass: true });
    f.record.reply({ key: '1/1', ok: true, result: 'ok' });
    await r.settle();
    expect(r.stored).toEqual([
      expect.objectContaining({
        function: 'write-single-register',
        verdict: 'allowed',
        wouldBe: 'blocked',
        rule: 'no writes',
        result: 'ok',
        sessionId: 'ses_1',
        destination: '10.0.0.1:502',
      }),
    ]);
    expect(r.audited).toEqual([]);
  });

  it('refuses a held operation when nobody decides in time, audited as the gateway', async () => {
    vi.useFakeTimers();
    const r = conduit(confirmWrites);
    const j = r.c.forward('10.0.0.1:502', 'modbus').record.judge(write);
    if (!('held' in j)) throw new Error('not held');
    expect(r.c.pending()).toEqual([
      expect.objectContaining({
        function: 'write-single-register',
        reason: 'setpoints',
        expiresAt: '2026-12-06T10:00:30.000Z',
      }),
    ]);
    vi.advanceTimersByTime(30_000);
    expect(await j.held).toBe(false);
    vi.useRealTimers();
    await r.settle();
    expect(r.audited.map((a) => a.type)).toEqual(['plc.held', 'plc.denied']);
    expect(r.audited[1]).toMatchObject({ actor: { kind: 'system' }, data: { decided: 'timeout' } });
    expect(r.stored).toEqual([
      expect.objectContaining({ verdict: 'denied', ok: false, result: expect.stringContaining('not confirmed') }),
    ]);
    expect(r.c.pending()).toEqual([]);
  });

  it('a supervisor approves once; the reply completes the record with who decided', async () => {
    const r = conduit(confirmWrites);
    const rec = r.c.forward('10.0.0.1:502', 'modbus').record;
    const j = rec.judge(write);
    if (!('held' in j)) throw new Error('not held');
    const id = r.c.pending()[0]!.id;
    const sup = { kind: 'user' as const, id: 'usr_sup', name: 'Sam' };
    expect(r.c.decide(id, true, sup)).toBe(true);
    expect(r.c.decide(id, false, sup)).toBe(false);
    expect(await j.held).toBe(true);
    rec.reply({ key: '1/1', ok: true, result: 'ok' });
    await r.settle();
    expect(r.stored).toEqual([expect.objectContaining({ verdict: 'approved', decidedBy: 'usr_sup', result: 'ok' })]);
    expect(r.audited[1]).toMatchObject({ type: 'plc.approved', actor: sup });
    expect(r.told.map((e) => e.type)).toEqual(['plc.held', 'plc.approved']);
  });

  it('the end of the session refuses what is held and records what never got a reply', async () => {
    const r = conduit(confirmWrites);
    const rec = r.c.forward('10.0.0.1:502', 'modbus').record;
    expect(rec.judge(read)).toEqual({ pass: true });
    const j = rec.judge(write);
    r.c.end();
    expect('held' in j && (await j.held)).toBe(false);
    await r.settle();
    expect(r.audited.find((a) => a.type === 'plc.denied')?.data).toMatchObject({ decided: 'session_ended' });
    expect(r.stored.map((s) => [s.function, s.verdict, s.result])).toEqual(
      expect.arrayContaining([
        ['read-holding-registers', 'allowed', 'no reply (forward closed)'],
        ['write-single-register', 'denied', expect.stringContaining('not confirmed')],
      ]),
    );
    expect(rec.judge(write)).toEqual({ held: expect.any(Promise) });
  });

  it('keeps at most 256 requests waiting for replies per forward, recording the oldest as unanswered', async () => {
    const r = conduit({ mode: 'observe', rules: [] });
    const rec = r.c.forward('10.0.0.1:502', 'modbus').record;
    for (let i = 0; i < 300; i++) rec.judge({ ...read, key: `${i}/1` });
    await r.settle();
    expect(r.stored).toHaveLength(44);
    expect(r.stored.every((s) => s.result === 'no reply')).toBe(true);
    rec.reply({ key: '299/1', ok: true, result: 'ok' });
    rec.reply({ key: '0/1', ok: true, result: 'ok' }); // long evicted: nothing to settle
    await r.settle();
    expect(r.stored).toHaveLength(45);
  });
});
