// Measures update throughput (printed, not asserted: machines differ) and checks nothing is lost doing so.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DbData, Store } from '../../gateway/store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-bench-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bump = (d: DbData) => {
  d.meta.counter = ((d.meta.counter as number | undefined) ?? 0) + 1;
};

/** Fills the db with `n` web-session records (~170 bytes each in db.json). */
const seed = (d: DbData, n: number) => {
  for (let i = 0; i < n; i++) {
    const at = new Date(0).toISOString();
    d.webSessions.push({
      id: `ws_${i}`,
      userId: 'usr_1',
      createdAt: at,
      lastSeenAt: at,
      expiresAt: at,
      csrfToken: `t${i}`,
    });
  }
};

async function measure(label: string, records: number, n: number) {
  const store = await Store.open({ dir });
  if (records > 0) await store.update((d) => seed(d, records));
  let t = performance.now();
  for (let i = 0; i < n; i++) await store.update(bump);
  const sequential = n / ((performance.now() - t) / 1000);
  t = performance.now();
  await Promise.all(Array.from({ length: n }, () => store.update(bump)));
  const concurrent = n / ((performance.now() - t) / 1000);
  expect(store.data.meta.counter).toBe(2 * n);
  await store.close();
  const reopened = await Store.readSnapshot(dir);
  expect(reopened.meta.counter).toBe(2 * n);
  console.log(
    `store ${label}: ${n} sequential ${sequential.toFixed(0)} updates/s; ${n} concurrent ${concurrent.toFixed(0)} updates/s`,
  );
}

describe('throughput', () => {
  it('empty db', () => measure('empty db', 0, 1000));
  // Fewer updates here: every write rewrites ~1.2 MB, and the suite should stay quick.
  it('db with 10,000 records', () => measure('10k records', 10_000, 100));
});
