// The inspecting relay with fake sinks: order kept, refusals injected between device frames, holds, and unreadable streams.
import { describe, expect, it } from 'vitest';
import { type InspectorHooks, Inspector, type Judgement } from '../../gateway/conduit/inspector.js';
import { modbusReplies, modbusRequests } from '../../gateway/conduit/modbus.js';
import type { PlcReply, PlcRequest } from '../../gateway/conduit/operation.js';
import { mbap } from '../helpers/plc-frames.js';

function rig(judge: (r: PlcRequest) => Judgement = () => ({ pass: true }), passOpaque = true) {
  const toDevice: Buffer[] = [];
  const toClient: Buffer[] = [];
  const seen = {
    requests: [] as PlcRequest[],
    replies: [] as PlcReply[],
    unparseable: [] as string[],
    holds: 0,
    releases: 0,
    closed: false,
  };
  const hooks: InspectorHooks = {
    judge: (r) => (seen.requests.push(r), judge(r)),
    reply: (r) => void seen.replies.push(r),
    unparseable: (reason) => (seen.unparseable.push(reason), passOpaque),
  };
  const inspector = new Inspector({ requests: modbusRequests, replies: modbusReplies }, hooks, {
    toDevice: (b) => void toDevice.push(Buffer.from(b)),
    toClient: (b) => void toClient.push(Buffer.from(b)),
    holdClient: () => void seen.holds++,
    releaseClient: () => void seen.releases++,
    close: () => void (seen.closed = true),
  });
  return { inspector, seen, device: () => Buffer.concat(toDevice), client: () => Buffer.concat(toClient) };
}

const read = (tid: number) => mbap(tid, 1, [3, 0, 0, 0, 2]);
const coil = (tid: number) => mbap(tid, 1, [5, 0, 1, 0xff, 0]);
const answer = (tid: number) => mbap(tid, 1, [3, 4, 0, 1, 0, 2]);
const blockCoils = (r: PlcRequest): Judgement => ({ pass: r.function !== 'write-single-coil' });

describe('Inspector', () => {
  it('relays pipelined, interleaved transactions byte for byte, whatever the chunking, and pairs out-of-order replies', () => {
    const stream = Buffer.concat([read(1), read(2), read(3)]);
    const r = rig();
    for (let i = 0; i < stream.length; i += 5) r.inspector.fromClient(stream.subarray(i, i + 5));
    expect(r.device().equals(stream)).toBe(true);
    const replies = Buffer.concat([answer(3), answer(1), answer(2)]);
    for (let i = 0; i < replies.length; i += 3) r.inspector.fromDevice(replies.subarray(i, i + 3));
    expect(r.client().equals(replies)).toBe(true);
    expect(r.seen.replies.map((x) => x.key)).toEqual(['3/1', '1/1', '2/1']);
  });

  it('drops a refused request, answers it with an exception, and relays what follows', () => {
    const r = rig(blockCoils);
    r.inspector.fromClient(Buffer.concat([read(1), coil(2), read(3)]));
    expect(r.device().equals(Buffer.concat([read(1), read(3)]))).toBe(true);
    expect([...r.client()]).toEqual([0, 2, 0, 0, 0, 3, 1, 0x85, 1]);
  });

  it('injects a refusal only between two device frames, never inside one', () => {
    const r = rig(blockCoils);
    r.inspector.fromClient(read(1));
    const reply = answer(1);
    r.inspector.fromDevice(reply.subarray(0, 4)); // the device is half-way through its answer
    r.inspector.fromClient(coil(2));
    expect(r.client().equals(reply.subarray(0, 4))).toBe(true);
    r.inspector.fromDevice(reply.subarray(4));
    const out = r.client();
    expect(out.subarray(0, reply.length).equals(reply)).toBe(true);
    expect([...out.subarray(reply.length)]).toEqual([0, 2, 0, 0, 0, 3, 1, 0x85, 1]);
  });

  it('holds the client while an operation waits, keeps later frames in order behind it, and goes on after the decision', async () => {
    let decide!: (pass: boolean) => void;
    const r = rig((req) =>
      req.function === 'write-single-coil' ? { held: new Promise<boolean>((res) => (decide = res)) } : { pass: true },
    );
    r.inspector.fromClient(Buffer.concat([read(1), coil(2), read(3)]));
    expect(r.device().equals(read(1))).toBe(true);
    expect(r.seen.holds).toBe(1);
    r.inspector.fromClient(read(4));
    expect(r.device().equals(read(1))).toBe(true);
    decide(true);
    await new Promise((res) => setImmediate(res));
    expect(r.device().equals(Buffer.concat([read(1), coil(2), read(3), read(4)]))).toBe(true);
    expect(r.seen.releases).toBe(1);
  });

  it('a refused hold answers with the exception and the rest still flows', async () => {
    const r = rig((req) => (req.function === 'write-single-coil' ? { held: Promise.resolve(false) } : { pass: true }));
    r.inspector.fromClient(Buffer.concat([coil(2), read(3)]));
    await new Promise((res) => setImmediate(res));
    expect(r.device().equals(read(3))).toBe(true);
    expect(r.client()[7]).toBe(0x85);
  });

  it('relays an unreadable stream as opaque bytes from the bad frame on, when the target passes it', () => {
    const r = rig();
    const junk = Buffer.from('\x16\x03\x01 not modbus at all');
    r.inspector.fromClient(Buffer.concat([read(1), junk]));
    r.inspector.fromClient(Buffer.from('more'));
    expect(r.device().equals(Buffer.concat([read(1), junk, Buffer.from('more')]))).toBe(true);
    expect(r.seen.unparseable).toEqual([expect.stringMatching(/protocol id/)]);
    expect(r.seen.requests).toHaveLength(1);
  });

  it('closes the forward on an unreadable stream when the target refuses opaque traffic, relaying nothing of it', () => {
    const r = rig(() => ({ pass: true }), false);
    r.inspector.fromClient(Buffer.from([0, 1, 0, 0, 0xff, 0xff, 1, 3, 0, 0]));
    expect(r.seen.closed).toBe(true);
    expect(r.device().length).toBe(0);
    r.inspector.fromClient(read(1));
    expect(r.device().length).toBe(0);
  });

  it('keeps relaying the device when its replies cannot be read, and reads no further', () => {
    const r = rig();
    r.inspector.fromClient(read(1));
    r.inspector.fromDevice(Buffer.from([0, 1, 0, 9, 0, 3, 1, 3, 0]));
    r.inspector.fromDevice(answer(1));
    expect(r.client().length).toBe(9 + answer(1).length);
    expect(r.seen.replies).toHaveLength(0);
    expect(r.seen.unparseable).toHaveLength(1);
  });
});
