// The HTTP front: security headers, body limits, the API router, the bundled web app, health and metrics.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express, { type Express, type Request, type Router } from 'express';
import helmet from 'helmet';
import type { GatehouseError } from '../errors.js';
import { denied } from '../errors.js';
import type { Logger } from '../log.js';
import { webRoot as defaultWebRoot } from '../paths.js';
import type { RefusalDetail } from './audit-refusal.js';
import { apiNotFound, errorHandler } from './errors.js';
import { type Metrics, measureRequests } from './metrics.js';
import { staticAssets } from './static-assets.js';

export interface HttpDeps {
  logger: Logger;
  metrics: Metrics;
  /** The API under /api (and /auth); later issues mount their routes here. */
  routers?: Array<{ path: string; router: Router }>;
  health(): { ok: boolean; detail: Record<string, unknown> };
  /** Who may read /metrics besides loopback (the sign-in issue wires admins in). */
  isAdmin?(req: Request): boolean;
  /** Called for every error answered (awaited first): the refusals among them are audited here. */
  onRefusal?(err: GatehouseError, req: Request, detail?: RefusalDetail): Promise<void>;
  webRoot?: string;
}

/**
 * The bound on a request body, in bytes. 64 KiB is far above any legitimate API body and keeps a hostile client
 * from filling memory. express.json under /api and /auth is the front's only body reader (no route reads a raw
 * body or an upload; static files are GETs): a body over it is answered 413 body_too_large and audited
 * (http/errors.ts), before the route, the session and the CSRF check have run.
 */
export const MAX_JSON_BODY = 64 * 1024;

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
/** The socket's address: the gateway never trusts X-Forwarded-For (trust proxy stays off). */
/**
 * A request from this host itself. Why the proxy headers count against it: a reverse proxy on the same host
 * (TLS in front of the gateway) connects from loopback on behalf of anyone, and says so in these headers.
 */
export const isLoopback = (req: Request): boolean =>
  LOOPBACK.has(req.socket.remoteAddress ?? '') &&
  req.headers.forwarded === undefined &&
  req.headers['x-forwarded-for'] === undefined &&
  req.headers['x-real-ip'] === undefined;

export function createHttpApp(deps: HttpDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(
    helmet({
      // Strict CSP: everything is bundled and served by the gateway (air-gapped sites): no CDN, no inline code.
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          // 'wasm-unsafe-eval' compiles WebAssembly only (no eval, no inline script): asciinema-player's
          // terminal emulator is bundled wasm, and Chromium refuses WebAssembly.instantiate without it.
          scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
          // Why 'unsafe-inline' for styles (never for scripts): xterm.js sizes and themes its renderer through
          // <style> elements it writes at run time, so no hash or nonce can cover them. Scripts stay 'self'
          // (plus WebAssembly compilation, above), and pages build DOM from text (web/dom.ts).
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
          objectSrc: ["'none'"],
        },
      },
      crossOriginEmbedderPolicy: false,
      referrerPolicy: { policy: 'no-referrer' },
      // Set below, on https answers only: on plain http the header means nothing, and a browser must not learn
      // "always https" from an answer an attacker on the path could have written.
      strictTransportSecurity: false,
    }),
  );
  app.use((req, res, next) => {
    if (req.secure) res.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  });
  app.use(measureRequests(deps.metrics));

  app.get('/healthz', (_req, res) => {
    const h = deps.health();
    res.status(h.ok ? 200 : 503).json({ status: h.ok ? 'ok' : 'unavailable', ...h.detail });
  });
  app.get('/metrics', async (req, res, next) => {
    try {
      // Thrown, not answered here, so the refusal is audited like every other.
      if (!isLoopback(req) && !deps.isAdmin?.(req)) throw denied('forbidden', 'metrics are for loopback or admins');
      res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.use(['/api', '/auth'], express.json({ limit: MAX_JSON_BODY }));
  for (const { path, router } of deps.routers ?? []) app.use(path, router);
  app.use('/api', apiNotFound);

  const root = deps.webRoot ?? defaultWebRoot;
  app.use(staticAssets(root));
  // The web app routes on the client: every other GET gets the shell page (file-like paths 404 above).
  app.get(/^\/(?!api\/|auth\/|ws\/).*/, (_req, res) => {
    res.set('Cache-Control', 'no-store').sendFile('index.html', { root });
  });
  app.use(errorHandler(deps.logger, deps.onRefusal?.bind(deps)));
  return app;
}

export interface RunningHttp {
  server: Server;
  url: string;
  port: number;
  close(graceMs?: number): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`bad listen address: ${listen}`);
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

/** Slow and greedy clients: how long a request may take to arrive, and how many sockets one source may hold. */
export interface HttpLimits {
  /** All request headers must arrive within this (default 10 s); a slowloris client is cut after it. */
  headersTimeoutMs?: number;
  /** The whole request, body included (default 30 s). Answers (downloads, event streams) are not limited. */
  requestTimeoutMs?: number;
  /** Open connections at once from one source address (default 64); more are closed at accept. */
  maxConnectionsPerIp?: number;
}

export async function startHttpServer(app: Express, listen: string, limits: HttpLimits = {}): Promise<RunningHttp> {
  const { host, port } = parseListen(listen);
  const headersTimeout = limits.headersTimeoutMs ?? 10_000;
  const requestTimeout = Math.max(limits.requestTimeoutMs ?? 30_000, headersTimeout);
  // Why a short check interval: Node looks for overdue requests only this often (30 s by default).
  const server = createServer(
    { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.min(1000, headersTimeout) },
    app,
  );
  const perIp = limits.maxConnectionsPerIp ?? 64;
  const sockets = new Set<Socket>();
  const bySource = new Map<string, number>();
  server.on('connection', (s: Socket) => {
    const ip = s.remoteAddress ?? 'unknown';
    const n = bySource.get(ip) ?? 0;
    if (n >= perIp) return void s.destroy();
    bySource.set(ip, n + 1);
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      const left = (bySource.get(ip) ?? 1) - 1;
      if (left <= 0) bySource.delete(ip);
      else bySource.set(ip, left);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}`,
    port: addr.port,
    // Stop accepting, let in-flight requests finish, then cut what is left (idle keep-alives, websockets).
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
