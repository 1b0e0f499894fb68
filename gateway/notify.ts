// Webhook notifications (config notify.webhooks): a bounded fire-and-forget queue, retried with backoff, failures audited.
import type { AuditPort } from './storage/storage.js';
import { type Clock, isoTime } from './clock.js';
import { systemActor } from './core/model.js';
import { type Logger, silentLogger } from './log.js';
import { detach } from './background.js';

/** What goes out besides `event`: `text` is one line a chat tool shows as is; the rest are plain facts. */
export interface NotifyPayload {
  text: string;
  request?: { id?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Notifier {
  /** Queues a delivery to every webhook and returns at once: a slow receiver never slows the caller. */
  notify(event: string, payload: NotifyPayload): void;
}

export const noNotify: Notifier = { notify: () => {} };

export interface WebhooksOptions {
  urls: readonly string[];
  audit: Pick<AuditPort, 'append'>;
  clock: Clock;
  logger?: Logger;
  /** Waits before the 2nd, 3rd … try (default 1 s, 2 s, 4 s, 8 s: at most 5 tries). */
  retryDelaysMs?: readonly number[];
  /** Per try (default 5 s). */
  timeoutMs?: number;
  /** Deliveries waiting or running at most (default 1000); beyond that new ones are dropped and audited. */
  maxQueued?: number;
  /** Concurrent POSTs (default 4). */
  maxInFlight?: number;
}

interface Delivery {
  url: string;
  host: string;
  event: string;
  body: string;
  requestId?: string;
  tries: number;
}

type TryResult = { ok: true } | { ok: false; error: string; retry: boolean };

/** Only the host is ever logged or audited: a webhook URL's path or query often is its secret token. */
const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
};

export class Webhooks implements Notifier {
  private readonly delays: readonly number[];
  private readonly timeoutMs: number;
  private readonly maxQueued: number;
  private readonly maxInFlight: number;
  private readonly logger: Logger;
  private readonly ready: Delivery[] = [];
  private readonly retryTimers = new Map<NodeJS.Timeout, Delivery>();
  private readonly aborts = new Set<AbortController>();
  private inFlight = 0;
  private pending = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly opts: WebhooksOptions) {
    this.delays = opts.retryDelaysMs ?? [1000, 2000, 4000, 8000];
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxQueued = opts.maxQueued ?? 1000;
    this.maxInFlight = opts.maxInFlight ?? 4;
    this.logger = opts.logger ?? silentLogger;
  }

  notify(event: string, payload: NotifyPayload): void {
    if (this.closed || this.opts.urls.length === 0) return;
    const body = JSON.stringify({ event, at: isoTime(this.opts.clock.now()), ...payload });
    const requestId = typeof payload.request?.id === 'string' ? payload.request.id : undefined;
    for (const url of this.opts.urls) {
      const d: Delivery = { url, host: hostOf(url), event, body, tries: 0, ...(requestId ? { requestId } : {}) };
      this.pending++;
      // Why bounded: a dead receiver must not turn every request into memory held for minutes.
      if (this.pending > this.maxQueued)
        detach(this.fail(d, 'queue_full'), this.logger, 'webhook failure not recorded');
      else this.ready.push(d);
    }
    this.pump();
  }

  /** Resolves once nothing is queued, waiting to retry or in flight (tests; shutdown). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops: pending retries and running tries are given up and audited as `gateway_stopped`. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [timer, d] of this.retryTimers) {
      clearTimeout(timer);
      detach(this.fail(d, 'gateway_stopped'), this.logger, 'webhook failure not recorded');
    }
    this.retryTimers.clear();
    for (const d of this.ready.splice(0))
      detach(this.fail(d, 'gateway_stopped'), this.logger, 'webhook failure not recorded');
    for (const a of this.aborts) a.abort();
    await this.idle();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.maxInFlight && this.ready.length > 0) {
      const d = this.ready.shift()!;
      this.inFlight++;
      detach(this.run(d), this.logger, 'webhook delivery failed');
    }
  }

  private async run(d: Delivery): Promise<void> {
    d.tries++;
    const result = await this.tryOnce(d);
    this.inFlight--;
    if (result.ok) this.done();
    else if (result.retry && !this.closed && d.tries <= this.delays.length) {
      const timer = setTimeout(
        () => {
          this.retryTimers.delete(timer);
          this.ready.push(d);
          this.pump();
        },
        this.delays[d.tries - 1],
      );
      timer.unref(); // a pending retry never keeps the process alive
      this.retryTimers.set(timer, d);
    } else await this.fail(d, this.closed ? 'gateway_stopped' : result.error);
    this.pump();
  }

  private async tryOnce(d: Delivery): Promise<TryResult> {
    const abort = new AbortController();
    this.aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    timer.unref();
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'gatehouse-webhook' },
        body: d.body,
        signal: abort.signal,
        // Why manual: a redirect would resend the body to wherever the receiver points.
        redirect: 'manual',
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true };
      const retry = res.status >= 500 || res.status === 408 || res.status === 429;
      return { ok: false, error: `http_${res.status}`, retry };
    } catch (err) {
      if (abort.signal.aborted) return { ok: false, error: 'timeout', retry: true };
      // The cause's code (ECONNREFUSED …) only: fetch's messages may repeat the URL.
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      return { ok: false, error: typeof code === 'string' ? code : 'network_error', retry: true };
    } finally {
      clearTimeout(timer);
      this.aborts.delete(abort);
    }
  }

  private async fail(d: Delivery, error: string): Promise<void> {
    this.logger.warn({ host: d.host, event: d.event, tries: d.tries, error }, 'webhook delivery failed');
    try {
      await this.opts.audit.append({
        type: 'notify.failed',
        actor: systemActor('gateway'),
        ...(d.requestId ? { subject: { requestId: d.requestId } } : {}),
        data: { host: d.host, event: d.event, tries: d.tries, error },
      });
    } catch (err) {
      this.logger.error({ err, host: d.host }, 'could not audit a failed webhook delivery');
    }
    this.done();
  }

  private done(): void {
    this.pending--;
    if (this.pending > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
