// JSON escaping of valid UTF-8 in WebAssembly SIMD, 16 bytes per step: the recorder's hot loop (cast-encode.ts).
//
// Why hand-assembled here rather than a .wat and a toolchain: the module is one small function, and emitting its
// bytes at module load keeps the build dependency-free (no wabt), leaves no binary blob in the repo, and works the
// same from TS sources (vitest) and from dist/. The WAT it corresponds to is written beside each instruction.
//
// The algorithm, per step at `src`:
//   - 16 or more bytes left: load 16, store them at `o` (speculatively), and make a bitmask of the bytes that need
//     escaping (< 0x20, '"', '\'). None: advance both by 16. Otherwise advance both by the index of the first one
//     (the bytes before it are already stored) and escape that byte.
//   - fewer than 16 left: handle one byte (copy or escape).
// So a run without specials costs one load + one store per 16 bytes, and each special costs one extra step.
// Bytes ≥ 0x80 are copied as they are: the caller has already checked the input is valid UTF-8.

/** The escaper contract shared with the JS path: writes the escaped body of `src` at out[at..]; returns its length. */
export type ValidEscaper = (src: Buffer, out: Buffer, at?: number) => number;

// Memory layout: the tables, then the input at IN, then the output.
const TABLE = 0; // 256 bytes: ESCAPE of cast-encode.ts (0 copy, 255 \u00XX, else the letter after '\')
const HEX = 256; // 16 bytes: "0123456789abcdef"
const IN = 512;
/** Largest input handed to wasm in one call; bigger inputs go in slices, which bounds the memory. */
export const WASM_SLICE = 256 * 1024;
const PAGE = 64 * 1024;
/** Input + worst-case output (6 bytes per input byte) + 16 bytes of slack for the speculative v128.store. */
const MAX_PAGES = Math.ceil((IN + WASM_SLICE + 16 + 6 * WASM_SLICE + 16) / PAGE);

// --- Binary encoding helpers (https://webassembly.github.io/spec/core/binary/) ---

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...Buffer.from(s)].map((b) => [b]));

// Types and opcodes used below.
const T = { i32: 0x7f, v128: 0x7b, void: 0x40, func: 0x60 };
const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  get: 0x20, // local.get
  set: 0x21, // local.set
  tee: 0x22, // local.tee
  select: 0x1b,
  i32_load: 0x28,
  i64_load: 0x29,
  i32_load8_u: 0x2d,
  i32_load16_u: 0x2f,
  i32_store: 0x36,
  i64_store: 0x37,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i32_const: 0x41,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ge_u: 0x4f,
  i32_le_u: 0x4d,
  i32_lt_u: 0x49,
  i32_gt_u: 0x4b,
  i32_ctz: 0x68,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_shl: 0x74,
  i32_shr_u: 0x76,
};
/** SIMD instructions: prefix 0xfd, then the opcode as unsigned LEB128. */
const simd = (code: number): number[] => [0xfd, ...uleb(code)];
const v128 = {
  load: simd(0x00),
  store: simd(0x0b),
  i8x16_splat: simd(0x0f),
  i8x16_eq: simd(0x23),
  i8x16_lt_u: simd(0x26),
  or: simd(0x50),
  i8x16_bitmask: simd(0x64),
};
/** memarg: alignment hint (log2; 0 = unaligned is fine) and a constant offset. */
const mem = (offset = 0): number[] => [0, ...uleb(offset)];
const i32c = (n: number): number[] => [op.i32_const, ...sleb(n)];

// Locals: the three parameters, then the rest.
const SRC = 0; // param: input address, advanced as we go
const END = 1; // param: input length, turned into the end address
const DST = 2; // param: output address
const O = 3; // output cursor
const M = 4; // bitmask of the specials in the block, then the index of the first
const B = 5; // the byte being handled one at a time
const E = 6; // its ESCAPE entry
const V = 7; // the 16-byte block
const C20 = 8; // splat(0x20), splat('"'), splat('\')
const C22 = 9;
const C5C = 10;

