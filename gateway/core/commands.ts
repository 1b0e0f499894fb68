// Command rules (targets[].commands): compiled once per target, then each captured command judged under the staged mode.
//
// Modes are staged so a site can roll rules out safely and roll them back:
//   observe  rules are evaluated and the would-be verdict reported (`wouldBe`), but every command
//            is 'allowed' — only logged. For tuning rules against real traffic.
//   alert    nothing is stopped: a matching block or alert rule makes the command 'alerted'.
//   enforce  a matching block rule blocks ('blocked'); otherwise a matching alert rule alerts.
// Within one evaluation the first matching block rule (config order) wins over any alert rule,
// whatever their order; among alert rules the first match is reported.
import { invalidInput } from '../errors.js';

export type CommandMode = 'observe' | 'alert' | 'enforce';
export type CommandVerdict = 'allowed' | 'alerted' | 'blocked';

export interface CommandRule {
  match: string;
  action: 'block' | 'alert';
  reason: string;
}

/** The shape of a target's `commands` config (structurally what config/schema.ts produces). */
export interface CommandsConfig {
  mode: CommandMode;
  rules: readonly CommandRule[];
}

export interface CompiledCommandRules {
  readonly mode: CommandMode;
  readonly rules: ReadonlyArray<{ readonly rule: CommandRule; readonly re: RegExp }>;
}

export interface CommandDecision {
  verdict: CommandVerdict;
  /** What enforce mode would decide: equals `verdict` in enforce, tells observe/alert what they let through. */
  wouldBe: CommandVerdict;
  /** The deciding rule (in observe: the rule that would have decided); absent when none matched. */
  rule?: CommandRule;
}

/** Compiles each pattern once, WITHOUT flags — exactly as config validation checked it. */
export function compileRules(config: CommandsConfig): CompiledCommandRules {
  const rules = config.rules.map((rule, i) => {
    try {
      return { rule: { ...rule }, re: new RegExp(rule.match) };
    } catch (err) {
      throw invalidInput('invalid_command_rule', `commands.rules[${i}].match is not a valid regex`, err);
    }
  });
  return { mode: config.mode, rules };
}

/**
 * The texts a command is matched against: the whole text, and each of its lines when it has
 * several. Why the lines too: a pasted block runs each line as its own command, and patterns have no
 * `m` flag, so `^\s*reboot` would otherwise never see a second line.
 */
function candidates(text: string): string[] {
  if (!/[\r\n]/.test(text)) return [text];
  return [text, ...text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '')];
}

export function evaluateCommand(compiled: CompiledCommandRules, text: string): CommandDecision {
  const texts = candidates(text);
  const hits = (re: RegExp) => texts.some((t) => re.test(t));
  let decided: CommandRule | undefined;
  for (const { rule, re } of compiled.rules) {
    if (rule.action !== 'block' || !hits(re)) continue;
    decided = rule;
    break;
  }
  if (!decided)
    for (const { rule, re } of compiled.rules) {
      if (rule.action !== 'alert' || !hits(re)) continue;
      decided = rule;
      break;
    }
  if (!decided) return { verdict: 'allowed', wouldBe: 'allowed' };
  const wouldBe: CommandVerdict = decided.action === 'block' ? 'blocked' : 'alerted';
  const verdict: CommandVerdict =
    compiled.mode === 'enforce' ? wouldBe : compiled.mode === 'alert' ? 'alerted' : 'allowed';
  return { verdict, wouldBe, rule: decided };
}
