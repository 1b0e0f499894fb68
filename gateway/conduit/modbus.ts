// Modbus/TCP: MBAP framing, request function codes with their addresses and counts, replies and exception codes.
import { MODBUS_FUNCTIONS } from '../core/plc-functions.js';
import { type FrameParser, type Parsed, type PlcRequest, shortList, type Unparseable } from './operation.js';

const MBAP = 7;
/** MBAP length counts the unit id and the PDU; a PDU is at most 253 bytes (ADU 260). */
const MAX_LENGTH = 254;

const FUNCTIONS = MODBUS_FUNCTIONS;

const EXCEPTIONS: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/** Diagnostics (08) sub-functions that change the device rather than read it. */
const DIAGNOSTIC_CONTROL: ReadonlySet<number> = new Set([1, 3, 4, 10, 20]);

/** The exception code the gateway answers a refused request with: the request is not served here. */
export const REFUSED_EXCEPTION = 1;

export const functionName = (code: number): string => FUNCTIONS[code]?.name ?? `function-${code}`;
export const exceptionText = (code: number): string => `exception ${code} (${EXCEPTIONS[code] ?? 'unknown'})`;

function frameLength(buf: Buffer): number | Unparseable {
  if (buf.length < 6) return 0;
  const protocol = buf.readUInt16BE(2);
  const length = buf.readUInt16BE(4);
  if (protocol !== 0) return { reason: `not Modbus/TCP: MBAP protocol id ${protocol} (expected 0)` };
  if (length < 2 || length > MAX_LENGTH)
    return { reason: `not Modbus/TCP: MBAP length ${length} (expected 2-${MAX_LENGTH})` };
  return 6 + length;
}

const keyOf = (frame: Buffer) => `${frame.readUInt16BE(0)}/${frame[6]}`;
const range = (start: number, count: number) => (count <= 1 ? `${start}` : `${start}-${start + count - 1}`);

/** Coil bits as 0/1, the first `count` of `bytes`. */
function bits(bytes: Buffer, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count && i >> 3 < bytes.length; i++) out.push((bytes[i >> 3]! >> (i & 7)) & 1);
  return out;
}

function words(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) out.push(bytes.readUInt16BE(i));
  return out;
}

/** The request's body: what it touches. `pdu` starts at the function code; short bodies are reported, not thrown. */
function describe(code: number, pdu: Buffer): Partial<PlcRequest> {
  const info = FUNCTIONS[code];
  const need = (n: number) =>
    pdu.length < n
      ? {
          malformed: `${info?.name ?? `function ${code}`}: ${pdu.length - 1} bytes of body, expected at least ${n - 1}`,
        }
      : undefined;
  switch (code) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 24: {
      if (code === 24) return need(3) ?? { target: `${info!.area} ${pdu.readUInt16BE(1)}` };
      const short = need(5);
      if (short) return short;
      const count = pdu.readUInt16BE(3);
      return { target: `${info!.area} ${range(pdu.readUInt16BE(1), count)}`, count };
    }
    case 5: {
      const short = need(5);
      if (short) return short;
      const v = pdu.readUInt16BE(3);
      return {
        target: `coil ${pdu.readUInt16BE(1)}`,
        count: 1,
        values: v === 0xff00 ? 'on' : v === 0 ? 'off' : `0x${v.toString(16)}`,
      };
    }
    case 6:
      return need(5) ?? { target: `holding ${pdu.readUInt16BE(1)}`, count: 1, values: String(pdu.readUInt16BE(3)) };
    case 15:
    case 16: {
      const short = need(6);
      if (short) return short;
      const count = pdu.readUInt16BE(3);
      const data = pdu.subarray(6, 6 + pdu[5]!);
      return {
        target: `${info!.area} ${range(pdu.readUInt16BE(1), count)}`,
        count,
        values: shortList(code === 15 ? bits(data, count) : words(data)),
      };
    }
    case 22:
      return (
        need(7) ?? {
          target: `holding ${pdu.readUInt16BE(1)}`,
          count: 1,
          values: `and 0x${pdu.readUInt16BE(3).toString(16)} or 0x${pdu.readUInt16BE(5).toString(16)}`,
        }
      );
    case 23: {
      const short = need(10);
      if (short) return short;
      const wcount = pdu.readUInt16BE(7);
      return {
        target: `holding ${range(pdu.readUInt16BE(1), pdu.readUInt16BE(3))} read, ${range(pdu.readUInt16BE(5), wcount)} written`,
        count: wcount,
        values: shortList(words(pdu.subarray(10, 10 + pdu[9]!))),
      };
    }
    case 8: {
      const short = need(3);
      if (short) return short;
      const sub = pdu.readUInt16BE(1);
      return {
        target: `sub-function ${sub}`,
        ...(DIAGNOSTIC_CONTROL.has(sub) ? { class: 'control' as const } : { class: 'read' as const }),
      };
    }
    case 43: {
      const short = need(2);
      if (short) return short;
      return pdu[1] === 14
        ? { function: 'read-device-identification', class: 'read' }
        : { target: `MEI type ${pdu[1]}` };
    }
    default:
      return {};
  }
}

function parseRequest(frame: Buffer): Parsed {
  const pdu = frame.subarray(MBAP);
  const code = pdu[0]!;
  const info = FUNCTIONS[code];
  const request: PlcRequest = {
    protocol: 'modbus',
    key: keyOf(frame),
    unit: String(frame[6]),
    function: functionName(code),
    class: info?.class ?? 'other',
    code,
    ...describe(code, pdu),
  };
  return { kind: 'request', request, refusal: () => modbusRefusal(frame) };
}

function parseReply(frame: Buffer): Parsed {
  const pdu = frame.subarray(MBAP);
  const code = pdu[0]!;
  if (code & 0x80) {
    const ex = pdu[1];
    return {
      kind: 'reply',
      reply: { key: keyOf(frame), ok: false, result: ex === undefined ? 'exception (no code)' : exceptionText(ex) },
    };
  }
  return { kind: 'reply', reply: { key: keyOf(frame), ok: true, result: 'ok' } };
}

// frameLength guarantees a unit id and a function code in every frame these see.
export const modbusRequests: FrameParser = { frameLength, parse: parseRequest };
export const modbusReplies: FrameParser = { frameLength, parse: parseReply };

/** The exception response a refused request gets: same transaction and unit, function | 0x80, `exception`. */
export function modbusRefusal(requestFrame: Buffer, exception = REFUSED_EXCEPTION): Buffer {
  const out = Buffer.alloc(MBAP + 2);
  requestFrame.copy(out, 0, 0, 4); // transaction id, protocol id
  out.writeUInt16BE(3, 4);
  out[6] = requestFrame[6]!;
  out[7] = (requestFrame[MBAP]! | 0x80) & 0xff;
  out[8] = exception;
  return out;
}
