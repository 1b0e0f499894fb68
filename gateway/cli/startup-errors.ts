// Turns the errors that stop start-up into one clear message for the operator (no stack traces).
import { AuditChainError } from '../audit-log.js';
import { ConfigError, formatProblems } from '../config.js';
import { isGatehouseError } from '../errors.js';
import { StoreLockedError } from '../store.js';

export function describeStartupError(err: unknown): string {
  if (err instanceof ConfigError) return `invalid configuration:\n${formatProblems(err.problems)}`;
  if (err instanceof StoreLockedError) return err.message;
  if (err instanceof AuditChainError)
    return `audit log is broken, refusing to start: ${err.message}\nrun 'gatehouse audit verify' for details`;
  if (isGatehouseError(err)) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EADDRINUSE') return `address already in use: ${e.message}`;
  if (e?.code === 'EACCES') return `permission denied: ${e.message}`;
  return err instanceof Error ? err.message : String(err);
}
