// Relays one forward both ways through an Inspector, with the relay's backpressure on each side.
import type { Readable, Writable } from 'node:stream';
import { trackWritable, Valve, writeHeld } from '../pipe.js';
import type { ForwardRecord } from './forward-record.js';
import { Inspector } from './inspector.js';
import { modbusReplies, modbusRequests } from './modbus.js';
import type { FrameParser, PlcProtocol } from './operation.js';
import { s7Parsers } from './s7.js';

type Duplex = Readable & Writable;

export function parsersFor(protocol: PlcProtocol): { requests: FrameParser; replies: FrameParser } {
  return protocol === 'modbus' ? { requests: modbusRequests, replies: modbusReplies } : s7Parsers();
}

/**
 * `client` is the vendor's channel, `device` the one opened from the target. Like pipeBoth, plus: the client
 * is also paused while an operation waits for confirmation, and `done` runs once when either side closes.
 */
export function pipeInspected(
  client: Duplex,
  device: Duplex,
  protocol: PlcProtocol,
  record: ForwardRecord,
  done: () => void,
): Inspector {
  const vc = new Valve(client);
  const vd = new Valve(device);
  trackWritable(client);
  trackWritable(device);
  const inspector = new Inspector(parsersFor(protocol), record, {
    toDevice: (b) => writeHeld(device, b, vc, 'peer'),
    toClient: (b) => writeHeld(client, b, vd, 'peer'),
    holdClient: () => vc.hold('confirm'),
    releaseClient: () => vc.release('confirm'),
    close: () => {
      client.destroy();
      device.destroy();
    },
  });
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    inspector.end();
    done();
  };
  client.on('data', (b: Buffer) => inspector.fromClient(b));
  device.on('data', (b: Buffer) => inspector.fromDevice(b));
  client.once('end', () => device.end());
  device.once('end', () => client.end());
  client.once('close', () => {
    device.destroy();
    finish();
  });
  device.once('close', () => {
    client.destroy();
    finish();
  });
  client.on('error', () => device.destroy());
  device.on('error', () => client.destroy());
  return inspector;
}