/** (func (param $src i32) (param $n i32) (param $dst i32) (result i32)): the escaped length at $dst. */
const escapeBody: number[] = [
  ...vec([
    [4, T.i32], // $o $m $b $e
    [4, T.v128], // $v $c20 $c22 $c5c
  ]),
  op.get,
  SRC,
  op.get,
  END,
  op.i32_add,
  op.set,
  END, //        (local.set $end (i32.add $src $n))
  op.get,
  DST,
  op.set,
  O, //                                   (local.set $o $dst)
  ...i32c(0x20),
  ...v128.i8x16_splat,
  op.set,
  C20,
  ...i32c(0x22),
  ...v128.i8x16_splat,
  op.set,
  C22,
  ...i32c(0x5c),
  ...v128.i8x16_splat,
  op.set,
  C5C,
  op.block,
  T.void, //                                         (block $done
  op.loop,
  T.void, //                                            (loop $step
  op.get,
  SRC,
  ...i32c(16),
  op.i32_add,
  op.get,
  END,
  op.i32_le_u, // (if (i32.le_u (i32.add $src 16) $end)
  op.if,
  T.void,
  op.get,
  O,
  op.get,
  SRC,
  ...v128.load,
  ...mem(),
  op.tee,
  V,
  ...v128.store,
  ...mem(), // (v128.store $o (local.tee $v (v128.load $src)))
  op.get,
  V,
  op.get,
  C20,
  ...v128.i8x16_lt_u, //                     $v < 0x20
  op.get,
  V,
  op.get,
  C22,
  ...v128.i8x16_eq,
  ...v128.or, //        | $v == '"'
  op.get,
  V,
  op.get,
  C5C,
  ...v128.i8x16_eq,
  ...v128.or, //        | $v == '\'
  ...v128.i8x16_bitmask,
  op.tee,
  M,
  op.i32_eqz, //                  (if (i32.eqz (local.tee $m (i8x16.bitmask ...)))
  op.if,
  T.void, //                                                   no special: the store stands
  op.get,
  SRC,
  ...i32c(16),
  op.i32_add,
  op.set,
  SRC,
  op.get,
  O,
  ...i32c(16),
  op.i32_add,
  op.set,
  O,
  op.br,
  2, //                                                        (br $step))
  op.end,
  op.get,
  M,
  op.i32_ctz,
  op.set,
  M, //                              keep the bytes before the first special
  op.get,
  SRC,
  op.get,
  M,
  op.i32_add,
  op.set,
  SRC,
  op.get,
  O,
  op.get,
  M,
  op.i32_add,
  op.set,
  O,
  op.else, //                                                     else: the tail, one byte per step
  op.get,
  SRC,
  op.get,
  END,
  op.i32_ge_u,
  op.br_if,
  2, //            (br_if $done (i32.ge_u $src $end)))
  op.end,
  // One byte at $src: copy it, or escape it.
  op.get,
  SRC,
  op.i32_load8_u,
  ...mem(),
  op.set,
  B, //            (local.set $b (i32.load8_u $src))
  op.get,
  SRC,
  ...i32c(1),
  op.i32_add,
  op.set,
  SRC,
  op.get,
  B,
  op.i32_load8_u,
  ...mem(TABLE),
  op.tee,
  E,
  op.i32_eqz, // (if (i32.eqz (local.tee $e (ESCAPE[$b])))
  op.if,
  T.void,
  op.get,
  O,
  op.get,
  B,
  op.i32_store8,
  ...mem(), //                 copy
  op.get,
  O,
  ...i32c(1),
  op.i32_add,
  op.set,
  O,
  op.else,
  op.get,
  E,
  ...i32c(255),
  op.i32_eq, //                            (if (i32.eq $e 255)
  op.if,
  T.void,
  op.get,
  O,
  ...i32c(0x3030755c),
  op.i32_store,
  ...mem(), //          "\u00" (little-endian)
  op.get,
  O,
  op.get,
  B,
  ...i32c(4),
  op.i32_shr_u,
  op.i32_load8_u,
  ...mem(HEX),
  op.i32_store8,
  ...mem(4),
  op.get,
  O,
  op.get,
  B,
  ...i32c(15),
  op.i32_and,
  op.i32_load8_u,
  ...mem(HEX),
  op.i32_store8,
  ...mem(5),
  op.get,
  O,
  ...i32c(6),
  op.i32_add,
  op.set,
  O,
  op.else, //                                                         '\' then the letter
  op.get,
  O,
  op.get,
  E,
  ...i32c(8),
  op.i32_shl,
  ...i32c(0x5c),
  op.i32_or,
  op.i32_store16,
  ...mem(),
  op.get,
  O,
  ...i32c(2),
  op.i32_add,
  op.set,
  O,
  op.end,
  op.end,
  op.br,
  0, //                                                      (br $step)
  op.end, //                                                     )
  op.end, //                                                   )
  op.get,
  O,
  op.get,
  DST,
  op.i32_sub, //                       (i32.sub $o $dst)
  op.end,
];

