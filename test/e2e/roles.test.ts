// In Chromium, what each role needs from the pages: a supervisor approves with a comment and finds decided, denied and
// expired requests in the history; Home counts what waits; sessions say who ended them; a vendor opens their own
// sessions (never the recording, never another vendor's); the audit trail reads as sentences; the evidence download
// is named by the chosen days; the replay has one set of controls in seconds.
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { answerStepUp, enrolTotp, openAs, type Person } from '../helpers/e2e-people.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { readZip } from '../helpers/zip.js';

let browser: Browser;
let h: SshGateway;
const harness = () => ({ ...h, close: async () => undefined });
const secrets: Record<string, string> = {};
/** Kept open across the tests: a step-up code once accepted is never accepted again, so each person steps up once. */
let sup: Person;
let auditor: Person;
const COMMENT = 'Checked with the line lead, go ahead';
const RULE_REASON = 'recursive delete needs a second look';
const ids = { p1: '', p2: '', expired: '', denied: '', recorded: '', terminated: '' };

beforeAll(async () => {
  h = await startSshGateway({
    target: {
      commands: { mode: 'alert', rules: [{ match: 'rm\\s+-rf', action: 'alert', reason: RULE_REASON }] },
    },
  });
  browser = await launchBrowser();
  secrets.supervisor = await enrolTotp(harness(), 'supervisor');
  secrets.auditor = await enrolTotp(harness(), 'auditor');
  const now = h.clock.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  ids.p1 = (await h.grant({ state: 'pending', grantId: undefined, purpose: 'update the S7 project on line 2' })).id;
  ids.p2 = (await h.grant({ state: 'pending', grantId: undefined, purpose: 'read the drive parameters' })).id;
  ids.expired = (
    await h.grant({
      state: 'expired',
      grantId: undefined,
      startsAt: iso(now - 5 * 3600_000),
      endsAt: iso(now - 3600_000),
      createdAt: iso(now - 6 * 3600_000),
      updatedAt: iso(now - 3600_000),
    })
  ).id;
  ids.denied = (
    await h.grant({
      state: 'denied',
      grantId: undefined,
      decisions: [{ by: 'usr_nobody', at: iso(now - 60_000), verdict: 'deny', reason: 'No change ticket yet' }],
      closedReason: 'No change ticket yet',
    })
  ).id;
}, 90_000);
afterAll(async () => {
  await sup?.context.close();
  await auditor?.context.close();
  await browser?.close();
  await h?.close();
}, 60_000);

