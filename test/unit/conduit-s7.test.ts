// S7comm over ISO-on-TCP parsing from hand-built frames (as Snap7 and STEP 7 send them): jobs, results, refusals, hostile framing.
import { describe, expect, it } from 'vitest';
import { FrameSplitter } from '../../gateway/conduit/frames.js';
import { s7Parsers, s7Refusal } from '../../gateway/conduit/s7.js';

const tpkt = (body: Buffer) =>
  Buffer.concat([Buffer.from([3, 0, (body.length + 4) >> 8, (body.length + 4) & 0xff]), body]);
const dt = (s7: Buffer, last = true) => tpkt(Buffer.concat([Buffer.from([2, 0xf0, last ? 0x80 : 0]), s7]));
/** A connection request to rack 0 slot 2 (called TSAP 0x0102). */
const cr = tpkt(Buffer.from([17, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 0x0a, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2]));
const header = (rosctr: number, ref: number, param: number[], data: number[] = [], error?: number) => {
  const h = Buffer.alloc(error === undefined ? 10 : 12);
  h[0] = 0x32;
  h[1] = rosctr;
  h.writeUInt16BE(ref, 4);
  h.writeUInt16BE(param.length, 6);
  h.writeUInt16BE(data.length, 8);
  if (error !== undefined) h.writeUInt16BE(error, 10);
  return Buffer.concat([h, Buffer.from(param), Buffer.from(data)]);
};
const job = (ref: number, param: number[], data: number[] = []) => dt(header(1, ref, param, data));
const ack = (ref: number, param: number[], data: number[] = [], error = 0) => dt(header(3, ref, param, data, error));
/** S7ANY item: DB1, byte 0, BYTE × 4. */
const dbItem = [0x12, 0x0a, 0x10, 0x02, 0, 4, 0, 1, 0x84, 0, 0, 0];
const name = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];

function session() {
  const p = s7Parsers();
  expect(p.requests.parse(cr)).toEqual({ kind: 'other' });
  return p;
}
const requestOf = (frame: Buffer) => {
  const r = session().requests.parse(frame);
  if (!('kind' in r) || r.kind !== 'request') throw new Error(JSON.stringify(r));
  return r;
};

describe('S7 jobs', () => {
  it.each([
    [
      'setup communication',
      [0xf0, 0, 0, 1, 0, 1, 0x01, 0xe0],
      [],
      { function: 'setup-communication', class: 'session', target: 'PDU 480 bytes' },
    ],
    ['read var', [0x04, 1, ...dbItem], [], { function: 'read-var', class: 'read', target: 'DB1 0.0 BYTE×4', count: 1 }],
    [
      'write var',
      [0x05, 1, ...dbItem],
      [0, 4, 0, 32, 1, 2, 3, 4],
      { function: 'write-var', class: 'write', target: 'DB1 0.0 BYTE×4', values: '01020304' },
    ],
    [
      'request download',
      [0x1a, 0, 1, 0, 0, 0, 0, 0, ...name('_0800001P')],
      [],
      { function: 'download', class: 'program', target: 'OB1' },
    ],
    [
      'start upload',
      [0x1d, 0, 0, 0, 0, 0, 0, 0, ...name('_0A00010A')],
      [],
      { function: 'upload', class: 'read', target: 'DB10' },
    ],
    [
      'PLC stop',
      [0x29, 0, 0, 0, 0, 0, ...name('P_PROGRAM')],
      [],
      { function: 'plc-stop', class: 'control', target: 'P_PROGRAM' },
    ],
    [
      'hot start',
      [0x28, 0, 0, 0, 0, 0, 0, 0xfd, 0, 0, ...name('P_PROGRAM')],
      [],
      { function: 'plc-start', class: 'control', target: 'P_PROGRAM' },
    ],
    [
      'insert block',
      [0x28, 0, 0, 0, 0, 0, 0, 0xfd, 0, 10, ...Buffer.from('10800001P'), 0x20, ...name('_INSE')],
      [],
      { function: 'insert-block', class: 'program', target: '_INSE 10800001P' },
    ],
  ])('%s', (_what, param, data, want) => {
    const r = requestOf(job(0x0101, param as number[], data as number[]));
    expect(r.request).toMatchObject({ protocol: 's7', key: String(0x0101), unit: 'rack 0 slot 2', ...want });
  });

  it('names userdata requests and the clock setting among them', () => {
    const ud = (group: number, sub: number) => dt(header(7, 5, [0, 1, 0x12, 4, 0x11, 0x40 | group, sub, 0]));
    expect(requestOf(ud(4, 1)).request).toMatchObject({
      function: 'userdata',
      class: 'read',
      target: 'group 4 sub-function 1',
    });
    expect(requestOf(ud(7, 2)).request).toMatchObject({ function: 'set-clock', class: 'write' });
  });

  it('records a job whose header announces more than the frame holds as malformed', () => {
    const h = header(1, 1, [0x04, 1, ...dbItem]);
    h.writeUInt16BE(500, 6);
    expect(requestOf(dt(h)).request.malformed).toMatch(/announces more/);
  });
});

