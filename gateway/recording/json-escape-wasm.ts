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
  i32_load: 0x28,
  i32_load8_u: 0x2d,
  i32_load16_u: 0x2f,
  i32_store: 0x36,
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
// One byte at a time, as cast-encode.ts's escapeChecked: a byte that is not a lead byte writes its whole escape from
// ALONE (itself, `\"`, `\u00XX` or U+FFFD) as one 4 + 2-byte store and advances by its length; a lead byte checks
// its continuation bytes against LO/HI (which exclude overlongs, surrogates and > U+10FFFF), then copies the
// sequence (one 4-byte store) or writes U+FFFD for its maximal invalid subpart. At the end of a chunk, a sequence
// valid so far is left for the next one (not final) — the function stops there and says how far it got.

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

// Memory layout of the checked module: where `consumed` is left, the tables, then the input at C_IN and the output.
const C_CONSUMED = 0;
const C_ALONE = 1024; // 2048 bytes
const C_ALONE_LEN = 3072;
const C_NEED = 3328;
const C_LO = 3584;
const C_HI = 3840;
const C_IN = 4096;
const C_MAX_PAGES = Math.ceil((C_IN + WASM_SLICE + 16 + 6 * WASM_SLICE + 16) / PAGE);

// Locals of (func (param $src i32) (param $n i32) (param $dst i32) (param $final i32) (result i32)).
const K_SRC = 0;
const K_END = 1;
const K_DST = 2;
const K_FINAL = 3;
const K_O = 4;
const K_B = 5;
const K_NEED = 6;
const K_K = 7;
const K_LO = 8;
const K_HI = 9;

const get = (l: number) => [op.get, l];
const set = (l: number) => [op.set, l];

const checkedBody: number[] = [
  ...vec([[6, T.i32]]), // $o $b $need $k $lo $hi
  ...get(K_SRC),
  ...get(K_END),
  op.i32_add,
  ...set(K_END), //                                             (local.set $end (i32.add $src $n))
  ...get(K_DST),
  ...set(K_O), //                                               (local.set $o $dst)
  op.block,
  T.void, //                                                    (block $done
  op.loop,
  T.void, //                                                      (loop $step
  ...get(K_SRC),
  ...get(K_END),
  op.i32_ge_u,
  op.br_if,
  1, //                                                            (br_if $done (i32.ge_u $src $end))
  ...get(K_SRC),
  op.i32_load8_u,
  ...mem(),
  op.tee,
  K_B,
  op.i32_load8_u,
  ...mem(C_NEED),
  op.tee,
  K_NEED,
  op.i32_eqz, //                        (if (i32.eqz (local.tee $need (NEED[(local.tee $b (load8 $src))])))
  op.if,
  T.void,
  ...get(K_O),
  ...get(K_B),
  ...i32c(3),
  op.i32_shl,
  op.i32_load,
  ...mem(C_ALONE),
  op.i32_store,
  ...mem(), //                                                       (i32.store $o ALONE[b*8..+4])
  ...get(K_O),
  ...get(K_B),
  ...i32c(3),
  op.i32_shl,
  op.i32_load16_u,
  ...mem(C_ALONE + 4),
  op.i32_store16,
  ...mem(4), //                                                      (i32.store16 offset=4 $o ALONE[b*8+4..+2])
  ...get(K_O),
  ...get(K_B),
  op.i32_load8_u,
  ...mem(C_ALONE_LEN),
  op.i32_add,
  ...set(K_O), //                                                    $o += ALONE_LEN[b]
  ...get(K_SRC),
  ...i32c(1),
  op.i32_add,
  ...set(K_SRC), //                                                  $src += 1
  op.br,
  1, //                                                              (br $step)
  op.end,
  ...i32c(1),
  ...set(K_K), //                                                  (local.set $k 1)
  ...get(K_B),
  op.i32_load8_u,
  ...mem(C_LO),
  ...set(K_LO),
  ...get(K_B),
  op.i32_load8_u,
  ...mem(C_HI),
  ...set(K_HI),
  op.block,
  T.void, //                                                       (block $stop
  op.loop,
  T.void, //                                                         (loop $more
  ...get(K_K),
  ...get(K_NEED),
  op.i32_gt_u,
  op.br_if,
  1, //                                                                (br_if $stop (i32.gt_u $k $need))
  ...get(K_SRC),
  ...get(K_K),
  op.i32_add,
  ...get(K_END),
  op.i32_ge_u,
  op.br_if,
  1, //                                                                (br_if $stop (i32.ge_u (+ $src $k) $end))
  ...get(K_SRC),
  ...get(K_K),
  op.i32_add,
  op.i32_load8_u,
  ...mem(),
  ...set(K_B), //                                                      $b: the next byte
  ...get(K_B),
  ...get(K_LO),
  op.i32_lt_u,
  op.br_if,
  1, //                                                                (br_if $stop (i32.lt_u $b $lo))
  ...get(K_B),
  ...get(K_HI),
  op.i32_gt_u,
  op.br_if,
  1, //                                                                (br_if $stop (i32.gt_u $b $hi))
  ...i32c(0x80),
  ...set(K_LO),
  ...i32c(0xbf),
  ...set(K_HI),
  ...get(K_K),
  ...i32c(1),
  op.i32_add,
  ...set(K_K),
  op.br,
  0, //                                                                (br $more)
  op.end,
  op.end, //                                                         ))
  ...get(K_K),
  ...get(K_NEED),
  ...i32c(1),
  op.i32_add,
  op.i32_eq, //                                                    (if (i32.eq $k (+ $need 1))
  op.if,
  T.void,
  ...get(K_O),
  ...get(K_SRC),
  op.i32_load,
  ...mem(),
  op.i32_store,
  ...mem(), //                                                       copy the sequence (4-byte store)
  ...get(K_O),
  ...get(K_K),
  op.i32_add,
  ...set(K_O),
  op.else,
  ...get(K_SRC),
  ...get(K_K),
  op.i32_add,
  ...get(K_END),
  op.i32_eq,
  ...get(K_FINAL),
  op.i32_eqz,
  op.i32_and,
  op.br_if,
  2, //                                                  cut at the chunk end, not final: (br_if $done ...)
  ...get(K_O),
  ...i32c(0xbdbfef),
  op.i32_store,
  ...mem(), //                                                       U+FFFD
  ...get(K_O),
  ...i32c(3),
  op.i32_add,
  ...set(K_O),
  op.end,
  ...get(K_SRC),
  ...get(K_K),
  op.i32_add,
  ...set(K_SRC), //                                                $src += $k
  op.br,
  0, //                                                            (br $step)
  op.end,
  op.end, //                                                     ))
  ...i32c(C_CONSUMED),
  ...get(K_SRC),
  op.i32_store,
  ...mem(), //                                                  where it stopped
  ...get(K_O),
  ...get(K_DST),
  op.i32_sub,
  op.end,
];

