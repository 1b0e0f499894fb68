// Command alerts as they happen: a shell or exec command that a rule alerted on or blocked, published once by the
// session that judged it, so live viewers, open pages (the event stream) and webhooks learn of it at that moment.

/** One alerted or blocked command, as overseers are told of it (the vendor's name, never their keystrokes). */
export interface CommandAlert {
  sessionId: string;
  targetId: string;
  userId: string;
  userName: string;
  verdict: 'alerted' | 'blocked';
  text: string;
  reason?: string;
  at: string;
}

export type AlertListener = (a: CommandAlert) => void;

/**
 * Two kinds of listener. `subscribe`: this node's own alerts only, for what only the holder of the session does (the
 * webhook, live views, the relay to other nodes). `subscribeEverywhere`: also the alerts other nodes hold and relay
 * here (`relayed`), for what every node's users see (the event streams' badge).
 */
export class CommandAlerts {
  private readonly listeners = new Set<AlertListener>();
  private readonly everywhere = new Set<AlertListener>();

  /** An alert judged on this node: every listener of both kinds, now. */
  publish(a: CommandAlert): void {
    call(this.listeners, a);
    call(this.everywhere, a);
  }

  /** An alert judged on another node: the `subscribeEverywhere` listeners only (no second webhook, no double view). */
  relayed(a: CommandAlert): void {
    call(this.everywhere, a);
  }

  subscribe(l: AlertListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  subscribeEverywhere(l: AlertListener): () => void {
    this.everywhere.add(l);
    return () => this.everywhere.delete(l);
  }
}

/** Calls every listener; one that throws does not keep the others (or the relay) from going on. */
function call(listeners: Set<AlertListener>, a: CommandAlert): void {
  for (const l of [...listeners]) {
    try {
      l(a);
    } catch {
      // a listener's fault is its own: the command was judged and recorded already
    }
  }
}

/** The one line a chat tool (webhook) shows for an alert. */
export const alertLine = (a: CommandAlert, site: string): string =>
  `${site}: ${a.userName} ran a command on ${a.targetId} that was ${a.verdict === 'blocked' ? 'blocked' : 'alerted on'}` +
  `${a.reason ? ` (${a.reason})` : ''}: ${a.text.slice(0, 200)}`;