describe('S7 results and refusals', () => {
  const reply = (frame: Buffer) => session().replies.parse(frame);
  it('reads ack-data: success, a header error, and an item error', () => {
    expect(reply(ack(9, [0x04, 1], [0xff, 4, 0, 32, 1, 2, 3, 4]))).toEqual({
      kind: 'reply',
      reply: { key: '9', ok: true, result: 'ok' },
    });
    expect(reply(ack(9, [0x29], [], 0xd241))).toMatchObject({
      reply: { ok: false, result: 'error 0xd241 (protection level of function not sufficient)' },
    });
    expect(reply(ack(9, [0x04, 1], [0x0a, 0, 0, 0]))).toMatchObject({
      reply: { ok: false, result: 'item error 0x0a (object does not exist)' },
    });
    expect(reply(ack(9, [0x05, 2], [0xff, 0x05]))).toMatchObject({
      reply: { ok: false, result: 'item error 0x05 (address out of range)' },
    });
  });

  it('refuses a read per item, a PLC stop by a header error, each with the job reference', () => {
    const readNo = s7Refusal(0x0203, Buffer.from([0x04, 2]));
    expect(reply(readNo)).toMatchObject({
      reply: { key: String(0x0203), ok: false, result: expect.stringContaining('access to the object not allowed') },
    });
    const stopNo = requestOf(job(0x0304, [0x29, 0, 0, 0, 0, 0, ...name('P_PROGRAM')])).refusal();
    expect(reply(stopNo)).toMatchObject({
      reply: { key: String(0x0304), ok: false, result: expect.stringContaining('0xd241') },
    });
  });
});

describe('S7 framing under hostile input', () => {
  it('says what it cannot read: S7comm-plus, TLS, another protocol, a short TPKT', () => {
    const p = session();
    expect(p.requests.parse(dt(Buffer.from([0x72, 1, 0, 0x1f])))).toEqual({
      reason: expect.stringMatching(/S7comm-plus/),
    });
    const s = new FrameSplitter(p.requests);
    expect(s.push(Buffer.from([0x16, 3, 1, 0, 0x50])).failed?.reason).toMatch(/TLS/);
    expect(new FrameSplitter(p.requests).push(Buffer.from('SSH-2.0-x\r\n')).failed?.reason).toMatch(/TPKT version/);
    expect(new FrameSplitter(p.requests).push(Buffer.from([3, 0, 0, 3])).failed?.reason).toMatch(/TPKT length 3/);
  });

  it('judges a job split over COTP fragments as one, and refuses reassembly past its cap', () => {
    const p = session();
    const whole = header(1, 7, [0x05, 1, ...dbItem], [0, 4, 0, 32, 1, 2, 3, 4]);
    expect(p.requests.parse(dt(whole.subarray(0, 10), false))).toEqual({ kind: 'fragment' });
    expect(p.requests.parse(dt(whole.subarray(10)))).toMatchObject({
      kind: 'request',
      request: { function: 'write-var', key: '7' },
    });
    const q = session();
    const big = dt(Buffer.alloc(60_000), false);
    expect(q.requests.parse(big)).toEqual({ kind: 'fragment' });
    expect(q.requests.parse(big)).toEqual({ reason: expect.stringMatching(/over 65536 bytes/) });
  });

  it('never throws on random bytes inside valid TPKT/COTP framing', () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const body = Buffer.from(Array.from({ length: rand() % 64 }, rand));
      if (body.length && rand() & 1) body[0] = 0x32;
      const frame =
        rand() & 3 ? dt(body, rand() % 5 !== 0) : tpkt(Buffer.concat([Buffer.from([rand() % 20, rand()]), body]));
      const p = s7Parsers();
      expect(() => p.requests.parse(frame)).not.toThrow();
      expect(() => p.replies.parse(frame)).not.toThrow();
    }
  });
});
