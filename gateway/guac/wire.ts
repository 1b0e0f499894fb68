// The Guacamole protocol's wire format: instructions `LEN.VALUE,LEN.VALUE,…;` whose lengths count Unicode
// codepoints (not bytes, not UTF-16 units). Pure: no I/O, bounded, malformed input is an error value, never a throw
// out of a socket handler.

export interface Instruction {
  opcode: string;
  args: string[];
}

export interface WireLimits {
  /** Longest instruction in UTF-16 units (libguac's own cap is 8192 bytes; guacd never sends more than a few KiB). */
  maxInstructionChars: number;
  /** Most elements in one instruction (libguac: 128; an RDP `args` list has ~100). */
  maxElements: number;
}

export const DEFAULT_LIMITS: WireLimits = { maxInstructionChars: 256 * 1024, maxElements: 512 };

/** Longest length prefix we read: 7 digits already exceed every limit. */
const MAX_LENGTH_DIGITS = 7;

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/** Codepoints in `s`: its UTF-16 length minus one per surrogate pair. */
export function codepointLength(s: string): number {
  if (!HIGH_SURROGATE.test(s)) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** One instruction in wire form. */
export function encodeInstruction(opcode: string, ...args: Array<string | number>): string {
  let out = '';
  for (const e of [opcode, ...args]) {
    const s = String(e);
    out += `${out ? ',' : ''}${codepointLength(s)}.${s}`;
  }
  return `${out};`;
}

/** The index just past `count` codepoints of `s` from `from`, or -1 if `s` ends first. */
function skipCodepoints(s: string, from: number, count: number): number {
  const end = from + count;
  if (end > s.length) return -1;
  // Fast path: no astral characters, one unit per codepoint.
  if (!HIGH_SURROGATE.test(s.slice(from, end))) return end;
  let i = from;
  for (let n = 0; n < count; n++) {
    if (i >= s.length) return -1;
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  return i;
}

export type ParseResult =
  | {
      ok: true;
      instructions: Instruction[];
      /** UTF-16 units of `text` the complete instructions span. */ consumed: number;
    }
  | { ok: false; error: string };

/**
 * Parses the complete instructions at the start of `text`; an incomplete tail is left for the next call
 * (`consumed` says where it starts). Anything that can never become a valid instruction is an error.
 */
export function parseInstructions(text: string, limits: WireLimits = DEFAULT_LIMITS): ParseResult {
  const instructions: Instruction[] = [];
  let start = 0;
  outer: while (start < text.length) {
    const elements: string[] = [];
    let p = start;
    for (;;) {
      if (p - start > limits.maxInstructionChars) return { ok: false, error: 'instruction too long' };
      const dot = text.indexOf('.', p);
      const digitsEnd = dot === -1 ? text.length : dot;
      if (digitsEnd - p > MAX_LENGTH_DIGITS) return { ok: false, error: 'element length too long' };
      const digits = text.slice(p, digitsEnd);
      if (!/^\d*$/.test(digits)) return { ok: false, error: 'non-numeric element length' };
      if (dot === -1) break outer; // length not complete yet
      if (digits === '') return { ok: false, error: 'empty element length' };
      const length = Number(digits);
      if (length > limits.maxInstructionChars) return { ok: false, error: 'element too long' };
      const end = skipCodepoints(text, dot + 1, length);
      if (end === -1 || end >= text.length) {
        if (text.length - start > limits.maxInstructionChars) return { ok: false, error: 'instruction too long' };
        break outer; // value or terminator not here yet
      }
      elements.push(text.slice(dot + 1, end));
      if (elements.length > limits.maxElements) return { ok: false, error: 'too many elements' };
      const terminator = text[end];
      if (terminator === ';') {
        instructions.push({ opcode: elements[0]!, args: elements.slice(1) });
        start = end + 1;
        continue outer;
      }
      if (terminator !== ',') return { ok: false, error: 'bad element terminator' };
      p = end + 1;
    }
  }
  return { ok: true, instructions, consumed: start };
}

/** The first frame is the default layer's size, then a `sync` (guacd's end of a frame). */
export function firstFrameStep(at: 'none' | 'sized' | 'drawn', i: Instruction): 'none' | 'sized' | 'drawn' {
  if (i.opcode === 'size' && i.args[0] === '0') return 'sized';
  if (i.opcode === 'sync' && at === 'sized') return 'drawn';
  return at;
}
