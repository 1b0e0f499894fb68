// What a process's memory is made of, read inside it after a full collection: V8's view (process.memoryUsage)
// and the kernel's (/proc/self/smaps), so a per-session figure can be split into what the sessions hold and
// what V8 and malloc merely keep in reserve.
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

export interface MemoryParts {
  /** VmRSS, KiB: everything resident (what `rssAfterGc` always reported). */
  rssKiB: number;
  /** Private_Dirty over all mappings, KiB: resident memory this process wrote (code and shared pages left out). */
  privateDirtyKiB: number;
  /**
   * Private_Dirty of glibc's main arena (the `[heap]` mapping), KiB: what the loop thread's native allocations
   * hold — OpenSSL cipher and digest contexts, zlib streams, libuv handles, socket wrappers, ArrayBuffer stores
   * below malloc's mmap threshold — plus the free chunks malloc keeps. None of it is in V8's heap.
   */
  mallocArenaKiB: number;
  /** V8: the JS heap's live objects after the collection, KiB. */
  heapUsedKiB: number;
  /** V8: heap pages committed, KiB: heapUsed plus the free space V8 keeps to grow into. */
  heapTotalKiB: number;
  /** V8: memory outside the heap that V8 was told about (Buffers and ArrayBuffers included), KiB. */
  externalKiB: number;
  /** V8: ArrayBuffer and Buffer stores, KiB (a part of `externalKiB`, not in addition to it). */
  arrayBuffersKiB: number;
  /** V8's heap by space (new, old, code, large object…): used and committed, KiB. Where heapTotal's reserve sits. */
  spaces: Record<string, { usedKiB: number; committedKiB: number }>;
}

const kib = (bytes: number) => bytes / 1024;

/** Sums the `field:` lines (kB) of the smaps entries; `only` picks entries by their header line. */
function smapsSum(text: string, field: string, only?: (header: string) => boolean): number {
  let sum = 0;
  let take = only === undefined;
  for (const line of text.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) take = only === undefined || only(line);
    else if (take && line.startsWith(`${field}:`)) sum += Number(/(\d+) kB/.exec(line)?.[1] ?? 0);
  }
  return sum;
}

/** This process's memory now. Call it right after `gc()`: otherwise heapUsed counts garbage. */
export function memoryParts(): MemoryParts {
  const m = process.memoryUsage();
  let smaps = '';
  try {
    smaps = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    // not Linux: the kernel's parts read 0, V8's are still there
  }
  return {
    rssKiB: kib(m.rss),
    privateDirtyKiB: smapsSum(smaps, 'Private_Dirty'),
    mallocArenaKiB: smapsSum(smaps, 'Private_Dirty', (h) => h.trimEnd().endsWith('[heap]')),
    heapUsedKiB: kib(m.heapUsed),
    heapTotalKiB: kib(m.heapTotal),
    externalKiB: kib(m.external),
    arrayBuffersKiB: kib(m.arrayBuffers),
    spaces: Object.fromEntries(
      getHeapSpaceStatistics().map((s) => [
        s.space_name,
        { usedKiB: kib(s.space_used_size), committedKiB: kib(s.physical_space_size) },
      ]),
    ),
  };
}
