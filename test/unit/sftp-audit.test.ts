// The SFTP audit against hand-built SFTP v3 streams: every split point, reordered and short replies,
// seeks and holes (no hash rather than a wrong one), and hostile lengths and bytes.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type FileChange, type FileTransfer, SftpAudit } from '../../gateway/ssh/sftp-audit.js';
import { FXP, SftpPacketReader, SftpProtocolError } from '../../gateway/ssh/sftp-packets.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
};
const pkt = (type: number, ...fields: Buffer[]) => {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
};
const NO_ATTRS = u32(0);
const READ = 0x01;
const WRITE_CREAT_TRUNC = 0x02 | 0x08 | 0x10;

const c = {
  init: () => pkt(FXP.INIT, u32(3)),
  open: (id: number, path: string, pflags: number) => pkt(FXP.OPEN, u32(id), str(path), u32(pflags), NO_ATTRS),
  write: (id: number, h: string, offset: number, data: Buffer) =>
    pkt(FXP.WRITE, u32(id), str(h), u64(offset), str(data)),
  read: (id: number, h: string, offset: number, len: number) => pkt(FXP.READ, u32(id), str(h), u64(offset), u32(len)),
  close: (id: number, h: string) => pkt(FXP.CLOSE, u32(id), str(h)),
  remove: (id: number, path: string) => pkt(FXP.REMOVE, u32(id), str(path)),
  mkdir: (id: number, path: string) => pkt(FXP.MKDIR, u32(id), str(path), NO_ATTRS),
  rename: (id: number, from: string, to: string) => pkt(FXP.RENAME, u32(id), str(from), str(to)),
  posixRename: (id: number, from: string, to: string) =>
    pkt(FXP.EXTENDED, u32(id), str('posix-rename@openssh.com'), str(from), str(to)),
  stat: (id: number, path: string) => pkt(17, u32(id), str(path)),
};
const s = {
  version: (v = 3) => pkt(FXP.VERSION, u32(v), str('posix-rename@openssh.com'), str('1')),
  handle: (id: number, h: string) => pkt(FXP.HANDLE, u32(id), str(h)),
  status: (id: number, code = 0) => pkt(FXP.STATUS, u32(id), u32(code), str(code ? 'failure' : 'ok'), str('')),
  data: (id: number, data: Buffer) => pkt(FXP.DATA, u32(id), str(data)),
  attrs: (id: number) => pkt(105, u32(id), NO_ATTRS),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function recorder() {
  const transferred: FileTransfer[] = [];
  const changed: FileChange[] = [];
  const audit = new SftpAudit({ transferred: (t) => transferred.push(t), changed: (x) => changed.push(x) });
  return { audit, transferred, changed };
}

/** Feeds `buf` split at `cuts` (offsets), in order. */
function feed(push: (b: Buffer) => void, buf: Buffer, cuts: number[]): void {
  let from = 0;
  for (const at of [...cuts, buf.length]) {
    if (at > from) push(buf.subarray(from, at));
    from = Math.max(from, at);
  }
}

const body = randomBytes(100_000);
const pieces = [body.subarray(0, 32768), body.subarray(32768, 65536), body.subarray(65536)];

/** A whole upload: what the client sends after the handle, and the server's answers. */
function upload(cuts: number[] = [], serverCuts: number[] = []) {
  const r = recorder();
  r.audit.fromClient(Buffer.concat([c.init(), c.open(1, '/srv/in/recipe.bin', WRITE_CREAT_TRUNC)]));
  r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H1')]));
  const writes = Buffer.concat([
    c.write(2, 'H1', 0, pieces[0]!),
    c.write(3, 'H1', 32768, pieces[1]!),
    c.write(4, 'H1', 65536, pieces[2]!),
    c.close(5, 'H1'),
  ]);
  feed((b) => r.audit.fromClient(b), writes, cuts);
  feed((b) => r.audit.fromServer(b), Buffer.concat([s.status(2), s.status(3), s.status(4), s.status(5)]), serverCuts);
  return r;
}

describe('SFTP audit: uploads', () => {
  it('reports name, direction, size and SHA-256 once the file is closed', () => {
    const r = upload();
    expect(r.transferred).toEqual([
      {
        name: '/srv/in/recipe.bin',
        direction: 'upload',
        size: body.length,
        sha256: sha(body),
        sequential: true,
        closed: true,
      },
    ]);
  });

  it('gives the same result whatever the chunking: a split at every byte boundary, and byte by byte', () => {
    const expected = upload().transferred;
    const total = Buffer.concat([c.write(2, 'H1', 0, pieces[0]!), c.write(3, 'H1', 32768, pieces[1]!)]).length;
    // Every boundary in the first two packets (headers and data), then a few spread over the rest.
    for (let i = 1; i < total + 40; i += i < 60 || (i > 32790 && i < 32860) ? 1 : 997) {
      expect(upload([i]).transferred).toEqual(expected);
      expect(upload([], [i % 40]).transferred).toEqual(expected);
    }
    const bytes = Array.from({ length: 300 }, (_, i) => i + 1);
    expect(
      upload(
        bytes,
        Array.from({ length: 80 }, (_, i) => i),
      ).transferred,
    ).toEqual(expected);
  });

  it('hands WRITE data on as views of the relay chunk, not copies', () => {
    const slices: Buffer[] = [];
    const reader = new SftpPacketReader('client', {
      message: () => undefined,
      data: (b) => slices.push(b),
      dataEnd: () => undefined,
    });
    const chunk = Buffer.concat([c.init(), c.write(2, 'H1', 0, pieces[0]!)]);
    reader.push(chunk);
    expect(Buffer.concat(slices).equals(pieces[0]!)).toBe(true);
    expect(slices.every((x) => x.buffer === chunk.buffer)).toBe(true);
  });

  it('an empty file opened for writing is an upload of 0 bytes', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'empty.txt', WRITE_CREAT_TRUNC)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    r.audit.fromClient(c.close(2, 'H'));
    r.audit.fromServer(s.status(2));
    expect(r.transferred).toEqual([
      { name: 'empty.txt', direction: 'upload', size: 0, sha256: sha(Buffer.alloc(0)), sequential: true, closed: true },
    ]);
  });

  it('a resumed upload (first write past 0), an overlap and a hole are not sequential: no hash', () => {
    const cases: Array<Array<[number, Buffer]>> = [
      [
        [32768, pieces[1]!],
        [65536, pieces[2]!],
      ], // resume: offset 0 never written
      [
        [0, pieces[0]!],
        [0, pieces[0]!],
      ], // written twice
      [
        [0, pieces[0]!],
        [65536, pieces[2]!],
      ], // hole
      [
        [0, body.subarray(0, 40_000)],
        [32768, pieces[1]!],
      ], // overlap
    ];
    for (const writes of cases) {
      const r = recorder();
      r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'f', WRITE_CREAT_TRUNC)]));
      r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
      writes.forEach(([at, data], i) => r.audit.fromClient(c.write(10 + i, 'H', at, data)));
      r.audit.fromClient(c.close(2, 'H'));
      r.audit.fromServer(Buffer.concat([...writes.map((_, i) => s.status(10 + i)), s.status(2)]));
      const size = writes.reduce((n, [, d]) => n + d.length, 0);
      expect(r.transferred).toEqual([{ name: 'f', direction: 'upload', size, sequential: false, closed: true }]);
    }
  });

  it('writes sent out of order within the reorder bound still hash right', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'f', WRITE_CREAT_TRUNC)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    r.audit.fromClient(
      Buffer.concat([
        c.write(3, 'H', 65536, pieces[2]!),
        c.write(4, 'H', 32768, pieces[1]!),
        c.write(2, 'H', 0, pieces[0]!),
        c.close(5, 'H'),
      ]),
    );
    r.audit.fromServer(Buffer.concat([s.status(2), s.status(3), s.status(4), s.status(5)]));
    expect(r.transferred[0]).toMatchObject({ sha256: sha(body), sequential: true });
  });

  it('counts refused writes and reports a file left open when the channel ends', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'f', WRITE_CREAT_TRUNC)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    r.audit.fromClient(Buffer.concat([c.write(2, 'H', 0, pieces[0]!), c.write(3, 'H', 32768, pieces[1]!)]));
    r.audit.fromServer(Buffer.concat([s.status(2), s.status(3, 4)]));
    r.audit.end();
    r.audit.end();
    expect(r.transferred).toEqual([
      {
        name: 'f',
        direction: 'upload',
        size: 65536,
        sha256: sha(body.subarray(0, 65536)),
        sequential: true,
        closed: false,
        errors: 1,
      },
    ]);
  });

  it('APPEND uploads carry no hash (the server ignores their offsets)', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'log', 0x02 | 0x04)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    r.audit.fromClient(Buffer.concat([c.write(2, 'H', 0, pieces[0]!), c.close(3, 'H')]));
    r.audit.fromServer(Buffer.concat([s.status(2), s.status(3)]));
    expect(r.transferred).toEqual([{ name: 'log', direction: 'upload', size: 32768, sequential: false, closed: true }]);
  });
});

