// Differential test of the recorder's checked path (binary output, broken UTF-8): the encoder as it is against the
// encoder with the checked escaper it had before the UTF-8 automaton (json-escape-wasm.ts), byte for byte, on
// random bytes, NUL-heavy binary and UTF-8 edge cases, split at every chunk boundary. Recordings must not change.
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkedWasm, escapeValidDefault, JsonUtf8Encoder } from '../../gateway/recording/cast-encode.js';
import type { CheckedEscaper } from '../../gateway/recording/json-escape-wasm.js';

/**
 * The former checked module, byte for byte as json-escape-wasm.ts assembled it (commit 8e4972e): one byte a step,
 * branching on lead bytes. Kept here as the reference (424 characters of base64; no toolchain needed).
 */
const FORMER_MODULE =
  'AGFzbQEAAAABCQFgBH9/f38BfwMCAQAFBAEBAR0HFAIHY2hlY2tlZAAABm1lbW9yeQIACocCAYQCAQZ/IAAgAWohASACIQQCQANAIAAgAU8NASAALQAAIgUtAIAaIgZFBEAgBCAFQQN0KACACDYAACAEIAVBA3QvAIQIOwAEIAQgBS0AgBhqIQQgAEEBaiEADAELQQEhByAFLQCAHCEIIAUtAIAeIQkCQANAIAcgBksNASAAIAdqIAFPDQEgACAHai0AACEFIAUgCEkNASAFIAlLDQFBgAEhCEG/ASEJIAdBAWohBwwACwsgByAGQQFqRgRAIAQgACgAADYAACAEIAdqIQQFIAAgB2ogAUYgA0VxDQIgBEHv//YFNgAAIARBA2ohBAsgACAHaiEADAALC0EAIAA2AAAgBCACaws=';

/** The former module's memory layout and tables (cast-encode.ts's ALONE/ALONE_LEN/NEED/LO/HI, rebuilt here). */
function formerEscaper(): CheckedEscaper {
  const SLICE = 256 * 1024;
  const PAGE = 64 * 1024;
  const [IN, ALONE, ALONE_LEN, NEED, LO, HI] = [4096, 1024, 3072, 3328, 3584, 3840];
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(FORMER_MODULE, 'base64')));
  const checked = exports.checked as (src: number, n: number, dst: number, final: number) => number;
  const memory = exports.memory as WebAssembly.Memory;
  let heap = new Uint8Array(memory.buffer);
  for (let b = 0; b < 256; b++) {
    const alone =
      b >= 0x80 ? Buffer.from('\ufffd') : Buffer.from(JSON.stringify(String.fromCharCode(b)).slice(1, -1), 'latin1');
    heap.set(alone, ALONE + b * 8);
    heap[ALONE_LEN + b] = alone.length;
    heap[NEED + b] = b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : 0;
    heap[LO + b] = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    heap[HI + b] = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
  }
  return (src, final, out, at) => {
    let o = at;
    let off = 0;
    while (off < src.length) {
      const last = off + SLICE >= src.length;
      const part = src.subarray(off, off + SLICE);
      const n = part.length;
      const dst = (IN + n + 15) & ~15;
      const need = Math.ceil((dst + 6 * n + 16) / PAGE);
      if (need > heap.length / PAGE) {
        memory.grow(need - heap.length / PAGE);
        heap = new Uint8Array(memory.buffer);
      }
      heap.set(part, IN);
      const len = checked(IN, n, dst, last && final ? 1 : 0);
      const used = new DataView(memory.buffer).getUint32(0, true) - IN;
      out.set(heap.subarray(dst, dst + len), o);
      o += len;
      off += used;
      if (last || used === 0) break;
    }
    return { end: o, consumed: off };
  };
}

const former = formerEscaper();

/** `chunks` through a fresh encoder (the current checked path, or `checked`), then end(): every byte written. */
function encode(chunks: Buffer[], checked?: CheckedEscaper): Buffer {
  const enc = new JsonUtf8Encoder(escapeValidDefault, checked);
  const out = chunks.map((c) => Buffer.from(enc.write(c)));
  out.push(Buffer.from(enc.end()));
  return Buffer.concat(out);
}

