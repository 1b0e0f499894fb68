// Raw terminal bytes → the body of a JSON string, one pass: UTF-8 checked (bad bytes → U+FFFD), JSON-escaped.
//
// Why not StringDecoder + JSON.stringify + Buffer.from: three passes through a UTF-16 string measured
// ~60 MB/s on terminal text on the dev VM; this encoder measured ~500 MB/s there (bench/recorder.ts), and its
// valid-UTF-8 fast path in WebAssembly SIMD (json-escape-wasm.ts) ~2 GB/s, copies in and out included.
// Its output is byte-identical to the body of JSON.stringify(new TextDecoder().decode(stream)),
// whatever the chunking (the unit tests check this with random splits).
import { isUtf8 } from 'node:buffer';
import {
  type CheckedEscaper,
  createWasmCheckedEscaper,
  createWasmEscaper,
  type ValidEscaper,
} from './json-escape-wasm.js';

/** 0: copy; 255: \u00XX; else the letter after the backslash. */
const ESCAPE = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) ESCAPE[b] = 255;
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[0x22] = 0x22; // \"
ESCAPE[0x5c] = 0x5c; // \\
const HEX = Buffer.from('0123456789abcdef');
const EMPTY = Buffer.alloc(0);

/** Escapes byte `b` (ESCAPE[b] !== 0) at out[o]; returns the new offset. */
function escapeByte(out: Uint8Array, o: number, b: number): number {
  const e = ESCAPE[b]!;
  out[o++] = 0x5c;
  if (e !== 255) out[o++] = e;
  else {
    out[o++] = 0x75;
    out[o++] = 0x30;
    out[o++] = 0x30;
    out[o++] = HEX[b >> 4]!;
    out[o++] = HEX[b & 15]!;
  }
  return o;
}

/**
 * The checked path's tables. ALONE: what byte b becomes on its own, in 8 slots (ASCII: itself or its escape;
 * any byte ≥ 0x80: U+FFFD), ALONE_LEN its length. NEED: continuation bytes a valid lead byte takes (0: not a
 * lead); LO/HI: the allowed range of its 2nd byte (which excludes overlongs, surrogates and > U+10FFFF).
 */
const ALONE = new Uint8Array(256 * 8);
const ALONE_LEN = new Uint8Array(256);
const NEED = new Uint8Array(256);
const LO = new Uint8Array(256).fill(0x80);
const HI = new Uint8Array(256).fill(0xbf);
for (let b = 0; b < 256; b++) {
  const alone =
    b >= 0x80 ? Buffer.from('\ufffd') : Buffer.from(JSON.stringify(String.fromCharCode(b)).slice(1, -1), 'latin1');
  ALONE.set(alone, b * 8);
  ALONE_LEN[b] = alone.length;
}
NEED.fill(1, 0xc2, 0xe0);
NEED.fill(2, 0xe0, 0xf0);
NEED.fill(3, 0xf0, 0xf5);
LO[0xe0] = 0xa0;
HI[0xed] = 0x9f;
LO[0xf0] = 0x90;
HI[0xf4] = 0x8f;
const ALONE32 = new Uint32Array(ALONE.buffer);

/** Length of an unfinished multi-byte sequence at the end of `buf` (0 if the end is complete). */
function unfinishedTail(buf: Buffer): number {
  for (let j = buf.length - 1; j >= 0 && j >= buf.length - 3; j--) {
    const b = buf[j]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return buf.length - j < need ? buf.length - j : 0;
  }
  return 0;
}

/** The checked path in WebAssembly (json-escape-wasm.ts), with the tables above; undefined without WebAssembly. */
export const checkedWasm: CheckedEscaper | undefined = createWasmCheckedEscaper({
  alone: ALONE,
  aloneLen: ALONE_LEN,
  need: NEED,
  lo: LO,
  hi: HI,
});

/**
 * One scratch buffer for every encoder in the process, grown on demand, for write()/end(). Why shared: callers
 * use each result before the next call (the view rule below), and a per-encoder 64 KiB × 2 per session was a
 * third of an idle session's memory (bench: relay memory per idle session).
 */
let shared: Buffer = EMPTY;
function scratchFor(bytes: number): Buffer {
  if (shared.length < bytes) shared = Buffer.allocUnsafe(Math.max(bytes, 64 * 1024));
  return shared;
}

/** Output room writeInto() needs for `n` input bytes: 6 per byte (\u00XX) and 8 for the 4-byte stores. */
export const roomFor = (n: number): number => n * 6 + 8;

/** Streaming, one per direction: a character split across chunks is held back until its last byte arrives. */
export class JsonUtf8Encoder {
  private carry: Buffer = EMPTY;

  /**
   * `escapeValid`: the fast path for valid UTF-8 (tests pick one; the default is escapeValidDefault); `checked`: the
   * path for anything else, WebAssembly where available ('js': the loop below, which tests compare it with; or a
   * CheckedEscaper of the tests' own, such as the one this module used before).
   */
  constructor(
    private readonly escapeValid: ValidEscaper = escapeValidDefault,
    private readonly checked: 'wasm' | 'js' | CheckedEscaper = checkedWasm ? 'wasm' : 'js',
  ) {}

  /** Bytes held back (the start of a character cut at the chunk end). */
  get held(): number {
    return this.carry.length;
  }