/** A download in OpenSSH's shape: pipelined READs, replies in the order given, then EOF and CLOSE. */
function download(order: number[], opts: { short?: boolean; cuts?: number[] } = {}) {
  const r = recorder();
  r.audit.fromClient(Buffer.concat([c.init(), c.open(1, '/srv/out/project.zip', READ)]));
  r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H2')]));
  r.audit.fromClient(Buffer.concat([0, 1, 2, 3].map((i) => c.read(10 + i, 'H2', i * 32768, 32768))));
  const replies = [
    s.data(10, pieces[0]!),
    // A short read (as a server may give): the client asks for the rest later.
    s.data(11, opts.short ? pieces[1]!.subarray(0, 1000) : pieces[1]!),
    s.data(12, pieces[2]!),
    s.status(13, 1),
  ];
  feed((b) => r.audit.fromServer(b), Buffer.concat(order.map((i) => replies[i]!)), opts.cuts ?? []);
  if (opts.short) {
    r.audit.fromClient(c.read(14, 'H2', 32768 + 1000, 32768 - 1000));
    r.audit.fromServer(s.data(14, pieces[1]!.subarray(1000)));
  }
  r.audit.fromClient(c.close(15, 'H2'));
  r.audit.fromServer(s.status(15));
  return r;
}

