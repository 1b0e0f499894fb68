// S7comm over ISO-on-TCP (RFC 1006): TPKT and COTP framing, S7 jobs (read/write var, download, upload, PLC start/stop, PI services) and ack-data results.
import { type OperationClass, S7_JOBS, S7_PI_SERVICES } from '../core/plc-functions.js';
import { type FrameParser, type Parsed, type PlcRequest, shortList, type Unparseable } from './operation.js';
import { S7_ERRORS, s7BlockName, s7Items } from './s7-items.js';

const TPKT = 4;
/** COTP reassembly cap per direction: S7 PDUs are at most 960 bytes; a peer that fragments past this is not S7. */
const MAX_REASSEMBLY = 64 << 10;

const COTP_DT = 0xf0;
const COTP_CR = 0xe0;
const S7_ID = 0x32;
const S7_PLUS_ID = 0x72;

const JOB = 1;
const ACK = 2;
const ACK_DATA = 3;
const USERDATA = 7;

const JOBS = S7_JOBS;
const PI_SERVICES = S7_PI_SERVICES;

const ascii = (b: Buffer) => b.toString('latin1').replace(/[^\x20-\x7e]/g, '?');

function frameLength(buf: Buffer): number | Unparseable {
  if (buf.length < 4) return 0;
  if (buf[0] === 0x16 && buf[1] === 0x03) return { reason: 'TLS, not ISO-on-TCP: the traffic is encrypted' };
  if (buf[0] !== 3 || buf[1] !== 0) return { reason: `not ISO-on-TCP: TPKT version ${buf[0]} (expected 3)` };
  const length = buf.readUInt16BE(2);
  if (length < 7) return { reason: `not ISO-on-TCP: TPKT length ${length}` };
  return length;
}

/** A TPKT frame's COTP header; `payload` is what follows it (S7 for data TPDUs). */
function cotp(frame: Buffer): { type: number; last: boolean; payload: Buffer; params: Buffer } | Unparseable {
  const li = frame[TPKT]!;
  if (li < 2 || TPKT + 1 + li > frame.length) return { reason: `not ISO-on-TCP: COTP header length ${li}` };
  const type = frame[TPKT + 1]! & 0xf0;
  const last = type !== COTP_DT || (frame[TPKT + 2]! & 0x80) !== 0;
  const fixed = type === COTP_DT ? 2 : 6; // DT: type + TPDU nr/EOT; CR/CC: type, refs, class
  return {
    type,
    last,
    payload: frame.subarray(TPKT + 1 + li),
    params: frame.subarray(TPKT + 1 + Math.min(li, fixed), TPKT + 1 + li),
  };
}

/** Rack and slot from a connection request's called TSAP (second byte: rack × 32 + slot). */
function rackSlot(params: Buffer): string | undefined {
  for (let i = 0; i + 2 <= params.length;) {
    const code = params[i]!;
    const len = params[i + 1]!;
    if (code === 0xc2 && len === 2 && i + 4 <= params.length)
      return `rack ${params[i + 3]! >> 5} slot ${params[i + 3]! & 31}`;
    i += 2 + len;
  }
  return undefined;
}

interface S7Pdu {
  rosctr: number;
  ref: number;
  param: Buffer;
  data: Buffer;
  error: number;
  truncated: boolean;
}

function s7Header(p: Buffer): S7Pdu | Unparseable {
  if (p[0] === S7_PLUS_ID)
    return { reason: 'S7comm-plus (S7-1200/1500 with integrity protection): operations cannot be read' };
  if (p[0] !== S7_ID) return { reason: `not S7comm: protocol id 0x${(p[0] ?? 0).toString(16)}` };
  const rosctr = p[1] ?? 0;
  const hdr = rosctr === ACK || rosctr === ACK_DATA ? 12 : 10;
  if (p.length < hdr)
    return { rosctr, ref: 0, param: Buffer.alloc(0), data: Buffer.alloc(0), error: 0, truncated: true };
  const parLen = p.readUInt16BE(6);
  const dataLen = p.readUInt16BE(8);
  const param = p.subarray(hdr, hdr + parLen);
  const data = p.subarray(hdr + parLen, hdr + parLen + dataLen);
  return {
    rosctr,
    ref: p.readUInt16BE(4),
    param,
    data,
    error: hdr === 12 ? p.readUInt16BE(10) : 0,
    truncated: hdr + parLen + dataLen > p.length,
  };
}

