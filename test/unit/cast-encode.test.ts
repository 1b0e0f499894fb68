// The JSON/UTF-8 encoder's two fast paths, JS (SWAR) and WebAssembly SIMD, run through the same cases:
// the 16-byte block edges, all 256 byte values, random splits, and inputs of several MiB; and its two checked
// paths (binary, broken UTF-8), JS and WebAssembly, against JSON.stringify byte for byte.
import { randomBytes, randomInt } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  checkedWasm,
  escapeValidDefault,
  escapeValidJs,
  escapeValidWasm,
  JsonUtf8Encoder,
} from '../../gateway/recording/cast-encode.js';
import { createWasmEscaper, type ValidEscaper, WASM_SLICE } from '../../gateway/recording/json-escape-wasm.js';

/** The body of JSON.stringify of the decoded text: what the encoder must produce for any input. */
const reference = (bytes: Buffer) => JSON.stringify(new TextDecoder().decode(bytes)).slice(1, -1);

/** Independent per-byte reference for the fast paths, which copy bytes ≥ 0x80 as they are. */
function referenceBytes(src: Buffer): Buffer {
  const parts = [...src].map((b) =>
    b < 0x80 ? Buffer.from(JSON.stringify(String.fromCharCode(b)).slice(1, -1)) : Buffer.from([b]),
  );
  return Buffer.concat(parts);
}

function run(escape: ValidEscaper, src: Buffer): Buffer {
  const out = Buffer.alloc(src.length * 6 + 16);
  return out.subarray(0, escape(src, out));
}

/** Streams `all` through an encoder in chunks of 1..maxChunk bytes. */
function encodeSplit(escape: ValidEscaper, all: Buffer, maxChunk: number, checked?: 'wasm' | 'js'): string {
  const enc = new JsonUtf8Encoder(escape, checked);
  const out: Buffer[] = [];
  for (let off = 0; off < all.length;) {
    const len = 1 + randomInt(maxChunk);
    out.push(Buffer.from(enc.write(all.subarray(off, off + len))));
    off += len;
  }
  out.push(Buffer.from(enc.end()));
  return Buffer.concat(out).toString('utf8');
}

const SPECIALS = [0x00, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1b, 0x1f, 0x22, 0x5c];
const NEAR = [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f]; // neighbours of the specials: copied

it('WebAssembly SIMD is available on this Node, and the default path uses it', () => {
  expect(escapeValidWasm).toBeTypeOf('function');
  expect(escapeValidDefault).toBe(escapeValidWasm);
  expect(checkedWasm).toBeTypeOf('function');
});

describe('createWasmEscaper', () => {
  afterEach(() => vi.unstubAllGlobals());
  const table = new Uint8Array(256);
  const hex = Buffer.from('0123456789abcdef');

  it('returns undefined without WebAssembly, and when the SIMD module does not validate', () => {
    vi.stubGlobal('WebAssembly', undefined);
    expect(createWasmEscaper(table, hex)).toBeUndefined();
    vi.stubGlobal('WebAssembly', { validate: () => false });
    expect(createWasmEscaper(table, hex)).toBeUndefined();
  });
});

describe.each([
  ['wasm', escapeValidWasm!],
  ['js', escapeValidJs],
])('fast path %s', (_name, escape) => {
  it('escapes each special and its neighbours at every position of lengths 0..50 (the 16-byte block edges)', () => {
    for (let len = 0; len <= 50; len++) {
      expect(run(escape, Buffer.alloc(len, 0x61))).toEqual(Buffer.alloc(len, 0x61));
      for (let p = 0; p < len; p++)
        for (const b of [...SPECIALS, ...NEAR]) {
          const src = Buffer.alloc(len, 0x61);
          src[p] = b;
          if (p + 1 < len) src[len - 1] = b; // a second one near the end: a later block or the tail
          expect(run(escape, src).toString('latin1')).toBe(referenceBytes(src).toString('latin1'));
        }
    }
  });

  it('handles all 256 byte values: alone in a block, filling whole blocks, and at every offset of a block', () => {
    for (let b = 0; b < 256; b++) {
      for (const src of [Buffer.from([b]), Buffer.alloc(40, b)]) expect(run(escape, src)).toEqual(referenceBytes(src));
      for (let p = 0; p < 16; p++) {
        const src = Buffer.alloc(33, 0x78);
        src[p] = b;
        src[p + 16] = b;
        expect(run(escape, src)).toEqual(referenceBytes(src));
      }
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, b) => b));
    for (let shift = 0; shift < 16; shift++) {
      const src = Buffer.concat([Buffer.alloc(shift, 0x2e), all, all]);
      expect(run(escape, src)).toEqual(referenceBytes(src));
    }
  });

  it('copies multi-byte characters across block edges unchanged, and matches JSON.stringify on valid UTF-8', () => {
    const chars = ['a', '"', '\\', '\n', '\x1b', '\x00', '\x7f', 'ö', '€', '│', '温', '😀', '\u2028', '\uffff'];
    for (let trial = 0; trial < 2000; trial++) {
      const text = Array.from({ length: randomInt(60) }, () => chars[randomInt(chars.length)]).join('');
      const src = Buffer.from(text);
      expect(run(escape, src).toString('utf8')).toBe(reference(src));
    }
  });

  it('equals JSON.stringify(TextDecoder) through the encoder whatever the chunking, broken UTF-8 included', () => {
    const pool = [
      Buffer.from('plain ASCII text, "quoted" and back\\slash\t\r\n'),
      Buffer.from('\x1b[01;31mStörung\x1b[0m │ 温度 😀 \u2028'),
      Buffer.from('a block of sixteen bytes without specials, then more of them: 0123456789abcdef'),
      Buffer.from([0x00, 0x07, 0x7f, 0x1f]),
      Buffer.from([0xf0, 0x9f, 0x98]), // truncated emoji
      Buffer.from([0xed, 0xa0, 0x80]), // a surrogate: invalid in UTF-8
      Buffer.from([0xc0, 0xaf, 0xe0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xff]), // overlongs, > U+10FFFF
    ];
    for (let trial = 0; trial < 500; trial++) {
      const all = Buffer.concat(
        Array.from({ length: 8 }, () => (Math.random() < 0.2 ? randomBytes(16) : pool[trial % pool.length]!)),
      );
      expect(encodeSplit(escape, all, trial % 2 === 0 ? 9 : 200)).toBe(reference(all));
    }
  });

  it('encodes several MiB in one write and in 64 KiB chunks (the wasm path works in bounded slices)', () => {
    const line = Buffer.from('-rw-r--r-- 1 maint plc  4096 Nov 23 \x1b[01;34mbin\x1b[0m  Störung "a\\b".log │ OK\r\n');
    const size = 5 * 1024 * 1024 + 7;
    const big = Buffer.alloc(size);
    for (let off = 0; off < size; off += line.length) line.copy(big, off);
    big.fill(0x20, size - 8); // the last line is cut: keep the end valid UTF-8 for the one-write reference
    expect(size).toBeGreaterThan(4 * WASM_SLICE);
    const expected = reference(big);
    expect(run(escape, big).toString('utf8')).toBe(expected);
    expect(encodeSplit(escape, big, 64 * 1024)).toBe(expected);
    const plain = Buffer.alloc(size, 0x41); // one long run without specials
    expect(run(escape, plain).equals(plain)).toBe(true); // not toEqual: element-wise on MiB is slow
  });
});

