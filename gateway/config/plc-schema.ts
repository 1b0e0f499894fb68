// The config shapes of the PLC conduit: forwarding entries that name their protocol, and targets[].plcRules.
import { z } from 'zod';
import { MODBUS_FUNCTION_NAMES, OPERATION_CLASSES, S7_FUNCTION_NAMES } from '../core/plc-functions.js';

/** What a forward carries: read as Modbus/TCP or S7comm, or relayed as plain TCP (no inspection). */
export const FORWARD_PROTOCOLS = ['modbus', 's7', 'tcp'] as const;
export type ForwardProtocol = (typeof FORWARD_PROTOCOLS)[number];

const KNOWN_FUNCTIONS: ReadonlySet<string> = new Set([
  ...MODBUS_FUNCTION_NAMES,
  ...S7_FUNCTION_NAMES,
  ...OPERATION_CLASSES,
]);
/** Codes without a name of their own: Modbus `function-65`, S7 `function-0x3`. */
const NUMBERED = /^function-(\d{1,3}|0x[0-9a-f]{1,2})$/;

const functionName = z.string().superRefine((s, ctx) => {
  // Why refused: a misspelt name in a block rule matches nothing, and the operation it meant to stop passes.
  if (!KNOWN_FUNCTIONS.has(s) && !NUMBERED.test(s))
    ctx.addIssue({
      code: 'custom',
      message: `unknown PLC function "${s.slice(0, 60)}" (e.g. write-single-coil, write-var, plc-stop, download, or a class: ${OPERATION_CLASSES.join(', ')})`,
    });
});

export const plcRuleSchema = z.strictObject({
  match: z.strictObject({
    protocol: z.enum(['modbus', 's7']).optional(),
    function: z
      .array(functionName)
      .min(1, 'name at least one function (or leave function out to match every operation)')
      .optional(),
  }),
  action: z.enum(['block', 'alert', 'confirm']),
  reason: z.string().min(1, 'must not be empty'),
});

export const plcRulesSchema = z
  .strictObject({
    mode: z.enum(['observe', 'alert', 'enforce']).default('observe'),
    /** A forward that cannot be read (S7comm-plus, TLS, not the declared protocol): relay it opaque, or close it. */
    opaque: z.enum(['pass', 'refuse']).optional(),
    /** How long an operation held for a supervisor's confirmation waits before it is refused. */
    confirmSeconds: z.int().min(5).max(3600).default(120),
    rules: z.array(plcRuleSchema).default([]),
  })
  .prefault({});

/** A forwarding entry: "host:port", or { to: "host:port", protocol } to name what the port speaks. */
export const forwardingEntrySchema = (destination: z.ZodType<string>) =>
  z.union([destination, z.strictObject({ to: destination, protocol: z.enum(FORWARD_PROTOCOLS) })]);

type ForwardingEntry = string | { to: string; protocol: ForwardProtocol };

/** The destinations alone (what the forward check compares), and the protocol each declared one names. */
export function splitForwarding(entries: readonly ForwardingEntry[]): {
  forwarding: string[];
  forwardProtocols: Record<string, ForwardProtocol>;
} {
  const forwardProtocols: Record<string, ForwardProtocol> = {};
  const forwarding = entries.map((e) => {
    if (typeof e === 'string') return e;
    forwardProtocols[e.to] = e.protocol;
    return e.to;
  });
  return { forwarding, forwardProtocols };
}