describe('what each role needs from the pages', () => {
  it('supervisor: Home counts what waits, approves with a comment, finds denied and expired requests in the history', async () => {
    sup = await openAs(browser, harness(), 'supervisor', secrets.supervisor!, '/');
    const p = sup.page;
    await p.locator('#home-pending[data-count="2"]').waitFor();
    expect(await p.locator('#home-pending').textContent()).toBe('2 requests are waiting for your decision.');
    // The navigation's count beside Approvals says the same.
    await p.locator('#pending-count', { hasText: /^2$/ }).waitFor();
    await p.locator('#home-pending-link').click();
    await p.waitForURL(/\/approvals$/);

    await p.locator(`#approve-comment-${ids.p1}`).fill(COMMENT);
    await p.locator(`#approve-${ids.p1}`).click();
    await answerStepUp(sup);
    await p.locator(`#grant-${ids.p1}`).waitFor();
    const approved = await h.waitAudit('request.approved', (a) => a.subject?.requestId === ids.p1);
    expect(approved.data?.comment).toBe(COMMENT);
    expect(h.gw.store.data.requests.find((r) => r.id === ids.p1)?.decisions[0]?.reason).toBe(COMMENT);

    // Home follows: one left.
    await p.locator('#nav a[href="/"]').click();
    await p.locator('#home-pending[data-count="1"]').waitFor();
    await p.locator('#pending-count', { hasText: /^1$/ }).waitFor();

    await p.goto(`${h.url}/requests/${ids.p1}`);
    await p.locator('#detail-state').waitFor();
    expect(await p.locator('#request-detail .decisions').textContent()).toMatch(
      new RegExp(`^Approved by Sam Supervisor at .+ — ${COMMENT}$`),
    );

    // The history: every state, filtered on the server.
    await p.goto(`${h.url}/approvals/history`);
    await p.locator('#history-summary', { hasText: 'of 4 requests' }).waitFor();
    for (const id of Object.values(ids).filter((x) => x.startsWith('req_')))
      expect(await p.locator(`#hist-${id}`).count()).toBe(1);
    await p.locator('#h-state').selectOption('expired');
    await p.locator('#history-apply').click();
    await p.waitForURL(/state=expired/);
    await p.locator('#history-summary', { hasText: '1–1 of 1 requests' }).waitFor();
    expect(await p.locator('#history-body tr').getAttribute('id')).toBe(`hist-${ids.expired}`);
    expect(await p.locator(`#hist-${ids.expired}`).textContent()).toContain('Expired undecided');
    await p.locator('#h-state').selectOption('denied');
    await p.locator('#history-apply').click();
    await p.locator(`#hist-${ids.denied}`).waitFor();
    expect(await p.locator('#history-body tr').count()).toBe(1);
    expect(await p.locator(`#hist-${ids.denied}`).textContent()).toContain('No change ticket yet');
    await p.locator('#h-state').selectOption('');
    await p.locator('#h-vendor').fill('Vera');
    await p.locator('#h-target').selectOption(TARGET);
    await p.locator('#history-apply').click();
    await p.locator('#history-summary', { hasText: 'of 4 requests' }).waitFor();
    await p.locator('#h-vendor').fill('nobody-by-this-name');
    await p.locator('#history-apply').click();
    await p.locator('#history-summary', { hasText: 'No request matches.' }).waitFor();

    // The API behind it: bounded pages, clear errors, overseers only.
    const page1 = await p.request.get(`${h.url}/api/requests/history?limit=1&offset=1`);
    const body = (await page1.json()) as { requests: unknown[]; total: number; offset: number; limit: number };
    expect(body).toMatchObject({ total: 4, offset: 1, limit: 1 });
    expect(body.requests).toHaveLength(1);
    const bad = await p.request.get(`${h.url}/api/requests/history?state=lost`);
    expect(bad.status()).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_state');
    expect((await p.request.get(`${h.url}/api/requests/history?limit=5000`)).status()).toBe(400);
    expect((await p.request.get(`${h.url}/api/requests/history?sort=x`)).status()).toBe(400);
    const vendorAsks = await h.vendor.browser.fetch('/api/requests/history');
    expect(vendorAsks.status).toBe(403);
    expect(sup.errors).toEqual([]);
  }, 120_000);

  it('auditor: the evidence download is named by the chosen days and its report keeps the approval comment', async () => {
    auditor = await openAs(browser, harness(), 'auditor', secrets.auditor!, '/evidence');
    const p = auditor.page;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const today = day(h.clock.now());
    const before = day(h.clock.now() - 2 * 86_400_000);
    await p.locator('#ev-from').fill(before);
    await p.locator('#ev-to').fill(today);
    const download = p.waitForEvent('download');
    await p.locator('#ev-export').click();
    const d = await download;
    expect(d.suggestedFilename()).toBe(`gatehouse-evidence-${before}-to-${today}.zip`);
    const file = join(h.dir.path, 'named.zip');
    await d.saveAs(file);
    const report = (await readZip(file)).get('report.html')?.toString('utf8') ?? '';
    expect(report).toMatch(new RegExp(`approved by Sam Supervisor at [^<;]+: ${COMMENT}`));
    await p.locator('#ev-from').fill(today);
    const one = p.waitForEvent('download');
    await p.locator('#ev-export').click();
    expect((await one).suggestedFilename()).toBe(`gatehouse-evidence-${today}.zip`);
    expect(auditor.errors).toEqual([]);
  }, 60_000);

  it('sessions: the rule’s reason on Commands, who terminated and why, a vendor’s own sessions and never another’s', async () => {
    await h.grant();
    const run = await h.ssh(TARGET, { command: 'echo rm -rf /tmp/gh-nothing-here' });
    expect(run.stdout).toContain('rm -rf /tmp/gh-nothing-here');
    await h.waitAudit('session.ended');
    ids.recorded = h.gw.store.data.sessions.at(-1)!.id;
    const sleeper = h.ssh(TARGET, { command: 'sleep 60', timeoutMs: 90_000 });
    for (let i = 0; i < 200 && h.gw.liveSessions.list().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    ids.terminated = h.gw.liveSessions.list()[0]!.id;

    // The supervisor ends it from the sessions list (still verified from the approval).
    const sp = sup.page;
    await sp.goto(`${h.url}/sessions`);
    await sp.locator(`#terminate-${ids.terminated}`).click();
    await sp.locator(`#terminate-reason-${ids.terminated}`).fill('Line 2 restarts now, stop typing');
    await sp.locator(`#terminate-submit-${ids.terminated}`).click();
    await h.waitAudit('session.ended', (a) => a.subject?.sessionId === ids.terminated);
    await sleeper;
    await sp.goto(`${h.url}/sessions/${ids.terminated}`);
    await sp.locator('#session-closed-by').waitFor();
    expect(await sp.locator('#session-closed-by').textContent()).toMatch(
      /^Terminated by Sam Supervisor at .+ — Line 2 restarts now, stop typing$/,
    );

    // Commands: the rule's reason beside the verdict.
    const ap = auditor.page;
    await ap.goto(`${h.url}/commands?verdict=alerted`);
    await ap.locator('#hit-0').waitFor();
    expect(await ap.locator('#hit-reason-0').textContent()).toBe(RULE_REASON);

    // The vendor: their own sessions, the record without the recording.
    const vendor = await openAs(browser, harness(), 'vendor', h.vendor.totpSecret, '/sessions');
    try {
      const vp = vendor.page;
      const fetched: string[] = [];
      vp.on('request', (r) => fetched.push(new URL(r.url()).pathname));
      await vp.locator('h1', { hasText: 'My sessions' }).waitFor();
      await vp.locator(`#session-${ids.recorded}`).waitFor();
      expect(await vp.locator('#f-vendor').count()).toBe(0);
      await vp.locator(`#replay-${ids.recorded}`).click();
      await vp.locator('#recording-note').waitFor();
      expect(await vp.locator('#session-target').textContent()).toContain(TARGET);
      expect(await vp.locator('#recording-note').textContent()).toContain('replayed by the site’s supervisors');
      expect(await vp.locator('#player').count()).toBe(0);
      // Their own commands, with the verdict and the rule's reason.
      const own = vp.locator('#own-commands li');
      await own.first().waitFor();
      expect(await own.allTextContents()).toEqual([
        expect.stringMatching(new RegExp(`^\\d+\\.\\d s echo rm -rf /tmp/gh-nothing-here alerted ${RULE_REASON}$`)),
      ]);
      expect(fetched.filter((x) => x.includes('/recording'))).toEqual([]);
      await vp.goto(`${h.url}/sessions/${ids.terminated}`);
      await vp.locator('#session-closed-by', { hasText: 'Terminated by Sam Supervisor' }).waitFor();
      expect(vendor.errors).toEqual([]);
    } finally {
      await vendor.context.close();
    }

    // Another vendor: the same address answers as if there were no such session, and the attempt is on record.
    const other = await openAs(browser, harness(), 'vendor2', 'unused', `/sessions/${ids.recorded}`);
    try {
      const op = other.page;
      await op.locator('#replay-error').waitFor();
      expect(await op.locator('h1').textContent()).toBe('Session not found');
      expect(await op.locator('#session-context').count()).toBe(0);
      const refused = await h.waitAudit(
        'access.denied',
        (a) => a.subject?.sessionId === ids.recorded && a.data?.action === 'session.read',
      );
      expect(refused.data?.exists).toBe(true);
      expect(refused.actor?.email).toBe('vendor2@beta.example');
      await op.goto(`${h.url}/sessions`);
      await op.locator('#sessions-summary', { hasText: 'No session matches.' }).waitFor();
    } finally {
      await other.context.close();
    }
    expect(sup.errors).toEqual([]);
    expect(auditor.errors).toEqual([]);
  }, 150_000);

  it('auditor: the audit trail in sentences, checkpoints when asked, the raw record one click away', async () => {
    const p = auditor.page;
    await p.goto(`${h.url}/audit?type=request.approved`);
    await p.locator('#audit-body tr[data-type="request.approved"]').first().waitFor();
    expect(await p.locator('#audit-body .audit-summary').first().textContent()).toBe(
      `Sam Supervisor approved Vera Vendor's request for Engineering workstation 01 (${TARGET}) — ${COMMENT}`,
    );
    await p.goto(`${h.url}/audit?type=session.terminated`);
    await p.locator('#audit-body tr[data-type="session.terminated"]').first().waitFor();
    expect(await p.locator('#audit-body .audit-summary').first().textContent()).toBe(
      `Sam Supervisor terminated Vera Vendor's session on Engineering workstation 01 (${TARGET}) — Line 2 restarts now, stop typing`,
    );

    // The whole trail: no checkpoints until asked for (the evidence export wrote one).
    await p.goto(`${h.url}/audit`);
    await p.locator('#audit-body tr').first().waitFor();
    expect(await p.locator('#audit-body tr[data-type="audit.checkpoint"]').count()).toBe(0);
    const summaries = await p.locator('#audit-body .audit-summary').allTextContents();
    expect(summaries.length).toBeGreaterThan(10);
    for (const s of summaries) expect(s).not.toMatch(/^\S+: [a-z]+\.[a-z_]+/); // never the fallback "who: type"
    await p.locator('#a-checkpoints').check();
    await p.locator('#audit-apply').click();
    await p.waitForURL(/checkpoints=true/);
    const cp = p.locator('#audit-body tr[data-type="audit.checkpoint"]').first();
    await cp.waitFor();
    expect(await cp.locator('.audit-summary').textContent()).toMatch(
      /^Signed checkpoint of the audit chain up to record \d+$/,
    );

    // Raw: folded, then the stored JSON with its hash.
    const raw = p.locator('#audit-body details.raw').first();
    expect(await raw.locator('pre').isVisible()).toBe(false);
    await raw.locator('summary').click();
    expect(await raw.locator('pre').isVisible()).toBe(true);
    const json = JSON.parse((await raw.locator('pre').textContent()) ?? '{}') as { hash?: string; seq?: number };
    expect(json.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(auditor.errors).toEqual([]);
  }, 60_000);

  it('replay: one set of controls, one clock in seconds, a play icon', async () => {
    const p = auditor.page;
    await p.goto(`${h.url}/sessions/${ids.recorded}`);
    await p.locator('#player[data-ready="true"]').waitFor();
    expect(await p.locator('#player .ap-control-bar').count()).toBe(0);
    expect(await p.locator('.player-controls').count()).toBe(1);
    expect(await p.locator('#replay-toggle').textContent()).toBe('▶ Play');
    expect(await p.locator('#replay-time').textContent()).toMatch(/^0\.0 s \/ \d+\.\d s$/);
    const marker = p.locator('#marker-0');
    const at = Number(await marker.getAttribute('data-time'));
    expect(await marker.locator('.offset').textContent()).toBe(`${at.toFixed(1)} s`);
    await marker.click();
    await expect.poll(() => p.locator('#replay-time').textContent()).toMatch(new RegExp(`^${at.toFixed(1)} s / `));
    await p.locator('#replay-toggle').click();
    await p.locator('#replay-toggle', { hasText: '⏸ Pause' }).waitFor();
    await p.locator('#replay-toggle', { hasText: '▶ Play' }).waitFor({ timeout: 15_000 });
    expect(auditor.errors).toEqual([]);
  }, 60_000);
});
