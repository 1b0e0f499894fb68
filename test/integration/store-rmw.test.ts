// 100 read-modify-write updates of one request at once, some of them yielding mid-update: none is lost, on disk
// or after a reopen, and none sees another's half-done change.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../gateway/store.js';
import { openGrant } from '../helpers/grants.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let dir: TempDir;
beforeEach(async () => {
  dir = await tempDir('gh-store-rmw-');
});
afterEach(async () => dir.remove());

describe('concurrent read-modify-write on one request', () => {
  it('keeps all 100 decisions, in the order the updates were queued', async () => {
    const store = await Store.open({ dir: dir.path });
    const r = openGrant(
      { userId: 'usr_vendor', targetId: 'eng-ws-01', protocol: 'ssh', now: Date.now() },
      { state: 'pending', grantId: undefined },
    );
    await store.update((d) => void d.requests.push(r));
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        store.update(async (d) => {
          const req = d.requests.find((x) => x.id === r.id)!;
          const before = req.decisions.length;
          // Every third update yields in the middle of its read-modify-write: exclusive access must hold across it.
          if (i % 3 === 0) await new Promise((res) => setTimeout(res, 1));
          req.decisions = [...req.decisions, { by: `usr_${i}`, at: new Date().toISOString(), verdict: 'approve' }];
          req.updatedAt = new Date().toISOString();
          seen.push(before);
        }),
      ),
    );
    const decided = store.data.requests.find((x) => x.id === r.id)!.decisions.map((d) => d.by);
    expect(decided).toEqual(Array.from({ length: 100 }, (_, i) => `usr_${i}`));
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i)); // each read the one before it had written
    await store.close();
    const again = await Store.open({ dir: dir.path });
    try {
      expect(again.data.requests.find((x) => x.id === r.id)!.decisions).toHaveLength(100);
    } finally {
      await again.close();
    }
  });
});
