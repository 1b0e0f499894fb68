// PLC rules (targets[].plcRules): each operation read off a forward judged under the staged mode, as command rules judge shell commands.
//
//   observe  every operation passes; the record says what enforce would have done (`wouldBe`).
//   alert    every operation passes; one that matches a block, confirm or alert rule is 'alerted'.
//   enforce  block → 'blocked' (answered with the protocol's own refusal); confirm → 'held' until a
//            supervisor approves it or the wait times out; alert → 'alerted'.
// The first matching block rule wins, then the first confirm rule, then the first alert rule (config order
// within each): a stricter rule is never shadowed by a laxer one written above it.
import type { PlcProtocol, PlcRequest } from './operation.js';

export type PlcMode = 'observe' | 'alert' | 'enforce';
export type PlcAction = 'block' | 'alert' | 'confirm';
/** What the rules decided as the request arrived ('held' becomes 'approved' or 'denied' later). */
export type PlcVerdict = 'allowed' | 'alerted' | 'blocked' | 'held';

export interface PlcRule {
  match: {
    protocol?: PlcProtocol;
    /** Function names (write-single-coil, plc-stop, download…) or classes (read, write, program, control). */
    function?: readonly string[];
  };
  action: PlcAction;
  reason: string;
}

/** The shape of a target's `plcRules` config (structurally what config/schema.ts produces). */
export interface PlcRulesConfig {
  mode: PlcMode;
  /** What a forward that cannot be read gets: relayed as opaque bytes, or closed. Default: refuse in enforce. */
  opaque?: 'pass' | 'refuse';
  /** How long a confirm operation waits for a supervisor before it is refused. */
  confirmSeconds?: number;
  rules: readonly PlcRule[];
}

export interface PlcDecision {
  verdict: PlcVerdict;
  /** What enforce would decide. */
  wouldBe: PlcVerdict;
  rule?: PlcRule;
}

const ORDER: readonly PlcAction[] = ['block', 'confirm', 'alert'];
const STRICT: Readonly<Record<PlcAction, PlcVerdict>> = { block: 'blocked', confirm: 'held', alert: 'alerted' };

function matches(rule: PlcRule, op: Pick<PlcRequest, 'protocol' | 'function' | 'class'>): boolean {
  if (rule.match.protocol && rule.match.protocol !== op.protocol) return false;
  const fns = rule.match.function;
  return !fns || fns.length === 0 || fns.includes(op.function) || fns.includes(op.class);
}

export function evaluatePlcOperation(
  config: PlcRulesConfig,
  op: Pick<PlcRequest, 'protocol' | 'function' | 'class'>,
): PlcDecision {
  let rule: PlcRule | undefined;
  for (const action of ORDER) {
    rule = config.rules.find((r) => r.action === action && matches(r, op));
    if (rule) break;
  }
  if (!rule) return { verdict: 'allowed', wouldBe: 'allowed' };
  const wouldBe = STRICT[rule.action];
  const verdict: PlcVerdict = config.mode === 'enforce' ? wouldBe : config.mode === 'alert' ? 'alerted' : 'allowed';
  return { verdict, wouldBe, rule };
}

/** Whether a forward whose bytes cannot be read is closed: the target's choice, else refused only in enforce. */
export const refusesOpaque = (config: PlcRulesConfig): boolean =>
  (config.opaque ?? (config.mode === 'enforce' ? 'refuse' : 'pass')) === 'refuse';
