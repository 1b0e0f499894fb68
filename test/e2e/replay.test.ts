// In Chromium: an auditor searches a captured command and opens the replay at it; a hostile recording replays without effect.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingPath } from '../../gateway/recording/files.js';
import { launchBrowser } from '../helpers/browser.js';
import { enrolTotp, openAs } from '../helpers/e2e-people.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';
import { oathCode } from '../helpers/totp.js';

let browser: Browser;
let h: SshGateway;
let supSecret: string;
const SHOTS = join(process.cwd(), 'test-results');
const PROMPT = /[#$] $/;

beforeAll(async () => {
  h = await startSshGateway();
  await h.grant();
  browser = await launchBrowser();
  // Enrolled before any vendor login moves the gateway's clock on (see SteppingClock).
  supSecret = await enrolTotp(h, 'supervisor');
  await mkdir(SHOTS, { recursive: true });
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function until(ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A real recorded session: a few commands a second or more apart, then exit (sealed). */
async function recordSession(): Promise<void> {
  const c = await vendorClient(h, TARGET);
  try {
    const sh = await openShell(c);
    const out = collect(sh);
    const closed = new Promise<void>((r) => sh.on('close', () => r()));
    await out.until(PROMPT);
    for (const cmd of [
      'echo warming-up',
      'ls /',
      'echo Gatehouse-Needle-7 > /dev/null; echo needle-out',
      'echo after-the-needle',
    ]) {
      await new Promise((r) => setTimeout(r, 1200));
      // Typed, then Enter once the echo is on screen (as a person types; the capture reads the screen).
      const before = out.text.length;
      sh.write(cmd);
      await until(() => out.text.slice(before).includes(cmd));
      sh.write('\r');
      await until(() => PROMPT.test(out.text.slice(before + cmd.length)));
    }
    sh.write('exit\r');
    await closed;
  } finally {
    c.end();
  }
}

describe('replay in the browser', () => {
  it('an auditor searches a command, opens the replay at that moment, and sees it (screenshot)', async () => {
    await recordSession();
    await h.waitAudit('recording.sealed');
    const auditor = await openAs(browser, h, 'auditor', '', '/commands');
    try {
      const p = auditor.page;
      await p.locator('#cmd-q').fill('NEEDLE-7');
      await p.locator('#cmd-submit').click();
      await p.locator('#hit-0').waitFor();
      expect(await p.locator('#commands-body tr').count()).toBe(1);
      expect(await p.locator('#hit-0 code.command').textContent()).toBe(
        'echo Gatehouse-Needle-7 > /dev/null; echo needle-out',
      );
      const href = (await p.locator('#open-0').getAttribute('href'))!;
      const t = Number(new URL(href, h.url).searchParams.get('t'));
      expect(t).toBeGreaterThan(2);
      await p.locator('#open-0').click();
      await p.waitForURL(/\/sessions\/ses_[^/?]+\?t=/);
      await p.locator('#player[data-ready="true"]').waitFor();
      // The player stands at the command's marker (snapped from ?t=), paused, the command on screen.
      const at = Number(await p.locator('#player').getAttribute('data-at'));
      expect(Math.abs(at - t)).toBeLessThan(3);
      expect(await p.locator('#replay-time').textContent()).toMatch(new RegExp(`^${at.toFixed(1)} s / \\d+\\.\\d s$`));
      await p.locator('#player .ap-term').filter({ hasText: 'Gatehouse-Needle-7' }).waitFor();
      expect(await p.locator('#player .ap-term').textContent()).not.toContain('after-the-needle');
      expect(await p.locator('#replay-toggle').textContent()).toBe('▶ Play');
      expect(await p.locator('button.marker.current code').textContent()).toBe(
        'echo Gatehouse-Needle-7 > /dev/null; echo needle-out',
      );
      expect(await p.locator('#markers li code').allTextContents()).toEqual([
        'echo warming-up',
        'ls /',
        'echo Gatehouse-Needle-7 > /dev/null; echo needle-out',
        'echo after-the-needle',
        'exit',
      ]);
      await p.locator('#integrity[data-state="verified"]').waitFor();
      expect(await p.locator('#integrity-sealed').textContent()).toBe(
        await p.locator('#integrity-actual').textContent(),
      );
      await p.locator('#replay').screenshot({ path: join(SHOTS, 'replay-at-command.png') });
      expect((await readFile(join(SHOTS, 'replay-at-command.png'))).subarray(0, 4)).toEqual(
        Buffer.from([0x89, 0x50, 0x4e, 0x47]),
      );

      // The jump list moves the player; play runs on from there.
      await p.locator('#marker-3').click();
      await p.locator('#player .ap-term').filter({ hasText: 'after-the-needle' }).waitFor();
      // Back to the first command, play (seconds of recording left), pause.
      await p.locator('#marker-0').click();
      await p.locator('#replay-toggle').click();
      await p.locator('#replay-toggle', { hasText: 'Pause' }).waitFor();
      await p.locator('#replay-toggle').click();
      await p.locator('#replay-toggle', { hasText: 'Play' }).waitFor();
      // Another speed rebuilds the player where it stood.
      await p.locator('#marker-3').click();
      await p.locator('#replay-speed').selectOption('4');
      await p.locator('#player .ap-term').filter({ hasText: 'after-the-needle' }).waitFor();

      // The viewing is audited once, however many requests the page made.
      const sessionId = new URL(p.url()).pathname.split('/').pop()!;
      const viewed = (await h.audit()).filter(
        (a) => a.type === 'recording.viewed' && a.subject?.sessionId === sessionId,
      );
      expect(viewed).toHaveLength(1);

      // The library lists it; the audit page shows that viewing and the chain's state.
      await p.goto(`${h.url}/sessions?target=${TARGET}`);
      await p.locator(`#session-${sessionId}`).waitFor();
      expect(await p.locator(`#session-status-${sessionId}`).textContent()).toBe('closed by the vendor');
      expect(await p.locator(`#replay-${sessionId}`).getAttribute('href')).toBe(`/sessions/${sessionId}`);
      await p.screenshot({ path: join(SHOTS, 'sessions-library.png'), fullPage: true });
      await p.goto(`${h.url}/audit?type=recording.viewed`);
      await p.locator('#chain-status[data-ok="true"]').waitFor();
      expect(await p.locator('#last-checkpoint').textContent()).toMatch(/^Last signed checkpoint: seq \d+/);
      expect(await p.locator('#audit-body tr[data-type="recording.viewed"]').count()).toBeGreaterThanOrEqual(1);
      expect(await p.locator('#audit-body tr').first().textContent()).toContain(sessionId);
      await p.screenshot({ path: join(SHOTS, 'audit-trail.png'), fullPage: true });
      expect(auditor.errors).toEqual([]);
    } finally {
      await auditor.context.close();
    }
  });

  it('a supervisor terminates a live session from the library (reason, step-up); the vendor is cut off', async () => {
    const c = await vendorClient(h, TARGET);
    const supervisor = await openAs(browser, h, 'supervisor', supSecret, '/sessions?live=true');
    try {
      const sh = await openShell(c);
      const out = collect(sh);
      const closed = new Promise<void>((r) => sh.on('close', () => r()));
      await out.until(PROMPT);
      const p = supervisor.page;
      // The page was open before the session: its refresh (or a reload) brings the live row.
      const row = p.locator('#sessions-body tr[data-live="true"]');
      await p.reload();
      await row.waitFor();
      const id = (await row.getAttribute('id'))!.replace('session-', '');
      expect(await p.locator(`#watch-${id}`).getAttribute('href')).toBe(`/sessions/${id}/watch`);
      await p.locator(`#terminate-${id}`).click();
      await p.locator(`#terminate-reason-${id}`).fill('Work outside the agreed scope');
      await p.locator(`#terminate-submit-${id}`).click();
      // The step-up dialog, answered with a code from the gateway's (stepped) clock.
      await p.locator('#stepup-dialog').waitFor();
      await p.locator('#stepup-code').fill(oathCode(supSecret, h.clock.nextStep()));
      await p.locator('#stepup-submit').click();
      await row.waitFor({ state: 'detached' });
      await closed;
      expect(out.text).toContain('Sam Supervisor terminated this session: Work outside the agreed scope');
      await h.waitAudit('session.terminated', (a) => a.subject?.sessionId === id);
      expect(supervisor.errors).toEqual([]);
    } finally {
      c.end();
      await supervisor.context.close();
    }
  });

  it('a recording full of hostile escape sequences and markup replays without effect', async () => {
    const id = `ses_${randomBytes(12).toString('base64url')}`;
    const start = Date.now() - 60_000;
    const ESC = '\u001b';
    const BEL = '\u0007';
    const ST = `${ESC}\\`;
    const clip = Buffer.from('stolen-by-osc52').toString('base64');
    const chunks = [
      `${ESC}]52;c;${clip}${BEL}`, // clipboard write
      `${ESC}]52;c;?${BEL}`, // clipboard read request
      `${ESC}]50;?${BEL}`, // font query (OSC 50)
      `${ESC}P$q"p${ST}${ESC}P$qm${ST}`, // DECRQSS
      `${ESC}]0;PWNED-TITLE${BEL}${ESC}]2;<script>window.__pwned=1</script>${ST}`, // title set
      `${ESC}[21t${ESC}[20t${ESC}[13t${ESC}[14t`, // title and window reports
      `${ESC}[c${ESC}[>c${ESC}[6n${ESC}[5n`, // DA, DSR
      `${ESC}]8;;javascript:window.__pwned=4${ST}click-me${ESC}]8;;${ST}\r\n`, // hyperlink
      '<img src=x onerror="window.__pwned=2"> <script>window.__pwned=3</script>\r\n',
      'HOSTILE-END\r\n',
    ];
    const lines = [
      JSON.stringify({
        version: 2,
        width: 80,
        height: 24,
        timestamp: Math.floor(start / 1000),
        title: '<script>window.__pwned=5</script>',
        env: { TERM: 'xterm' },
      }),
    ];
    chunks.forEach((c, i) => lines.push(JSON.stringify([0.1 + i * 0.05, 'o', c])));
    lines.push(JSON.stringify([0.3, 'm', '<img src=x onerror="window.__pwned=6">']));
    const text = `${lines.join('\n')}\n`;
    const path = recordingPath(h.gw.storageDir, id, start, 'cast');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    await h.gw.store.update((d) => {
      d.sessions.push({
        id,
        grantId: 'grt_hostile',
        requestId: 'req_hostile',
        userId: h.vendor.me.id,
        targetId: TARGET,
        protocol: 'ssh',
        via: 'ssh',
        startedAt: new Date(start).toISOString(),
        endedAt: new Date(start + 5000).toISOString(),
        endReason: 'client_closed',
        recording: {
          path: relative(h.gw.storageDir, path),
          sha256: createHash('sha256').update(text).digest('hex'),
          bytes: Buffer.byteLength(text),
        },
      });
    });
    await h.gw.commands.append({
      id: 'cmd_hostile',
      sessionId: id,
      at: new Date(start + 300).toISOString(),
      text: '<img src=x onerror="window.__pwned=6">',
      verdict: 'alerted',
    });

    const auditor = await openAs(browser, h, 'auditor', '', '/commands');
    try {
      const p = auditor.page;
      await auditor.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.url });
      await p.evaluate(() => navigator.clipboard.writeText('sentinel-before-replay'));
      const requests: string[] = [];
      p.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
      p.on('websocket', (ws) => requests.push(`WS ${ws.url()}`));

      // The command search shows the markup as text.
      await p.locator('#cmd-q').fill('onerror');
      await p.locator('#cmd-submit').click();
      await p.locator('#hit-0').waitFor();
      expect(await p.locator('#hit-0 code.command').textContent()).toBe('<img src=x onerror="window.__pwned=6">');

      await p.locator('#open-0').click();
      await p.locator('#player[data-ready="true"]').waitFor();
      const title = await p.title();
      expect(title).toBe('Session · Gatehouse');
      await p.locator('#replay-toggle').click();
      await p.locator('#player .ap-term').filter({ hasText: 'HOSTILE-END' }).waitFor();
      await p.locator('#replay-toggle', { hasText: 'Play' }).waitFor();
      // Markup reached the screen as characters, never as elements.
      expect(await p.locator('#player .ap-term').textContent()).toContain('<img src=x onerror="window.__pwned=2">');
      expect(await p.locator('#marker-0 code').textContent()).toBe('<img src=x onerror="window.__pwned=6">');
      expect(await p.locator('img[src="x"]').count()).toBe(0);
      expect(await p.locator('#player a').count()).toBe(0);
      // The one script is the bundle's entry (a content-hashed name); its chunks load as modules, not elements.
      expect(await p.locator('script:not([type="module"][src^="/assets/app-"])').count()).toBe(0);
      expect(await p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await p.title()).toBe(title);
      expect(await p.evaluate(() => navigator.clipboard.readText())).toBe('sentinel-before-replay');
      // Nothing answered back: no request but same-origin GETs, no websocket.
      expect(requests.filter((r) => !r.startsWith(`GET ${h.url}/`))).toEqual([]);
      await p.locator('#replay').screenshot({ path: join(SHOTS, 'replay-hostile.png') });
      expect(auditor.errors).toEqual([]);
    } finally {
      await auditor.context.close();
    }
  });
});
