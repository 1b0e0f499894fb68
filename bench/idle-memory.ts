// What an idle interactive session costs the gateway, from its memory before and after N of them (gateway-memory.ts).
//
// Why not RSS growth alone: after a collection V8 keeps the old generation sized at twice what is live
// (gateway/heap-tuning.ts) and commits heap pages in 256 KiB steps, and malloc keeps the chunks it freed; how much
// of that reserve the N sessions happen to push into RSS changes from run to run (168–339 KiB a session here for the
// same code). What the sessions hold is counted by kind instead:
//   - the JS objects they keep alive: V8 heap used, after two full collections;
//   - their native memory: growth of malloc's main arena (OpenSSL cipher contexts, zlib, libuv and socket
//     wrappers, Buffer stores), or of V8's `external` (Buffer stores and what Node reports, e.g. zlib) if that is
//     larger — the two overlap (most Buffer stores live in the arena), so the larger, not the sum;
// and RSS growth stays visible next to it. Rounds add sessions to those still open (ssh-paths.ts): sessions opened
// after others closed would reuse what those freed, and their native memory would not show.
import type { MemoryParts } from './gateway-memory.js';

export interface IdleRound {
  sessions: number;
  /** Per session, KiB. */
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  mallocArena: number;
  privateDirty: number;
  /** V8's young generation (new space), committed: it grows once to its full size under load, then stays. */
  youngCommitted: number;
  /** What a session holds: heapUsed + max(mallocArena, external). */
  held: number;
}

export function idleRound(before: MemoryParts, after: MemoryParts, sessions: number): IdleRound {
  const per = (k: Exclude<keyof MemoryParts, 'spaces'>) => (after[k] - before[k]) / sessions;
  const native = Math.max(per('mallocArenaKiB'), per('externalKiB'));
  return {
    sessions,
    rss: per('rssKiB'),
    heapUsed: per('heapUsedKiB'),
    heapTotal: per('heapTotalKiB'),
    external: per('externalKiB'),
    arrayBuffers: per('arrayBuffersKiB'),
    mallocArena: per('mallocArenaKiB'),
    privateDirty: per('privateDirtyKiB'),
    youngCommitted:
      ((after.spaces.new_space?.committedKiB ?? 0) - (before.spaces.new_space?.committedKiB ?? 0)) / sessions,
    held: per('heapUsedKiB') + native,
  };
}

export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** One round, for a row's note: the held figure and its parts. */
export function describeRound(r: IdleRound): string {
  const f = (x: number) => x.toFixed(1);
  return `held ${f(r.held)} (heap ${f(r.heapUsed)}, arena ${f(r.mallocArena)}, external ${f(r.external)}), RSS ${f(r.rss)}, V8 heap committed ${f(r.heapTotal)} (young generation ${f(r.youngCommitted)})`;
}
