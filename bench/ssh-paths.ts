// The side-by-side suite: the same measurements along direct, ProxyJump and Gatehouse in one run, as table rows.
import { once } from 'node:events';
import { join } from 'node:path';
import { benchBrowserTerminal } from './browser-terminal.js';
import { describeRound, type IdleRound, idleRound, sum } from './idle-memory.js';
import type { KeysProbeResult } from './keys-probe.js';
import { cpuMs, descendants, pssKiB } from './proc.js';
import { castFiles, dropCasts, newCasts, summarizeCast, waitSessionsEnded } from './recordings.js';
import { expectedHop, traceRoute } from './route-check.js';
import {
  bulkDown,
  bulkUp,
  idleSessions,
  keystrokes,
  percentile,
  ptyDown,
  setupTime,
  streaming,
} from './ssh-measure.js';
import { PATH_LABEL, type PathName, PATHS, startWorld, type World } from './world.js';

export interface SshBenchSizes {
  downBytes: number;
  upBytes: number;
  keystrokes: number;
  /**
   * Round trips typed first and not counted, on every path alike. Why this many: a freshly started gateway's JIT is
   * still compiling the relay path for its first two to three thousand keystrokes, on a thread that takes one of the
   * box's two cores (docs/performance.md, Keystroke latency); their p99 is reported in a row of its own.
   */
  keystrokeWarmup: number;
  /** Keys typed TYPIST_MS apart, counted after the default settling round trips. */
  typistKeys: number;
  setupSamples: number;
  idle: number;
  /**
   * Rounds of `idle` sessions through Gatehouse, each added to those still open and measured; the figures are over
   * all of them. Why more than one: the first round also pays one-time costs (the young generation's growth, the
   * JIT's and malloc's first allocations), which more sessions amortize as a gateway that holds many would.
   */
  idleRounds: number;
  streams: number;
  streamBytes: number;
  /** Terminal output through the browser terminal (a pty shell: capture and recording on). */
  browserBytes: number;
  /** Sessions held at once through Gatehouse in the `hold` phase. */
  hold: number;
}

const MiB = 1024 * 1024;
export const FULL: SshBenchSizes = {
  downBytes: 1024 * MiB,
  upBytes: 256 * MiB,
  keystrokes: 1000,
  keystrokeWarmup: 3000,
  typistKeys: 40,
  setupSamples: 10,
  idle: 200,
  idleRounds: 3,
  streams: 50,
  streamBytes: 20 * MiB,
  browserBytes: 128 * MiB,
  hold: 1000,
};
export const QUICK: SshBenchSizes = {
  downBytes: 16 * MiB,
  upBytes: 8 * MiB,
  keystrokes: 200,
  keystrokeWarmup: 200,
  typistKeys: 10,
  setupSamples: 3,
  idle: 20,
  idleRounds: 1,
  streams: 5,
  streamBytes: 1 * MiB,
  browserBytes: 4 * MiB,
  hold: 30,
};

export type Phase = 'route' | 'setup' | 'keys' | 'idle' | 'down' | 'up' | 'stream' | 'norec' | 'browser' | 'hold';
export const PHASES: readonly Phase[] = ['route', 'setup', 'keys', 'idle', 'down', 'up', 'stream', 'norec', 'browser'];
/**
 * Asked for by name only (`--only=hold`): 1,000 interactive sessions through Gatehouse at once. Why not in the
 * full run: opening them costs minutes of the 2-core budget (each is a target sshd login and a shell).
 */
export const EXTRA_PHASES: readonly Phase[] = ['hold'];

export interface PathRow {
  measure: string;
  unit: string;
  direct?: number;
  proxyjump?: number;
  gatehouse?: number;
  target?: string;
  met?: boolean;
  note?: string;
}

export interface SshBenchResult {
  rows: PathRow[];
  routes: Record<string, string>;
  /** Per path, the cipher of each OpenSSH-client hop (ProxyJump: jump hop, then target hop). */
  ciphers: Record<string, string[]>;
  failures: string[];
}

export interface SshBenchOptions {
  sizes: SshBenchSizes;
  phases?: readonly Phase[];
  progress?: (msg: string) => void;
  /**
   * Write the gateways' V8 CPU profiles here (gatehouse.cpuprofile, and gatehouse-norec.cpuprofile for the
   * recording-off gateway: both profiled, so the on ÷ off figures carry the same profiler overhead).
   */
  cpuProfileDir?: string;
}

