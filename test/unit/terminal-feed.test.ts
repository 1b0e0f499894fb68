// Command capture's terminal feed under bulk output: what it parses is bounded by the tail it keeps, not the size of
// the stream, and the screen it then shows is still right (last line, cursor, screen modes set in skipped output).
import { describe, expect, it } from 'vitest';
import { TerminalFeed } from '../../gateway/recording/terminal-feed.js';

const MiB = 1024 * 1024;

/** The screen once everything written so far is parsed: the cursor's row as text, and the buffer in use. */
function look(feed: TerminalFeed): Promise<{ line: string; screen: string }> {
  return new Promise((resolve) =>
    feed.whenParsed(() => {
      const b = feed.term.buffer.active;
      const line = b.getLine(b.baseY + b.cursorY)?.translateToString(true) ?? '';
      resolve({ line, screen: b.type });
    }),
  );
}

/** `bytes` of numbered log lines, as `cat` of a big file prints them. */
function logLines(bytes: number, from = 0): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let i = from; n < bytes; i++) {
    const l = `2026-11-23 10:00:00 line ${i} ok\r\n`;
    lines.push(l);
    n += l.length;
  }
  return Buffer.from(lines.join(''));
}

describe('TerminalFeed under bulk output', () => {
  it('parses a bounded tail of a stream of small chunks, and shows its end', async () => {
    const feed = new TerminalFeed(80, 24);
    feed.write(Buffer.from('$ cat big.log\r\n'));
    await look(feed); // the terminal is awake, as in a session being typed into
    const before = feed.fedBytes;
    const data = logLines(16 * MiB);
    for (let off = 0; off < data.length; off += 4096) feed.write(data.subarray(off, off + 4096)); // pty-sized chunks
    feed.write(Buffer.from('$ '));
    const seen = await look(feed);
    expect(seen.line.trimEnd()).toBe('$');
    expect(feed.fedBytes - before).toBeLessThan(256 * 1024); // of 16 MiB
    feed.dispose();
  });

  it('cuts one huge chunk to its tail from a line start, replaying the alternate screen it set', async () => {
    const feed = new TerminalFeed(80, 24);
    const data = Buffer.concat([Buffer.from('\x1b[?1049h'), logLines(4 * MiB), Buffer.from('(END)')]);
    feed.write(data);
    const seen = await look(feed);
    expect(seen).toEqual({ line: '(END)', screen: 'alternate' });
    expect(feed.fedBytes).toBeLessThan(256 * 1024);
    feed.dispose();
  });

  it('shows whole lines at the top of what it kept (the cut lands after a newline)', async () => {
    const feed = new TerminalFeed(200, 50);
    feed.write(logLines(2 * MiB));
    const rows = await new Promise<string[]>((resolve) =>
      feed.whenParsed(() => {
        const b = feed.term.buffer.active;
        const out: string[] = [];
        for (let y = 0; y < b.length; y++) out.push(b.getLine(y)?.translateToString(true) ?? '');
        resolve(out.filter((l) => l !== ''));
      }),
    );
    expect(rows.length).toBeGreaterThan(40);
    for (const r of rows) expect(r).toMatch(/^2026-11-23 10:00:00 line \d+ ok$/);
    feed.dispose();
  });
});
