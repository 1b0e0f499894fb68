// Live updates: one EventSource on /api/events shared by the pages, reconnected with backoff after failures.
import type { CommandAlert } from '../gateway/command-alerts.js';
import type { RequestView } from './request-types.js';

/** An alerted or blocked command on a live session this user may watch: the server's own type. */
export type { CommandAlert };

export interface RequestChanged {
  /** The audit event that changed it, e.g. request.approved. */
  type: string;
  request: RequestView;
}

interface Subscriber {
  /** The page's root element: once it leaves the document the subscription ends by itself. */
  root: Element;
  onChange?(ev: RequestChanged): void;
  onAlert?(a: CommandAlert): void;
  /** After every (re)connect: the server keeps no replay, so a page reloads what it shows. */
  onOpen?(): void;
}

const subscribers = new Set<Subscriber>();
let source: EventSource | null = null;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let retryMs = 1000;
let ended = false;

/** body[data-live] = connecting | open | down | ended: styles show a banner; tests wait for "open". */
const setStatus = (s: string) => {
  document.body.dataset.live = s;
};

function active(): Subscriber[] {
  for (const s of subscribers) if (!s.root.isConnected) subscribers.delete(s);
  if (subscribers.size === 0) stop();
  return [...subscribers];
}

function stop(): void {
  clearTimeout(retryTimer);
  retryTimer = undefined;
  source?.close();
  source = null;
  delete document.body.dataset.live;
}

/** A named event's JSON data; a frame that does not parse is dropped. */
function on<T>(es: EventSource, name: string, fn: (data: T) => void): void {
  es.addEventListener(name, (ev) => {
    let data: T;
    try {
      data = JSON.parse((ev as MessageEvent<string>).data) as T;
    } catch {
      return;
    }
    fn(data);
  });
}

function connect(): void {
  if (source || ended) return;
  setStatus('connecting');
  const es = new EventSource('/api/events', { withCredentials: true });
  source = es;
  es.addEventListener('open', () => {
    retryMs = 1000;
    setStatus('open');
    for (const s of active()) s.onOpen?.();
  });
  on<RequestChanged>(es, 'request.changed', (data) => {
    for (const s of active()) s.onChange?.(data);
  });
  on<CommandAlert>(es, 'command.alert', (data) => {
    for (const s of active()) s.onAlert?.(data);
  });
  // The web session ended (sign-out elsewhere, expiry): reconnecting would only be refused.
  es.addEventListener('session.ended', () => {
    ended = true;
    stop();
    setStatus('ended');
  });
  es.addEventListener('error', () => {
    if (source !== es) return;
    setStatus('down');
    // CONNECTING: the browser retries by itself. CLOSED (an HTTP error such as 429/503): we retry, slower each time.
    if (es.readyState !== EventSource.CLOSED) return;
    source = null;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (active().length > 0) connect();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  });
}

/** Calls `onChange` for every request change (and `onAlert` for every command alert) the server shows this user, while `root` is on the page. */
export function live(root: Element, handlers: Omit<Subscriber, 'root'>): () => void {
  const sub: Subscriber = { root, ...handlers };
  // Others whose page is gone are dropped now; this one may not be in the document yet.
  for (const s of subscribers) if (!s.root.isConnected) subscribers.delete(s);
  subscribers.add(sub);
  connect();
  return () => {
    subscribers.delete(sub);
    active();
  };
}

/** Runs `fn` every `ms` while `root` is on the page (clocks such as "active now" → "ended"). */
export function every(root: Element, ms: number, fn: () => void): void {
  const timer = setInterval(() => {
    if (root.isConnected) fn();
    else clearInterval(timer);
  }, ms);
}
