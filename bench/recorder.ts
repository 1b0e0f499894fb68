// Recorder throughput: MB/s of CastWriter.output() for 64 KiB chunks of terminal text and of random binary.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { systemClock } from '../gateway/clock.js';
import { CastWriter } from '../gateway/recording/asciicast.js';
import { JsonUtf8Encoder, roomFor } from '../gateway/recording/cast-encode.js';

export interface RecorderBenchCase {
  name: string;
  /** Input bytes / wall time from the first output() to seal() resolved (fsync included). */
  mbPerSec: number;
  /** Input bytes / time spent inside output() calls: what the relay's thread pays to batch and encode. */
  hotPathMBPerSec: number;
  /** Input bytes / CPU time of the process (user + system, the fs thread pool included): what a shared machine cannot inflate. */
  cpuMBPerSec: number;
  inputMB: number;
  fileMB: number;
  /** Wall time inside seal(): the writes still queued, then the fsync, which waits for the file's writeback. */
  sealMs: number;
}

const CHUNK = 64 * 1024;

/**
 * How a case hands its input to output(): `chunk` bytes a call, and a turn of the loop after every `perTurn` calls
 * (or when output() says the disk is behind: then drained()). The suite's first feed, 8 × 64 KiB a turn, is harsher
 * than a relay: the gateway gets ssh2 channel data in ≤ 32 KiB packets, a socket read (≤ 64 KiB) a turn
 * (channel-relay.ts feeds each one to output() in its own 'data' callback), so writes that end are seen every 64 KiB.
 */
interface Feed {
  chunk: number;
  perTurn: number;
}
const SUITE_FEED: Feed = { chunk: CHUNK, perTurn: 8 };
const RELAY_FEED: Feed = { chunk: 32 * 1024, perTurn: 2 };

/** `ls -l --color` style output: ANSI colours, \r\n, some multi-byte UTF-8 (file names, box drawing). */
export function terminalText(bytes: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; lines.join('').length < 16 * 1024; i++)
    lines.push(
      `-rw-r--r-- 1 maint plc ${String(4096 + i * 37).padStart(7)} Nov 23 10:${String(i % 60).padStart(2, '0')} ` +
        `\x1b[01;34mline2-${i}\x1b[0m  Störung_${i}.log │ OK\r\n`,
    );
  const block = Buffer.from(lines.join(''));
  const out = Buffer.alloc(bytes);
  for (let off = 0; off < bytes; off += block.length) block.copy(out, off);
  return out;
}

/** Random bytes with every fourth byte NUL (each NUL becomes six JSON bytes, \u0000). */
export function binaryWithNuls(bytes: number): Buffer {
  const out = randomBytes(bytes);
  for (let i = 0; i < bytes; i += 4) out[i] = 0;
  return out;
}

/** `path` = /dev/null measures encoding + hashing + syscalls without the disk. */
async function runCase(path: string, name: string, data: Buffer, feed = SUITE_FEED): Promise<RecorderBenchCase> {
  const header = {
    width: 120,
    height: 40,
    gatehouse: { session: 'ses_bench000', grant: 'g', user: 'u', target: 't' },
  };
  const w = await CastWriter.open(path, header, systemClock, { exclusive: path !== '/dev/null' });
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let hot = 0;
  for (let off = 0, n = 1; off < data.length; off += feed.chunk, n++) {
    const t0 = performance.now();
    const more = w.output(data.subarray(off, off + feed.chunk));
    hot += performance.now() - t0;
    // Like a relay: honour backpressure, and let the loop turn between socket callbacks.
    if (!more) await w.drained();
    else if (n % feed.perTurn === 0) await yieldToLoop();
  }
  const sealing = performance.now();
  const sealed = await w.seal();
  const sealMs = performance.now() - sealing;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // /dev/null cannot be fsynced (EINVAL); everything before that was written.
  if (w.failed && path !== '/dev/null') throw w.failed;
  const mb = (n: number) => Math.round(n / 1e6);
  return {
    name,
    mbPerSec: mb(data.length / seconds),
    hotPathMBPerSec: mb(data.length / (hot / 1000)),
    cpuMBPerSec: mb(data.length / ((cpu.user + cpu.system) / 1e6)),
    inputMB: mb(data.length),
    fileMB: mb(path === '/dev/null' ? sealed.bytes : (await stat(path)).size),
    sealMs,
  };
}

/**
 * The disk alone: `bytes` written in 1 MiB pwrites, then fdatasync, in MB/s. What bounds a recording whose file is
 * much bigger than its input (binary: every NUL is six bytes, every stray byte ≥ 0x80 three).
 */
