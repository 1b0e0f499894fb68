// What the kernel says about the bench's processes (Linux /proc): parentage, memory, and who owns a TCP socket.
import { readdir, readFile, readlink } from 'node:fs/promises';

async function pids(): Promise<number[]> {
  return (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e)).map(Number);
}

async function parentOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^PPid:\s+(\d+)$/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** Every process below `root` (children, grandchildren…), found by PPid. */
export async function descendants(root: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const pid of await pids()) {
    const pp = await parentOf(pid);
    if (pp !== undefined) parent.set(pid, pp);
  }
  const out: number[] = [];
  const below = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, pp] of parent)
      if (below.has(pp) && !below.has(pid)) {
        below.add(pid);
        out.push(pid);
        grew = true;
      }
  }
  return out;
}

/** Whether `ancestor` is `pid` or one of its ancestors. */
export async function isBelow(pid: number, ancestor: number): Promise<boolean> {
  for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 0 && hops < 64; hops++) {
    if (p === ancestor) return true;
    p = await parentOf(p);
  }
  return false;
}

/** Resident set size of one process, in KiB (VmRSS). */
export async function rssKiB(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/**
 * Proportional set size summed over processes, in KiB: shared pages (sshd's code, libraries) count
 * once across the forks that share them, so a forked server's per-connection cost is not overstated.
 */
export async function pssKiB(list: number[]): Promise<number> {
  let sum = 0;
  for (const pid of list) {
    const m = /^Pss:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => ''));
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** The pid holding the established loopback TCP socket whose local port is `port` (IPv4). */
export async function socketOwner(port: number): Promise<number | undefined> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const line of (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address rem_address st … inode (field 9); 01 = ESTABLISHED
    if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '01' && f[9]) inodes.add(`socket:[${f[9]}]`);
  }
  if (inodes.size === 0) return undefined;
  for (const pid of await pids()) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (inodes.has(link)) return pid;
    }
  }
  return undefined;
}

/**
 * CPU time (user + system) of a process and of its reaped children, in ms (/proc/<pid>/stat; clock ticks of 10 ms);
 * `main`: its main thread alone (for Node, the event loop: what the relay's own thread spends).
 */
export async function cpuMs(pid: number): Promise<{ self: number; children: number; main: number }> {
  const [all, main] = await Promise.all([statCpu(`/proc/${pid}/stat`), statCpu(`/proc/${pid}/task/${pid}/stat`)]);
  return { ...all, main: main.self };
}

async function statCpu(path: string): Promise<{ self: number; children: number }> {
  const stat = await readFile(path, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15, cutime 16, cstime 17.
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const tick = 10;
  return { self: (f[11]! + f[12]!) * tick, children: (f[13]! + f[14]!) * tick };
}
