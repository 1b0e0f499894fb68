// One connection per node that LISTENs: other nodes' commits arrive as NOTIFY on a few fixed channels.
import pg from 'pg';
import type { Logger } from '../../log.js';

export type Channel = 'gatehouse_state' | 'gatehouse_commands' | 'gatehouse_cluster' | 'gatehouse_plc';
export const CHANNELS: readonly Channel[] = [
  'gatehouse_state',
  'gatehouse_commands',
  'gatehouse_cluster',
  'gatehouse_plc',
];

/**
 * Reconnects after a lost connection (a server restart) and then tells every handler with `undefined`,
 * so each catches up on what it may have missed while deaf.
 */
export class Listener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<Channel, Set<(payload: string | undefined) => void>>();
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: pg.ClientConfig,
    private readonly logger: Logger,
  ) {}

  on(channel: Channel, handler: (payload: string | undefined) => void): () => void {
    let set = this.handlers.get(channel);
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  async start(): Promise<void> {
    const client = new pg.Client(this.options);
    client.on('notification', (m) => this.emit(m.channel as Channel, m.payload));
    client.on('error', (err) => {
      this.logger.warn({ err: { message: err.message } }, 'postgres: the LISTEN connection failed; reconnecting');
      void client.end().catch(() => {});
      this.reconnect();
    });
    await client.connect();
    for (const ch of CHANNELS) await client.query(`LISTEN ${ch}`);
    this.client = client;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.client?.end().catch(() => {});
  }

  private reconnect(): void {
    if (this.closed) return;
    this.client = undefined;
    this.retry = setTimeout(() => {
      this.start().then(
        () => {
          for (const ch of CHANNELS) this.emit(ch, undefined);
        },
        () => this.reconnect(),
      );
    }, 1000);
    this.retry.unref();
  }

  private emit(channel: Channel, payload: string | undefined): void {
    for (const h of this.handlers.get(channel) ?? []) {
      try {
        h(payload);
      } catch (err) {
        this.logger.error({ err, channel }, 'postgres: a notification handler failed');
      }
    }
  }
}
