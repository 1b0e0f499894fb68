// Typed errors: adapters wrap library errors into these (keeping the original as `cause`);
// http/errors.ts is the only place that turns them into HTTP responses.

export type ErrorKind =
  | 'invalid_input'
  | 'unauthenticated'
  | 'denied'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

const statusOfKind: Record<ErrorKind, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  denied: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export class GatehouseError extends Error {
  readonly kind: ErrorKind;
  /** snake_case, stable: clients and tests match on it (`grant_expired`, `stepup_required`). */
  readonly code: string;

  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatehouseError';
    this.kind = kind;
    this.code = code;
  }

  get status(): number {
    return statusOfKind[this.kind];
  }

  /**
   * What a client may see; details of internal errors stay in the log. A storage fault is the exception:
   * its one-line reason (file name and errno, no path) is what the operator needs to act on.
   */
  toJSON(): { error: { code: string; message: string } } {
    if (this.status >= 500 && this.code !== 'storage_unavailable')
      return { error: { code: 'internal_error', message: 'internal error' } };
    return { error: { code: this.code, message: this.message } };
  }
}

export const invalidInput = (code: string, message: string, cause?: unknown) =>
  new GatehouseError('invalid_input', code, message, { cause });
export const unauthenticated = (code: string, message: string) => new GatehouseError('unauthenticated', code, message);
export const denied = (code: string, message: string) => new GatehouseError('denied', code, message);
export const notFound = (code: string, message: string) => new GatehouseError('not_found', code, message);
export const conflict = (code: string, message: string) => new GatehouseError('conflict', code, message);
export const unavailable = (code: string, message: string, cause?: unknown) =>
  new GatehouseError('unavailable', code, message, { cause });
export const internal = (code: string, message: string, cause?: unknown) =>
  new GatehouseError('internal', code, message, { cause });

export const isGatehouseError = (e: unknown): e is GatehouseError => e instanceof GatehouseError;