/** The module: one memory (exported, bounded by MAX_PAGES) and one function `escape`. */
function assemble(): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec([[T.func, ...vec([[T.i32], [T.i32], [T.i32]]), ...vec([[T.i32]])]])), // types
    ...section(3, vec([[0]])), // functions: #0 has type #0
    ...section(5, vec([[0x01, ...uleb(1), ...uleb(MAX_PAGES)]])), // memory: min 1 page, max MAX_PAGES
    ...section(
      7,
      vec([
        [...name('escape'), 0x00, 0],
        [...name('memory'), 0x02, 0],
      ]),
    ), // exports
    ...section(10, vec([[...uleb(escapeBody.length), ...escapeBody]])), // code
  ]);
}

// Node's types do not declare WebAssembly (it lives in lib.dom): the little used here.
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * The SIMD escaper, or undefined where WebAssembly or its SIMD is unavailable (the module then fails validation).
 * `escapeTable` is cast-encode's ESCAPE, `hex` its lower-case digits: one definition of the escapes for both paths.
 */
export function createWasmEscaper(escapeTable: Uint8Array, hex: Uint8Array): ValidEscaper | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return undefined;
  const bytes = assemble();
  if (!wasm.validate(bytes)) return undefined;
  const { exports } = new wasm.Instance(new wasm.Module(bytes));
  const escape = exports.escape as (src: number, n: number, dst: number) => number;
  const memory = exports.memory as WasmMemory;
  let heap = new Uint8Array(memory.buffer);
  heap.set(escapeTable.subarray(0, 256), TABLE);
  heap.set(hex.subarray(0, 16), HEX);

  return (src, out, at = 0) => {
    let o = at;
    for (let off = 0; off < src.length; off += WASM_SLICE) {
      const part = off === 0 && src.length <= WASM_SLICE ? src : src.subarray(off, off + WASM_SLICE);
      const n = part.length;
      const dst = (IN + n + 15) & ~15;
      const need = Math.ceil((dst + 6 * n + 16) / PAGE);
      const have = heap.length / PAGE;
      if (need > have) {
        memory.grow(need - have); // within MAX_PAGES by construction; detaches the old view
        heap = new Uint8Array(memory.buffer);
      }
      heap.set(part, IN); // copy in
      const len = escape(IN, n, dst);
      out.set(heap.subarray(dst, dst + len), o); // copy out
      o += len;
    }
    return o - at;
  };
}

// --- The checked path (input that is not valid UTF-8: binary output, a cut or broken character) ---
//
// A UTF-8 automaton: one table look-up a byte and no branch on the data. Why: on binary output (random bytes,
// NUL-heavy images) about one byte in five is a lead byte; the loop this replaced branched on it and on each
// continuation byte, branches no predictor learns (bench: ~3 ms of CPU per MB, about twice this one).
//
// States: 0 (between characters), and one per "k bytes of a character seen, the next must be in [lo, hi]". A
// byte of a character is written as it comes (bytes ≥ 0x80 of valid UTF-8 are copied as they are), on the
// expectation that the character completes. The entry for (state, byte) holds what to write, ready made:
//   - when the byte breaks the character begun: take back its k bytes written, write U+FFFD for them (their
//     maximal invalid subpart), then what the byte is from state 0;
//   - from state 0: a lead byte itself (it opens a character); any other byte its escape alone (itself, `\"`,
//     `\u00XX`, or U+FFFD for a stray byte ≥ 0x80);
//   - a continuation byte that fits: itself.
// So every byte does the same: step back by the entry's `back` (0 or k), one 16-byte store of the entry's bytes,
// step on by their length, go to the entry's next state. A store writes past what is kept; the next overwrites
// it, and each output region has 16 bytes of slack past 6 a byte.
//
// Why several parts: each step needs the state the step before left, a chain of dependent loads (~1 byte per
// 7 cycles) that the CPU cannot overlap within one stream. The caller cuts a slice into STREAMS parts, each
// starting at a byte that cannot continue a character (not 0x80–0xBF), and the loop steps all of them in turn:
// independent chains the CPU overlaps. A part that ends with a character open takes its bytes back and writes
// U+FFFD, which is what one stream does there too (the next byte breaks it); the last part takes them back and
// leaves its state to the caller (a character cut at the chunk end, held for the next one).

/** Writes the checked escape of `src` at out[at..] (roomFor(src.length) bytes); `consumed` < src.length: the rest is a cut character. */
export type CheckedEscaper = (
  src: Buffer,
  final: boolean,
  out: Buffer,
  at: number,
) => { end: number; consumed: number };

