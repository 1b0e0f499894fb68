// Hand-built PLC protocol frames for the conduit's tests.

/** A Modbus/TCP frame: transaction id, unit, PDU bytes. */
export const mbap = (tid: number, unit: number, pdu: number[]): Buffer => {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(pdu.length + 1, 4);
  b[6] = unit;
  Buffer.from(pdu).copy(b, 7);
  return b;
};