function assembleChecked(): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[T.func, ...vec([[T.i32], [T.i32], [T.i32], [T.i32]]), ...vec([[T.i32]])]])),
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

/**
 * The checked path in WebAssembly (no SIMD needed), or undefined without WebAssembly. About 4× the JS loop on
 * NUL-heavy binary on the bench box; same output byte for byte (test/unit/cast-encode.test.ts).
 */
export function createWasmCheckedEscaper(t: CheckedTables): CheckedEscaper | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return undefined;
  const bytes = assembleChecked();
  if (!wasm.validate(bytes)) return undefined;
  const { exports } = new wasm.Instance(new wasm.Module(bytes));
  const checked = exports.checked as (src: number, n: number, dst: number, final: number) => number;
  const memory = exports.memory as WasmMemory;
  let heap = new Uint8Array(memory.buffer);
  heap.set(t.alone.subarray(0, 2048), C_ALONE);
  heap.set(t.aloneLen.subarray(0, 256), C_ALONE_LEN);
  heap.set(t.need.subarray(0, 256), C_NEED);
  heap.set(t.lo.subarray(0, 256), C_LO);
  heap.set(t.hi.subarray(0, 256), C_HI);

  return (src, final, out, at) => {
    let o = at;
    let off = 0;
    while (off < src.length) {
      const last = off + WASM_SLICE >= src.length;
      const part = off === 0 && last ? src : src.subarray(off, off + WASM_SLICE);
      const n = part.length;
      const dst = (C_IN + n + 15) & ~15;
      const need = Math.ceil((dst + 6 * n + 16) / PAGE);
      const have = heap.length / PAGE;
      if (need > have) {
        memory.grow(need - have); // within C_MAX_PAGES by construction; detaches the old view
        heap = new Uint8Array(memory.buffer);
      }
      heap.set(part, C_IN);
      const len = checked(C_IN, n, dst, last && final ? 1 : 0);
      const used = new DataView(memory.buffer).getUint32(C_CONSUMED, true) - C_IN;
      out.set(heap.subarray(dst, dst + len), o);
      o += len;
      off += used;
      // A slice that stopped at a cut character: the next slice starts with it. The last one leaves it to the caller.
      if (last || used === 0) break;
    }
    return { end: o, consumed: off };
  };
}
