// In Chromium: an auditor exports a signed evidence pack from the Evidence page; with the recordings the page asks for
// a verification code first; the downloads verify offline.
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { answerStepUp, enrolTotp, openAs } from '../helpers/e2e-people.js';
import { readZip } from '../helpers/zip.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let browser: Browser;
let h: SshGateway;
let auditorSecret: string;

beforeAll(async () => {
  h = await startSshGateway();
  browser = await launchBrowser();
  auditorSecret = await enrolTotp({ ...h, close: async () => undefined }, 'auditor');
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('evidence pack in the browser', () => {
  it('an auditor exports a pack for a period; it verifies offline and holds the period’s session', async () => {
    await h.grant();
    const r = await h.ssh(TARGET, { command: 'echo evidence-run' });
    expect(r.stdout).toContain('evidence-run');
    await h.waitAudit('session.ended');
    const auditor = await openAs(
      browser,
      { ...h, close: async () => undefined },
      'auditor',
      auditorSecret,
      '/evidence',
    );
    try {
      const p = auditor.page;
      expect(await p.locator('nav').textContent()).toContain('Evidence');
      const download = p.waitForEvent('download');
      await p.locator('#ev-export').click();
      const file = join(h.dir.path, 'pack.zip');
      await (await download).saveAs(file);
      const verified = await runCli(['evidence', 'verify', file]);
      expect(verified.stderr + verified.stdout).not.toMatch(/fail|invalid/i);
      expect(verified.code).toBe(0);
      const pack = await readZip(file);
      const sessionId = h.gw.store.data.sessions.at(-1)!.id;
      expect(pack.get('sessions.csv')?.toString('utf8')).toContain(sessionId);
      expect(pack.get('commands.csv')?.toString('utf8')).toContain('echo evidence-run');
      expect([...pack.keys()]).toEqual(
        expect.arrayContaining([
          'manifest.json',
          'manifest.sig',
          'public-key.pem',
          'audit.jsonl',
          'report.html',
          'targets.csv',
        ]),
      );
      const exported = await h.waitAudit('evidence.exported');
      expect(exported.actor?.email).toBe('auditor@plant.example');
      const denials = async () =>
        (await h.audit()).filter((a) => a.type === 'access.denied' && a.data?.path === '/api/evidence');
      // Without the recordings no code was asked for (the reference gives every auditor the pack as is).
      expect(await p.locator('#stepup-dialog').count()).toBe(0);

      // With the recordings: the page asks for the code before the download, and never lets the gateway refuse.
      await p.locator('#ev-recordings').check();
      const again = p.waitForEvent('download');
      await p.locator('#ev-export').click();
      await answerStepUp(auditor);
      const second = join(h.dir.path, 'pack-2.zip');
      await (await again).saveAs(second);
      expect((await runCli(['evidence', 'verify', second])).code).toBe(0);
      expect([...(await readZip(second)).keys()].some((k) => k.startsWith('recordings/'))).toBe(true);
      expect(await p.locator('#ev-error').textContent()).toBe('');
      expect(await denials()).toEqual([]);
      const exports = (await h.audit()).filter((a) => a.type === 'evidence.exported');
      expect(exports.map((a) => a.data?.withRecordings)).toEqual([false, true]);

      // A period that ends before it starts is refused on the page, before any request.
      await p.locator('#ev-from').fill('2026-02-10');
      await p.locator('#ev-to').fill('2026-02-01');
      await p.locator('#ev-export').click();
      expect(await p.locator('#ev-error').textContent()).toMatch(/start day/);
      expect(auditor.errors).toEqual([]);
    } finally {
      await auditor.context.close();
    }
  });
});
