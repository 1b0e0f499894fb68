// Server-sent events: live request changes reach exactly the users who may see the request; streams end with their session.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { body, type Fixture, openFixture, type Who } from './requests-fixture.js';

let fx: Fixture;
const ended = new Set<(sessionId: string, reason: string) => void>();
const endSession = (id: string) => {
  for (const l of ended) l(id, 'logout');
};

beforeEach(async () => {
  fx = await openFixture({
    events: {
      heartbeatMs: 50,
      onSessionEnded: (l) => {
        ended.add(l);
        return () => ended.delete(l);
      },
    },
  });
});
afterEach(async () => {
  await fx.close();
});

interface Stream {
  events: Array<{ event: string; data: { type?: string; request?: { id: string; state: string } } }>;
  raw(): string;
  closed(): boolean;
  close(): void;
}

async function stream(who: Who): Promise<Stream> {
  const ac = new AbortController();
  const res = await fetch(`${fx.base}/api/events`, { headers: { 'x-test-session': `ws_${who}` }, signal: ac.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let raw = '';
  let buf = '';
  let done = false;
  const events: Stream['events'] = [];
  void (async () => {
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        const text = dec.decode(value, { stream: true });
        raw += text;
        buf += text;
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    }
    done = true;
  })();
  return { events, raw: () => raw, closed: () => done, close: () => ac.abort() };
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('GET /api/events', () => {
  it("a vendor's stream shows the approval live; another vendor's stream hears nothing of it", async () => {
    const mine = await stream('vendor');
    const other = await stream('vendor2');
    const sup = await stream('sup');
    const { id } = (await fx.api('vendor', 'POST', '/api/requests', body())).json;
    await until(() => sup.events.length === 1);
    expect(sup.events[0]).toMatchObject({
      event: 'request.changed',
      data: { type: 'request.created', request: { id } },
    });

    await fx.api('sup', 'POST', `/api/requests/${id}/approve`);
    await until(() => mine.events.length === 2);
    expect(mine.events.map((e) => [e.data.type, e.data.request?.state])).toEqual([
      ['request.created', 'pending'],
      ['request.approved', 'approved'],
    ]);
    // The event carries the view this user gets from GET /api/requests/:id.
    expect(mine.events[1]!.data.request).toEqual((await fx.api('vendor', 'GET', `/api/requests/${id}`)).json);

    // vendor2's own change arrives on vendor2's stream, proving it is live: nothing of vendor's came before.
    await fx.api('vendor2', 'POST', '/api/requests', body());
    await until(() => other.events.length === 1);
    expect(other.events.map((e) => e.data.request?.id)).not.toContain(id);
    expect(other.raw()).not.toContain(id);
    for (const s of [mine, other, sup]) s.close();
  });

  it('sends heartbeats and ends the stream when its web session ends', async () => {
    const mine = await stream('vendor');
    const other = await stream('vendor2');
    await until(() => mine.raw().includes(': ping'));
    endSession('ws_vendor');
    await until(() => mine.closed());
    expect(mine.events.at(-1)).toEqual({ event: 'session.ended', data: { reason: 'logout' } });
    expect(other.closed()).toBe(false);
    fx.events.closeAll(); // what shutdown does
    await until(() => other.closed());
  });

  it('bounds the streams one user may hold open', async () => {
    const open = await Promise.all([1, 2, 3, 4, 5].map(() => stream('auditor')));
    const sixth = await fx.api('auditor', 'GET', '/api/events');
    expect([sixth.status, sixth.json.error.code]).toEqual([429, 'too_many_streams']);
    open[0]!.close();
    await until(() => open[0]!.closed());
    await new Promise((r) => setTimeout(r, 50));
    const again = await stream('auditor');
    for (const s of [...open, again]) s.close();
  });
});