describe('SFTP audit: downloads', () => {
  const expected = {
    name: '/srv/out/project.zip',
    direction: 'download',
    size: body.length,
    sha256: sha(body),
    sequential: true,
    closed: true,
  };

  it('hashes DATA replies in offset order, in order or reordered', () => {
    expect(download([0, 1, 2, 3]).transferred).toEqual([expected]);
    expect(download([2, 0, 3, 1]).transferred).toEqual([expected]);
    expect(download([3, 2, 1, 0]).transferred).toEqual([expected]);
  });

  it('follows a short read and the request for its rest', () => {
    expect(download([0, 1, 2, 3], { short: true }).transferred).toEqual([expected]);
    expect(download([2, 1, 0, 3], { short: true }).transferred).toEqual([expected]);
  });

  it('gives the same result split at every byte boundary of the replies', () => {
    const total = Buffer.concat([s.data(10, pieces[0]!), s.data(11, pieces[1]!)]).length;
    for (let i = 1; i < total; i += i < 40 || (i > 32770 && i < 32830) ? 1 : 1499)
      expect(download([1, 0, 2, 3], { cuts: [i] }).transferred).toEqual([expected]);
  });

  it('a seek (a read not from the start) has no hash', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'big', READ)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    r.audit.fromClient(Buffer.concat([c.read(2, 'H', 4096, 100), c.close(3, 'H')]));
    r.audit.fromServer(Buffer.concat([s.data(2, body.subarray(4096, 4196)), s.status(3)]));
    expect(r.transferred).toEqual([{ name: 'big', direction: 'download', size: 100, sequential: false, closed: true }]);
  });

  it('more out-of-order data than the reorder bound gives up the hash, not memory', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'big', READ)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    const chunk = Buffer.alloc(200_000);
    // 50 replies after a first one that never comes: 10 MB would have to wait.
    for (let i = 1; i <= 50; i++) {
      r.audit.fromClient(c.read(100 + i, 'H', i * chunk.length, chunk.length));
      r.audit.fromServer(s.data(100 + i, chunk));
    }
    r.audit.fromClient(c.read(100, 'H', 0, chunk.length));
    r.audit.fromServer(s.data(100, chunk));
    r.audit.fromClient(c.close(2, 'H'));
    r.audit.fromServer(s.status(2));
    expect(r.transferred).toEqual([
      { name: 'big', direction: 'download', size: 51 * chunk.length, sequential: false, closed: true },
    ]);
  });
});

