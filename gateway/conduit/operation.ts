// What the conduit reads off a PLC protocol: one request (an operation) and the reply that settles it, protocol-neutral.
import type { OperationClass } from '../core/plc-functions.js';

export type PlcProtocol = 'modbus' | 's7';
export const PLC_PROTOCOLS: readonly PlcProtocol[] = ['modbus', 's7'];

/** The well-known port each protocol is recognised on when a forward does not name one. */
export const PLC_PORTS: Readonly<Record<number, PlcProtocol>> = { 502: 'modbus', 102: 's7' };

export type { OperationClass } from '../core/plc-functions.js';

/** One request seen from the vendor's tool, as the rules and the record see it. */
export interface PlcRequest {
  protocol: PlcProtocol;
  /** Matches the reply to its request: Modbus transaction id + unit, S7 PDU reference. */
  key: string;
  /** Modbus unit id ("1"); S7 rack and slot from the connection ("rack 0 slot 2"). */
  unit: string;
  /** Kebab-case name rules match on: read-holding-registers, write-var, plc-stop, download… */
  function: string;
  class: OperationClass;
  /** The function code on the wire (Modbus function code; S7 parameter function). */
  code: number;
  /** The addresses or blocks touched, as an operator reads them: "holding 0-9", "DB1.DBB0 BYTE×4", "DB10". */
  target?: string;
  /** Coils, registers, items or bytes requested. */
  count?: number;
  /** Written values, shortened (a few values, never whole downloads). */
  values?: string;
  /** The frame parsed but its body did not: recorded as seen, relayed as the device will refuse it anyway. */
  malformed?: string;
}

/** The device's answer to a request. */
export interface PlcReply {
  key: string;
  ok: boolean;
  /** "ok", "exception 2 (illegal data address)", "error 0x8104 (…)". */
  result: string;
}

/** Something on the stream that is not the protocol: the relay stops reading and the target's choice applies. */
export interface Unparseable {
  reason: string;
}

/** What one direction's parser made of a frame. */
export type Parsed =
  /** `refusal` is the protocol's own error answer to this request, for when the gateway refuses it. */
  | { kind: 'request'; request: PlcRequest; refusal(): Buffer }
  | { kind: 'reply'; reply: PlcReply }
  /** Part of a message split over several frames: judged, and relayed, with the frame that completes it. */
  | { kind: 'fragment' }
  | { kind: 'other' };

/** A streaming parser for one direction of one protocol (see frames.ts for how bytes become frames). */
export interface FrameParser {
  /** How long the frame starting at buf[0] is; 0 while the header is incomplete; an Unparseable if it is not ours. */
  frameLength(buf: Buffer): number | Unparseable;
  /** Reads one whole frame. Never throws for any byte content. */
  parse(frame: Buffer): Parsed | Unparseable;
}

export const isUnparseable = (v: unknown): v is Unparseable => typeof v === 'object' && v !== null && 'reason' in v;

/** A few values for the record: enough to see what was written, never a whole program. */
export function shortList(values: readonly (number | string)[], max = 8): string {
  const shown = values.slice(0, max).join(', ');
  return values.length > max ? `${shown}, … (${values.length} values)` : shown;
}
