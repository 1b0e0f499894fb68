// The SSH front door (ssh2 Server): connection caps and login grace time, authentication, then one VendorSession per connection.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Client, Connection } from 'ssh2';
import { Server } from './ssh2.js';
import { type Config, parseHostPort, resolveConfigPath } from '../config.js';
import type { SessionRegistry } from '../sessions.js';
import { auditRefused } from '../admission/admission.js';
import { type Authenticated, type Refusal, SshAuth } from './auth.js';
import { type HostKey, loadHostKeys } from './host-keys.js';
import { connectTarget, RelayError } from './relay.js';
import { VendorSession, type VendorSessionPorts } from './session.js';
import { abandoned, BurstAudit, refusalFor, showRefusal } from './refusals.js';
import { type Startup, Startups } from './startups.js';
import { detach } from '../background.js';

/** What the SSH front uses: an SSH session's ports, and the whole config (listener, admission, TOTP). */
export interface SshServerPorts extends VendorSessionPorts {
  config: Config;
}

export interface SshServerOptions {
  deps: SshServerPorts;
  registry?: SessionRegistry;
  /** Overrides ssh.listen (tests bind port 0). */
  listen?: string;
  /** Relative target credential files resolve against this folder. */
  cwd?: string;
  /** From TCP accept to authenticated, or the connection is cut (default ssh.loginGraceSeconds). */
  loginGraceMs?: number;
  /**
   * Unauthenticated connections at once from one source IP (default 10; more are refused) and in all (default
   * 200; past it the oldest unauthenticated connection is dropped for the new one, see startups.ts).
   */
  maxUnauthPerIp?: number;
  maxUnauth?: number;
}

export interface RunningSsh {
  host: string;
  port: number;
  hostKeys: HostKey[];
  sessions(): VendorSession[];
  /** Connections accepted and not logged in yet. */
  unauthenticated(): number;
  close(): Promise<void>;
}

export async function startSshServer(o: SshServerOptions): Promise<RunningSsh> {
  const { deps } = o;
  const hostKeys = await loadHostKeys(
    deps.config.ssh.hostKeys.map((p) => resolveConfigPath(p, o.cwd)),
    deps.logger,
  );
  const grace = o.loginGraceMs ?? deps.config.ssh.loginGraceSeconds * 1000;
  const bursts = new BurstAudit(deps);
  const startups = new Startups({
    graceMs: grace,
    perIp: o.maxUnauthPerIp ?? 10,
    total: o.maxUnauth ?? 200,
    refused: (ip, why) => detach(bursts.refused(ip, why), deps.logger, 'could not audit an SSH refusal'),
  });
  const live = new Set<VendorSession>();
  const pending = new Set<Connection>();
  const ssh = new Server({ hostKeys: hostKeys.map((k) => k.privateKey), ident: 'Gatehouse' });

  ssh.on('connection', (client: Connection, info: { ip: string }) => {
    const ip = info.ip;
    // The identification line has arrived: from now the grace cut says why (startups.ts started it at accept).
    const startup: Startup | undefined = startups.of((client as unknown as { _sock: Socket })._sock);
    startup?.identified(client);
    let target: Client | undefined;
    let handedOver = false;
    let gone = false;
    pending.add(client);
    const auth = new SshAuth(deps, ip, {
      admit: async (a: Authenticated, proof): Promise<Refusal | undefined> => {
        try {
          target = await connectTarget(proof, o.cwd ? { cwd: o.cwd } : {});
        } catch (err) {
          return refusalFor(
            deps,
            a,
            err instanceof RelayError ? err : new RelayError({ code: 'target_unreachable', detail: String(err) }),
          );
        }
        // The vendor left while the target was dialled: an abandoned attempt, audited as such, never a session.
        if (!gone) return undefined;
        target.end();
        target = undefined;
        return abandoned(a);
      },
      refusing: () => o.registry?.refusing?.(),
      refuse: (r, ctx) => {
        // Not awaited (the vendor hears the refusal now), but caught: a full disk must not become an unhandled rejection.
        auditRefused(deps.audit, {
          actor: r.actor,
          subject: r.subject,
          code: r.code,
          reason: r.line,
          via: 'ssh',
          ip,
          ...(r.data ? { data: r.data } : {}),
        }).catch((err: unknown) => deps.logger.error({ err, ip, code: r.code }, 'could not audit an SSH refusal'));
        showRefusal(client, r.line, ctx);
      },
    });
    client.on('authentication', (ctx) => auth.handle(ctx));
    client.on('ready', () => {
      startup?.admitted();
      pending.delete(client);
      if (!auth.done || !target) return client.end();
      handedOver = true;
      const s = new VendorSession({
        deps,
        ...(o.registry ? { registry: o.registry } : {}),
        front: client,
        ssh: client,
        via: 'ssh',
        target,
        auth: auth.done,
        ip,
      });
      live.add(s);
      detach(
        s.ended.then(() => live.delete(s)),
        deps.logger,
        'an SSH session failed',
      );
      s.start().catch((err: unknown) => {
        deps.logger.error({ err }, 'could not start an SSH session');
        detach(
          s.close('error', 'the gateway could not start the session'),
          deps.logger,
          'could not close an SSH session',
        );
      });
    });
    client.on('close', () => {
      gone = true;
      pending.delete(client);
      if (!handedOver) target?.end();
    });
    client.on('error', (err) => deps.logger.debug({ err, ip }, 'ssh client connection error'));
  });

  const net: NetServer = createServer((sock) => {
    // Nagle off: every keystroke echo would otherwise wait up to 40 ms (ARCHITECTURE.md, measured).
    sock.setNoDelay(true);
    // Why before the handshake: a flood must not cost key exchanges or audit records per connection.
    if (!startups.accept(sock)) return;
    sock.on('error', () => undefined);
    ssh.injectSocket(sock);
  });

  const listen = parseHostPort(o.listen ?? deps.config.ssh.listen, { allowPortZero: true });
  if ('error' in listen) throw new Error(`ssh.listen: ${listen.error}`);
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(listen.port, listen.host, () => {
      net.off('error', reject);
      resolve();
    });
  });
  const addr = net.address() as { address: string; port: number };

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((r) => net.close(() => r()));
      startups.stop();
      for (const c of pending) c.end();
      await Promise.all([...live].map((s) => s.close('gateway_stopped', 'the gateway is stopping')));
      bursts.flush();
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000).unref())]);
    })();
    return closing;
  };
  return {
    host: addr.address,
    port: addr.port,
    hostKeys,
    sessions: () => [...live],
    unauthenticated: () => startups.size,
    close,
  };
}
