// Webhooks against a real local receiver: delivery, retry with backoff, audited failure, a slow receiver never slows the API.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Webhooks, type WebhooksOptions } from '../../gateway/notify.js';
import { body, type Fixture, openFixture } from './requests-fixture.js';

interface Receiver {
  url: string;
  bodies: Array<{ event: string; text: string; request: Record<string, unknown> }>;
  hits: number;
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1:0; `respond` decides each answer (status, or a delay first). */
async function receiver(respond: (hit: number, res: ServerResponse) => void | Promise<void>): Promise<Receiver> {
  const r = { bodies: [], hits: 0 } as unknown as Receiver;
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    r.hits++;
    if (req.headers['content-type'] === 'application/json') r.bodies.push(JSON.parse(text));
    await respond(r.hits, res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0KEN-s3cret?key=abc`;
  r.close = async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  };
  return r;
}

const status = (code: number) => (_hit: number, res: ServerResponse) => {
  res.statusCode = code;
  res.end('ok');
};

let fx: Fixture | undefined;
let hooks: Webhooks | undefined;
let rcv: Receiver | undefined;
afterEach(async () => {
  await hooks?.close();
  await rcv?.close();
  await fx?.close();
  fx = hooks = rcv = undefined;
});

/** The fixture with its broker notifying `rcv` through Webhooks (fast retries for the tests). */
async function withHooks(url: string, over: Partial<WebhooksOptions> = {}) {
  fx = await openFixture({
    notifier: ({ audit, clock }) => {
      hooks = new Webhooks({ urls: [url], audit, clock, retryDelaysMs: [20, 40, 80, 160], ...over });
      return hooks;
    },
  });
  return fx;
}

const failures = async () => (await fx!.auditRecords()).filter((r) => r.type === 'notify.failed');

describe('webhooks', () => {
  it('posts JSON with a chat-ready text on created, approved, denied and revoked; never secrets', async () => {
    rcv = await receiver(status(204));
    const f = await withHooks(rcv.url);
    const a = (await f.api('vendor', 'POST', '/api/requests', body({ ticket: 'CHG-7' }))).json.id;
    await f.api('sup', 'POST', `/api/requests/${a}/approve`);
    await f.api('sup', 'POST', `/api/requests/${a}/revoke`, { reason: 'work finished early' });
    const b = (await f.api('vendor', 'POST', '/api/requests', body())).json.id;
    await f.api('sup2', 'POST', `/api/requests/${b}/deny`, { reason: 'batch running' });
    await hooks!.idle();
    expect(rcv.bodies.map((x) => x.event)).toEqual([
      'request.created',
      'request.approved',
      'grant.revoked',
      'request.created',
      'request.denied',
    ]);
    const texts = rcv.bodies.map((x) => x.text);
    expect(texts[1]).toBe(
      `Request ${a} by Alice (Acme) for eng-ws-01 (Cell 2) 2026-11-23 11:00–13:00 Europe/Berlin: approved by Bob`,
    );
    expect(texts[0]).toContain(': new request, awaiting 1 approval');
    expect(texts[2]).toMatch(/: revoked by Bob \(work finished early\)$/);
    expect(texts[4]).toMatch(/: denied by Carol \(batch running\)$/);
    expect(rcv.bodies[1]!.request).toMatchObject({
      id: a,
      state: 'approved',
      targetName: 'Engineering workstation 01',
      zone: 'Cell 2',
      ticket: 'CHG-7',
      requester: { name: 'Alice', org: 'Acme' },
      by: { name: 'Bob', org: 'Plant 3' },
    });
    const all = JSON.stringify(rcv.bodies);
    for (const secret of ['10.2.0.15', 'credential', 'target-key', '@acme.example', 'ws_', 'csrf', 'grt_'])
      expect(all).not.toContain(secret);
    expect(await failures()).toEqual([]);
  });

  it('retries a failing receiver (500, then 200) and delivers once', async () => {
    rcv = await receiver((hit, res) => status(hit === 1 ? 500 : 200)(hit, res));
    const f = await withHooks(rcv.url);
    await f.api('vendor', 'POST', '/api/requests', body());
    await hooks!.idle();
    expect(rcv.hits).toBe(2);
    expect(rcv.bodies[0]).toEqual(rcv.bodies[1]);
    expect(await failures()).toEqual([]);
  });

  it('audits notify.failed with the host only after the last of 5 tries', async () => {
    rcv = await receiver(status(500));
    const f = await withHooks(rcv.url);
    const t = Date.now();
    const id = (await f.api('vendor', 'POST', '/api/requests', body())).json.id;
    await hooks!.idle();
    expect(rcv.hits).toBe(5);
    expect(Date.now() - t).toBeGreaterThanOrEqual(20 + 40 + 80 + 160); // the backoff was waited out
    const [rec, ...more] = await failures();
    expect(more).toEqual([]);
    expect(rec!.subject).toEqual({ requestId: id });
    expect(rec!.data).toEqual({
      host: new URL(rcv.url).host,
      event: 'request.created',
      tries: 5,
      error: 'http_500',
    });
    const text = JSON.stringify(await f.auditRecords());
    expect(text).not.toContain('T0KEN-s3cret');
    expect(text).not.toContain('key=abc');
  });

  it('does not retry a 4xx, and gives up on a receiver that never answers (timeout)', async () => {
    rcv = await receiver(status(404));
    const f = await withHooks(rcv.url);
    await f.api('vendor', 'POST', '/api/requests', body());
    await hooks!.idle();
    expect(rcv.hits).toBe(1);
    expect((await failures()).map((r) => r.data?.error)).toEqual(['http_404']);

    const silent = await receiver(() => new Promise(() => {})); // reads the body, never answers
    const h = new Webhooks({ urls: [silent.url], audit: f.audit, clock: f.clock, retryDelaysMs: [10], timeoutMs: 100 });
    h.notify('request.created', { text: 'x', request: { id: 'req_x' } });
    await h.idle();
    expect(silent.hits).toBe(2);
    expect((await failures()).at(-1)?.data).toMatchObject({ error: 'timeout', tries: 2 });
    await silent.close();
  });

  it('never delays the API: a receiver that takes 3 s leaves the request answered at once', async () => {
    rcv = await receiver(async (hit, res) => {
      await new Promise((r) => setTimeout(r, 3000));
      status(200)(hit, res);
    });
    const f = await withHooks(rcv.url);
    const t = performance.now();
    const r = await f.api('vendor', 'POST', '/api/requests', body());
    const a = await f.api('sup', 'POST', `/api/requests/${r.json.id}/approve`);
    expect([r.status, a.status]).toEqual([201, 200]);
    expect(performance.now() - t).toBeLessThan(1000);
    await new Promise((ok) => setTimeout(ok, 100));
    expect(rcv.hits).toBe(2); // both deliveries are under way, neither has been answered
    await hooks!.close(); // shutdown gives up on them, and says so
    expect((await failures()).map((x) => x.data?.error)).toEqual(['gateway_stopped', 'gateway_stopped']);
  });

  it('bounds its queue: deliveries beyond it are dropped and audited as queue_full', async () => {
    rcv = await receiver(async (hit, res) => {
      await new Promise((r) => setTimeout(r, 200));
      status(200)(hit, res);
    });
    const f = await withHooks(rcv.url);
    const h = new Webhooks({ urls: [rcv.url], audit: f.audit, clock: f.clock, maxQueued: 2, maxInFlight: 1 });
    for (let i = 0; i < 4; i++) h.notify('request.created', { text: `n${i}`, request: { id: `req_${i}` } });
    await h.idle();
    expect(rcv.bodies.map((b) => b.text)).toEqual(['n0', 'n1']);
    expect((await failures()).map((r) => [r.subject?.requestId, r.data?.error])).toEqual([
      ['req_2', 'queue_full'],
      ['req_3', 'queue_full'],
    ]);
  });
});