describe.each(['wasm', 'js'] as const)('checked path %s: binary and broken UTF-8', (checked) => {
  /** Random bytes, every fourth NUL: the shape of a firmware image or `xxd -r` output through a shell. */
  const binary = (n: number) => {
    const b = randomBytes(n);
    for (let i = 0; i < n; i += 4) b[i] = 0;
    return b;
  };

  it('equals JSON.stringify(TextDecoder) byte for byte on NUL-heavy binary, in one write and in random chunks', () => {
    for (let trial = 0; trial < 40; trial++) {
      const all = binary(1 + randomInt(64 * 1024));
      const expected = Buffer.from(reference(all));
      const enc = new JsonUtf8Encoder(escapeValidDefault, checked);
      const whole = Buffer.concat([Buffer.from(enc.write(all)), Buffer.from(enc.end())]);
      expect(whole.equals(expected)).toBe(true);
      const split = encodeSplit(escapeValidDefault, all, trial % 2 === 0 ? 7 : 4096, checked);
      expect(Buffer.from(split).equals(expected)).toBe(true);
    }
  });

  it('every byte value after every lead byte, and lead bytes cut at the end of the stream', () => {
    for (let lead = 0xc0; lead < 0x100; lead++)
      for (let b = 0; b < 256; b++) {
        const all = Buffer.from([lead, b, 0x80, 0x80, 0x00, lead]);
        expect(encodeSplit(escapeValidDefault, all, 3, checked)).toBe(reference(all));
      }
  });

  it('one write of several slices with characters across the slice edges (the wasm path works in slices)', () => {
    const all = binary(3 * WASM_SLICE + 5);
    const emoji = Buffer.from('😀');
    for (const edge of [WASM_SLICE, 2 * WASM_SLICE]) for (let k = 1; k < 4; k++) emoji.copy(all, edge - k);
    all.set([0xe2, 0x82], all.length - 2); // and a cut € at the very end: held for the next write
    const enc = new JsonUtf8Encoder(escapeValidDefault, checked);
    const first = Buffer.from(enc.write(all));
    expect(enc.held).toBe(2);
    const rest = Buffer.from(enc.write(Buffer.from([0xac])));
    const expected = Buffer.from(reference(Buffer.concat([all, Buffer.from([0xac])])));
    expect(Buffer.concat([first, rest]).equals(expected)).toBe(true);
  });

  it('writeInto writes at the offset it is given, after bytes it leaves alone, and resumes a cut character', () => {
    const enc = new JsonUtf8Encoder(escapeValidDefault, checked);
    const out = Buffer.alloc(256, 0x2a);
    const euro = Buffer.from('€');
    let o = enc.writeInto(Buffer.from([0x00, 0xff, 0x22, euro[0]!]), out, 5);
    expect(enc.held).toBe(1);
    o = enc.writeInto(euro.subarray(1), out, o);
    o = enc.writeInto(Buffer.from([0xf0, 0x9f]), out, o);
    o = enc.endInto(out, o);
    expect(out.subarray(0, 5).toString('latin1')).toBe('*****');
    expect(out.subarray(5, o).toString('utf8')).toBe('\\u0000\ufffd\\"€\ufffd');
  });
});
