// Command rules: each mode × each action, first block rule wins, observe reports what would have happened.
import { describe, expect, it } from 'vitest';
import { commandRuleSchema, type TargetConfig } from '../../gateway/config/schema.js';
import type { CommandsConfig } from '../../gateway/core/commands.js';
import { type CommandMode, type CommandRule, compileRules, evaluateCommand } from '../../gateway/core/commands.js';

const stop: CommandRule = {
  match: '^\\s*(shutdown|reboot|halt)\\b',
  action: 'block',
  reason: 'stops the line',
};
const plc: CommandRule = {
  match: '\\bplc\\s+(download|stop)\\b',
  action: 'alert',
  reason: 'changes PLC state',
};
const rm: CommandRule = { match: '\\brm\\s+-rf\\b', action: 'block', reason: 'destroys files' };

const judge = (mode: CommandMode, text: string, rules: CommandRule[] = [plc, stop, rm]) =>
  evaluateCommand(compileRules({ mode, rules }), text);

describe('evaluateCommand', () => {
  it.each([
    // mode, command, verdict, wouldBe, deciding rule
    ['enforce', 'reboot now', 'blocked', 'blocked', stop],
    ['enforce', 'plc download line2.bin', 'alerted', 'alerted', plc],
    ['enforce', 'ls -l', 'allowed', 'allowed', undefined],
    ['alert', 'reboot now', 'alerted', 'blocked', stop],
    ['alert', 'plc stop', 'alerted', 'alerted', plc],
    ['alert', 'ls -l', 'allowed', 'allowed', undefined],
    ['observe', 'reboot now', 'allowed', 'blocked', stop],
    ['observe', 'plc stop', 'allowed', 'alerted', plc],
    ['observe', 'ls -l', 'allowed', 'allowed', undefined],
  ] as const)('%s: %j → %s (would be %s)', (mode, text, verdict, wouldBe, rule) => {
    const d = judge(mode, text);
    expect(d.verdict).toBe(verdict);
    expect(d.wouldBe).toBe(wouldBe);
    expect(d.rule).toEqual(rule);
  });

  it('the first matching block rule wins over an earlier alert rule and a later block rule', () => {
    const text = 'plc stop; rm -rf /opt/line2 && shutdown';
    // plc (alert) is listed first and matches; rm and stop are block rules: rm comes first among them.
    expect(judge('enforce', text)).toEqual({ verdict: 'blocked', wouldBe: 'blocked', rule: rm });
    expect(judge('enforce', text, [plc, { ...stop, match: 'shutdown' }, rm]).rule?.reason).toBe('stops the line');
  });

  it('patterns have no flags: case matters, ^ anchors the whole text', () => {
    expect(judge('enforce', 'REBOOT').verdict).toBe('allowed');
    expect(judge('enforce', 'echo reboot').verdict).toBe('allowed');
  });

  it('a multi-line (pasted) command is also judged line by line', () => {
    expect(judge('enforce', 'ls\nreboot').verdict).toBe('blocked');
    expect(judge('enforce', 'ls\r\n  halt -p\r\n').rule).toEqual(stop);
  });

  it('no rules: everything allowed in every mode', () => {
    for (const mode of ['observe', 'alert', 'enforce'] as const)
      expect(judge(mode, 'reboot', [])).toEqual({ verdict: 'allowed', wouldBe: 'allowed' });
  });

  it('compiles what config validation accepted (the example config rules)', () => {
    // Type-level (tsc): a validated target's `commands` is what compileRules takes.
    const commandsOf = (t: TargetConfig): CommandsConfig => t.commands;
    expect(commandsOf).toBeTypeOf('function');
    const rules = [stop, plc].map((r) => commandRuleSchema.parse(r));
    const compiled = compileRules({ mode: 'enforce', rules });
    expect(evaluateCommand(compiled, '  shutdown -h now').verdict).toBe('blocked');
    expect(() => compileRules({ mode: 'enforce', rules: [{ ...stop, match: '(' }] })).toThrow(
      expect.objectContaining({ code: 'invalid_command_rule' }),
    );
  });
});