export async function diskWriteRate(dir: string, bytes: number): Promise<number> {
  const path = join(dir, 'disk-rate.bin');
  const block = randomBytes(1024 * 1024);
  const fh = await open(path, 'wx', 0o600);
  try {
    const t0 = performance.now();
    for (let off = 0; off < bytes; off += block.length)
      await fh.write(block, 0, Math.min(block.length, bytes - off), off);
    await fh.datasync();
    return bytes / 1e6 / ((performance.now() - t0) / 1000);
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
}

/** CPU ms per MB of input for each stage of recording `data`, measured alone: what recording costs at the least. */
export interface RecorderCost {
  escapeMs: number;
  hashMs: number;
  /** pwrite of the escaped bytes, 256 KiB at a time: the kernel's copy into the page cache (no fsync). */
  writeMs: number;
  /** fdatasync of those bytes: the kernel's writeback, charged to the process that asks for it. */
  syncMs: number;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export async function recorderCost(dir: string, data: Buffer): Promise<RecorderCost> {
  const enc = new JsonUtf8Encoder();
  const out = Buffer.allocUnsafe(roomFor(CHUNK));
  const escaped: Buffer[] = [];
  let fileBytes = 0;
  let t = cpuNow();
  for (let off = 0; off < data.length; off += CHUNK) {
    const n = enc.writeInto(data.subarray(off, off + CHUNK), out, 0);
    fileBytes += n;
    if (escaped.length < 64) escaped.push(Buffer.from(out.subarray(0, n))); // a sample to hash and write below
  }
  const escapeMs = cpuNow() - t;
  const sample = Buffer.concat(escaped);
  // As many bytes as the file would hold (binary: 3.3 times the input), so each cost is per MB of input.
  const rounds = Math.max(1, Math.round(fileBytes / sample.length));
  t = cpuNow();
  const hash = createHash('sha256');
  for (let r = 0; r < rounds; r++)
    for (let off = 0; off < sample.length; off += 256 * 1024) hash.update(sample.subarray(off, off + 256 * 1024));
  hash.digest();
  const hashMs = cpuNow() - t;
  const path = join(dir, 'cost.bin');
  const fh = await open(path, 'wx', 0o600);
  let at = 0;
  t = cpuNow();
  for (let r = 0; r < rounds; r++)
    for (let off = 0; off < sample.length; off += 256 * 1024)
      at += (await fh.write(sample, off, Math.min(256 * 1024, sample.length - off), at)).bytesWritten;
  const writeMs = cpuNow() - t;
  t = cpuNow();
  await fh.datasync();
  const syncMs = cpuNow() - t;
  await fh.close();
  await rm(path, { force: true });
  const mb = data.length / 1e6;
  return { escapeMs: escapeMs / mb, hashMs: hashMs / mb, writeMs: writeMs / mb, syncMs: syncMs / mb };
}

export interface RecorderBench {
  /** recorderCost() of the text case and of the binary one. */
  textCost: RecorderCost;
  binaryCost: RecorderCost;
  cases: RecorderBenchCase[];
  /** diskWriteRate() for the size of each '→ disk' case's file, by case name. */
  diskMBPerSec: Record<string, number>;
}

/** `f` of each item, one after the other (disk measures must not overlap). */
async function sequence<T, R>(items: T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await f(item));
  return out;
}

/** Encodes, hashes and writes `megabytes` of each kind; includes seal (fsync) in the time. */
export async function benchRecorder(opts: { dir?: string; megabytes?: number } = {}): Promise<RecorderBench> {
  const bytes = (opts.megabytes ?? 128) * 1024 * 1024;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'gatehouse-bench-rec-')));
  try {
    const text = terminalText(bytes);
    const binary = binaryWithNuls(bytes);
    const cases = [
      await runCase(join(dir, 'text.cast'), 'text → disk', text),
      await runCase(join(dir, 'text-relay.cast'), 'text → disk, fed as a relay', text, RELAY_FEED),
      await runCase('/dev/null', 'text → /dev/null', text),
      await runCase(join(dir, 'binary.cast'), 'binary+NUL → disk', binary),
      await runCase('/dev/null', 'binary+NUL → /dev/null', binary),
    ];
    return {
      cases,
      textCost: await recorderCost(dir, text),
      binaryCost: await recorderCost(dir, binary),
      diskMBPerSec: Object.fromEntries(
        await sequence(
          cases.filter((c) => c.name.endsWith('→ disk')),
          async (c) => [c.name, Math.round(await diskWriteRate(dir, c.fileMB * 1e6))] as const,
        ),
      ),
    };
  } finally {
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bench = await benchRecorder({ megabytes: Number(process.env.RECORDER_BENCH_MB ?? 128) });
  for (const [name, rate] of Object.entries(bench.diskMBPerSec))
    console.log(`disk alone, write + fdatasync of the ${name} file: ${rate} MB/s`);
  const c = bench.textCost;
  console.log(
    `text, CPU ms per MB: escape ${c.escapeMs.toFixed(2)}, SHA-256 ${c.hashMs.toFixed(2)}, write ${c.writeMs.toFixed(2)}, fdatasync ${c.syncMs.toFixed(2)}`,
  );
  for (const r of bench.cases)
    console.log(
      `recorder ${r.name}: ${r.mbPerSec} MB/s end to end, ${r.hotPathMBPerSec} MB/s inside output(), ${r.cpuMBPerSec} MB per CPU-second ` +
        `(${r.inputMB} MB in, ${r.fileMB} MB out; seal ${r.sealMs.toFixed(0)} ms)`,
    );
}