  /** The escaped body for `src` (no quotes). A view into a buffer shared by all encoders: use or copy it before any encoder's next call. */
  write(src: Buffer): Buffer {
    const out = scratchFor(roomFor(this.carry.length + src.length));
    return out.subarray(0, this.writeInto(src, out, 0));
  }

  /**
   * Escapes `src` straight into `out` at `at` (out needs roomFor(held + src.length) bytes from there);
   * returns the offset after the last byte written. The recorder's path: no scratch, no copy.
   */
  writeInto(src: Buffer, out: Buffer, at: number): number {
    const input = this.carry.length > 0 ? Buffer.concat([this.carry, src]) : src;
    this.carry = EMPTY;
    const tail = unfinishedTail(input);
    const body = tail > 0 ? input.subarray(0, input.length - tail) : input;
    if (isUtf8(body)) {
      if (tail > 0) this.carry = Buffer.from(input.subarray(input.length - tail));
      return at + this.escapeValid(body, out, at);
    }
    return this.escapeChecked(input, false, out, at);
  }

  /** End of stream: a character never finished becomes U+FFFD. Same view rule as write(). */
  end(): Buffer {
    const out = scratchFor(roomFor(this.carry.length));
    return out.subarray(0, this.endInto(out, 0));
  }

  /** end() into `out` at `at` (roomFor(held) bytes); returns the offset after it. */
  endInto(out: Buffer, at: number): number {
    if (this.carry.length === 0) return at;
    const input = this.carry;
    this.carry = EMPTY;
    return this.escapeChecked(input, true, out, at);
  }

  /**
   * Slow path for input that is not valid UTF-8: validates each sequence (WHATWG maximal-subpart rule).
   * Why tables and word stores: binary output (random bytes, NUL-heavy images) takes a branch per byte that no
   * predictor learns; writing a byte's whole escape from ALONE as one 4 + 2-byte store and advancing by its
   * length leaves one unpredictable branch (lead byte or not), ~2× the byte-by-byte loop.
   */
  private escapeChecked(src: Buffer, final: boolean, out: Buffer, at: number): number {
    const wasm = typeof this.checked === 'function' ? this.checked : this.checked === 'wasm' ? checkedWasm : undefined;
    if (wasm) {
      const r = wasm(src, final, out, at);
      if (r.consumed < src.length) this.carry = Buffer.from(src.subarray(r.consumed)); // a cut character: wait for the rest
      return r.end;
    }
    const view = new DataView(out.buffer, out.byteOffset, out.length);
    const n = src.length;
    let o = at;
    let i = 0;
    while (i < n) {
      const b = src[i]!;
      const need = NEED[b]!;
      if (need === 0) {
        view.setUint32(o, ALONE32[b * 2]!, true);
        view.setUint16(o + 4, ALONE32[b * 2 + 1]!, true);
        o += ALONE_LEN[b]!;
        i++;
        continue;
      }
      let k = 1; // bytes of this sequence seen valid so far
      let lo = LO[b]!;
      let hi = HI[b]!;
      while (k <= need && i + k < n) {
        const c = src[i + k]!;
        if (c < lo || c > hi) break;
        lo = 0x80;
        hi = 0xbf;
        k++;
      }
      if (k === need + 1) {
        for (let j = 0; j < k; j++) out[o++] = src[i + j]!;
      } else if (i + k === n && !final) {
        this.carry = Buffer.from(src.subarray(i)); // cut at the chunk end: wait for the rest
        break;
      } else {
        view.setUint32(o, 0xbdbfef, true); // U+FFFD for the maximal invalid subpart
        o += 3;
      }
      i += k;
    }
    return o;
  }
}

/**
 * Fast path for valid UTF-8: bytes ≥ 0x80 are copied as they are, so only < 0x20, `"` and `\`
 * need work. Four bytes at a time (SWAR): a word with none of those is copied in one store.
 */
export function escapeValidJs(src: Buffer, out: Buffer, at = 0): number {
  const n = src.length;
  const inView = new DataView(src.buffer, src.byteOffset, n);
  const outView = new DataView(out.buffer, out.byteOffset, out.length);
  let o = at;
  let i = 0;
  while (i < n) {
    if (i + 4 <= n) {
      const v = inView.getUint32(i, true);
      const q = v ^ 0x22222222;
      const s = v ^ 0x5c5c5c5c;
      // Classic "has a byte below 0x20 / equal to X" tests; exact as a yes/no answer.
      const special = ((v - 0x20202020) & ~v) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s);
      if ((special & 0x80808080) === 0) {
        outView.setUint32(o, v, true);
        o += 4;
        i += 4;
        continue;
      }
    }
    const b = src[i++]!;
    if (ESCAPE[b] === 0) out[o++] = b;
    else o = escapeByte(out, o, b);
  }
  return o - at;
}

/** The same in WebAssembly SIMD, 16 bytes per step (json-escape-wasm.ts); undefined without WebAssembly SIMD. */
export const escapeValidWasm: ValidEscaper | undefined = createWasmEscaper(ESCAPE, HEX);

/**
 * What encoders use unless told otherwise: WASM where available. Measured faster than the JS path at every chunk
 * size down to 1 byte (the JS path's two DataViews per call cost more than the wasm call and the two copies).
 */
export const escapeValidDefault: ValidEscaper = escapeValidWasm ?? escapeValidJs;
