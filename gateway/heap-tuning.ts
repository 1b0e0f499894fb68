// How V8 sizes the old generation in a gateway process: grown by a fixed factor of 2 after each full collection.
//
// Why: V8 counts external memory allocated since the last mark-compact (the relay's Buffers: every SSH packet read,
// decrypted and re-encrypted) against the old generation's limit. Once a long-running gateway has had a few full
// collections (idle sessions, a timer's GC), V8 sets that limit ~1.3× the live heap, and a bulk transfer's packets in
// flight alone then fill the slack: the bench saw a mark-compact every ~50 ms for a whole 1 GiB download, with
// recording on or off, and the relay's CPU per MB ×2.5 that of a freshly started gateway (docs/performance.md).
// With the limit at twice the live heap, the same transfer runs with next to no full collections. The cost is
// memory: the old generation may grow to twice what is live before it is collected.
import { setFlagsFromString } from 'node:v8';

/** Percent the old generation grows by after a full collection (V8's --heap-growing-percent). */
export const HEAP_GROWING_PERCENT = 100;

let applied = false;

/** Once per process; an operator's own --heap-growing-percent on the node command line wins. */
export function tuneHeapForRelay(execArgv: readonly string[] = process.execArgv): void {
  if (applied) return;
  applied = true;
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
