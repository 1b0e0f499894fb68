// Prometheus metrics on a registry of our own (never the global one, so tests can run several gateways).
import type { RequestHandler } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  auditAppends: Counter;
  liveSessions: Gauge<'protocol'>;
  /** 1 while writes to that file fail (db.json, audit.jsonl, commands.jsonl, plc.jsonl, sessions). */
  storageFault: Gauge<'file'>;
  /** Stray errors caught by the process-wide handler (the gateway kept running). */
  strayErrors: Counter<'kind'>;
  /** Sets the fault gauge from the files failing now. */
  storageFaults(failing: readonly string[]): void;
}

/** Always exported, at 0 when fine: an alert can then say "was 0, now 1". */
const STORAGE_FILES = ['db.json', 'audit.jsonl', 'commands.jsonl', 'plc.jsonl', 'sessions'];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const storageFault = new Gauge({
    name: 'gatehouse_storage_fault',
    help: 'Whether writes to a storage file fail now (1) or not (0): new actions are refused while any is 1',
    labelNames: ['file'],
    registers: [registry],
  });
  for (const file of STORAGE_FILES) storageFault.set({ file }, 0);
  return {
    registry,
    httpRequests: new Counter({
      name: 'gatehouse_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'gatehouse_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    auditAppends: new Counter({
      name: 'gatehouse_audit_events_total',
      help: 'Audit events appended',
      registers: [registry],
    }),
    liveSessions: new Gauge({
      name: 'gatehouse_live_sessions',
      help: 'Live remote sessions',
      labelNames: ['protocol'],
      registers: [registry],
    }),
    storageFault,
    strayErrors: new Counter({
      name: 'gatehouse_stray_errors_total',
      help: 'Unhandled rejections and exceptions caught by the process-wide handler',
      labelNames: ['kind'],
      registers: [registry],
    }),
    storageFaults(failing) {
      for (const file of new Set([...STORAGE_FILES, ...failing]))
        storageFault.set({ file }, failing.includes(file) ? 1 : 0);
    },
  };
}

/** Route labels use the matched route pattern, never the raw path (ids would explode cardinality). */
export function measureRequests(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : 'static');
      const base = req.baseUrl ?? '';
      metrics.httpRequests.inc({ method: req.method, route: base + route, status: String(res.statusCode) });
      end({ method: req.method, route: base + route });
    });
    next();
  };
}