/** The pause before each key of the typist's-pace measurement: a brisk typist's. */
const TYPIST_MS = 100;

/** How long the idle sessions idle before the gateway is measured: past command capture's 3 s put-away (terminal-feed.ts). */
const IDLE_WAIT_MS = 4000;

const mib = (b: number) => (b >= 1024 * MiB ? `${b / (1024 * MiB)} GiB` : `${b / MiB} MiB`);

export async function benchSshPaths(o: SshBenchOptions): Promise<SshBenchResult> {
  const { sizes } = o;
  const on = (p: Phase) => (o.phases ?? PHASES).includes(p);
  const progress = o.progress ?? (() => undefined);
  const rows: PathRow[] = [];
  const failures: string[] = [];
  const routes: Record<string, string> = {};
  const ciphers: Record<string, string[]> = {};
  const started = Date.now();
  let step = 0;
  const say = (msg: string) =>
    progress(`[${String(++step).padStart(2)} · ${Math.round((Date.now() - started) / 1000)} s] ${msg}`);

  /** Runs one measurement per path; a failure is reported in the table, not thrown (the rest still runs). */
  async function perPath(
    row: PathRow,
    paths: readonly string[],
    fn: (path: string) => Promise<number>,
    label = row.measure,
  ) {
    for (const path of paths) {
      say(`${PATH_LABEL[path as PathName] ?? path}: ${label}…`);
      try {
        const v = await fn(path);
        const key = (path in PATH_LABEL ? path : 'gatehouse') as PathName;
        row[key] = v;
      } catch (e) {
        failures.push(`${row.measure} (${path}): ${(e as Error).message}`);
        row.note = `${row.note ? `${row.note}; ` : ''}${path} failed`;
      }
    }
    rows.push(row);
    return row;
  }

  say('starting the target sshd, the jump sshd and Gatehouse…');
  const world = await startWorld();
  try {
    // Gatehouse logins: route + cipher check, setup samples, keystrokes, idle, bulk both ways, streams; and spares.
    const vendorsNeeded =
      2 +
      sizes.setupSamples +
      1 +
      sizes.idle * sizes.idleRounds +
      2 +
      sizes.streams +
      10 +
      (on('hold') ? sizes.hold : 0);
    const gh = await world.startGatehouse('gatehouse', {
      vendors: vendorsNeeded,
      recording: true,
      ...(o.cpuProfileDir ? { cpuProfileDir: o.cpuProfileDir } : {}),
    });
    say(`Gatehouse up (${vendorsNeeded} vendors and grants seeded through the broker in ${gh.seedMs} ms)`);

    if (on('route'))
      for (const path of PATHS) {
        say(`${PATH_LABEL[path]}: checking the route…`);
        const r = await traceRoute(world, path);
        routes[path] = r.hop;
        if (r.hop !== expectedHop(path))
          throw new Error(
            `${path} went through ${r.hop}, not ${expectedHop(path)}: the bench would measure the wrong path`,
          );
        ciphers[path] = await clientCiphers(world, path);
      }

    if (on('setup')) {
      const row = await perPath(
        { measure: `session setup, connect → first prompt (median of ${sizes.setupSamples})`, unit: 'ms' },
        PATHS,
        async (p) => (await setupTime(world, p, sizes.setupSamples)).medianMs,
      );
      judge(row, (g, pj) => g <= 1.5 * pj, '<= 1.5 × ProxyJump');
      row.note = [row.note, 'Gatehouse: TOTP answered by SSH_ASKPASS (no human wait)'].filter(Boolean).join('; ');
    }

    if (on('keys')) {
      const res: Partial<Record<PathName, Awaited<ReturnType<typeof keystrokes>>>> = {};
      let inside: KeysProbeResult | undefined;
      const warmup = sizes.keystrokeWarmup;
      const p50 = await perPath(
        {
          measure: `keystroke round trip p50 (${sizes.keystrokes} bytes through a pty)`,
          unit: 'ms',
          note: `after ${warmup} uncounted round trips on each path`,
        },
        PATHS,
        async (p) => {
          // Gatehouse: the same keystrokes are also timed inside the gateway, at its sockets.
          const probe = p === 'gatehouse' ? await gh.keysProbe() : undefined;
          res[p as PathName] = await keystrokes(world, p, sizes.keystrokes, {
            warmup,
            typing: { started: async () => probe?.start(), ended: async () => void (inside = await probe?.stop()) },
          });
          return res[p as PathName]!.p50;
        },
        'keystroke round trips',
      );
      judge(p50, (g, pj) => g <= pj + 1, '<= ProxyJump + 1 ms');
      const p99: PathRow = { measure: 'keystroke round trip p99', unit: 'ms' };
      const cold: PathRow = {
        measure: `keystroke round trip p99 of the ${warmup} warm-up round trips`,
        unit: 'ms',
        note: 'Gatehouse: its first keystrokes since the gateway started (the JIT compiles the relay path meanwhile)',
      };
      for (const p of PATHS) {
        if (res[p]) p99[p] = res[p].p99;
        if (res[p]?.warmupP99 !== undefined) cold[p] = res[p].warmupP99;
      }
      rows.push(p99, cold);
      judge(p99, (g) => g <= 1, '<= 1 ms (on a quiet machine)');
      if (inside) rows.push(...insideRows(inside, warmup, sizes.keystrokes));

      // A typist's pace: each key after a pause, the path's code and caches gone cold in between (the gateway's
      // JIT is warm by now). Gatehouse: the recorder and capture ran before each echo here until they were moved.
      const typist: PathRow = {
        measure: `keystroke round trip p50 at a typist's pace (${sizes.typistKeys} keys, ${TYPIST_MS} ms apart)`,
        unit: 'ms',
      };
      let paced: KeysProbeResult | undefined;
      await perPath(
        // pushes the row; the Gatehouse-only row follows it
        typist,
        PATHS,
        async (p) => {
          const probe = p === 'gatehouse' ? await gh.keysProbe() : undefined;
          const r = await keystrokes(world, p, sizes.typistKeys, {
            paceMs: TYPIST_MS,
            typing: { started: async () => probe?.start(), ended: async () => void (paced = await probe?.stop()) },
          });
          typist.note = [typist.note, `${PATH_LABEL[p as PathName]} p90 ${r.p90.toFixed(2)}`]
            .filter(Boolean)
            .join('; ');
          return r.p50;
        },
        "keystrokes at a typist's pace",
      );
      const own = paced?.gatewayMs.slice(-sizes.typistKeys) ?? [];
      if (own.length > 0)
        rows.push({
          measure: "Gatehouse's own time per key at a typist's pace, p50 (inside the gateway)",
          unit: 'µs',
          gatehouse: percentile(own, 50) * 1000,
          note: `p90 ${(percentile(own, 90) * 1000).toFixed(0)} µs`,
        });
    }

    if (on('idle')) {
      const rounds = sizes.idleRounds;
      const held: PathRow = { measure: `idle interactive sessions held at once (of ${sizes.idle})`, unit: 'sessions' };
      const mem: PathRow = {
        measure: 'relay memory per idle session',
        unit: 'KiB',
        note:
          `ProxyJump: jump sshd PSS growth; Gatehouse: what a session holds after two full GCs, V8 heap used + native ` +
          `(growth of malloc's main arena: OpenSSL contexts, socket wrappers, Buffer stores; V8 external if larger), ` +
          `over ${rounds} round(s) of ${sizes.idle} sessions all held at once; command capture included; each ` +
          `session ran one command, then idled ${IDLE_WAIT_MS / 1000} s`,
      };
      const rss: PathRow = {
        measure: 'gateway RSS growth per idle session (after GC)',
        unit: 'KiB',
        note: '',
      };
      const parts: PathRow = { measure: 'of which V8 heap used (live JS objects)', unit: 'KiB', note: '' };

      say(`ProxyJump: opening ${sizes.idle} idle sessions…`);
      const pss = async () => pssKiB(await descendants(world.jump.pid));
      const pjBefore = await pss();
      const pj = await idleSessions(world, 'proxyjump', sizes.idle, 10, 'true');
      await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
      if (pj.open.length > 0) mem.proxyjump = ((await pss()) - pjBefore) / pj.open.length;
      held.proxyjump = pj.open.length;
      for (const f of pj.failures.slice(0, 3)) failures.push(`idle (proxyjump): ${f}`);
      await pj.closeAll();
      await settled(world.jump.pid);

      // Gatehouse: rounds that add sessions to those still open, each measured against the round before. Why not
      // rounds that close theirs: sessions opened after others closed reuse the memory those freed (malloc's free
      // chunks, V8's grown young generation), and their native memory would not show at all.
      // GH_BENCH_HEAP_SNAPSHOTS=<dir>: heap snapshots before and after the first round (investigation; writing
      // them grows the gateway's memory, so the figures of that run are not comparable).
      const snapDir = process.env.GH_BENCH_HEAP_SNAPSHOTS;
      const got: IdleRound[] = [];
      const open: Array<Awaited<ReturnType<typeof idleSessions>>> = [];
      const start = await gh.memoryAfterGc();
      let before = start;
      if (snapDir) await gh.heapSnapshot(join(snapDir, 'idle-0.heapsnapshot'));
      for (let round = 1; round <= rounds; round++) {
        say(`Gatehouse: opening ${sizes.idle} idle sessions${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}…`);
        const idle = await idleSessions(world, 'gatehouse', sizes.idle, 10, 'true');
        open.push(idle);
        await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
        const after = await gh.memoryAfterGc();
        if (snapDir && round === 1) await gh.heapSnapshot(join(snapDir, `idle-${idle.open.length}.heapsnapshot`));
        if (idle.open.length > 0) got.push(idleRound(before, after, idle.open.length));
        held.gatehouse = Math.min(held.gatehouse ?? Infinity, idle.open.length);
        for (const f of idle.failures.slice(0, 3)) failures.push(`idle (gatehouse, round ${round}): ${f}`);
        before = after;
      }
      await Promise.all(open.map((idle) => idle.closeAll()));
      // The next phase starts on a quiet relay: every session ended and recorded.
      await waitSessionsEnded(gh.storageDir);
      if (got.length > 0) {
        // Over all the sessions, not a median of rounds: a round's arena growth alone moves with the free chunks
        // the round before left (6–31 KiB a session in rounds 2 and 3 of the same run); the sum over the rounds
        // moved by 1 KiB between runs.
        const all = idleRound(start, before, sum(got.map((r) => r.sessions)));
        mem.gatehouse = all.held;
        rss.gatehouse = all.rss;
        parts.gatehouse = all.heapUsed;
        rss.note =
          `over the same ${all.sessions} sessions; the first round alone is what this row measured before (it also ` +
          `holds V8's young generation growing to its full size, once). Per session, KiB: ` +
          got.map((r, i) => `round ${i + 1}: ${describeRound(r)}`).join('; ');
      }
      rows.push(held, mem, rss, parts);
      held.target = 'all held';
      held.met = held.gatehouse === sizes.idle;
      mem.target = '<= 128 KiB (Gatehouse)';
      if (mem.gatehouse !== undefined) mem.met = mem.gatehouse <= 128;
    }

    if (on('hold')) {
      say(`Gatehouse: opening ${sizes.hold} interactive sessions at once…`);
      const rssBefore = await gh.rssAfterGc();
      const held = await idleSessions(world, 'gatehouse', sizes.hold, 16);
      const rssAfter = await gh.rssAfterGc();
      const row: PathRow = {
        measure: `interactive sessions held at once through Gatehouse (of ${sizes.hold})`,
        unit: 'sessions',
        gatehouse: held.open.length,
        target: `${sizes.hold} held without error`,
        met: held.open.length === sizes.hold && held.failures.length === 0,
      };
      const mem: PathRow = {
        measure: `gateway RSS per session with ${sizes.hold} held`,
        unit: 'KiB',
        ...(held.open.length > 0 ? { gatehouse: (rssAfter - rssBefore) / held.open.length } : {}),
      };
      for (const f of held.failures.slice(0, 3)) failures.push(`hold: ${f}`);
      rows.push(row, mem);
      await held.closeAll();
      await waitSessionsEnded(gh.storageDir);
    }

    const before = await castFiles(gh.storageDir);
    /**
     * Runs a bulk transfer and puts the relay's CPU per MB in `into`: the jump sshd (its reaped per-connection
     * children) or the gateway process; for the gateway, the note says how much of it was the event-loop thread.
     */
    const relayCpu = async (
      into: PathRow,
      path: string,
      bytes: number,
      run: () => Promise<number>,
    ): Promise<number> => {
      const g = world.gateways.get(path);
      const snap = async () =>
        path === 'proxyjump'
          ? { all: (await cpuMs(world.jump.pid)).children, main: 0 }
          : g
            ? await cpuMs(g.pid).then((c) => ({ all: c.self, main: c.main }))
            : { all: 0, main: 0 };
      const a = await snap();
      const rate = await run();
      if (path === 'proxyjump') await settled(world.jump.pid);
      else await new Promise((r) => setTimeout(r, 300)); // the session's end (seal, audit) is part of its cost
      if (path !== 'direct') {
        const b = await snap();
        const mb = bytes / 1e6;
        into[g ? 'gatehouse' : 'proxyjump'] = (b.all - a.all) / mb;
        if (g)
          into.note = `${into.note}; Gatehouse: event-loop thread ${((b.main - a.main) / mb).toFixed(2)}, other threads (file writes, GC helpers) ${((b.all - b.main - (a.all - a.main)) / mb).toFixed(2)}`;
      }
      return rate;
    };
    const cpuRow = (label: string): PathRow => ({
      measure: `relay CPU per MB, bulk ${label}`,
      unit: 'ms/MB',
      note: 'jump sshd vs gateway process, user + system: on a busy box throughput follows it',
    });
    const cpuDown = cpuRow('target → client');
    const cpuUp = cpuRow('client → target');
    if (on('down')) {
      const row = await perPath(
        { measure: `bulk target → client, ${mib(sizes.downBytes)}`, unit: 'MB/s' },
        PATHS,
        (p) => relayCpu(cpuDown, p, sizes.downBytes, async () => (await bulkDown(world, p, sizes.downBytes)).mbPerSec),
      );
      judge(row, (g, pj) => g >= 0.8 * pj, '>= 0.8 × ProxyJump');
      rows.push(cpuDown);
    }
    const upFile = on('up') || (on('norec') && !on('down')) ? await world.uploadFile(sizes.upBytes) : '';
    if (on('up')) {
      const row = await perPath({ measure: `bulk client → target, ${mib(sizes.upBytes)}`, unit: 'MB/s' }, PATHS, (p) =>
        relayCpu(cpuUp, p, sizes.upBytes, async () => (await bulkUp(world, p, upFile, sizes.upBytes)).mbPerSec),
      );
      judge(row, (g, pj) => g >= 0.8 * pj, '>= 0.8 × ProxyJump');
      rows.push(cpuUp);
    }
    await dropCasts(await newCasts(gh.storageDir, before));

    if (on('stream')) {
      const exact: PathRow = {
        measure: `recordings byte-exact vs what each client received (of ${sizes.streams})`,
        unit: 'sessions',
        target: 'all',
      };
      const row: PathRow = {
        measure: `${sizes.streams} sessions streaming ${mib(sizes.streamBytes)} each, aggregate`,
        unit: 'MB/s',
      };
      for (const path of PATHS) {
        say(`${PATH_LABEL[path]}: ${sizes.streams} concurrent streams…`);
        const castsBefore = await castFiles(gh.storageDir);
        try {
          const tag = `bench-stream-${path}-${Date.now()}`;
          const r = await streaming(world, path, sizes.streams, sizes.streamBytes, tag);
          row[path] = r.mbPerSec;
          if (path === 'gatehouse') {
            say('Gatehouse: checking every recording against what its client received…');
            const casts = await newCasts(gh.storageDir, castsBefore);
            let ok = 0;
            for (const cast of casts) {
              const s = await summarizeCast(cast);
              const mine = r.sessions.find((x) => s.markers.some((m) => m.startsWith(`: ${x.tag};`)));
              if (mine && mine.sha256 === s.outputSha256 && mine.bytes === s.outputBytes) ok++;
            }
            exact.gatehouse = ok;
            exact.met = ok === sizes.streams;
            await dropCasts(casts);
          }
        } catch (e) {
          failures.push(`streaming (${path}): ${(e as Error).message}`);
        }
      }
      rows.push(row, exact);
    }

    if (on('browser')) {
      const row: PathRow = {
        measure: `browser terminal output over /ws/ssh/:grantId (${mib(sizes.browserBytes)} through a pty shell)`,
        unit: 'MB/s',
        target: '>= 60',
        note: 'direct: `ssh -tt` through the same target pty (what the pty itself gives)',
      };
      say('direct: the same output through the target pty (ssh -tt)…');
      try {
        row.direct = (await ptyDown(world, 'direct', sizes.browserBytes)).mbPerSec;
      } catch (e) {
        failures.push(`pty reference (direct): ${(e as Error).message}`);
      }
      say('Gatehouse: browser terminal over /ws/ssh…');
      try {
        const b = await benchBrowserTerminal(gh, world.gen, sizes.browserBytes);
        if (b.measured) Object.assign(row, { gatehouse: b.mbPerSec, met: b.mbPerSec >= 60 });
        else row.note = `${row.note}; Gatehouse not measured: ${b.reason}`;
      } catch (e) {
        failures.push(`browser terminal: ${(e as Error).message}`);
      }
      rows.push(row);
    }
    await gh.stop();

    if (on('norec')) {
      say('starting a second Gatehouse with recording off (overhead comparison only)…');
      // As many vendors (users, keys, grants) as the recording gateway: the same store, so the same heap for the
      // garbage collector to mark (the store's size changes how often it runs a major collection: docs/performance.md).
      const off = await world.startGatehouse('gatehouse-norec', {
        vendors: vendorsNeeded,
        recording: false,
        ...(o.cpuProfileDir ? { cpuProfileDir: o.cpuProfileDir } : {}),
      });
      if (on('idle')) {
        // The same history as the recording gateway before its bulk runs: it held the idle sessions (and two forced
        // collections) first. Why: V8 sizes the old generation from the full collections a process has had, and a
        // gateway that has had none relays with fewer of them (docs/performance.md): on ÷ off must compare like with like.
        say(
          `gatehouse-norec: holding ${sizes.idle * sizes.idleRounds} idle sessions first, as the recording gateway did…`,
        );
        await off.memoryAfterGc();
        const open: Array<Awaited<ReturnType<typeof idleSessions>>> = [];
        for (let round = 1; round <= sizes.idleRounds; round++) {
          const idle = await idleSessions(world, 'gatehouse-norec', sizes.idle, 10, 'true');
          open.push(idle);
          await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
          await off.memoryAfterGc();
          for (const f of idle.failures.slice(0, 3)) failures.push(`idle (gatehouse-norec, round ${round}): ${f}`);
        }
        await Promise.all(open.map((idle) => idle.closeAll()));
        await waitSessionsEnded(off.storageDir);
      }
      const onDown = rows.find((r) => r.measure.startsWith('bulk target → client'))?.gatehouse;
      const onUp = rows.find((r) => r.measure.startsWith('bulk client → target'))?.gatehouse;
      const offCpuDown = cpuRow('target → client, recording OFF');
      const offCpuUp = cpuRow('client → target, recording OFF');
      // The directions measured with recording on (both when neither was asked for): a profile of each gateway
      // then covers the same bytes.
      const both = on('down') === on('up');
      const down: PathRow =
        both || on('down')
          ? await perPath(
              { measure: `bulk target → client, ${mib(sizes.downBytes)}, Gatehouse recording OFF`, unit: 'MB/s' },
              ['gatehouse-norec'],
              (p) =>
                relayCpu(
                  offCpuDown,
                  p,
                  sizes.downBytes,
                  async () => (await bulkDown(world, p, sizes.downBytes)).mbPerSec,
                ),
            )
          : { measure: '', unit: '' };
      const up: PathRow =
        both || on('up')
          ? await perPath(
              { measure: `bulk client → target, ${mib(sizes.upBytes)}, Gatehouse recording OFF`, unit: 'MB/s' },
              ['gatehouse-norec'],
              (p) =>
                relayCpu(
                  offCpuUp,
                  p,
                  sizes.upBytes,
                  async () => (await bulkUp(world, p, upFile, sizes.upBytes)).mbPerSec,
                ),
            )
          : { measure: '', unit: '' };
      rows.push(...[offCpuDown, offCpuUp].filter((r) => r.gatehouse !== undefined));
      await off.stop();
      const pairs = [
        ['target → client', onDown, down.gatehouse, cpuDown.gatehouse, offCpuDown.gatehouse],
        ['client → target', onUp, up.gatehouse, cpuUp.gatehouse, offCpuUp.gatehouse],
      ] as const;
      for (const [label, onRate, offRate, onCpu, offCpu] of pairs) {
        if (onRate !== undefined && offRate !== undefined) {
          const loss = (1 - onRate / offRate) * 100;
          rows.push({
            measure: `recording overhead, bulk ${label}: throughput lost`,
            unit: '%',
            gatehouse: loss,
            target: '<= 25 % (on this box)',
            met: loss <= 25,
          });
        }
        if (onCpu !== undefined && offCpu !== undefined) {
          const times = onCpu / offCpu;
          rows.push({
            measure: `gateway CPU per MB, bulk ${label}: recording on ÷ off`,
            unit: '×',
            gatehouse: times,
            target: '<= 2.0',
            met: times <= 2,
          });
        }
      }
    }
    return { rows, routes, ciphers, failures };
  } finally {
    say('stopping…');
    await world.stop();
  }
}

