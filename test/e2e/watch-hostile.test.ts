// A supervisor watches a native SSH session in Chromium while the vendor's side turns hostile: a resize storm
// (one absurd size, then thousands) and escape sequences that ask a terminal to answer or to set the clipboard.
// The recording and the page stay bounded and responsive; the view never answers and never touches the clipboard.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client, ClientChannel } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { openAs, type Person } from '../helpers/e2e-people.js';
import { useE2eSshWorld } from '../helpers/e2e-ssh-world.js';
import { TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';

const world = useE2eSshWorld();

interface Watched {
  vendor: Client;
  ch: ClientChannel;
  out: ReturnType<typeof collect>;
  sessionId: string;
  supervisor: Person;
  /** Text frames the page received on the monitor socket, and frames it sent. */
  received: Array<Record<string, unknown>>;
  sent: number;
}

async function watchedShell(): Promise<Watched> {
  const { h, browser, supervisorSecret, harness } = world;
  await h.grant();
  const vendor = await vendorClient(h, TARGET);
  vendor.on('error', () => undefined);
  const ch = await openShell(vendor);
  const out = collect(ch);
  ch.write('echo ready-$((6*7))\n');
  // Generous: the target's first shell takes seconds to start on a loaded machine.
  await out.until(/ready-42/, 60_000);
  const sessionId = h.gw.ssh!.sessions().at(-1)!.id;
  const supervisor = await openAs(browser, harness(), 'supervisor', supervisorSecret, `/sessions/${sessionId}/watch`);
  const w: Watched = { vendor, ch, out, sessionId, supervisor, received: [], sent: 0 };
  supervisor.page.on('websocket', (ws) => {
    if (!ws.url().includes('/ws/monitor/')) return;
    ws.on('framereceived', (f) => {
      if (typeof f.payload === 'string') w.received.push(JSON.parse(f.payload) as Record<string, unknown>);
    });
    ws.on('framesent', () => void w.sent++);
  });
  await supervisor.page.reload();
  await supervisor.page.locator('#watch-status.ok').waitFor({ timeout: 15_000 });
  return w;
}

/** Starts measuring the page's main thread: the longest gap between timer ticks, and long tasks. */
const startStallMeter = (p: Person) =>
  p.page.evaluate(() => {
    const g = globalThis as unknown as {
      ghStall: { maxGap: number; longTasks: number; maxLongTask: number };
      ghTimer: number;
    };
    clearInterval(g.ghTimer);
    g.ghStall = { maxGap: 0, longTasks: 0, maxLongTask: 0 };
    let last = performance.now();
    g.ghTimer = setInterval(() => {
      const now = performance.now();
      g.ghStall.maxGap = Math.max(g.ghStall.maxGap, now - last);
      last = now;
    }, 10) as unknown as number;
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        g.ghStall.longTasks++;
        g.ghStall.maxLongTask = Math.max(g.ghStall.maxLongTask, e.duration);
      }
    }).observe({ type: 'longtask' });
  });
const readStallMeter = (p: Person) =>
  p.page.evaluate(
    () => (globalThis as unknown as { ghStall: { maxGap: number; longTasks: number; maxLongTask: number } }).ghStall,
  );

