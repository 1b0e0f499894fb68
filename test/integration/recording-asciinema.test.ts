// Recordings in the real asciinema CLI: byte-exact output, playback, and repair after a SIGKILLed writer.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/clock.js';
import { packageRoot } from '../../gateway/paths.js';
import { CastWriter } from '../../gateway/recording/asciicast.js';
import { recordingPath } from '../../gateway/recording/files.js';
import {
  findUnsealedCasts,
  INCOMPLETE_MARKER,
  repairCast,
  repairUnsealed,
} from '../../gateway/recording/incomplete.js';
import { bundleForChild } from '../helpers/bundle.js';

const header = {
  width: 80,
  height: 24,
  title: 'vera@eng-ws-01',
  gatehouse: { session: 'ses_integration01', grant: 'grt_1', user: 'usr_vera', target: 'eng-ws-01' },
};

/**
 * `asciinema cat` opens /dev/tty (it needs a controlling terminal) — a pipe is not enough. Python's
 * pty module (asciinema is a Python program, so python3 is there) gives it one; cat puts that tty in
 * raw mode, so the bytes come through untranslated.
 */
const PTY = 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)';

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

const asciinemaCat = (file: string) => run('python3', ['-c', PTY, 'asciinema', 'cat', file]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-rec-it-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('asciinema CLI', () => {
  it('cat prints exactly the output bytes written; play exits 0 (o/i/r/m events, split UTF-8, ANSI, \\r\\n)', async () => {
    const clock = new ManualClock();
    const path = recordingPath(dir, 'ses_integration01', clock.now(), 'cast');
    const w = await CastWriter.open(path, header, clock);
    const text = Buffer.from(
      `\x1b]0;maint@plc-ws: ~\x07\x1b[01;32mmaint@plc-ws\x1b[00m:~$ ls\r\n` +
        'Störung_Motor_3.log  温度.csv  \x1b[01;34mprojects\x1b[0m  😀\r\n' +
        '┌──────┐\r\n│ Line │\r\n└──────┘\r\n"quoted" back\\slash\ttab\r\n',
    );
    // Cut into 7-byte chunks: multi-byte characters land across chunk (and event) boundaries.
    const chunks: Buffer[] = [];
    for (let off = 0; off < text.length; off += 7) chunks.push(text.subarray(off, off + 7));
    chunks.forEach((c, i) => {
      clock.advance(i % 3 === 0 ? 25 : 2); // some chunks coalesce, some start new events
      w.output(c);
      if (i === 5) w.input(Buffer.from('ls\r'));
      if (i === 9) w.resize(100, 30);
      if (i === 12) w.marker('ls');
      if (i % 10 === 0) void w.flush();
    });
    const sealed = await w.seal();

    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    const kinds = new Set(lines.slice(1).map((l) => (JSON.parse(l) as unknown[])[1]));
    expect([...kinds].sort()).toEqual(['i', 'm', 'o', 'r']);
    expect(sealed.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );

    const cat = await asciinemaCat(path);
    expect(cat.stderr).toBe('');
    expect(cat.code).toBe(0);
    expect(cat.stdout.equals(text)).toBe(true);

    // play needs no tty (it falls back to no keyboard control); stdout to a pipe.
    const play = await run('asciinema', ['play', '-i', '0.01', '-s', '50', path]);
    expect(play.code).toBe(0);
    expect(play.stdout.equals(text)).toBe(true);
  });
});

/** A child that records continuously until killed: the SIGKILL has to land mid-recording. */
const CHILD = `
import { CastWriter } from ${JSON.stringify(join(packageRoot, 'gateway/recording/asciicast.ts'))};
import { systemClock } from ${JSON.stringify(join(packageRoot, 'gateway/clock.ts'))};
const header = ${JSON.stringify(header)};
const w = await CastWriter.open(process.argv[2], header, systemClock, { flushIntervalMs: 20, coalesceMs: 1 });
for (let i = 0; ; i++) {
  w.output(Buffer.from(\`line \${i} Störung │ \${'x'.repeat(i % 97)}\\r\\n\`));
  if (i % 50 === 0) w.marker(\`cmd \${i}\`);
  if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
}
`;

function expectedStream(minBytes: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  for (let i = 0; n < minBytes; i++) {
    const b = Buffer.from(`line ${i} Störung │ ${'x'.repeat(i % 97)}\r\n`);
    parts.push(b);
    n += b.length;
  }
  return Buffer.concat(parts);
}

describe('repair after a crash', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('a SIGKILLed writer leaves a file that repairCast makes playable; the output is a prefix of what was written', async () => {
    const bundleDir = join(packageRoot, 'node_modules', '.cache', 'gatehouse-test', 'recording');
    await mkdir(bundleDir, { recursive: true });
    const entry = join(bundleDir, 'cast-child.ts');
    await writeFile(entry, CHILD);
    const bundle = await bundleForChild(entry, bundleDir);
    const path = recordingPath(dir, 'ses_killed000001', Date.now(), 'cast');
    child = spawn(process.execPath, [bundle, path], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((r) => child?.on('exit', r));
    for (let i = 0; i < 400 && ((await stat(path).catch(() => undefined))?.size ?? 0) < 200_000; i++) await sleep(25);
    expect((await stat(path)).size).toBeGreaterThanOrEqual(200_000);
    child.kill('SIGKILL');
    await exited;

    const found = await findUnsealedCasts(dir, new Set(['ses_killed000001', 'ses_not_on_disk01']));
    expect([...found.entries()]).toEqual([['ses_killed000001', path]]);
    const before = await stat(path);
    const repaired = await repairCast(path);
    const lastLine = (await readFile(path, 'utf8')).trim().split('\n').at(-1)!;
    expect(JSON.parse(lastLine)).toEqual([expect.any(Number), 'm', INCOMPLETE_MARKER]);
    expect(repaired.bytes).toBe((await stat(path)).size);
    expect(repaired.bytes).toBe(before.size - repaired.droppedBytes + Buffer.byteLength(`${lastLine}\n`));
    expect(repaired.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );

    const cat = await asciinemaCat(path);
    expect(cat.code).toBe(0);
    expect(cat.stdout.length).toBeGreaterThan(100_000);
    const expected = expectedStream(cat.stdout.length);
    expect(cat.stdout.equals(expected.subarray(0, cat.stdout.length))).toBe(true);

    // A second repair (the gateway died again during start-up) changes nothing.
    expect(await repairCast(path)).toEqual({ ...repaired, droppedBytes: 0 });
  });

  it('cuts a torn last line and everything after a corrupt line, and keeps the rest playable', async () => {
    const clock = new ManualClock();
    const path = recordingPath(dir, 'ses_torn00000001', clock.now(), 'cast');
    const w = await CastWriter.open(path, header, clock);
    w.output(Buffer.from('kept\r\n'));
    clock.advance(1500);
    w.output(Buffer.from('also kept\r\n'));
    await w.flush();
    const good = (await stat(path)).size;
    await appendFile(path, '[2.0, "o", "torn after a crash'); // no newline: a partial line
    const r1 = await repairCast(path);
    expect(r1.droppedBytes).toBe('[2.0, "o", "torn after a crash'.length);
    expect((await asciinemaCat(path)).stdout.toString()).toBe('kept\r\nalso kept\r\n');
    const evs = (await readFile(path, 'utf8')).trim().split('\n');
    expect(JSON.parse(evs.at(-1)!)).toEqual([1.5, 'm', INCOMPLETE_MARKER]); // at the last event's time
    await w.seal(); // the (stale) writer closing does not matter to the repaired file's prefix

    const copy = recordingPath(dir, 'ses_corrupt00001', clock.now(), 'cast');
    await copyFile(path, copy);
    await writeFile(copy, (await readFile(copy)).subarray(0, good));
    await appendFile(
      copy,
      Buffer.concat([Buffer.from('[1.6, "o", "\xff\xfe"]\n', 'latin1'), Buffer.from('[1.7, "o", "x"]\n')]),
    );
    const r2 = await repairCast(copy);
    expect(r2.droppedBytes).toBe(Buffer.byteLength('[1.6, "o", "\xff\xfe"]\n', 'latin1') + 16);
    expect((await asciinemaCat(copy)).stdout.toString()).toBe('kept\r\nalso kept\r\n');

    const empty = recordingPath(dir, 'ses_empty0000001', clock.now(), 'cast');
    await writeFile(empty, '');
    const outcomes = await repairUnsealed(dir, new Set(['ses_empty0000001', 'ses_corrupt00001']));
    expect(outcomes.find((o) => o.sessionId === 'ses_empty0000001')).toMatchObject({
      error: expect.objectContaining({ code: 'recording_unrepairable' }),
    });
    expect(outcomes.find((o) => o.sessionId === 'ses_corrupt00001')).toMatchObject({
      repaired: { droppedBytes: 0 },
    });
  });
});