/** The checked path's tables (cast-encode.ts): ALONE (8 bytes a byte value), ALONE_LEN, NEED, LO, HI. */
export interface CheckedTables {
  alone: Uint8Array;
  aloneLen: Uint8Array;
  need: Uint8Array;
  lo: Uint8Array;
  hi: Uint8Array;
}

/** What the automaton does on one byte in one state: take back `back` bytes, write `data`, go to `next`. */
interface Step {
  next: number;
  back: number;
  data: number[];
}

/**
 * The automaton built from the checked tables, so one definition of valid UTF-8 (cast-encode.ts's NEED/LO/HI) and
 * of each byte's escape (ALONE) serves both paths: `steps[state * 256 + byte]`, and `held[state]`, the bytes of the
 * character open in that state (written, to be taken back if it never completes).
 */
function utf8Automaton(t: CheckedTables): { steps: Step[]; held: number[] } {
  const states: Array<{ lo: number; hi: number; k: number; rest: number }> = [{ lo: 0, hi: -1, k: 0, rest: 0 }];
  const index = new Map<string, number>();
  const stateOf = (lo: number, hi: number, k: number, rest: number): number => {
    const key = `${lo},${hi},${k},${rest}`;
    let s = index.get(key);
    if (s === undefined) {
      s = states.push({ lo, hi, k, rest }) - 1;
      index.set(key, s);
    }
    return s;
  };
  const fffd = [0xef, 0xbf, 0xbd];
  /** Byte c from state 0, after taking back `back` bytes and writing `before`: a lead opens a character. */
  const fromStart = (c: number, back: number, before: number[]): Step =>
    t.need[c]! === 0
      ? { next: 0, back, data: [...before, ...t.alone.subarray(c * 8, c * 8 + t.aloneLen[c]!)] }
      : { next: stateOf(t.lo[c]!, t.hi[c]!, 1, t.need[c]!), back, data: [...before, c] };
  const steps: Step[] = [];
  for (let s = 0; s < states.length; s++) {
    const { lo, hi, k, rest } = states[s]!;
    for (let c = 0; c < 256; c++) {
      if (s === 0) steps.push(fromStart(c, 0, []));
      else if (c < lo || c > hi) steps.push(fromStart(c, k, fffd));
      else if (rest === 1) steps.push({ next: 0, back: 0, data: [c] });
      else steps.push({ next: stateOf(0x80, 0xbf, k + 1, rest - 1), back: 0, data: [c] });
    }
  }
  return { steps, held: states.map((s) => s.k) };
}

/** Parts a slice is cut into (independent dependency chains in the loop). */
const STREAMS = 2;
/** Below this many bytes a slice runs as one part. */
const SPLIT_MIN = 256;

// Memory layout of the checked module: the last part's state and each part's length, the automaton (16 bytes an
// entry), then the input at C_IN and the outputs.
const C_STATE = 0;
const C_LENS = 4;
const C_TABLE = 1024;
const ENTRY = 16;
const C_MAX_STATES = 12;
const C_IN = C_TABLE + C_MAX_STATES * 256 * ENTRY;
/** Input, then each part's output region: 6 bytes a byte, 16 of slack, 16 of alignment. */
const C_MAX_PAGES = Math.ceil((C_IN + WASM_SLICE + 16 + 6 * WASM_SLICE + STREAMS * 32) / PAGE);
// An entry: [0, 10) the bytes to write, [10] u8 their length, [11] u8 the bytes to take back first, [12] u16 the
// next state's row (state × 256 × ENTRY).
const F_LEN = 10;
const F_BACK = 11;
const F_NEXT = 12;

// (func (param $src0 $n0 $dst0 $src1 $n1 $dst1 ...: i32 each) (result i32)); part p's locals: $src, $end (first
// $n), $dst, $o (the output cursor), $s (its state's row).
const P_SRC = (p: number) => 3 * p;
const P_END = (p: number) => 3 * p + 1;
const P_DST = (p: number) => 3 * p + 2;
const P_O = (p: number) => 3 * STREAMS + 2 * p;
const P_S = (p: number) => 3 * STREAMS + 2 * p + 1;
const K_X = 5 * STREAMS; // the entry's address

const get = (l: number) => [op.get, l];
const set = (l: number) => [op.set, l];

