// S7comm as Snap7 speaks it (frames recorded from node-snap7's client and server through the relay): every operation read,
// the blocked ones refused, and the recorded device answers paired with their jobs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Inspector } from '../../gateway/conduit/inspector.js';
import type { PlcReply, PlcRequest } from '../../gateway/conduit/operation.js';
import { s7Parsers } from '../../gateway/conduit/s7.js';

const recorded = JSON.parse(readFileSync(new URL('../helpers/s7-snap7-frames.json', import.meta.url), 'utf8')) as {
  chunks: Array<{ from: 'client' | 'device'; hex: string }>;
};

describe('S7comm recorded from Snap7', () => {
  it('reads every job, refuses write-var and plc-stop with S7 errors, and pairs every answer the device gave', () => {
    const requests: PlcRequest[] = [];
    const replies: PlcReply[] = [];
    const toDevice: Buffer[] = [];
    const toClient: Buffer[] = [];
    const blocked = new Set(['write-var', 'plc-stop']);
    const inspector = new Inspector(
      s7Parsers(),
      {
        judge: (r) => (requests.push(r), { pass: !blocked.has(r.function) }),
        reply: (r) => void replies.push(r),
        unparseable: (reason) => {
          throw new Error(reason);
        },
      },
      {
        toDevice: (b) => void toDevice.push(Buffer.from(b)),
        toClient: (b) => void toClient.push(Buffer.from(b)),
        holdClient: () => undefined,
        releaseClient: () => undefined,
        close: () => undefined,
      },
    );
    for (const c of recorded.chunks)
      (c.from === 'client' ? inspector.fromClient : inspector.fromDevice).call(inspector, Buffer.from(c.hex, 'hex'));

    expect(requests.map((r) => [r.function, r.target, r.unit])).toEqual([
      ['setup-communication', 'PDU 480 bytes', 'rack 0 slot 2'],
      ['read-var', 'DB1 0.0 BYTE×4', 'rack 0 slot 2'],
      ['write-var', 'DB1 0.0 BYTE×2', 'rack 0 slot 2'],
      ['read-var', 'DB1 0.0 BYTE×4', 'rack 0 slot 2'],
      ['plc-stop', 'P_PROGRAM', 'rack 0 slot 2'],
      ['plc-start', 'P_PROGRAM', 'rack 0 slot 2'],
      ['userdata', 'group 4 sub-function 1', 'rack 0 slot 2'],
    ]);
    expect(requests[2]!.values).toBe('0102');
    // Every job the device saw got its answer, and nothing else was paired.
    const passed = requests.filter((r) => !blocked.has(r.function)).map((r) => r.key);
    expect(replies.map((r) => r.key)).toEqual(passed);
    expect(replies.every((r) => r.ok)).toBe(true);
    // The refusals the client got: ack-data with each job's reference; write per item (0x03), stop by header error.
    const refusals = toClient.filter(
      (b) => !recorded.chunks.some((c) => c.from === 'device' && c.hex === b.toString('hex')),
    );
    const answers = refusals.map((b) => s7Parsers().replies.parse(b));
    expect(answers).toEqual([
      {
        kind: 'reply',
        reply: { key: requests[2]!.key, ok: false, result: 'item error 0x03 (access to the object not allowed)' },
      },
      {
        kind: 'reply',
        reply: {
          key: requests[4]!.key,
          ok: false,
          result: 'error 0xd241 (protection level of function not sufficient)',
        },
      },
    ]);
    expect(Buffer.concat(toDevice).length).toBeLessThan(
      recorded.chunks.filter((c) => c.from === 'client').reduce((n, c) => n + c.hex.length / 2, 0),
    );
  });
});
