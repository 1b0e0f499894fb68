// The asciicast writer: format, timing, batching, sealing, failure handling; file paths.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock, systemClock } from '../../gateway/clock.js';
import { type CastHeader, CastWriter } from '../../gateway/recording/asciicast.js';
import { recordingPath, resolveRecording, sessionsRoot } from '../../gateway/recording/files.js';

const header: CastHeader = {
  width: 100,
  height: 30,
  title: 'maint@eng-ws-01',
  term: 'xterm-256color',
  gatehouse: { session: 'ses_abcdefgh12', grant: 'grt_1', user: 'usr_1', target: 'eng-ws-01' },
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-cast-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean);
const events = async (path: string) =>
  (await lines(path)).slice(1).map((l) => JSON.parse(l) as [number, string, string]);

describe('CastWriter', () => {
  it('writes a v2 header and o/i/r/m events with monotonic times, and seals with the file SHA-256', async () => {
    const clock = new ManualClock('2026-11-23T10:00:00.000Z');
    const path = join(dir, 'a', 'b', 'ses_abcdefgh12.cast');
    const w = await CastWriter.open(path, header, clock);
    clock.advance(120);
    w.output(Buffer.from('maint@plc-ws:~$ '));
    clock.advance(500);
    w.input(Buffer.from('l'));
    clock.advance(3);
    w.input(Buffer.from('s\r')); // within 10 ms: same event
    clock.advance(40);
    w.output(Buffer.from('ls\r\n'));
    clock.set('2026-11-23T09:59:59.000Z'); // the wall clock steps back (NTP)
    w.output(Buffer.from('\x1b[01;34mbin\x1b[0m\r\n'));
    clock.set('2026-11-23T10:00:01.234567Z');
    w.resize(120, 40);
    w.marker('ls');
    const sealed = await w.seal();

    const [head, ...rest] = await lines(path);
    expect(JSON.parse(head!)).toEqual({
      version: 2,
      width: 100,
      height: 30,
      timestamp: Date.parse('2026-11-23T10:00:00Z') / 1000,
      title: 'maint@eng-ws-01',
      env: { TERM: 'xterm-256color' },
      gatehouse: header.gatehouse,
    });
    const evs = rest.map((l) => JSON.parse(l));
    expect(evs).toEqual([
      [0.12, 'o', 'maint@plc-ws:~$ '],
      [0.62, 'i', 'ls\r'],
      [0.663, 'o', 'ls\r\n\x1b[01;34mbin\x1b[0m\r\n'], // clamped to 0.663, then coalesced
      [1.234, 'r', '120x40'],
      [1.234, 'm', 'ls'],
    ]);
    const times = evs.map((e) => e[0] as number);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Times are short decimals, never exponent notation.
    for (const l of rest) expect(l).toMatch(/^\[\d+(\.\d{1,6})?, "[oirm]", /);

    const bytes = await readFile(path);
    expect(sealed).toEqual({
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
      incomplete: false,
    });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('keeps chunks apart when they are more than 10 ms apart, and interleaves streams in order', async () => {
    const clock = new ManualClock();
    const path = join(dir, 'x.cast');
    const w = await CastWriter.open(path, header, clock);
    w.output(Buffer.from('a'));
    clock.advance(11);
    w.output(Buffer.from('b'));
    w.input(Buffer.from('c'));
    w.output(Buffer.from('d'));
    await w.seal();
    expect((await events(path)).map((e) => e.slice(1))).toEqual([
      ['o', 'a'],
      ['o', 'b'],
      ['i', 'c'],
      ['o', 'd'],
    ]);
  });

  it('decodes multi-byte characters split across chunks and flushes; bad bytes become U+FFFD, NUL \\u0000', async () => {
    const clock = new ManualClock();
    const path = join(dir, 'u.cast');
    const w = await CastWriter.open(path, header, clock);
    const euro = Buffer.from('€'); // e2 82 ac
    w.output(euro.subarray(0, 1));
    await w.flush(); // the lone lead byte must wait, not become U+FFFD
    clock.advance(50);
    w.output(Buffer.concat([euro.subarray(1), Buffer.from([0x00, 0xff, 0x41])]));
    clock.advance(50);
    w.output(Buffer.from([0xf0, 0x9f])); // an emoji the session never finishes
    const sealed = await w.seal();
    const evs = await events(path);
    expect(evs.map((e) => e[2]).join('')).toBe('€\u0000\ufffdA\ufffd');
    expect(await readFile(path, 'utf8')).toContain('\\u0000');
    expect(sealed.bytes).toBe((await stat(path)).size);
  });

  it('records binary and NUL-heavy output exactly across pooled buffers, interleaved with markers and resizes', async () => {
    const clock = new ManualClock();
    const path = join(dir, 'bin.cast');
    const w = await CastWriter.open(path, header, clock);
    const chunks: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      // Up to 200 KiB of NULs (1.2 MB escaped) in one chunk: events run past the end of one pooled buffer into the next.
      const b = i % 3 === 0 ? Buffer.alloc(200 * 1024) : randomBytes(1 + ((i * 7919) % 70_000));
      chunks.push(b);
      w.output(b);
      if (i % 5 === 0) w.marker(`step ${i}`);
      if (i % 7 === 0) w.resize(80 + i, 24);
      clock.advance(i % 2 === 0 ? 3 : 20);
    }
    const sealed = await w.seal();
    const evs = await events(path);
    const output = evs
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    expect(output).toBe(new TextDecoder().decode(Buffer.concat(chunks)));
    expect(evs.filter((e) => e[1] === 'm').map((e) => e[2])).toEqual([
      'step 0',
      'step 5',
      'step 10',
      'step 15',
      'step 20',
    ]);
    expect(evs.filter((e) => e[1] === 'r').map((e) => e[2])).toEqual(['80x24', '87x24', '94x24', '101x24']);
    const file = await readFile(path);
    expect(sealed.sha256).toBe(createHash('sha256').update(file).digest('hex'));
    expect(sealed.bytes).toBe(file.length);
  });

  it('flushes at least every interval while open: the file grows before seal', async () => {
    const path = join(dir, 'live.cast');
    const w = await CastWriter.open(path, header, systemClock, { flushIntervalMs: 50 });
    const sizes: number[] = [(await stat(path)).size];
    for (let i = 0; i < 3; i++) {
      w.output(Buffer.from(`line ${i}\r\n`));
      await sleep(150);
      sizes.push((await stat(path)).size);
    }
    expect(sizes[1]).toBeGreaterThan(sizes[0]!);
    expect(sizes[2]).toBeGreaterThan(sizes[1]!);
    expect(sizes[3]).toBeGreaterThan(sizes[2]!);
    expect((await events(path)).map((e) => e[2])).toEqual(['line 0\r\n', 'line 1\r\n', 'line 2\r\n']);
    await w.seal();
  });

  it('writes early when 256 KiB are pending, and reports backpressure', async () => {
    const path = join(dir, 'big.cast');
    const w = await CastWriter.open(path, header, systemClock, {
      flushIntervalMs: 60_000,
      highWaterBytes: 1,
    });
    const before = (await stat(path)).size;
    const more = w.output(Buffer.alloc(300 * 1024, 0x61));
    expect(more).toBe(false); // a batch is queued behind the disk: above the (tiny) high-water mark
    await w.drained();
    expect((await stat(path)).size).toBeGreaterThan(before + 300 * 1024);
    await w.seal();
  });

  it('a bulk stream that honours backpressure reuses pooled buffers: none allocated after the first window', async () => {
    // Why it matters: a 256 KiB buffer the pool could not keep had been in flight long enough to be promoted, and
    // ~700 of them per GiB set off a major garbage collection every ~80 ms (docs/performance.md).
    const path = join(dir, 'bulk.cast');
    const w = await CastWriter.open(path, header, systemClock, { flushIntervalMs: 60_000 });
    const chunk = Buffer.from(
      '-rw-r--r-- 1 maint plc 4096 Nov 23 10:00 \x1b[01;34mline\x1b[0m  Störung.log │ OK\r\n'.repeat(400),
    );
    const allocations = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const window = async () => {
        // As the relay does: write until output() says the disk is behind, then wait for drained().
        for (let i = 0; i < 10_000 && w.output(chunk); i++);
        await w.drained();
      };
      await window();
      const warm = allocations.mock.calls.length;
      for (let round = 0; round < 8; round++) await window();
      expect(allocations.mock.calls.length).toBe(warm);
    } finally {
      allocations.mockRestore();
    }
    const sealed = await w.seal();
    expect(sealed.bytes).toBeGreaterThan(9 * 1024 * 1024); // each window queued at least half the high-water mark
    expect(sealed.incomplete).toBe(false);
  });

  it('six bulk streams at once reuse pooled buffers too, and the pool gives the excess back once they end', async () => {
    const writers = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) =>
        CastWriter.open(join(dir, `bulk-${i}.cast`), header, systemClock, { flushIntervalMs: 60_000 }),
      ),
    );
    const chunk = Buffer.from('\x1b[01;34mline\x1b[0m  Störung.log │ OK\r\n'.repeat(1000));
    const allocations = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      // Each writer: write until output() says the disk is behind, then wait for drained(); all at once.
      const window = () =>
        Promise.all(
          writers.map(async (w) => {
            for (let i = 0; i < 10_000 && w.output(chunk); i++);
            await w.drained();
          }),
        );
      for (let round = 0; round < 3; round++) await window();
      const warm = allocations.mock.calls.length;
      expect(warm).toBeGreaterThan(16); // more in flight than the pool keeps when idle
      for (let round = 0; round < 6; round++) await window();
      // A new peak in flight takes a few more; a pool that dropped what it could not keep took ~50.
      expect(allocations.mock.calls.length - warm).toBeLessThan(writers.length);
      for (const w of writers) expect((await w.seal()).incomplete).toBe(false);
      // Idle again: what the pool keeps is back to its idle size, so the next ones are fresh allocations.
      const after = allocations.mock.calls.length;
      const taken = await Promise.all(
        [0, 1, 2, 3, 4, 5].map(async (i) => {
          const w = await CastWriter.open(join(dir, `again-${i}.cast`), header, systemClock, {
            flushIntervalMs: 60_000,
          });
          for (let k = 0; k < 10_000 && w.output(chunk); k++);
          return w;
        }),
      );
      expect(allocations.mock.calls.length).toBeGreaterThan(after);
      for (const w of taken) await w.seal();
    } finally {
      allocations.mockRestore();
    }
  });

  it('marks an incomplete seal, and seal is idempotent', async () => {
    const path = join(dir, 'inc.cast');
    const w = await CastWriter.open(path, header, new ManualClock());
    w.output(Buffer.from('x'));
    const a = await w.seal({ incomplete: true, reason: 'gateway stopping' });
    expect(await w.seal()).toBe(a);
    expect(a.incomplete).toBe(true);
    expect((await events(path)).at(-1)).toEqual([0, 'm', 'recording incomplete: gateway stopping']);
    w.output(Buffer.from('after seal')); // ignored, no throw
  });

  it('refuses to overwrite an existing recording', async () => {
    const path = join(dir, 'exists.cast');
    await writeFile(path, 'evidence');
    await expect(CastWriter.open(path, header, systemClock)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'utf8')).toBe('evidence');
  });

  it('open on a full disk (/dev/full) rejects with ENOSPC', async () => {
    await expect(CastWriter.open('/dev/full', header, systemClock, { exclusive: false })).rejects.toMatchObject({
      code: 'ENOSPC',
    });
  });

  it('a write failure mid-session (fd swapped for /dev/full) → failed, onFailure once, output never throws', async () => {
    const path = join(dir, 'fail.cast');
    const w = await CastWriter.open(path, header, new ManualClock(), { flushIntervalMs: 10 });
    w.output(Buffer.from('before\r\n'));
    await w.flush();
    const good = (await stat(path)).size;

    // Behind the writer's back: its fd number now refers to /dev/full (what dup2 would do).
    const fd = Number(readdirSync('/proc/self/fd').find((f) => safeReadlink(`/proc/self/fd/${f}`) === path));
    expect(fd).toBeGreaterThan(2);
    closeSync(fd);
    const extra: number[] = [];
    for (let i = 0; i < 64; i++) {
      const f = openSync('/dev/full', 'w');
      if (f === fd) break;
      extra.push(f);
    }
    for (const f of extra) closeSync(f);

    const calls: Error[] = [];
    w.onFailure((e) => calls.push(e));
    w.onFailure((e) => calls.push(e));
    expect(() => w.output(Buffer.from('after\r\n'))).not.toThrow();
    await w.flush();
    expect(w.failed).toMatchObject({ code: 'ENOSPC' });
    for (let i = 0; i < 5; i++) expect(w.output(Buffer.alloc(300_000))).toBe(true); // dropped, no throw
    await sleep(50);
    expect(calls).toHaveLength(2); // each callback once
    const late: Error[] = [];
    w.onFailure((e) => late.push(e)); // registered after the failure: still told, once
    await sleep(10);
    expect(late).toHaveLength(1);

    const sealed = await w.seal(); // closes the fd (our /dev/full handle)
    expect(sealed.incomplete).toBe(true);
    expect(sealed.bytes).toBe(good);
    const kept = await readFile(path);
    expect(kept.length).toBe(good);
    expect(sealed.sha256).toBe(createHash('sha256').update(kept).digest('hex'));
  });
});

