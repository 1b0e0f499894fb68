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

export class CommandAlerts {
  private readonly listeners = new Set<AlertListener>();

  /** Calls every listener now; one that throws does not keep the others (or the relay) from going on. */
  publish(a: CommandAlert): void {
    for (const l of [...this.listeners]) {
      try {
        l(a);
      } catch {
        // a listener's fault is its own: the command was judged and recorded already
      }
    }
  }

  subscribe(l: AlertListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/** The one line a chat tool (webhook) shows for an alert. */
export const alertLine = (a: CommandAlert, site: string): string =>
  `${site}: ${a.userName} ran a command on ${a.targetId} that was ${a.verdict === 'blocked' ? 'blocked' : 'alerted on'}` +
  `${a.reason ? ` (${a.reason})` : ''}: ${a.text.slice(0, 200)}`;