describe('SFTP audit: other file operations', () => {
  it('reports remove, mkdir, rename and posix-rename with the server answer; stat is not a change', () => {
    const r = recorder();
    r.audit.fromClient(
      Buffer.concat([
        c.init(),
        c.remove(1, '/tmp/a'),
        c.mkdir(2, '/tmp/d'),
        c.rename(3, '/tmp/b', '/tmp/c'),
        c.posixRename(4, '/tmp/x', '/tmp/y'),
        c.stat(5, '/tmp'),
      ]),
    );
    r.audit.fromServer(Buffer.concat([s.version(), s.status(1), s.status(2, 4), s.status(3), s.status(4), s.attrs(5)]));
    r.audit.fromClient(c.remove(6, '/tmp/pending'));
    r.audit.end();
    expect(r.changed).toEqual([
      { op: 'remove', path: '/tmp/a', ok: true },
      { op: 'mkdir', path: '/tmp/d', ok: false, status: 4 },
      { op: 'rename', path: '/tmp/b', to: '/tmp/c', ok: true },
      { op: 'rename', path: '/tmp/x', to: '/tmp/y', ok: true },
      { op: 'remove', path: '/tmp/pending', ok: null },
    ]);
    expect(r.transferred).toEqual([]);
  });
});

describe('SFTP audit: hostile input', () => {
  const refused = (fn: () => void, code: string) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(SftpProtocolError);
      expect((err as SftpProtocolError).code).toBe(code);
      return;
    }
    throw new Error(`expected ${code}`);
  };

  it('refuses a 4 GiB length at once, from either side, without waiting for the bytes', () => {
    const r = recorder();
    refused(() => r.audit.fromClient(Buffer.from([0xff, 0xff, 0xff, 0xff, 1])), 'sftp_packet_too_large');
    const r2 = recorder();
    r2.audit.fromClient(c.init());
    r2.audit.fromServer(s.version());
    refused(() => r2.audit.fromServer(Buffer.from([0xff, 0xff, 0xff, 0xf0])), 'sftp_packet_too_large');
    // Past the first packet the limit is 1 MiB.
    const r3 = recorder();
    r3.audit.fromClient(c.init());
    refused(() => r3.audit.fromClient(u32(1024 * 1024 + 1)), 'sftp_packet_too_large');
  });

  it('refuses garbage: a first packet that is not INIT/VERSION, a version other than 3, lying lengths', () => {
    refused(() => recorder().audit.fromClient(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')), 'sftp_packet_too_large');
    refused(() => recorder().audit.fromClient(pkt(FXP.OPEN, u32(1), str('x'), u32(1), NO_ATTRS)), 'sftp_malformed');
    refused(() => recorder().audit.fromServer(s.version(6)), 'sftp_unsupported');
    refused(() => recorder().audit.fromClient(u32(2)), 'sftp_malformed');
    const lying = [
      pkt(FXP.OPEN, u32(1), u32(5000), Buffer.from('short')), // string longer than the packet
      pkt(FXP.WRITE, u32(2), str('H'), u64(0), u32(10), Buffer.from('abc')), // data length lies
      pkt(FXP.WRITE, u32(2), u32(300), Buffer.alloc(320)), // handle over 256 bytes
      pkt(FXP.READ, u32(3), str('H'), u64(2 ** 60), u32(1)), // offset beyond 2^53
    ];
    for (const p of lying) {
      const r = recorder();
      r.audit.fromClient(c.init());
      refused(() => r.audit.fromClient(p), 'sftp_malformed');
    }
  });

  it('refuses random bytes after a valid start (any garbage ends in a refusal or is skipped, never in memory growth)', () => {
    for (let n = 0; n < 200; n++) {
      const r = recorder();
      r.audit.fromClient(c.init());
      r.audit.fromServer(s.version());
      try {
        for (let i = 0; i < 20; i++) r.audit.fromClient(randomBytes(4096));
      } catch (err) {
        expect(err).toBeInstanceOf(SftpProtocolError);
      }
      r.audit.end();
    }
  });

  it('refuses a request id reused while pending, and stays refused', () => {
    const r = recorder();
    r.audit.fromClient(Buffer.concat([c.init(), c.open(1, 'f', READ)]));
    r.audit.fromServer(Buffer.concat([s.version(), s.handle(1, 'H')]));
    r.audit.fromClient(c.read(7, 'H', 0, 10));
    refused(() => r.audit.fromClient(c.read(7, 'H', 10, 10)), 'sftp_malformed');
    refused(() => r.audit.fromClient(c.close(8, 'H')), 'sftp_malformed');
  });

  it('bounds requests in flight', () => {
    const r = recorder();
    r.audit.fromClient(c.init());
    refused(() => {
      for (let i = 0; i < 5000; i++) r.audit.fromClient(c.stat(i, '/'));
    }, 'sftp_limit');
  });
});
