// In Chromium: a vendor's Modbus write through `ssh -L` waits until the supervisor watching the session approves it in the live
// view (with a step-up); the session page then lists the operation, searchable.
import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { answerStepUp, enrolTotp, openAs } from '../helpers/e2e-people.js';
import { modbusClient, openTunnel, startModbusServer } from '../helpers/modbus-tunnel.js';
import { type SshGateway, startSshGateway } from '../helpers/ssh-gateway.js';

let browser: Browser;
let h: SshGateway;
let server: { port: number; stop(): void };
let supervisorSecret: string;
const harness = () => ({ ...h, close: async () => undefined });

beforeAll(async () => {
  server = await startModbusServer();
  h = await startSshGateway({
    target: {
      forwarding: [{ to: `127.0.0.1:${server.port}`, protocol: 'modbus' }],
      plcRules: {
        mode: 'enforce',
        confirmSeconds: 120,
        rules: [{ match: { protocol: 'modbus', function: ['write'] }, action: 'confirm', reason: 'setpoint change' }],
      },
    },
  });
  browser = await launchBrowser();
  supervisorSecret = await enrolTotp(harness(), 'supervisor');
  await mkdir('test-results', { recursive: true });
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
  server?.stop();
});

describe('dual control of a PLC write in the live view', () => {
  it('holds the write until the supervisor approves it in Chromium, then lists it on the session page', async () => {
    await h.grant();
    const tunnel = await openTunnel(h, server.port);
    try {
      await expect.poll(() => h.gw.liveSessions.list().length, { timeout: 10_000 }).toBe(1);
      const sessionId = h.gw.liveSessions.list()[0]!.id;
      const supervisor = await openAs(
        browser,
        harness(),
        'supervisor',
        supervisorSecret,
        `/sessions/${sessionId}/watch`,
      );
      const sp = supervisor.page;
      await sp.locator('#watch-status.ok').waitFor();

      let settled = false;
      const write = modbusClient(tunnel.local, 'write-reg', 7, 1234).finally(() => (settled = true));
      const held = sp.locator('#plc-live li.plc-held');
      await held.waitFor({ timeout: 20_000 });
      await expect
        .poll(() => held.textContent())
        .toMatch(/waiting for confirmation write-single-register holding 7 = 1234 .*setpoint change/);
      expect(settled).toBe(false); // the vendor's tool is still waiting for its answer
      await sp.screenshot({ path: 'test-results/plc-confirm.png' });

      await held.locator('button', { hasText: 'Approve' }).click();
      await answerStepUp(supervisor);
      expect((await write)[0]).toMatchObject({ op: 'write-reg', ok: true });
      await expect.poll(() => held.textContent()).toMatch(/^approved/);
      const approved = await h.waitAudit('plc.approved');
      expect(approved.actor).toMatchObject({ kind: 'user', name: expect.any(String) });
      expect((await modbusClient(tunnel.local, 'read-hr', 7, 1))[0]).toMatchObject({ registers: [1234] });

      await sp.goto(`${h.url}/sessions/${sessionId}`);
      const rows = sp.locator('#plc-body tr');
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      await sp.locator('#plc-q').fill('holding 7');
      await sp.locator('#plc-verdict').selectOption('approved');
      await sp.locator('#plc-filter button[type=submit]').click();
      await expect.poll(() => rows.count()).toBe(1);
      await expect
        .poll(() => rows.first().textContent())
        .toMatch(/write-single-register.*holding 7.*1234.*approved.*ok/);
      expect(supervisor.errors).toEqual([]);
    } finally {
      await tunnel.close();
    }
  });
});
