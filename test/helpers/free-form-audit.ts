// Records whose data a test picks freely, for tests of the audit log's own mechanics: the chain stores any data,
// the event shapes (core/audit-events.ts) are the writers' rule, and these tests are not writers.
import type { AuditInput, ChainInput } from '../../gateway/core/audit.js';

export const freeForm = (input: ChainInput): AuditInput => input as AuditInput;