function safeReadlink(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

// JsonUtf8Encoder's output against JSON.stringify, through both escapers: test/unit/cast-encode.test.ts.

describe('recording paths', () => {
  const at = Date.parse('2026-01-05T23:59:59.999Z');

  it('builds sessions/YYYY/MM/DD/<id>.<ext> from the UTC start date', () => {
    expect(recordingPath('/srv/rec', 'ses_abcdefgh12', at, 'cast')).toBe(
      '/srv/rec/sessions/2026/01/05/ses_abcdefgh12.cast',
    );
    expect(recordingPath('/srv/rec', 'ses_A-b_c-d_e', at, 'guac')).toMatch(/\/2026\/01\/05\/ses_A-b_c-d_e\.guac$/);
    expect(resolveRecording('rel', 'ses_abcdefgh12', '2026-01-05T23:59:59.999Z')).toBe(
      join(sessionsRoot('rel'), '2026/01/05/ses_abcdefgh12.cast'),
    );
  });

  it.each([
    '../../etc/passwd',
    'ses_../../../x',
    'ses_short',
    'ses_abc/defghij',
    'ses_abcdefgh\0',
    'ses_abcdefgh.cast',
    `ses_${'a'.repeat(65)}`,
    'SES_abcdefgh12',
    '',
  ])('refuses session id %j', (id) => {
    expect(() => recordingPath('/srv/rec', id, at, 'cast')).toThrow(
      expect.objectContaining({ code: 'invalid_session_id' }),
    );
    expect(() => resolveRecording('/srv/rec', id, at)).toThrow();
  });

  it('refuses bad dates and kinds', () => {
    expect(() => recordingPath('/srv/rec', 'ses_abcdefgh12', Number.NaN, 'cast')).toThrow();
    expect(() => resolveRecording('/srv/rec', 'ses_abcdefgh12', 'not a date')).toThrow();
    expect(() => recordingPath('/srv/rec', 'ses_abcdefgh12', at, '../x' as 'cast')).toThrow();
  });
});
