// Byte scanners for the audit fast path: prove a JSON text is already canonical without parsing it.
//
// "Canonical" as canonicalJson() writes it: no whitespace, object keys strictly increasing (so no
// duplicates), numbers in JSON.stringify's form, strings with only the escapes JSON.stringify uses.
// The scanners are deliberately narrower than canonical JSON: non-ASCII or escaped keys, \u escapes
// other than control characters, and very deep nesting return -1, which sends the line to the
// reference path. A -1 never means "bad", only "not provably canonical here".

/** Set when a string held bytes >= 0x80; the caller then checks the line is valid UTF-8. */
export const scanState = { sawNonAscii: false };

const QUOTE = 34;
const BACKSLASH = 92;
const MAX_DEPTH = 64;
const kind = new Uint8Array(MAX_DEPTH); // 1 object, 0 array
const keyStart = new Int32Array(MAX_DEPTH);
const keyEnd = new Int32Array(MAX_DEPTH);

/** End of a string with no escapes, control or non-ASCII bytes: the index of its closing quote, or -1. */
export function plainTextEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i;
    if (c < 0x20 || c === BACKSLASH || c >= 0x80) return -1;
  }
  return -1;
}

const isLower = (c: number | undefined) => c !== undefined && c >= 97 && c <= 122;
const isTypeChar = (c: number) => isLower(c) || (c >= 48 && c <= 57) || c === 95;

/** `noun.past_tense`: [a-z][a-z0-9_]*.[a-z][a-z0-9_]* */
export function typeShapeOk(b: Buffer, s: number, e: number): boolean {
  let dot = -1;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === 46) {
      if (dot >= 0) return false;
      dot = i;
    } else if (!isTypeChar(c)) return false;
  }
  return dot > s && isLower(b[s]) && isLower(b[dot + 1]);
}

const isHexLower = (c: number | undefined) => c !== undefined && ((c >= 48 && c <= 57) || (c >= 97 && c <= 102));

/** After the opening quote: the index just past the closing quote, or -1. */
function stringEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = b[i + 1];
      // b f n r t " \ : the short escapes JSON.stringify uses.
      if (e === 98 || e === 102 || e === 110 || e === 114 || e === 116 || e === QUOTE || e === BACKSLASH) {
        i++;
        continue;
      }
      // \u00XX: only for control characters without a short form, in lower-case hex.
      if (e === 117 && b[i + 2] === 48 && b[i + 3] === 48 && (b[i + 4] === 48 || b[i + 4] === 49)) {
        const low = b[i + 5];
        if (!isHexLower(low)) return -1;
        const v = (b[i + 4] === 49 ? 16 : 0) + (low! <= 57 ? low! - 48 : low! - 87);
        if (v === 8 || v === 9 || v === 10 || v === 12 || v === 13) return -1;
        i += 5;
        continue;
      }
      return -1;
    }
    if (c < 0x20) return -1;
    if (c >= 0x80) scanState.sawNonAscii = true;
  }
  return -1;
}

/**
 * After a canonical number starting at b[i], or -1. Integers of up to 15 digits are checked by shape
 * (no leading zero, no "-0"); anything else by a round trip through Number, as JSON.stringify writes it.
 */
function numberEnd(b: Buffer, i: number, end: number): number {
  let j = b[i] === 45 ? i + 1 : i;
  const first = j;
  while (j < end && b[j]! >= 48 && b[j]! <= 57) j++;
  const c = b[j];
  const fraction = c === 46 || c === 101 || c === 69;
  if (!fraction && j > first && j - first <= 15) {
    const zero = b[first] === 48;
    return zero && (j - first > 1 || first > i) ? -1 : j;
  }
  for (; j < end; j++) {
    const d = b[j]!;
    if (!((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45)) break;
  }
  const token = b.toString('latin1', i, j);
  return String(Number(token)) === token ? j : -1;
}

function keyIncreases(b: Buffer, depth: number, s: number, e: number): boolean {
  const ps = keyStart[depth]!;
  if (ps < 0) return true;
  const pe = keyEnd[depth]!;
  for (let i = 0; ; i++) {
    if (ps + i === pe) return s + i < e; // previous key is a proper prefix: smaller, unless equal
    if (s + i === e) return false;
    const d = b[s + i]! - b[ps + i]!;
    if (d !== 0) return d > 0;
  }
}

/** Where the canonical JSON object starting at b[i] ends (exclusive), or -1. */
export function jsonObjectEnd(b: Buffer, i: number, end: number): number {
  if (b[i] !== 123) return -1;
  let depth = -1;
  let expectKey = false;
  while (i < end) {
    let c = b[i]!;
    if (expectKey) {
      if (c !== QUOTE) return -1;
      const s = i + 1;
      const e = plainTextEnd(b, s, end);
      if (e < 0 || b[e + 1] !== 58 || !keyIncreases(b, depth, s, e)) return -1;
      keyStart[depth] = s;
      keyEnd[depth] = e;
      i = e + 2;
      expectKey = false;
      continue;
    }
    if (c === 123 || c === 91) {
      if (++depth >= MAX_DEPTH) return -1;
      const obj = c === 123;
      kind[depth] = obj ? 1 : 0;
      keyStart[depth] = -1;
      i++;
      if (b[i] !== (obj ? 125 : 93)) {
        expectKey = obj;
        continue;
      }
      depth--;
      i++;
    } else if (c === QUOTE) {
      i = stringEnd(b, i + 1, end);
      if (i < 0) return -1;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      i = numberEnd(b, i, end);
      if (i < 0) return -1;
    } else if (c === 116 && b[i + 1] === 114 && b[i + 2] === 117 && b[i + 3] === 101) i += 4;
    else if (c === 110 && b[i + 1] === 117 && b[i + 2] === 108 && b[i + 3] === 108) i += 4;
    else if (c === 102 && b[i + 1] === 97 && b[i + 2] === 108 && b[i + 3] === 115 && b[i + 4] === 101) i += 5;
    else return -1;
    // After a value: close containers, or a comma and the next member.
    for (;;) {
      if (depth < 0) return i;
      c = b[i]!;
      if (c === 44) {
        i++;
        expectKey = kind[depth] === 1;
        break;
      }
      if (c !== (kind[depth] === 1 ? 125 : 93)) return -1;
      depth--;
      i++;
    }
  }
  return -1;
}
