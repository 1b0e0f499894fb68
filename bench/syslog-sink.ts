// A syslog receiver for the bench, in a process of its own (as a SIEM would be): counts octet-counted frames.
import { type AddressInfo, createServer } from 'node:net';

let frames = 0;
const server = createServer((socket) => {
  let carry = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    let buf = carry.length ? Buffer.concat([carry, d]) : d;
    for (;;) {
      const sp = buf.indexOf(32);
      if (sp < 0) break;
      const len = Number(buf.toString('latin1', 0, sp));
      if (buf.length < sp + 1 + len) break;
      frames++;
      buf = buf.subarray(sp + 1 + len);
    }
    carry = Buffer.from(buf);
  });
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
process.on('message', () => process.send!({ frames }));
process.on('disconnect', () => process.exit(0));
