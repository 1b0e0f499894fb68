// Unauthenticated SSH connections, from TCP accept to login: the grace time, the per-source cap, and which
// connection makes room when the total cap is reached.
import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';
import { disconnectSaying } from './wire.js';

export interface StartupLimits {
  /** From TCP accept to authenticated: identification, key exchange and login must all fit in it. */
  graceMs: number;
  perIp: number;
  total: number;
  /** A connection refused or cut before login, with why (audited per burst by the caller). */
  refused(ip: string, why: 'too_many_connections_from_ip' | 'too_many_connections' | 'login_grace_expired'): void;
}

/** One connection that has not logged in yet. */
export class Startup {
  private client: Connection | undefined;
  private readonly timer: NodeJS.Timeout;
  private done = false;

  constructor(
    readonly sock: Socket,
    readonly ip: string,
    graceMs: number,
    private readonly onExpired: (s: Startup) => void,
    private readonly release: (s: Startup) => void,
  ) {
    this.timer = setTimeout(() => this.onExpired(this), graceMs);
    this.timer.unref();
  }

  /** Its identification line arrived (ssh2's `connection`): it is a talking SSH client, no longer silent. */
  identified(client: Connection): void {
    this.client = client;
  }

  get talking(): boolean {
    return this.client !== undefined;
  }

  /** Logged in: the slot is free and the grace time stops. */
  admitted(): void {
    this.finish();
  }

  /** Cuts the connection; a client that got as far as SSH is told why in the disconnect. */
  cut(line: string): void {
    this.finish();
    if (!this.client) return void this.sock.destroy();
    disconnectSaying(this.client, `Gatehouse: ${line}`);
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.release(this);
  }
}

/**
 * Why drop the oldest rather than refuse the newest (as OpenSSH's MaxStartups does, by chance): a flood of
 * sockets that never finish would otherwise lock every real user out until the grace time cuts them. Silent
 * connections (no identification line yet) go first, so a client busy logging in outlives a flood of them.
 */
export class Startups {
  private readonly open = new Set<Startup>();
  private readonly perIp = new Map<string, number>();
  private readonly bySock = new WeakMap<Socket, Startup>();

  constructor(private readonly limits: StartupLimits) {}

  /** Takes a new TCP connection, or refuses it (destroyed here, false). */
  accept(sock: Socket): boolean {
    const ip = sock.remoteAddress ?? 'unknown';
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.limits.perIp) {
      this.limits.refused(ip, 'too_many_connections_from_ip');
      sock.destroy();
      return false;
    }
    if (this.open.size >= this.limits.total) {
      const victim = this.oldest();
      if (victim) {
        this.limits.refused(victim.ip, 'too_many_connections');
        victim.cut('too many connections are logging in; try again');
      }
    }
    this.perIp.set(ip, n + 1);
    const s = new Startup(
      sock,
      ip,
      this.limits.graceMs,
      (x) => this.expired(x),
      (x) => this.release(x),
    );
    this.open.add(s);
    this.bySock.set(sock, s);
    sock.once('close', () => s.finish());
    return true;
  }

  of(sock: Socket): Startup | undefined {
    return this.bySock.get(sock);
  }

  /** Unauthenticated connections now. */
  get size(): number {
    return this.open.size;
  }

  /** Shutdown: stops every grace timer and drops silent sockets (the server ends the talking ones). */
  stop(): void {
    for (const s of [...this.open]) {
      s.finish();
      if (!s.talking) s.sock.destroy();
    }
  }

  private oldest(): Startup | undefined {
    let first: Startup | undefined;
    for (const s of this.open) {
      if (!s.talking) return s;
      first ??= s;
    }
    return first;
  }

  private expired(s: Startup): void {
    this.limits.refused(s.ip, 'login_grace_expired');
    s.cut('login grace time expired');
  }

  private release(s: Startup): void {
    if (!this.open.delete(s)) return;
    const left = (this.perIp.get(s.ip) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(s.ip);
    else this.perIp.set(s.ip, left);
  }
}
