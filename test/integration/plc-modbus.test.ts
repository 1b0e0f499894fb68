// Modbus/TCP through `ssh -L` via the gateway with Debian's pymodbus on both ends: reads pass, a coil write is refused with a
// Modbus exception the client reports, an alert reaches a watching supervisor, a confirm write waits for the supervisor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { PlcOperationRecord } from '../../gateway/conduit/record.js';
import { modbusClient, openTunnel, startModbusServer } from '../helpers/modbus-tunnel.js';
import { until, watchLive } from '../helpers/plc-watch.js';
import { type SshGateway, startSshGateway } from '../helpers/ssh-gateway.js';
import { oathCode } from '../helpers/totp.js';
import { type Browser, type Me, signIn } from '../helpers/web-login.js';

let h: SshGateway;
let sup: { browser: Browser; me: Me };
let server: { port: number; stop(): void };
let tunnel: { local: number; close(): Promise<void> };
let sessionId: string;
let monitor: WebSocket;
let events: Array<Record<string, any>>;

const call = async (who: { browser: Browser; me: Me }, method: string, path: string, body?: unknown) => {
  const res = await who.browser.fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json', 'x-csrf-token': who.me.csrfToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
};

const modbus = (...ops: Array<string | number>) => modbusClient(tunnel.local, ...ops);

beforeAll(async () => {
  server = await startModbusServer();
  const port = server.port;
  h = await startSshGateway({
    target: {
      forwarding: [{ to: `127.0.0.1:${port}`, protocol: 'modbus' }],
      plcRules: {
        mode: 'enforce',
        confirmSeconds: 60,
        rules: [
          {
            match: { protocol: 'modbus', function: ['write-single-coil'] },
            action: 'block',
            reason: 'coils drive the valves',
          },
          {
            match: { function: ['write-single-register'] },
            action: 'confirm',
            reason: 'setpoints need a second pair of eyes',
          },
          { match: { function: ['read-holding-registers'] }, action: 'alert', reason: 'reads the recipe' },
        ],
      },
    },
  });
  await h.grant();
  sup = await signIn(h, 'supervisor');
  const { secret } = (await call(sup, 'POST', '/api/me/totp/enroll', {})).json as { secret: string };
  expect((await call(sup, 'POST', '/api/me/totp/confirm', { code: oathCode(secret, h.clock.now()) })).status).toBe(200);
  expect((await call(sup, 'POST', '/api/me/step-up', { code: oathCode(secret, h.clock.nextStep()) })).status).toBe(200);

  tunnel = await openTunnel(h, port);
  const live = await until(
    'the live session',
    async () => (await call(sup, 'GET', '/api/sessions?live=true')).json.sessions[0],
  );
  sessionId = live.id;

  // The supervisor watches the session live.
  ({ socket: monitor, events } = await watchLive(h, sup, sessionId));
}, 120_000);

afterAll(async () => {
  monitor?.close();
  await tunnel?.close();
  await h?.close();
  server?.stop();
});

const operations = async (q = '') =>
  (await call(sup, 'GET', `/api/sessions/${sessionId}/plc${q}`)).json as {
    operations: PlcOperationRecord[];
    pending: Array<{ id: string }>;
  };

describe('Modbus/TCP through an SSH forward', () => {
  it('passes reads, records them with their addresses, and alerts the watching supervisor', async () => {
    const [r] = await modbus('read-hr', 0, 5);
    expect(r).toMatchObject({ ok: true, registers: [1, 2, 3, 4, 5] });
    const alert = await until('the alert in the live view', () =>
      events.find((e) => e.type === 'plc' && e.event === 'plc.alerted'),
    );
    expect(alert.operation).toMatchObject({
      protocol: 'modbus',
      function: 'read-holding-registers',
      unit: '1',
      target: 'holding 0-4',
      count: 5,
      verdict: 'alerted',
      rule: 'reads the recipe',
    });
    const op = await until('the stored read', async () => (await operations('?q=holding%200-4')).operations[0]);
    expect(op).toMatchObject({
      sessionId,
      destination: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      verdict: 'alerted',
      result: 'ok',
      ok: true,
    });
  });

  it('refuses a coil write with a Modbus exception the client reports, records and audits it, and the forward goes on', async () => {
    const [w, r] = await modbus('write-coil', 1, 1, 'read-hr', 0, 2);
    expect(w).toMatchObject({ ok: false, exception: 1 });
    expect(r).toMatchObject({ ok: true, registers: [1, 2] });
    const blocked = await h.waitAudit('plc.blocked');
    expect(blocked.data).toMatchObject({
      function: 'write-single-coil',
      target: 'coil 1',
      values: 'on',
      rule: 'coils drive the valves',
      mode: 'enforce',
    });
    expect((await operations('?verdict=blocked')).operations).toEqual([
      expect.objectContaining({ function: 'write-single-coil', result: 'refused by the gateway', ok: false }),
    ]);
    expect(events.some((e) => e.type === 'plc' && e.event === 'plc.blocked')).toBe(true);
  });

  it('holds a register write until the supervisor approves it, then the device gets it', async () => {
    const write = modbus('write-reg', 3, 77);
    const held = await until('the held write in the live view', () =>
      events.find((e) => e.type === 'plc' && e.event === 'plc.held'),
    );
    expect(held.operation).toMatchObject({ function: 'write-single-register', target: 'holding 3', values: '77' });
    expect((await operations()).pending.map((p) => p.id)).toEqual([held.operation.id]);
    // The vendor cannot confirm: not a supervisor.
    expect(
      (await call(h.vendor, 'POST', `/api/sessions/${sessionId}/plc/${held.operation.id}/approve`, {})).status,
    ).toBe(403);
    expect((await call(sup, 'POST', `/api/sessions/${sessionId}/plc/${held.operation.id}/approve`, {})).json).toEqual({
      decided: 'approved',
    });
    expect((await write)[0]).toMatchObject({ ok: true });
    expect((await modbus('read-hr', 3, 1))[0]).toMatchObject({ registers: [77] });
    const approved = await h.waitAudit('plc.approved');
    expect(approved.actor).toMatchObject({ kind: 'user', id: sup.me.id });
    expect((await operations('?verdict=approved')).operations[0]).toMatchObject({ decidedBy: sup.me.id, result: 'ok' });
    // Decided once: a second decision is a conflict.
    expect((await call(sup, 'POST', `/api/sessions/${sessionId}/plc/${held.operation.id}/deny`, {})).status).toBe(409);
  });

  it('refuses a held write the supervisor denies, with an exception the client reports', async () => {
    const before = events.length;
    const write = modbus('write-reg', 4, 99);
    const held = await until('the second held write', () =>
      events.slice(before).find((e) => e.type === 'plc' && e.event === 'plc.held'),
    );
    expect((await call(sup, 'POST', `/api/sessions/${sessionId}/plc/${held.operation.id}/deny`, {})).json).toEqual({
      decided: 'denied',
    });
    expect((await write)[0]).toMatchObject({ ok: false, exception: 1 });
    expect((await modbus('read-hr', 4, 1))[0]).toMatchObject({ registers: [5] });
    await h.waitAudit('plc.denied', (a) => a.data?.decided === 'supervisor');
  });
});
