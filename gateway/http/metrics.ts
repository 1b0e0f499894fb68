// Prometheus metrics on a registry of our own (never the global one, so tests can run several gateways).
import type { RequestHandler } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  auditAppends: Counter;
  liveSessions: Gauge<'protocol'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
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
  };
}

/** Route labels use the matched route pattern, never the raw path (ids would explode cardinality). */
export function measureRequests(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route =
        (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : 'static');
      const base = req.baseUrl ?? '';
      metrics.httpRequests.inc({ method: req.method, route: base + route, status: String(res.statusCode) });
      end({ method: req.method, route: base + route });
    });
    next();
  };
}