/** One byte of part p: the automaton step; its $src advances by 1. */
const checkedStep = (p: number): number[] => [
  ...get(P_S(p)),
  ...get(P_SRC(p)),
  op.i32_load8_u,
  ...mem(),
  ...i32c(4),
  op.i32_shl,
  op.i32_add,
  ...set(K_X), //                                      (local.set $x (i32.add $s (i32.shl (i32.load8_u $src) 4)))
  ...get(P_O(p)),
  ...get(K_X),
  op.i32_load8_u,
  ...mem(C_TABLE + F_BACK),
  op.i32_sub,
  op.tee,
  P_O(p), //                                           $o -= back
  ...get(K_X),
  ...v128.load,
  ...mem(C_TABLE),
  ...v128.store,
  ...mem(), //                                         (v128.store $o (v128.load entry))
  ...get(P_O(p)),
  ...get(K_X),
  op.i32_load8_u,
  ...mem(C_TABLE + F_LEN),
  op.i32_add,
  ...set(P_O(p)), //                                   $o += len
  ...get(K_X),
  op.i32_load16_u,
  ...mem(C_TABLE + F_NEXT),
  ...set(P_S(p)), //                                   $s: the next state's row
  ...get(P_SRC(p)),
  ...i32c(1),
  op.i32_add,
  ...set(P_SRC(p)),
];

/** The rest of part p, one byte a step. */
const drain = (p: number): number[] => [
  op.block,
  T.void,
  op.loop,
  T.void,
  ...get(P_SRC(p)),
  ...get(P_END(p)),
  op.i32_ge_u,
  op.br_if,
  1, //                                                (br_if $out (i32.ge_u $src $end))
  ...checkedStep(p),
  op.br,
  0,
  op.end,
  op.end,
];

const parts = Array.from({ length: STREAMS }, (_, p) => p);
/** Steps of each part per turn of the main loop (2 and 8 measured the same; 1 slower). */
const UNROLL = 4;

const checkedBody: number[] = [
  ...vec([[2 * STREAMS + 1, T.i32]]), // $o $s of each part, $x
  ...parts.flatMap((p) => [...get(P_SRC(p)), ...get(P_END(p)), op.i32_add, ...set(P_END(p))]), // $end = $src + $n
  ...parts.flatMap((p) => [...get(P_DST(p)), ...set(P_O(p))]), //                                 $o = $dst
  op.block,
  T.void, //                                           (block $done
  op.loop,
  T.void, //                                             (loop $all: while every part has UNROLL bytes left
  ...parts.flatMap((p, i) => [
    ...get(P_SRC(p)),
    ...i32c(UNROLL),
    op.i32_add,
    ...get(P_END(p)),
    op.i32_gt_u,
    ...(i > 0 ? [op.i32_or] : []),
  ]),
  op.br_if,
  1,
  ...Array.from({ length: UNROLL }, () => parts.flatMap((p) => checkedStep(p))).flat(),
  op.br,
  0,
  op.end,
  op.end, //                                           ))
  ...parts.flatMap((p) => drain(p)),
  // A character open at the end of a part: its bytes taken back (entry ($s, 0)'s back: 0 in state 0); but the
  // last part's, the next part's first byte breaks it: U+FFFD.
  ...parts.flatMap((p) => [
    ...get(P_O(p)),
    ...get(P_S(p)),
    op.i32_load8_u,
    ...mem(C_TABLE + F_BACK),
    op.i32_sub,
    ...set(P_O(p)),
    ...(p === STREAMS - 1
      ? []
      : [
          ...get(P_S(p)),
          op.if,
          T.void,
          ...get(P_O(p)),
          ...i32c(0xbdbfef),
          op.i32_store,
          ...mem(),
          ...get(P_O(p)),
          ...i32c(3),
          op.i32_add,
          ...set(P_O(p)),
          op.end,
        ]),
  ]),
  ...parts.flatMap((p) => [
    ...i32c(C_LENS + 4 * p),
    ...get(P_O(p)),
    ...get(P_DST(p)),
    op.i32_sub,
    op.i32_store,
    ...mem(), //                                       each part's length
  ]),
  ...i32c(C_STATE),
  ...get(P_S(STREAMS - 1)),
  op.i32_store,
  ...mem(), //                                         the last part's state (its row's offset)
  ...i32c(0),
  op.end,
];

function assembleChecked(): Uint8Array {
  const params = vec(Array.from({ length: 3 * STREAMS }, () => [T.i32]));
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[T.func, ...params, ...vec([[T.i32]])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x01, ...uleb(1), ...uleb(C_MAX_PAGES)]])),
    ...section(
      7,
      vec([
        [...name('checked'), 0x00, 0],
        [...name('memory'), 0x02, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(checkedBody.length), ...checkedBody]])),
  ]);
}

