// Wires the gateway together: the only module that knows all the others. Start order is the
// order of trust: state (locked), then the audit log (verified), then the doors (HTTP, later SSH).
import { resolve } from 'node:path';
import { SyslogStream, type SyslogStreamOptions } from './audit/audit.js';
import {
  createOidcClient,
  LoginTransactions,
  type OidcClient,
  type PendingLogins,
  type WebSessionOptions,
  WebSessions,
} from './auth/auth.js';
import { type Clock, systemClock } from './clock.js';
import { type Config, resolveConfigPath, resolveSecret } from './config.js';
import { systemActor } from './core/model.js';
import type { Deps } from './deps.js';
import {
  apiGuard,
  attachWebSockets,
  auditRefusals,
  authRoutes,
  createHttpApp,
  createMetrics,
  eventsRouter,
  evidenceRouter,
  keysRouter,
  loginRateLimit,
  meRoutes,
  type Metrics,
  requestsRouter,
  type RunningHttp,
  sessionsRouter,
  startHttpServer,
  stepUpRateLimit,
  targetsRouter,
  totpRouter,
  type WsRoute,
} from './http/http.js';
import { monitorRoute, terminalRoute } from './web-terminal/web-terminal.js';
import {
  claimNode,
  type Cluster,
  clusterHandoffs,
  type ClusterConnection,
  type ClusterTuning,
  type ClusterWatch,
  clusterWatch,
  joinCluster,
  postgresOf,
} from './cluster/cluster.js';
import { rdpRoute, type RdpRouteOptions, rdpTokenRouter, type RdpTokenStore, RdpTokens } from './rdp/rdp.js';
import { tuneHeapForRelay } from './heap-tuning.js';
import { createLogger, type Logger } from './log.js';
import { LiveSessions, PendingEnds, type SessionRegistry, terminationOf } from './sessions.js';
import { Broker } from './broker.js';
import { Scheduler } from './scheduler.js';
import { Webhooks } from './notify.js';
import { alertLine, CommandAlerts } from './command-alerts.js';
import { mayOversee } from './core/session-access.js';
import { recoverInterruptedSessions } from './recording/recording.js';
import { type RunningSsh, type SshServerOptions, startSshServer } from './ssh/ssh.js';
import { installFaultHandlers } from './process-faults.js';
import { asStorageError, DATABASE_FAULT, failureLine, StorageFaults } from './storage-faults.js';
import {
  type AuditPort,
  type CommandPort,
  openStorage,
  type StatePort,
  type Storage,
  StorageMonitor,
} from './storage/storage.js';
import { version } from './version.js';

export interface GatewayOptions {
  config: Config;
  /** Relative paths in the config resolve against this folder. */
  cwd?: string;
  clock?: Clock;
  logger?: Logger;
  /** Override listen addresses (tests bind port 0). */
  httpListen?: string;
  /** Sign-in tuning (tests shorten timeouts and raise or lower rate limits). */
  auth?: AuthTuning;
  /** SSH listener: `false` = do not start it; otherwise overrides (tests bind port 0, shorten grace). */
  ssh?: false | Pick<SshServerOptions, 'listen' | 'loginGraceMs' | 'maxUnauthPerIp' | 'maxUnauth'>;
  /** The live-session registry shared with the broker/scheduler (default: a new one). */
  liveSessions?: SessionRegistry;
  /** RDP through guacd: timeouts (tests shorten them). */
  rdp?: RdpRouteOptions['tuning'];
  /** `serve --accept-missing-audit-head`: start on a log whose signed head is gone (audited). */
  acceptMissingAuditHead?: boolean;
  /** SIEM stream tuning (tests shorten the delivery confirmation and the retries). */
  syslog?: Pick<SyslogStreamOptions, 'confirmMs' | 'tickMs' | 'retryDelaysMs'>;
  /** Several nodes on PostgreSQL: heartbeat and leader timings (tests shorten them). */
  cluster?: ClusterTuning;
}

