// Inside the bench's gateway child: the gateway's own share of each keystroke round trip, timed at its two sockets
// (vendor byte read → written to the target; echo read → written to the vendor), and what else ran meanwhile.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readdirSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';

/** What the probe saw between start and stop. */
export interface KeysProbeResult {
  /** Per keystroke, in order: ms the gateway held the byte on its way in plus the echo on its way out. */
  gatewayMs: number[];
  /** CPU of the gateway's event-loop thread and of all its other threads (V8's compiler and GC helpers, libuv's pool). */
  mainCpuMs: number;
  otherCpuMs: number;
  /** Time the event-loop thread was runnable but waited for a core (the kernel's run-queue wait). */
  mainWaitMs: number;
  gc: { count: number; totalMs: number; maxMs: number };
}

type Side = 'vendor' | 'target';

/** ns on a core and ns waiting for one, per thread of this process (Linux schedstat). */
function threadTimes(): Map<number, { run: number; wait: number }> {
  const out = new Map<number, { run: number; wait: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      out.set(Number(tid), { run: run ?? 0, wait: wait ?? 0 });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * Arm before the measured session connects: the next socket accepted on `sshPort` is the vendor's and the next
 * one the gateway opens to `targetPort` is the target's. Why patch Socket.prototype.connect (bench child only, and
 * only until that socket is seen): ssh2 makes its socket with `new Socket()`, which no diagnostics channel reports.
 */
export function armKeysProbe(sshPort: number, targetPort: number) {
  const taps: Array<() => void> = [];
  const stamps: Array<[Side, 'r' | 'w', number]> = [];
  let recording = false;
  const tap = (s: Socket, side: Side) => {
    const onData = () => recording && stamps.push([side, 'r', performance.now()]);
    s.prependListener('data', onData);
    const write = s.write;
    s.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      if (recording) stamps.push([side, 'w', performance.now()]);
      return write.apply(this, args);
    } as Socket['write'];
    taps.push(() => {
      s.off('data', onData);
      delete (s as Partial<Socket>).write; // back to the prototype's
    });
  };
  const onServerSocket = (m: unknown) => {
    const s = (m as { socket: Socket }).socket;
    if (s.localPort !== sshPort) return;
    unsubscribe('net.server.socket', onServerSocket);
    tap(s, 'vendor');
  };
  subscribe('net.server.socket', onServerSocket);
  const connect = Socket.prototype.connect;
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    const o = args[0] as { port?: number } | undefined;
    const mine = typeof o === 'object' && o !== null && Number(o.port) === targetPort;
    if (mine) Socket.prototype.connect = connect;
    const out = (connect as (...a: unknown[]) => Socket).apply(this, args);
    if (mine) tap(this, 'target'); // after: connect() puts the prototype's write back on the socket
    return out;
  } as Socket['connect'];
  const disarm = () => {
    unsubscribe('net.server.socket', onServerSocket);
    Socket.prototype.connect = connect;
    for (const untap of taps.splice(0)) untap();
  };

  let before = new Map<number, { run: number; wait: number }>();
  const gc = { count: 0, totalMs: 0, maxMs: 0 };
  const gcWatch = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.totalMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
    }
  });
  return {
    /** Typing starts: from here every read and write on the two sockets is stamped. */
    start(): void {
      if (taps.length < 2) {
        disarm();
        throw new Error(`the keystroke session's sockets were not found (${taps.length} of 2 tapped)`);
      }
      stamps.length = 0;
      before = threadTimes();
      gcWatch.observe({ entryTypes: ['gc'] });
      recording = true;
    },
    /** Typing ended: the per-keystroke figures; the taps come off. */
    stop(): KeysProbeResult {
      recording = false;
      gcWatch.disconnect();
      const after = threadTimes();
      disarm();
      let mainCpu = 0;
      let otherCpu = 0;
      let mainWait = 0;
      for (const [tid, t] of after) {
        const b = before.get(tid) ?? { run: 0, wait: 0 };
        if (tid === process.pid) {
          mainCpu += t.run - b.run;
          mainWait += t.wait - b.wait;
        } else otherCpu += t.run - b.run;
      }
      return {
        gatewayMs: keystrokeTimes(stamps),
        mainCpuMs: mainCpu / 1e6,
        otherCpuMs: otherCpu / 1e6,
        mainWaitMs: mainWait / 1e6,
        gc,
      };
    },
  };
}

/**
 * One keystroke is four stamps in order: vendor read, target write, target read, vendor write. Anything out of
 * that order (a window adjustment, a keepalive) restarts the match at the next vendor read.
 */
export function keystrokeTimes(stamps: ReadonlyArray<readonly [Side, 'r' | 'w', number]>): number[] {
  const want: Array<[Side, 'r' | 'w']> = [
    ['vendor', 'r'],
    ['target', 'w'],
    ['target', 'r'],
    ['vendor', 'w'],
  ];
  const out: number[] = [];
  let at: number[] = [];
  for (const [side, op, t] of stamps) {
    const next = want[at.length]!;
    if (side === next[0] && op === next[1]) at.push(t);
    else if (side === 'vendor' && op === 'r') at = [t];
    if (at.length === 4) {
      out.push(at[1]! - at[0]! + (at[3]! - at[2]!));
      at = [];
    }
  }
  return out;
}
