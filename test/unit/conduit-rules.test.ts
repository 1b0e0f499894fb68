// PLC rules: each mode × each action, classes as well as names, the strictest matching rule wins whatever the order.
import { describe, expect, it } from 'vitest';
import { evaluatePlcOperation, type PlcRule, refusesOpaque } from '../../gateway/conduit/rules.js';

const stop = { protocol: 's7' as const, function: 'plc-stop', class: 'control' as const };
const coil = { protocol: 'modbus' as const, function: 'write-single-coil', class: 'write' as const };
const readOp = { protocol: 'modbus' as const, function: 'read-coils', class: 'read' as const };
const rules: PlcRule[] = [
  { match: { function: ['write'] }, action: 'alert', reason: 'writes' },
  { match: { protocol: 's7', function: ['plc-stop', 'download'] }, action: 'confirm', reason: 'program' },
  { match: { protocol: 'modbus', function: ['write-single-coil'] }, action: 'block', reason: 'valves' },
];

describe('evaluatePlcOperation', () => {
  it.each([
    ['enforce', coil, 'blocked', 'blocked', 'valves'],
    ['enforce', stop, 'held', 'held', 'program'],
    ['enforce', { ...coil, function: 'write-single-register' }, 'alerted', 'alerted', 'writes'],
    ['alert', coil, 'alerted', 'blocked', 'valves'],
    ['alert', stop, 'alerted', 'held', 'program'],
    ['observe', coil, 'allowed', 'blocked', 'valves'],
    ['enforce', readOp, 'allowed', 'allowed', undefined],
    ['enforce', { ...stop, protocol: 'modbus' as const }, 'allowed', 'allowed', undefined],
  ] as const)('%s %j → %s (would be %s)', (mode, op, verdict, wouldBe, reason) => {
    const d = evaluatePlcOperation({ mode, rules }, op);
    expect(d).toMatchObject({ verdict, wouldBe });
    expect(d.rule?.reason).toBe(reason);
  });

  it('a rule without a function list matches every operation of its protocol', () => {
    expect(
      evaluatePlcOperation(
        { mode: 'enforce', rules: [{ match: { protocol: 's7' }, action: 'block', reason: 'no S7 at all' }] },
        stop,
      ).verdict,
    ).toBe('blocked');
  });

  it('refuses unreadable forwards in enforce unless told to pass them, and passes them elsewhere unless told to refuse', () => {
    expect(refusesOpaque({ mode: 'enforce', rules: [] })).toBe(true);
    expect(refusesOpaque({ mode: 'enforce', opaque: 'pass', rules: [] })).toBe(false);
    expect(refusesOpaque({ mode: 'alert', rules: [] })).toBe(false);
    expect(refusesOpaque({ mode: 'observe', opaque: 'refuse', rules: [] })).toBe(true);
  });
});
