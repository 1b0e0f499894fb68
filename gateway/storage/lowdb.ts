// The lowdb engine behind the storage port: db.json's Store, with update fns given an audit sink.
import type { AuditPort, AuditSink, StatePort } from './port.js';
import type { DbData } from '../store/schema.js';
import type { Store } from '../store.js';

/**
 * Until Store.update hands its fn an AuditSink itself, the records an fn gives the sink are appended right
 * after its durable write, in commit order (the lowdb engine's order today). Once Store takes the sink,
 * this class reduces to passing it through.
 */
export class LowdbState implements StatePort {
  constructor(
    readonly store: Store,
    private readonly audit: AuditPort,
  ) {}

  get data(): Readonly<DbData> {
    return this.store.data;
  }

  async update<T>(fn: (draft: DbData, audit: AuditSink) => T | Promise<T>): Promise<T> {
    const records: Parameters<AuditSink['record']>[0][] = [];
    const sink: AuditSink = { record: (input) => void records.push(input) };
    const value = await this.store.update((d) => {
      records.length = 0; // a retried fn starts over
      return fn(d, sink);
    });
    await Promise.all(records.map((r) => this.audit.append(r)));
    return value;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
