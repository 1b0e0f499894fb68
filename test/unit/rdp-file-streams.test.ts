// The Guacamole file-stream audit on its own: which streams count as files, bounds, and hostile input.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ClipboardTransfer, GuacFileAudit, MAX_OPEN_STREAMS } from '../../gateway/rdp/file-streams.js';
import type { FileTransfer } from '../../gateway/ssh/sftp-audit.js';

const ins = (opcode: string, ...args: Array<string | number>) => ({ opcode, args: args.map(String) });

describe('GuacFileAudit', () => {
  it('ignores blobs of streams that are not files (images, clipboard) and ends of unknown streams', () => {
    const seen: FileTransfer[] = [];
    const a = new GuacFileAudit({ file: (t) => seen.push(t) });
    a.fromGuacd([ins('img', 3, 14, 0, 'image/png', 0, 0), ins('blob', 3, 'AAAA'), ins('end', 3), ins('end', 99)]);
    a.fromBrowser([ins('clipboard', 2, 'text/plain'), ins('blob', 2, 'aGk='), ins('end', 2), ins('blob', 'x', '!!!')]);
    expect(seen).toEqual([]);
    expect(a.finish()).toBe(0);
  });

  it('reports clipboard contents apart from files, by mimetype, size and SHA-256, never the content', () => {
    const files: FileTransfer[] = [];
    const clips: ClipboardTransfer[] = [];
    const a = new GuacFileAudit({ file: (t) => files.push(t), clipboard: (t) => clips.push(t) });
    const pasted = Buffer.from('plc-password-123\n');
    a.fromBrowser([
      ins('clipboard', 2, 'text/plain'),
      ins('blob', 2, pasted.subarray(0, 5).toString('base64')),
      ins('blob', 2, pasted.subarray(5).toString('base64')),
      ins('end', 2),
    ]);
    a.fromGuacd([ins('clipboard', 4, 'text/plain'), ins('blob', 4, Buffer.from('copied out').toString('base64'))]);
    expect(a.finish()).toBe(0);
    expect(files).toEqual([]);
    expect(clips).toEqual([
      {
        direction: 'upload',
        mimetype: 'text/plain',
        size: pasted.length,
        sha256: createHash('sha256').update(pasted).digest('hex'),
      },
      { direction: 'download', mimetype: 'text/plain', size: 10 },
    ]);
    expect(JSON.stringify(clips)).not.toContain('password');
  });

  it('keeps directions apart: the same stream index both ways is two files', () => {
    const seen: FileTransfer[] = [];
    const a = new GuacFileAudit({ file: (t) => seen.push(t) });
    a.fromBrowser([ins('file', 1, 'a/b', 'up.bin'), ins('blob', 1, Buffer.from('up').toString('base64'))]);
    a.fromGuacd([
      ins('file', 1, 'a/b', 'down.bin'),
      ins('blob', 1, Buffer.from('down!').toString('base64')),
      ins('end', 1),
    ]);
    a.fromBrowser([ins('end', 1)]);
    expect(seen.map((t) => [t.name, t.direction, t.size])).toEqual([
      ['down.bin', 'download', 5],
      ['up.bin', 'upload', 2],
    ]);
  });

  it(`tracks at most ${MAX_OPEN_STREAMS} open file streams a direction; past that it says so once, and counts the rest as not audited`, () => {
    const seen: FileTransfer[] = [];
    let overflows = 0;
    const a = new GuacFileAudit({ file: (t) => seen.push(t), overflow: () => overflows++ });
    a.fromBrowser(Array.from({ length: MAX_OPEN_STREAMS - 1 }, (_, i) => ins('file', i, 'x/y', `f${i}`)));
    expect(overflows).toBe(0);
    a.fromBrowser(Array.from({ length: 7 }, (_, i) => ins('file', 1000 + i, 'x/y', `g${i}`)));
    expect(overflows).toBe(1);
    expect(a.finish()).toBe(6);
    expect(seen).toHaveLength(MAX_OPEN_STREAMS);
    expect(seen.every((t) => t.closed === false && t.sha256 === undefined)).toBe(true);
  });

  it('bounds a hostile name and survives malformed base64', () => {
    const seen: FileTransfer[] = [];
    const a = new GuacFileAudit({ file: (t) => seen.push(t) });
    a.fromBrowser([ins('file', 1, 'x/y', 'n'.repeat(10_000)), ins('blob', 1, '%%%not base64%%%'), ins('end', 1)]);
    expect(seen[0]!.name).toHaveLength(1024);
    expect(seen[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