/** What a job does, from its parameter block (and data, for writes). */
function describeJob(pdu: S7Pdu): Partial<PlcRequest> & { code: number; function: string; class: OperationClass } {
  const code = pdu.param[0] ?? -1;
  const job = JOBS[code] ?? { name: `function-0x${Math.max(code, 0).toString(16)}`, class: 'other' as const };
  const base = { code, function: job.name, class: job.class };
  const p = pdu.param;
  switch (code) {
    case 0xf0:
      return p.length >= 8 ? { ...base, target: `PDU ${p.readUInt16BE(6)} bytes` } : base;
    case 0x04:
    case 0x05: {
      const items = s7Items(p, code === 0x05 ? pdu.data : undefined);
      return {
        ...base,
        target: shortList(items.targets, 4),
        count: items.targets.length,
        ...(items.values.length ? { values: shortList(items.values, 4) } : {}),
      };
    }
    case 0x1a:
    case 0x1d: {
      const len = p[8];
      const block = len === undefined ? undefined : s7BlockName(p.subarray(9, 9 + len));
      return block ? { ...base, target: block } : base;
    }
    case 0x28: {
      if (p.length < 10) return base;
      const blockLen = p.readUInt16BE(8);
      const nameAt = 10 + blockLen;
      const name = ascii(p.subarray(nameAt + 1, nameAt + 1 + (p[nameAt] ?? 0)));
      const service = PI_SERVICES[name];
      const args = ascii(p.subarray(10, nameAt)).trim();
      return {
        ...base,
        ...(service ? { function: service.name, class: service.class } : {}),
        target: args ? `${name} ${args}` : name,
      };
    }
    case 0x29:
      return p.length > 6 ? { ...base, target: ascii(p.subarray(7, 7 + p[6]!)) } : base;
    default:
      return base;
  }
}

function describeUserdata(pdu: S7Pdu): Partial<PlcRequest> & { code: number; function: string; class: OperationClass } {
  const group = (pdu.param[5] ?? 0) & 0x0f;
  const sub = pdu.param[6] ?? 0;
  // Group 7 sub-function 2/4: set the clock; groups 3 (blocks) and 4 (CPU: SZL) only read.
  const setsClock = group === 7 && (sub === 2 || sub === 4);
  return {
    code: 0x100 + group,
    function: setsClock ? 'set-clock' : 'userdata',
    class: setsClock ? 'write' : group === 3 || group === 4 ? 'read' : 'other',
    target: `group ${group} sub-function ${sub}`,
  };
}

/** Item return codes of a read/write reply: 0xFF is success. */
function itemResult(pdu: S7Pdu): string | undefined {
  const fn = pdu.param[0];
  const n = pdu.param[1] ?? 0;
  const codes: number[] = [];
  if (fn === 0x05) for (let i = 0; i < n && i < pdu.data.length; i++) codes.push(pdu.data[i]!);
  if (fn === 0x04)
    for (let i = 0, at = 0; i < n && at + 4 <= pdu.data.length; i++) {
      codes.push(pdu.data[at]!);
      const size = pdu.data[at + 1]!;
      const len = pdu.data.readUInt16BE(at + 2);
      const bytes = size === 3 || size === 4 || size === 5 ? (size === 4 ? len >> 3 : len) : len;
      at += 4 + bytes + (bytes & 1 && i < n - 1 ? 1 : 0);
    }
  const bad = codes.find((c) => c !== 0xff);
  return bad === undefined
    ? undefined
    : `item error 0x${bad.toString(16).padStart(2, '0')} (${S7_ERRORS.item[bad] ?? 'unknown'})`;
}

/** One direction of one ISO-on-TCP connection: keeps the rack/slot and reassembles fragmented COTP data. */
class S7Direction implements FrameParser {
  private unit = 'rack ? slot ?';
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;

  constructor(private readonly side: 'requests' | 'replies') {}

  frameLength = frameLength;