/** U+FFFD in UTF-8: what a character never finished becomes at the end of the stream. */
const FFFD = Buffer.from('\ufffd');

/**
 * Where each part of `part[0, n)` starts: near p/STREAMS of the way, at the first byte that cannot continue a
 * character; where none is within 64 bytes, the part before is empty (starts where that one starts). cuts[STREAMS] = n.
 */
function cutPoints(part: Uint8Array, n: number, cuts: number[]): void {
  cuts[0] = 0;
  for (let p = 1; p < STREAMS; p++) {
    cuts[p] = cuts[p - 1]!;
    if (n < SPLIT_MIN) continue;
    for (let m = Math.max(cuts[p - 1]!, Math.floor((n * p) / STREAMS)), stop = m + 64; m < stop && m < n; m++)
      if ((part[m]! & 0xc0) !== 0x80) {
        cuts[p] = m;
        break;
      }
  }
  cuts[STREAMS] = n;
}

/**
 * The checked path in WebAssembly (its 16-byte copies are SIMD), or undefined without WebAssembly or its SIMD. Same output byte for byte as
 * cast-encode.ts's JS loop (test/unit/cast-encode.test.ts, test/unit/cast-encode-diff.test.ts).
 */
export function createWasmCheckedEscaper(t: CheckedTables): CheckedEscaper | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return undefined;
  const auto = utf8Automaton(t);
  if (auto.held.length > C_MAX_STATES) throw new Error(`UTF-8 automaton of ${auto.held.length} states does not fit`);
  const bytes = assembleChecked();
  if (!wasm.validate(bytes)) return undefined;
  const { exports } = new wasm.Instance(new wasm.Module(bytes));
  const checked = exports.checked as (...args: number[]) => number;
  const memory = exports.memory as WasmMemory;
  let heap = new Uint8Array(memory.buffer);
  const table = new DataView(memory.buffer, C_TABLE, auto.steps.length * ENTRY);
  const entries = new Uint8Array(memory.buffer, C_TABLE, auto.steps.length * ENTRY);
  auto.steps.forEach((st, i) => {
    const at = i * ENTRY;
    entries.set(st.data, at);
    entries[at + F_LEN] = st.data.length;
    entries[at + F_BACK] = st.back;
    table.setUint16(at + F_NEXT, st.next * 256 * ENTRY, true);
  });
  const cuts: number[] = [];
  const args: number[] = [];
  const dsts: number[] = [];

  return (src, final, out, at) => {
    let o = at;
    let off = 0;
    while (off < src.length) {
      const last = off + WASM_SLICE >= src.length;
      const part = off === 0 && last ? src : src.subarray(off, off + WASM_SLICE);
      const n = part.length;
      cutPoints(part, n, cuts);
      // Each part's output after the input and the one before it: 6 bytes a byte, 16 of slack, 16-aligned.
      let dst = (C_IN + n + 15) & ~15;
      for (let p = 0; p < STREAMS; p++) {
        const size = cuts[p + 1]! - cuts[p]!;
        args[3 * p] = C_IN + cuts[p]!;
        args[3 * p + 1] = size;
        args[3 * p + 2] = dsts[p] = dst;
        dst = (dst + 6 * size + 16 + 15) & ~15;
      }
      const need = Math.ceil(dst / PAGE);
      const have = heap.length / PAGE;
      if (need > have) {
        memory.grow(need - have); // within C_MAX_PAGES by construction; detaches the old view
        heap = new Uint8Array(memory.buffer);
      }
      heap.set(part, C_IN);
      checked(...args);
      const lens = new Uint32Array(heap.buffer, 0, 1 + STREAMS);
      const state = lens[0]! / (256 * ENTRY);
      for (let p = 0; p < STREAMS; p++) {
        out.set(heap.subarray(dsts[p]!, dsts[p]! + lens[1 + p]!), o);
        o += lens[1 + p]!;
      }
      if (state !== 0 && last && final) {
        FFFD.copy(out, o); // the character never finished: U+FFFD for its maximal subpart
        o += FFFD.length;
        off += n;
        break;
      }
      // A character still open at the slice end: the next slice starts with it; the last one leaves it to the caller.
      const used = n - auto.held[state]!;
      off += used;
      if (last || used === 0) break;
    }
    return { end: o, consumed: off };
  };
}
