// Modbus/TCP parsing: requests and replies as recorded, refusals as a client reads them, and hostile framing.
import { describe, expect, it } from 'vitest';
import { FrameSplitter } from '../../gateway/conduit/frames.js';
import { modbusRefusal, modbusReplies, modbusRequests } from '../../gateway/conduit/modbus.js';
import { mbap } from '../helpers/plc-frames.js';

const request = (frame: Buffer) => {
  const p = modbusRequests.parse(frame);
  if (!('kind' in p) || p.kind !== 'request') throw new Error(`not a request: ${JSON.stringify(p)}`);
  return p.request;
};

describe('Modbus requests', () => {
  it.each([
    [[3, 0, 10, 0, 5], { function: 'read-holding-registers', class: 'read', target: 'holding 10-14', count: 5 }],
    [[1, 0, 0, 0, 1], { function: 'read-coils', class: 'read', target: 'coils 0', count: 1 }],
    [[5, 0, 7, 0xff, 0], { function: 'write-single-coil', class: 'write', target: 'coil 7', values: 'on' }],
    [[6, 0, 3, 0, 77], { function: 'write-single-register', class: 'write', target: 'holding 3', values: '77' }],
    [
      [16, 0, 2, 0, 2, 4, 0, 1, 0, 2],
      { function: 'write-multiple-registers', target: 'holding 2-3', count: 2, values: '1, 2' },
    ],
    [[15, 0, 0, 0, 3, 1, 0b101], { function: 'write-multiple-coils', target: 'coils 0-2', values: '1, 0, 1' }],
    [
      [23, 0, 0, 0, 2, 0, 9, 0, 1, 2, 0, 5],
      { function: 'read-write-multiple-registers', class: 'write', target: 'holding 0-1 read, 9 written', values: '5' },
    ],
    [[8, 0, 1, 0, 0], { function: 'diagnostics', class: 'control', target: 'sub-function 1' }],
    [[43, 14, 1, 0], { function: 'read-device-identification', class: 'read' }],
    [[99], { function: 'function-99', class: 'other' }],
  ])('reads %j', (pdu, want) => {
    expect(request(mbap(9, 1, pdu))).toMatchObject({
      protocol: 'modbus',
      key: '9/1',
      unit: '1',
      code: pdu[0],
      ...want,
    });
  });

  it('records a body too short for its function as malformed, without throwing', () => {
    expect(request(mbap(1, 1, [3, 0]))).toMatchObject({
      function: 'read-holding-registers',
      malformed: expect.stringContaining('expected at least 4'),
    });
    expect(request(mbap(1, 1, [16, 0, 0]))).toMatchObject({ malformed: expect.any(String) });
  });
});

describe('Modbus replies and refusals', () => {
  it('reads ok and exception replies, keyed like their request', () => {
    expect(modbusReplies.parse(mbap(9, 1, [3, 2, 0, 1]))).toEqual({
      kind: 'reply',
      reply: { key: '9/1', ok: true, result: 'ok' },
    });
    expect(modbusReplies.parse(mbap(9, 1, [0x83, 2]))).toEqual({
      kind: 'reply',
      reply: { key: '9/1', ok: false, result: 'exception 2 (illegal data address)' },
    });
  });

  it('answers a refused request with its transaction, unit and function | 0x80, exception 1', () => {
    const out = modbusRefusal(mbap(0x1234, 7, [6, 0, 3, 0, 77]));
    expect([...out]).toEqual([0x12, 0x34, 0, 0, 0, 3, 7, 0x86, 1]);
    expect(modbusReplies.parse(out)).toMatchObject({ reply: { key: `${0x1234}/7`, ok: false } });
  });
});

describe('Modbus framing under hostile input', () => {
  const split = () => new FrameSplitter(modbusRequests);

  it('reassembles frames fed one byte at a time, and several frames in one chunk', () => {
    const frames = [mbap(1, 1, [3, 0, 0, 0, 1]), mbap(2, 1, [6, 0, 1, 0, 2]), mbap(3, 2, [1, 0, 0, 0, 8])];
    const all = Buffer.concat(frames);
    const s = split();
    const got: Buffer[] = [];
    for (const b of all) got.push(...s.push(Buffer.from([b])).frames);
    expect(got.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
    expect(split().push(all).frames).toHaveLength(3);
  });

  it('holds a truncated frame (bounded) and fails on a length over 254 or a foreign protocol id, keeping what came before', () => {
    const s = split();
    expect(s.push(mbap(1, 1, [3, 0, 0, 0, 1]).subarray(0, 9))).toEqual({ frames: [] });
    expect(s.pending).toBe(9);
    const huge = Buffer.from([0, 1, 0, 0, 0xff, 0xff, 1, 3]);
    const r = split().push(Buffer.concat([mbap(5, 1, [3, 0, 0, 0, 1]), huge]));
    expect(r.frames).toHaveLength(1);
    expect(r.failed?.reason).toMatch(/MBAP length 65535/);
    expect(r.rest?.equals(huge)).toBe(true);
    expect(split().push(Buffer.from('GET / HTTP/1.1\r\n\r\n')).failed?.reason).toMatch(/protocol id/);
    expect(split().push(Buffer.from([0, 1, 0, 0, 0, 1, 1])).failed?.reason).toMatch(/MBAP length 1/);
  });

  it('never throws on random bytes, and never holds more than one frame', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
    for (let round = 0; round < 300; round++) {
      const s = split();
      for (let i = 0; i < 20; i++) {
        const chunk = Buffer.from(Array.from({ length: 1 + (rand() % 40) }, rand));
        // A plausible header half the time, so parsing goes deeper than the first check.
        if (rand() & 1 && chunk.length >= 6) chunk.writeUInt16BE(0, 2);
        const r = s.push(chunk);
        for (const f of r.frames) {
          expect(() => modbusRequests.parse(f)).not.toThrow();
          expect(() => modbusReplies.parse(f)).not.toThrow();
        }
        expect(s.pending).toBeLessThanOrEqual(260);
        if (r.failed) break;
      }
    }
  });
});