  parse(frame: Buffer): Parsed | Unparseable {
    const c = cotp(frame);
    if ('reason' in c) return c;
    if (c.type === COTP_CR) {
      this.unit = rackSlot(c.params) ?? this.unit;
      return { kind: 'other' };
    }
    if (c.type !== COTP_DT) return { kind: 'other' };
    if (!c.last || this.fragments.length) {
      this.fragmentBytes += c.payload.length;
      if (this.fragmentBytes > MAX_REASSEMBLY)
        return { reason: `not S7comm: a COTP message over ${MAX_REASSEMBLY} bytes` };
      this.fragments.push(Buffer.from(c.payload));
      if (!c.last) return { kind: 'fragment' };
    }
    const payload = this.fragments.length ? Buffer.concat(this.fragments) : c.payload;
    this.fragments = [];
    this.fragmentBytes = 0;
    if (payload.length === 0) return { kind: 'other' };
    const pdu = s7Header(payload);
    if ('reason' in pdu) return pdu;
    return this.side === 'requests' ? this.request(pdu) : this.reply(pdu);
  }

  private request(pdu: S7Pdu): Parsed {
    if (pdu.rosctr !== JOB && pdu.rosctr !== USERDATA) return { kind: 'other' };
    const what = pdu.rosctr === JOB ? describeJob(pdu) : describeUserdata(pdu);
    const request: PlcRequest = { protocol: 's7', key: String(pdu.ref), unit: this.unit, ...what };
    if (pdu.truncated) request.malformed = `${what.function}: the S7 header announces more than the frame holds`;
    // A userdata request is refused like a job: the client waits on the same reference either way.
    return {
      kind: 'request',
      request,
      refusal: () => s7Refusal(pdu.ref, pdu.rosctr === JOB ? pdu.param : Buffer.from([0])),
    };
  }

  private reply(pdu: S7Pdu): Parsed {
    if (pdu.rosctr === USERDATA) {
      // A reply to a userdata request: type 8 in the high nibble of the type/group byte.
      if ((pdu.param[5] ?? 0) >> 4 !== 8) return { kind: 'other' };
      const err = pdu.param.length >= 12 ? pdu.param.readUInt16BE(10) : 0;
      return { kind: 'reply', reply: { key: String(pdu.ref), ok: err === 0, result: err ? errorText(err) : 'ok' } };
    }
    if (pdu.rosctr !== ACK && pdu.rosctr !== ACK_DATA) return { kind: 'other' };
    if (pdu.error) return { kind: 'reply', reply: { key: String(pdu.ref), ok: false, result: errorText(pdu.error) } };
    const item = itemResult(pdu);
    return { kind: 'reply', reply: { key: String(pdu.ref), ok: !item, result: item ?? 'ok' } };
  }
}

const errorText = (code: number) =>
  `error 0x${code.toString(16).padStart(4, '0')} (${S7_ERRORS.header[code] ?? S7_ERRORS.classes[code >> 8] ?? 'unknown'})`;

/** Parsers for a new connection: the vendor's jobs, and the device's replies. */
export function s7Parsers(): { requests: FrameParser; replies: FrameParser } {
  return { requests: new S7Direction('requests'), replies: new S7Direction('replies') };
}

/** The header error a refused job gets: "protection level of function not sufficient", as a protected CPU says. */
export const REFUSED_ERROR = 0xd241;

/**
 * The ack-data a refused job gets, with the job's PDU reference so the client pairs it. Reads and writes
 * are refused per item (return code 0x03, access not allowed), as a CPU refuses a protected area;
 * every other job by a header error.
 */
export function s7Refusal(ref: number, param: Buffer): Buffer {
  const fn = param[0] ?? 0;
  const items = fn === 0x04 || fn === 0x05 ? (param[1] ?? 0) : -1;
  const outParam = items >= 0 ? Buffer.from([fn, items]) : Buffer.from([fn]);
  const outData =
    items < 0
      ? Buffer.alloc(0)
      : fn === 0x05
        ? Buffer.alloc(items, 0x03)
        : Buffer.concat(Array.from({ length: items }, () => Buffer.from([0x03, 0x00, 0x00, 0x00])));
  const s7 = Buffer.alloc(12);
  s7[0] = S7_ID;
  s7[1] = ACK_DATA;
  s7.writeUInt16BE(ref, 4);
  s7.writeUInt16BE(outParam.length, 6);
  s7.writeUInt16BE(outData.length, 8);
  s7.writeUInt16BE(items >= 0 ? 0 : REFUSED_ERROR, 10);
  const body = Buffer.concat([Buffer.from([0x02, COTP_DT, 0x80]), s7, outParam, outData]);
  const tpkt = Buffer.from([3, 0, 0, 0]);
  tpkt.writeUInt16BE(TPKT + body.length, 2);
  return Buffer.concat([tpkt, body]);
}
