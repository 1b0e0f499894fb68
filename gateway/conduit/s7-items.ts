// S7 variable items (S7ANY addresses), block file names and the error texts of replies: the tables S7 jobs are read with.

const AREAS: Readonly<Record<number, string>> = {
  0x80: 'P',
  0x81: 'I',
  0x82: 'Q',
  0x83: 'M',
  0x84: 'DB',
  0x85: 'DI',
  0x86: 'L',
  0x1c: 'C',
  0x1d: 'T',
};
const SIZES: Readonly<Record<number, string>> = {
  1: 'BIT',
  2: 'BYTE',
  3: 'CHAR',
  4: 'WORD',
  5: 'INT',
  6: 'DWORD',
  7: 'DINT',
  8: 'REAL',
  0x1c: 'COUNTER',
  0x1d: 'TIMER',
};
const BLOCK_TYPES: Readonly<Record<string, string>> = {
  '08': 'OB',
  '0A': 'DB',
  '0B': 'SDB',
  '0C': 'FC',
  '0D': 'SFC',
  '0E': 'FB',
  '0F': 'SFB',
};

/** One S7ANY item (12 bytes: 0x12, 0x0A, 0x10, size, count, DB, area, bit address) as "DB1 0.0 BYTE×4". */
function anyItem(item: Buffer): string {
  const size = SIZES[item[3]!] ?? `size 0x${item[3]!.toString(16)}`;
  const count = item.readUInt16BE(4);
  const db = item.readUInt16BE(6);
  const areaCode = item[8]!;
  const area =
    areaCode === 0x84 || areaCode === 0x85
      ? `${AREAS[areaCode]}${db}`
      : (AREAS[areaCode] ?? `area 0x${areaCode.toString(16)}`);
  const bit = item.readUIntBE(9, 3);
  return `${area} ${bit >> 3}.${bit & 7} ${size}×${count}`;
}

/**
 * The items a read/write job names (at most 64 shown, as a PDU holds no more than about 20), and for a
 * write the first bytes of each item's data as hex.
 */
export function s7Items(param: Buffer, data: Buffer | undefined): { targets: string[]; values: string[] } {
  const n = Math.min(param[1] ?? 0, 64);
  const targets: string[] = [];
  for (let i = 0, at = 2; i < n && at + 2 <= param.length; i++) {
    const len = param[at + 1]!;
    const item = param.subarray(at, at + 2 + len);
    targets.push(
      item.length >= 12 && item[2] === 0x10 ? anyItem(item) : `item syntax 0x${(item[2] ?? 0).toString(16)}`,
    );
    at += 2 + len;
  }
  const values: string[] = [];
  if (data)
    for (let i = 0, at = 0; i < n && at + 4 <= data.length; i++) {
      const size = data[at + 1]!;
      const len = data.readUInt16BE(at + 2);
      const bytes = size === 3 || size === 4 ? Math.ceil(len / 8) : len; // 3: bits, 4: length in bits
      values.push(data.subarray(at + 4, at + 4 + Math.min(bytes, 16)).toString('hex') + (bytes > 16 ? '…' : ''));
      at += 4 + bytes + (bytes & 1);
    }
  return { targets, values };
}

/** "_0A00001P" (type 0A = DB, number 1, to the passive file system) → "DB1". */
export function s7BlockName(file: Buffer): string | undefined {
  const m = /^_([0-9A-F]{2})(\d{5})([PAB])?$/.exec(file.toString('latin1'));
  if (!m) return file.length ? `file ${file.toString('latin1').replace(/[^\x20-\x7e]/g, '?')}` : undefined;
  return `${BLOCK_TYPES[m[1]!] ?? `block type ${m[1]}`}${Number(m[2])}`;
}

export const S7_ERRORS = {
  /** Header error class (high byte) when the whole code is not known. */
  classes: {
    0x81: 'application relationship',
    0x82: 'object definition',
    0x83: 'no resources available',
    0x84: 'error on service processing',
    0x85: 'error on supplies',
    0x87: 'access error',
    0xd2: 'protection or block error',
    0xd6: 'protection error',
  } as Readonly<Record<number, string>>,
  header: {
    0x0110: 'invalid block number',
    0x0111: 'invalid request length',
    0x0112: 'invalid parameter',
    0x0113: 'invalid block type',
    0x0114: 'block not found',
    0x0115: 'block already exists',
    0x0116: 'block is write-protected',
    0x8104: 'function not supported',
    0x8500: 'PDU too large',
    0xd241: 'protection level of function not sufficient',
    0xd602: 'wrong password',
    0x8404: 'fatal error',
  } as Readonly<Record<number, string>>,
  /** Read/write item return codes. */
  item: {
    0x01: 'hardware fault',
    0x03: 'access to the object not allowed',
    0x05: 'address out of range',
    0x06: 'data type not supported',
    0x07: 'data type inconsistent',
    0x0a: 'object does not exist',
  } as Readonly<Record<number, string>>,
};
