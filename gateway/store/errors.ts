// Why the store refused to open: typed so start-up can print one clear line instead of a stack.
import { type ErrorCode, GatehouseError } from '../errors.js';

/** Another process (or another Store in this one) holds the storage folder. */
export class StoreLockedError extends GatehouseError {
  readonly lockFile: string;
  constructor(message: string, lockFile: string) {
    super('unavailable', 'storage_locked', message);
    this.name = 'StoreLockedError';
    this.lockFile = lockFile;
  }
}

export type StoreOpenCode = Extract<ErrorCode, 'storage_corrupt' | 'storage_invalid' | 'storage_too_new'>;

/** db.json cannot be used as it is; the store refuses rather than overwrite the evidence in it. */
export class StoreOpenError extends GatehouseError {
  constructor(code: StoreOpenCode, message: string, cause?: unknown) {
    super('internal', code, message, { cause });
    this.name = 'StoreOpenError';
  }
}
