// What an update fn is handed to record audit events that commit together with its state change.
import type { AuditInput } from '../core/audit.js';

export interface AuditSink {
  record(input: AuditInput): void;
}