export interface AuthTuning {
  session?: Pick<WebSessionOptions, 'idleMs' | 'absoluteMs' | 'touchEveryMs' | 'sweepEveryMs'>;
  /** Requests a minute per IP on /auth/login + /auth/callback (default 30). */
  loginPerMinute?: number;
  /** access.denied records per IP a minute before they are only counted (default 120). */
  refusalsPerMinute?: number;
}

export interface Gateway {
  config: Config;
  storageDir: string;
  store: StatePort;
  audit: AuditPort;
  /** Captured shell commands (commands.jsonl or PostgreSQL). */
  commands: CommandPort;
  /** The open storage engine (lowdb or postgres). */
  storage: Storage;
  metrics: Metrics;
  http: RunningHttp;
  /** The SSH listener, unless started with `ssh: false`. */
  ssh?: RunningSsh;
  liveSessions: SessionRegistry;
  broker: Broker;
  /** The audit stream to the SIEM, when audit.syslog is configured. */
  syslog?: SyslogStream;
  /** This node in the cluster (the PostgreSQL engine): its id, the node directory, whether it leads. */
  cluster?: Cluster;
  /** Sign-in state: `sessions.onSessionEnded` is where websockets hook in to close with their session. */
  auth: { sessions: WebSessions; logins: PendingLogins; oidc: OidcClient };
  stop(reason?: string): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config } = opts;
  tuneHeapForRelay();
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger();
  const storageDir = resolve(opts.cwd ?? process.cwd(), config.storage.dir);
  const metrics = createMetrics();

  const faults = new StorageFaults();
  // Several nodes on PostgreSQL: the node's lock first, so a second process with this node id is refused
  // before it opens (and writes to) the shared storage.
  const claim: ClusterConnection | undefined =
    config.storage.engine === 'postgres'
      ? await claimNode({ config, logger, ...(opts.cwd !== undefined && { cwd: opts.cwd }) })
      : undefined;
  // State, commands and the audit log (verified) from the engine the config names (storage/open.ts).
  let storage: Awaited<ReturnType<typeof openStorage>>;
  try {
    storage = await openStorage({
      config,
      storageDir,
      clock,
      logger,
      faults,
      ...(opts.cwd !== undefined && { cwd: opts.cwd }),
      acceptMissingAuditHead: opts.acceptMissingAuditHead === true,
    });
  } catch (err) {
    await claim?.close();
    throw err;
  }
  const { state: store, audit, commands, plc } = storage;
  // --- Cluster (PostgreSQL): this node's row, before the crash recovery below, which (holding the node's
  // lock) ends only this node's own leftovers, never a running node's sessions.
  const pgStorage = postgresOf(storage);
  let cluster: Cluster | undefined;
  if (pgStorage && claim) {
    try {
      cluster = await joinCluster({
        claim,
        storage: pgStorage,
        config,
        logger,
        ...(opts.cluster && { tuning: opts.cluster }),
      });
    } catch (err) {
      await claim.close();
      await storage.close();
      throw err;
    }
  }
  // --- end cluster
  /** The PLC log (plc.jsonl on lowdb, gh_plc on PostgreSQL) is part of the storage and closes with it. */
  const closeStorage = async () => {
    await cluster?.stop();
    await storage.close();
  };

  const alerts = new CommandAlerts();
  // Session ends storage refused: the monitor records them when it recovers, the stop below tries once more.
  const pendingEnds = new PendingEnds({ logger });
  const deps: Deps = { config, store, audit, commands, plc, clock, logger, storageDir, faults, alerts, pendingEnds };
  const { lowdb } = storage;
  // lowdb: its files; PostgreSQL: the database's reachability. Both: the recordings folder.
  const monitor = new StorageMonitor({
    audit,
    faults,
    logger,
    storageDir,
    onRecovered: () => pendingEnds.retry(),
    ...(lowdb ? { lowdb } : {}),
    ...(storage.probe ? { probeDatabase: storage.probe.bind(storage) } : {}),
  });
  faults.onChange((now) => metrics.storageFaults(now.map((f) => f.file)));
  // --- Crash recovery: sessions left open by a crash are ended and their recordings
  // repaired and marked incomplete, after the audit log opens and before any door opens.
  try {
    // On a cluster only this node's own leftovers: the other nodes' sessions are theirs (or the leader's to end).
    await recoverInterruptedSessions(deps, cluster?.ownLeftover);
  } catch (err) {
    await audit.close();
    await closeStorage();
    throw err;
  }
  // --- end crash recovery
  const { publicUrl } = config.http;
  const secure = publicUrl.startsWith('https:');
  const sessions = new WebSessions({ store, clock, logger, secure, ...opts.auth?.session });
  // Several nodes on PostgreSQL: pending sign-ins and /ws/rdp tokens in the database, so any node serves any
  // request; one node: in this process.
  const handoffs = await clusterHandoffs({ config, storage, storageDir, clock, logger }).catch(async (err: unknown) => {
    await audit.close();
    await closeStorage();
    throw err;
  });
  const logins: PendingLogins = handoffs?.logins ?? new LoginTransactions({ clock });
  const oidc = createOidcClient({
    oidc: config.oidc,
    redirectUri: `${publicUrl}/auth/callback`,
    clientSecret: () => resolveSecret(config.oidc.clientSecret, { cwd: opts.cwd }),
    logger,
  });
  const loginLimit = loginRateLimit(clock, opts.auth?.loginPerMinute);

  // Access workflow: the broker turns decisions into store writes + audit events; the
  // scheduler closes what falls due; live sessions (SSH, RDP) register in one registry.
  const liveSessions = opts.liveSessions ?? new LiveSessions({ logger });
  const notifier = new Webhooks({ urls: config.notify.webhooks, audit, clock, logger });
  // The SIEM stream (also the log's outside witness) reads the engine's log from its cursor: records written
  // before this point, and while the SIEM is away, go out too. On PostgreSQL one node streams the shared chain.
  const siem = config.audit.syslog;
  const syslog = siem
    ? new SyslogStream({
        config: siem.caFile ? { ...siem, caFile: resolveConfigPath(siem.caFile, opts.cwd) } : siem,
        audit,
        backlog: storage.syslogBacklog(`${siem.host}:${siem.port}`),
        clock,
        logger,
        notifier,
        registry: metrics.registry,
        ...opts.syslog,
      })
    : undefined;
  await syslog?.start();
  const broker = new Broker({
    config,
    store,
    audit,
    clock,
    logger,
    sessions: liveSessions,
    notifier,
    ...(cluster && { remote: cluster.remote }),
  });
  const scheduler = new Scheduler({
    broker,
    sessions: liveSessions,
    audit,
    clock,
    logger,
    timeZone: config.site.timezone,
    ...(cluster && { leads: () => cluster.leads() }),
    terminationOf: (id) => terminationOf(store.data.sessions, id),
    ...(cluster && store.refresh && { catchUp: () => store.refresh!() }),
  });
  // An alerted or blocked command reaches overseers where they are: the webhook, and every open page (the navigation).
  alerts.subscribe((a) =>
    notifier.notify(`command.${a.verdict}`, { text: alertLine(a, config.site.name), alert: { ...a } }),
  );
  const events = eventsRouter({
    broker,
    onSessionEnded: (l) => sessions.onSessionEnded(l),
    // Every node's streams carry every node's alerts (the cluster relays them; cluster/cluster.ts).
    onAlert: (l) => alerts.subscribeEverywhere(l),
    mayWatch: (user, targetId) =>
      mayOversee(
        user,
        config.targets.find((t) => t.id === targetId),
      ),
  });

  let stopping = false;
  let ssh: RunningSsh | undefined; // set once the SSH listener is up (below); GET /api/me shows its port
  /** A start that fails from here on closes what is open, in the order a stop does, and throws on. */
  const failStart = async (err: unknown): Promise<never> => {
    await audit.close();
    await syslog?.stop();
    await closeStorage();
    throw err;
  };
  // Several nodes on PostgreSQL: the live views (terminal and RDP) also relay sessions other nodes hold
  // (cluster/watch-relay.ts); what they admit from is this registry.
  const relay: ClusterWatch | undefined = await clusterWatch({ deps, storage, registry: liveSessions }).catch(
    failStart,
  );
  const watchable = relay?.registry ?? liveSessions;
  // RDP: tokens minted under /api, redeemed once by /ws/rdp.
  const rdpTokens: RdpTokenStore = handoffs?.rdpTokens ?? new RdpTokens({ now: () => clock.now() });
  const onRefusal = auditRefusals({
    audit,
    clock,
    logger,
    perMinute: opts.auth?.refusalsPerMinute,
    signedIn: (req) => sessions.peek(req),
  });
  const app = createHttpApp({
    logger,
    metrics,
    routers: [
      // The guard goes first: nothing under /api runs before Origin, session and CSRF are checked.
      {
        path: '/api',
        router: apiGuard({ publicUrl, session: sessions.middleware({ refuseExpired: true }) }),
      },
      { path: '/auth', router: authRoutes({ deps, oidc, logins, sessions, liveSessions, rateLimit: loginLimit }) },
      {
        path: '/api',
        router: meRoutes(
          deps,
          () => ssh?.port,
          () => ssh?.hostKeys ?? [],
        ),
      },
      { path: '/api', router: totpRouter(deps, { limiter: stepUpRateLimit(clock) }) },
      { path: '/api', router: keysRouter(deps) },
      { path: '/api', router: requestsRouter({ broker, clock, config }) },
      { path: '/api', router: targetsRouter({ broker }) },
      { path: '/api', router: evidenceRouter(deps) },
      { path: '/api', router: sessionsRouter({ deps, broker, sessions: liveSessions, remote: cluster?.remote }) },
      { path: '/api', router: rdpTokenRouter({ deps, registry: watchable, tokens: rdpTokens }) },
      { path: '/api', router: events },
    ],
    isAdmin: (req) => sessions.peek(req)?.user.roles.includes('admin') === true,
    onRefusal,
    // A storage fault, or a fenced node, makes the gateway unhealthy (it refuses new actions) but it keeps running and heals itself.
    health: () => ({
      ok: !stopping && faults.ok && !cluster?.fenced(),
      detail: {
        site: config.site.name,
        version,
        auditSeq: audit.head().seq,
        ...(cluster && { node: cluster.self, leader: cluster.leads() }),
        ...(cluster?.fenced() && { fenced: true }),
        ...(faults.ok ? {} : { reason: faults.reason(), storage: faults.list() }),
      },
    }),
  });
  let http: RunningHttp;
  try {
    http = await startHttpServer(app, opts.httpListen ?? config.http.listen);
  } catch (err) {
    return failStart(err);
  }

  // --- Websockets (/ws/*): one door checks Origin and the web session, then the route decides.
  const terminals = terminalRoute({ deps, registry: liveSessions, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  const desktops = rdpRoute({
    deps,
    // RDP sessions register through it into this node's own registry.
    registry: watchable,
    tokens: rdpTokens,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.rdp ? { tuning: opts.rdp } : {}),
  });
  const liveView = monitorRoute({ deps, registry: watchable });
  const wsRoutes: WsRoute[] = [terminals, liveView, desktops];
  const websockets = attachWebSockets(http.server, {
    publicUrl,
    sessions,
    routes: wsRoutes,
    onRefusal,
    logger,
    ...(relay ? { ignore: relay.isInternal } : {}),
  });
  const internal = relay?.attach(http.server, onRefusal);
  // --- end websockets

  // --- SSH listener: after HTTP, before gateway.started; stopped before the audit log closes.
  if (opts.ssh !== false) {
    try {
      ssh = await startSshServer({ deps, registry: liveSessions, ...(opts.cwd ? { cwd: opts.cwd } : {}), ...opts.ssh });
    } catch (err) {
      await http.close();
      return failStart(err);
    }
  }
  // --- end SSH listener
  // A stray rejection (a refused write on some connection's path) is logged and audited, never a silent exit.
  const removeFaultHandlers = installFaultHandlers({ logger, audit, metrics });
  await audit.append({
    type: 'gateway.started',
    actor: systemActor(),
    data: {
      version,
      pid: process.pid,
      http: http.url,
      ...(ssh ? { ssh: `${ssh.host}:${ssh.port}` } : {}),
      targets: config.targets.map((t) => t.id),
    },
  });
  logger.info({ http: http.url, storageDir }, 'gateway started');
  sessions.start();
  cluster?.start({ deps, broker, scheduler, liveSessions, webSessions: sessions });
  scheduler.start();
  monitor.start();

  let stopped: Promise<void> | undefined;
  /**
   * Stopping always completes: every step runs even if one before it failed (a full disk, a read-only audit folder,
   * a database gone), so sessions end, listeners and storage close and the promise resolves. A failed step is logged
   * by name with its one-line reason (no paths beyond the file's name, no secrets).
   */
  const step = async (what: string, run: () => unknown): Promise<void> => {
    try {
      await run();
    } catch (err) {
      logger.error({ reason: failureLine(err) }, `gateway stop: ${what} failed; stopping goes on`);
    }
  };
  const stop = (reason = 'stopped') => {
    stopped ??= (async () => {
      stopping = true;
      await step('the storage monitor', () => monitor.stop());
      await step('the web sessions', () => sessions.stop());
      await step('the scheduler', () => scheduler.stop());
      // Open event streams would otherwise hold http.close for its whole grace period.
      await step('the event streams', () => events.closeAll());
      await step('the SSH listener', () => ssh?.close()); // live sessions end and are recorded before the log closes
      await step('the browser terminals', () => terminals.closeAll('gateway_stopped', 'the gateway is stopping'));
      await step('the remote desktops', () => desktops.closeAll('gateway_stopped', 'the gateway is stopping'));
      await step('the internal relays', () => internal?.closeAll());
      // Every session has ended: no more timed rounds, and ends storage refused get one more try (a monitor round first
      // cuts failed logs back). Those still refused are logged; the next start ends those sessions as gateway_crashed.
      await step('the refused session ends', async () => {
        pendingEnds.stop();
        if (pendingEnds.size === 0) return;
        await monitor.check().catch((err: unknown) => logger.error({ err }, 'storage check failed'));
        await pendingEnds.retry();
        if (pendingEnds.size > 0)
          logger.error(
            { ends: pendingEnds.size },
            'session ends left unrecorded; the next start records them as crashed',
          );
      });
      // Its sessions have ended: the node's row says it stopped (not crashed), and another node may lead.
      await step('the cluster', () => cluster?.stop());
      await step('the websockets', () => websockets.closeAll());
      await step('the HTTP listener', () => http.close());
      await step('the notifier', () => notifier.close());
      // Refusals only counted so far, and the stop itself, are evidence too: in before the final checkpoint is signed.
      await step('the refusal counts', () => onRefusal.flush());
      await audit.append({ type: 'gateway.stopped', actor: systemActor(), data: { reason } }).catch((err: unknown) => {
        // The log refused it (a full disk, a read-only folder, the database away): what it holds stays as it is, the
        // fault is reported where every storage fault is, and the missing record is said plainly here.
        const fault = asStorageError(err);
        if (fault) faults.report(lowdb ? 'audit.jsonl' : DATABASE_FAULT, err);
        logger.error(
          { reason: failureLine(err), stopReason: reason },
          'gateway stop: gateway.stopped could not be recorded in the audit log; the gateway stops without it',
        );
      });
      await step('the audit log', () => audit.close());
      await step('the syslog witness', () => syslog?.stop()); // after the final checkpoint, so it leaves the machine too
      await step('the storage', () => closeStorage());
      removeFaultHandlers();
      logger.info({ reason }, 'gateway stopped');
    })();
    return stopped;
  };
  return {
    config,
    storageDir,
    store,
    audit,
    commands,
    storage,
    metrics,
    http,
    ssh,
    liveSessions,
    broker,
    ...(syslog ? { syslog } : {}),
    ...(cluster ? { cluster } : {}),
    auth: { sessions, logins, oidc },
    stop,
  };
}