/** Waits (bounded) until sshd `pid` has reaped every per-connection child: their CPU then shows in its cutime. */
async function settled(pid: number): Promise<void> {
  for (let i = 0; i < 100 && (await descendants(pid)).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
}

/** Fills target/met for a row from the Gatehouse and ProxyJump values. */
function judge(row: PathRow, ok: (gatehouse: number, proxyjump: number) => boolean, target: string): void {
  row.target = target;
  if (row.gatehouse !== undefined && row.proxyjump !== undefined) row.met = ok(row.gatehouse, row.proxyjump);
}

/** The cipher and key exchange of each hop the OpenSSH client negotiated (`ssh -v`; with ProxyJump, both hops). */
async function clientCiphers(world: World, path: string): Promise<string[]> {
  const child = world.ssh(path, { command: 'true', stdin: 'ignore', options: ['-v'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await once(child, 'close');
  clearTimeout(timer);
  const kex = [...err.matchAll(/kex: algorithm: (\S+)/g)].map((m) => m[1]!);
  return [...err.matchAll(/kex: server->client cipher: (\S+)/g)].map((m, i) => `${m[1]} (kex ${kex[i] ?? '?'})`);
}

/**
 * The Gatehouse column of the keystroke rows measured inside the gateway (keys-probe.ts): its own time per
 * keystroke, and its CPU while the counted keystrokes and their warm-up were typed. Why rows of their own: on a
 * shared box the wall-clock p99 mostly measures who else had the cores; the gateway's own time does not.
 */
function insideRows(k: KeysProbeResult, warmup: number, counted: number): PathRow[] {
  const own = k.gatewayMs.slice(warmup);
  if (own.length === 0) return [];
  const typed = warmup + counted;
  const note =
    own.length === counted ? undefined : `${own.length} of ${counted} keystrokes matched at the gateway's sockets`;
  const row = (measure: string, gatehouse: number, unit: string, extra?: string): PathRow => ({
    measure,
    unit,
    gatehouse,
    ...(note || extra ? { note: [extra, note].filter(Boolean).join('; ') } : {}),
  });
  return [
    row(
      "Gatehouse's own time per keystroke, p50 (inside the gateway)",
      percentile(own, 50) * 1000,
      'µs',
      'vendor byte read → written to the target, plus its echo read → written to the vendor',
    ),
    row("Gatehouse's own time per keystroke, p99", percentile(own, 99) * 1000, 'µs'),
    row("Gatehouse's own time per keystroke, max", Math.max(...own) * 1000, 'µs'),
    row(
      'gateway CPU per keystroke (warm-up included)',
      ((k.mainCpuMs + k.otherCpuMs) / typed) * 1000,
      'µs',
      `event-loop thread ${((k.mainCpuMs / typed) * 1000).toFixed(0)}, other threads (JIT compiler, GC helpers) ${((k.otherCpuMs / typed) * 1000).toFixed(0)}; the event-loop thread waited ${k.mainWaitMs.toFixed(1)} ms in all for a core; ${k.gc.count} GC pauses, longest ${k.gc.maxMs.toFixed(2)} ms`,
    ),
  ];
}
