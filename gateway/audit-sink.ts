// The audit records that belong to one state change: an update fn records them, the store engine makes them durable with the state.
import type { AuditInput, AuditRecord } from './core/audit.js';

/**
 * Handed to every `store.update` fn. Why the records go through the store and not straight to the audit
 * log: the change and its evidence must become durable together or not at all (lowdb: audit first, then
 * db.json; PostgreSQL: one transaction). Records of a fn that throws are dropped with its draft.
 */
export interface AuditSink {
  record(input: AuditInput): void;
}

/** The audit log as a store engine sees it (AuditLog implements it). */
export interface AuditJournal {
  append(input: AuditInput): Promise<AuditRecord>;
  /** The last durable record. */
  head(): { seq: number; hash: string };
  /** The error every append is refused with until the log recovers, if it failed. */
  readonly failure?: Error | undefined;
}
