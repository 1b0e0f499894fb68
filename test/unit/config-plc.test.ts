// The conduit's config: forwarding entries in both forms, plcRules defaults, and the mistakes that must not pass silently.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../gateway/config.js';

const example = () => parseYaml(readFileSync(new URL('../../config/gatehouse.example.yaml', import.meta.url), 'utf8'));
const problems = (mutate: (t: Record<string, any>) => void) => {
  const c = example();
  mutate(c.targets[0]);
  const r = parseConfig(c);
  return r.ok ? [] : r.problems;
};

describe('forwarding and plcRules', () => {
  it('accepts the string and the object form; the destinations stay strings, declared protocols beside them', () => {
    const r = parseConfig(example());
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const t = r.config.targets[0]!;
    expect(t.forwarding).toEqual(['10.2.0.20:102', '10.2.0.21:502']);
    expect(t.forwardProtocols).toEqual({ '10.2.0.21:502': 'modbus' });
    expect(t.plcRules).toMatchObject({
      mode: 'alert',
      confirmSeconds: 120,
      rules: [
        { action: 'confirm', match: { protocol: 's7', function: ['plc-stop', 'download'] } },
        { action: 'alert' },
      ],
    });
  });

  it('defaults plcRules to observe with no rules', () => {
    const c = example();
    delete c.targets[0].plcRules;
    const r = parseConfig(c);
    expect(r.ok && r.config.targets[0]!.plcRules).toEqual({ mode: 'observe', confirmSeconds: 120, rules: [] });
  });

  it.each([
    [
      'a misspelt function',
      (t: any) => (t.plcRules.rules[0].match.function = ['plc-stopp']),
      'targets[0].plcRules.rules[0].match.function[0]',
      /unknown PLC function "plc-stopp"/,
    ],
    [
      'an unknown protocol in a rule',
      (t: any) => (t.plcRules.rules[0].match.protocol = 'profinet'),
      'targets[0].plcRules.rules[0].match.protocol',
      /modbus|s7/,
    ],
    [
      'an unknown action',
      (t: any) => (t.plcRules.rules[0].action = 'allow'),
      'targets[0].plcRules.rules[0].action',
      /block|alert|confirm/,
    ],
    [
      'an empty function list',
      (t: any) => (t.plcRules.rules[0].match.function = []),
      'targets[0].plcRules.rules[0].match.function',
      /at least one/,
    ],
    ['an unknown forward protocol', (t: any) => (t.forwarding[1].protocol = 'bacnet'), 'targets[0].forwarding[1]', /./],
    [
      'a forward object without a port',
      (t: any) => (t.forwarding[1].to = '10.2.0.21'),
      'targets[0].forwarding[1]',
      /./,
    ],
    [
      'a confirm wait of 1 second',
      (t: any) => (t.plcRules.confirmSeconds = 1),
      'targets[0].plcRules.confirmSeconds',
      /5/,
    ],
  ])('refuses %s, naming the key', (_what, mutate, path, message) => {
    const found = problems(mutate);
    expect(
      found.find((p) => p.path.startsWith(path)),
      JSON.stringify(found),
    ).toMatchObject({ message: expect.stringMatching(message) });
  });
});
