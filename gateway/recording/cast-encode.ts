// Raw terminal bytes → the body of a JSON string, one pass: UTF-8 checked (bad bytes → U+FFFD), JSON-escaped.
//
// Why not StringDecoder + JSON.stringify + Buffer.from: three passes through a UTF-16 string measured
// ~60 MB/s on terminal text on the dev VM; this encoder measured ~500 MB/s there (bench/recorder.ts), and its
// valid-UTF-8 fast path in WebAssembly SIMD (json-escape-wasm.ts) ~2 GB/s, copies in and out included.
// Its output is byte-identical to the body of JSON.stringify(new TextDecoder().decode(stream)),
// whatever the chunking (the unit tests check this with random splits).
import { isUtf8 } from 'node:buffer';
import { createWasmEscaper, type ValidEscaper } from './json-escape-wasm.js';

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
function escapeByte(out: Buffer, o: number, b: number): number {
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

/**
 * One scratch buffer for every encoder in the process, grown on demand. Why shared: callers use each result
 * before the next call (the view rule below), and a per-encoder 64 KiB × 2 per session was a third of an idle
 * session's memory (bench: relay memory per idle session).
 */
let shared: Buffer = EMPTY;
function scratchFor(bytes: number): Buffer {
  if (shared.length < bytes) shared = Buffer.allocUnsafe(Math.max(bytes, 64 * 1024));
  return shared;
}

/** Streaming, one per direction: a character split across chunks is held back until its last byte arrives. */
export class JsonUtf8Encoder {
  private carry: Buffer = EMPTY;

  /** `escapeValid`: the fast path for valid UTF-8 (tests pick one; the default is escapeValidDefault). */
  constructor(private readonly escapeValid: ValidEscaper = escapeValidDefault) {}

  /** The process-wide scratch; valid until any encoder's next call. */
  private get scratch(): Buffer {
    return shared;
  }

  /** The escaped body for `src` (no quotes). A view into a buffer shared by all encoders: use or copy it before any encoder's next call. */
  write(src: Buffer): Buffer {
    const input = this.carry.length > 0 ? Buffer.concat([this.carry, src]) : src;
    this.carry = EMPTY;
    // Worst case: every byte a control character → 6 bytes (\u00XX).
    scratchFor(input.length * 6);
    const tail = unfinishedTail(input);
    const body = tail > 0 ? input.subarray(0, input.length - tail) : input;
    if (isUtf8(body)) {
      if (tail > 0) this.carry = Buffer.from(input.subarray(input.length - tail));
      return this.scratch.subarray(0, this.escapeValid(body, this.scratch));
    }
    return this.scratch.subarray(0, this.escapeChecked(input, false));
  }

  /** End of stream: a character never finished becomes U+FFFD. Same view rule as write(). */
  end(): Buffer {
    if (this.carry.length === 0) return EMPTY;
    const input = this.carry;
    this.carry = EMPTY;
    scratchFor(input.length * 6);
    return this.scratch.subarray(0, this.escapeChecked(input, true));
  }

  /** Slow path for input that is not valid UTF-8: validates each sequence (WHATWG maximal-subpart rule). */
  private escapeChecked(src: Buffer, final: boolean): number {
    const out = this.scratch;
    const n = src.length;
    let o = 0;
    let i = 0;
    while (i < n) {
      const b = src[i]!;
      if (b < 0x80) {
        if (ESCAPE[b] === 0) out[o++] = b;
        else o = escapeByte(out, o, b);
        i++;
        continue;
      }
      // The allowed range of the 2nd byte excludes overlongs, surrogates and code points above U+10FFFF.
      let need = 0;
      let lo = 0x80;
      let hi = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b === 0xe0) lo = 0xa0;
        else if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b === 0xf0) lo = 0x90;
        else if (b === 0xf4) hi = 0x8f;
      }
      let k = 1; // bytes of this sequence seen valid so far
      while (k <= need && i + k < n) {
        const c = src[i + k]!;
        if (c < lo || c > hi) break;
        lo = 0x80;
        hi = 0xbf;
        k++;
      }
      if (need > 0 && k === need + 1) {
        for (let j = 0; j < k; j++) out[o++] = src[i + j]!;
      } else if (need > 0 && i + k === n && !final) {
        this.carry = Buffer.from(src.subarray(i)); // cut at the chunk end: wait for the rest
        break;
      } else {
        out[o++] = 0xef; // U+FFFD for the maximal invalid subpart
        out[o++] = 0xbf;
        out[o++] = 0xbd;
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
export function escapeValidJs(src: Buffer, out: Buffer): number {
  const n = src.length;
  const inView = new DataView(src.buffer, src.byteOffset, n);
  const outView = new DataView(out.buffer, out.byteOffset, out.length);
  let o = 0;
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
  return o;
}

/** The same in WebAssembly SIMD, 16 bytes per step (json-escape-wasm.ts); undefined without WebAssembly SIMD. */
export const escapeValidWasm: ValidEscaper | undefined = createWasmEscaper(ESCAPE, HEX);

/**
 * What encoders use unless told otherwise: WASM where available. Measured faster than the JS path at every chunk
 * size down to 1 byte (the JS path's two DataViews per call cost more than the wasm call and the two copies).
 */
export const escapeValidDefault: ValidEscaper = escapeValidWasm ?? escapeValidJs;