/** Current and former agree on `all` cut at `cuts`; the message names the input and cuts when they do not. */
function same(all: Buffer, cuts: number[]): void {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, all.length]) {
    chunks.push(all.subarray(from, c));
    from = c;
  }
  const now = encode(chunks);
  const before = encode(chunks, former);
  if (!now.equals(before))
    expect({ input: all.toString('hex'), cuts, now: now.toString('hex') }).toEqual({
      input: all.toString('hex'),
      cuts,
      now: before.toString('hex'),
    });
}

const binary = (n: number) => {
  const b = randomBytes(n);
  for (let i = 0; i < n; i += 4) b[i] = 0;
  return b;
};

/** UTF-8 edge cases: every kind of lead with good, bad, overlong, surrogate and out-of-range continuations. */
const EDGES = [
  'c2 80',
  'df bf',
  'c0 80',
  'c1 bf',
  'e0 a0 80',
  'e0 9f bf',
  'ed 9f bf',
  'ed a0 80',
  'ef bf bf',
  'ee 80',
  'f0 90 80 80',
  'f0 8f bf bf',
  'f4 8f bf bf',
  'f4 90 80 80',
  'f5 80 80 80',
  'ff',
  'fe',
  '80',
  'bf bf bf bf',
  'e2 82 ac',
  'e2 82',
  'e2',
  'f0 9f 98 80',
  'f0 9f 98',
  'f0 9f',
  'f0',
  '00',
  '22',
  '5c',
  '1b 5b 30 6d',
  '7f',
].map((h) => Buffer.from(h.replaceAll(' ', ''), 'hex'));

/** Random concatenations of edge cases, NULs and random bytes. */
function edgy(n: number): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const r = randomInt(4);
    const p = r < 2 ? EDGES[randomInt(EDGES.length)]! : r === 2 ? randomBytes(1 + randomInt(4)) : Buffer.from('a€');
    parts.push(p);
    len += p.length;
  }
  return Buffer.concat(parts).subarray(0, n);
}

describe('checked path, current against former: same bytes', () => {
  it('the current checked path is the automaton (not the former escaper)', () => {
    expect(checkedWasm).toBeTypeOf('function');
    expect(checkedWasm).not.toBe(former);
  });

  it('every input cut at every boundary into two chunks, and into chunks of each size 1..8', () => {
    const inputs = [
      ...EDGES,
      ...Array.from({ length: 40 }, () => edgy(1 + randomInt(48))),
      ...Array.from({ length: 10 }, () => binary(1 + randomInt(64))),
      ...Array.from({ length: 10 }, () => randomBytes(1 + randomInt(64))),
    ];
    for (const all of inputs) {
      for (let k = 0; k <= all.length; k++) same(all, [k]);
      for (let size = 1; size <= 8; size++)
        same(
          all,
          Array.from({ length: Math.ceil(all.length / size) - 1 }, (_, i) => (i + 1) * size),
        );
    }
  });

  it('every byte pair after every lead byte, each cut after the lead', () => {
    for (let lead = 0xc0; lead < 0x100; lead++)
      for (let b = 0x70; b < 0x100; b++)
        for (let c = 0x7f; c < 0xc1; c += 0x41) same(Buffer.from([0x41, lead, b, c, 0x80, lead]), [2]);
  });

  it('inputs around the sizes where a slice is cut in parts, cut at every boundary near its middle', () => {
    for (const n of [255, 256, 257, 300, 513, 1000]) {
      for (const all of [binary(n), edgy(n), randomBytes(n), Buffer.alloc(n, 0x80)]) {
        // the middle on a character's continuation bytes, and a long run of them (no byte to cut at)
        all.set(Buffer.from('f0 9f 98 80'.replaceAll(' ', ''), 'hex'), (n >> 1) - 2);
        for (let k = (n >> 1) - 6; k <= (n >> 1) + 6; k++) same(all, [k]);
        same(all, []);
      }
    }
  });

  it('NUL-heavy binary and random bytes of up to 3 slices, in one write and in random chunks', () => {
    for (let trial = 0; trial < 12; trial++) {
      const n = trial < 4 ? 1 + randomInt(64 * 1024) : trial < 8 ? 256 * 1024 + randomInt(3) - 1 : 700 * 1024;
      const all = trial % 2 === 0 ? binary(n) : edgy(n);
      same(all, []);
      const cuts: number[] = [];
      for (let at = randomInt(40 * 1024); at < n; at += 1 + randomInt(40 * 1024)) cuts.push(at);
      same(all, cuts);
    }
  });
});