describe('resize storm from a native SSH client', () => {
  it('keeps the recording and the watching page bounded: sizes clamped, resizes coalesced, last one wins', async () => {
    const { h } = world;
    const w = await watchedShell();
    const rows = w.supervisor.page.locator('#watch-terminal .xterm-rows');
    // The same meter over a quiet 2 s first: on a loaded machine the page stalls without any help.
    await startStallMeter(w.supervisor);
    await new Promise((r) => setTimeout(r, 2000));
    const quiet = await readStallMeter(w.supervisor);
    await startStallMeter(w.supervisor);
    const t0 = Date.now();
    w.ch.setWindow(1_000_000, 1_000_000, 0, 0);
    const STORM = 5000;
    for (let i = 0; i < STORM; i++) w.ch.setWindow(20 + (i % 40), 60 + (i % 90), 0, 0);
    w.ch.setWindow(40, 120, 0, 0);
    // The shell runs after the last window-change (one channel, in order), so its output marks the storm's end at the gateway.
    w.ch.write('stty size; echo after-storm-$((8*8))\n');
    await w.out.until(/after-storm-64/, 60_000);
    const stormMs = Date.now() - t0;
    expect(w.out.text).toMatch(/\b40 120\r?\n/); // the target got the last size
    await expect.poll(() => rows.textContent(), { timeout: 20_000 }).toContain('after-storm-64');
    const stall = await readStallMeter(w.supervisor);
    const resizes = w.received.filter((m) => m.type === 'resize');
    console.log(
      `resize storm: ${STORM + 2} window-changes in ${stormMs} ms → ${resizes.length} resize messages to the viewer; ` +
        `page main thread: longest timer gap ${Math.round(stall.maxGap)} ms, ${stall.longTasks} long tasks, longest ${Math.round(stall.maxLongTask)} ms ` +
        `(quiet 2 s before: gap ${Math.round(quiet.maxGap)} ms, longest task ${Math.round(quiet.maxLongTask)} ms)`,
    );
    // One per 100 ms at most (+1 for the first, +1 trailing), and never beyond the clamp.
    const bound = Math.ceil(stormMs / 100) + 2;
    expect(resizes.length).toBeLessThanOrEqual(bound);
    expect(resizes.length).toBeLessThan(STORM / 10);
    for (const r of resizes) {
      expect(Number(r.cols)).toBeGreaterThanOrEqual(1);
      expect(Number(r.cols)).toBeLessThanOrEqual(1000);
      expect(Number(r.rows)).toBeGreaterThanOrEqual(1);
      expect(Number(r.rows)).toBeLessThanOrEqual(500);
    }
    expect(resizes.at(-1)).toMatchObject({ cols: 120, rows: 40 });
    expect(w.supervisor.errors).toEqual([]);

    w.vendor.end();
    const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === w.sessionId, 20_000);
    expect(ended.data?.reason).toBe('client_closed');
    const rec = h.gw.store.data.sessions.find((s) => s.id === w.sessionId)?.recording;
    const cast = await readFile(join(h.gw.storageDir, rec!.path), 'utf8');
    const events = cast
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string]);
    const r = events.filter((e) => e[1] === 'r');
    console.log(`recording: ${cast.length} bytes, ${r.length} resize events`);
    expect(r.length).toBeLessThanOrEqual(bound);
    expect(r.at(-1)?.[2]).toBe('120x40');
    for (const e of r) {
      const [c, rr] = e[2].split('x').map(Number);
      expect(c).toBeLessThanOrEqual(1000);
      expect(rr).toBeLessThanOrEqual(500);
    }
    expect(cast.length).toBeLessThan(256 * 1024);
    await w.supervisor.context.close();
  }, 180_000);
});

describe('escape sequences that ask a terminal to answer', () => {
  it('the live view never answers (DECRQSS, OSC 50/52, title and status reports) and never touches the clipboard or the title', async () => {
    const w = await watchedShell();
    const page = w.supervisor.page;
    await page.evaluate(() => {
      const g = globalThis as unknown as { ghClipboard: number };
      g.ghClipboard = 0;
      const c = navigator.clipboard as unknown as Record<string, unknown> | undefined;
      if (c) {
        c.writeText = () => (g.ghClipboard++, Promise.resolve());
        c.write = () => (g.ghClipboard++, Promise.resolve());
      }
      document.addEventListener('copy', () => void g.ghClipboard++);
    });
    const title = await page.title();
    const sentBefore = w.sent;
    // DECRQSS, OSC 50 font query, OSC 52 set and query, title report (CSI 21 t), DA, DSR, window reports, OSC 2 title.
    const seqs = String.raw`\033P$qm\033\\ \033]50;?\007 \033]52;c;ZXZpbA==\007 \033]52;c;?\007 \033[21t \033[20t \033[c \033[>c \033[6n \033[5n \033[14t \033[18t \033]2;evil-title\007 \033]10;?\007 \033]4;1;?\007`;
    w.ch.write(`printf '${seqs}'; echo; echo seqs-done-$((9*9))\n`);
    await w.out.until(/seqs-done-81/, 15_000);
    await expect
      .poll(() => page.locator('#watch-terminal .xterm-rows').textContent(), { timeout: 15_000 })
      .toContain('seqs-done-81');
    // Anything the page would answer goes out at once; a round of the event loop later nothing has.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
    expect(w.sent - sentBefore).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { ghClipboard: number }).ghClipboard)).toBe(0);
    expect(await page.title()).toBe(title);
    expect(await page.title()).not.toContain('evil');
    expect(w.supervisor.errors).toEqual([]);
    w.vendor.end();
    await w.supervisor.context.close();
  }, 180_000);
});
