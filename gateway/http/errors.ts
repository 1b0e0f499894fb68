// The only place errors become HTTP responses: `{ error: { code, message } }`, 5xx details hidden.
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { GatehouseError, internal, isGatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { asStorageError } from '../storage-faults.js';
import type { RefusalDetail } from './audit-refusal.js';

/** raw-body's error for a body over express.json's `limit` (node_modules/raw-body): `limit` is the bound in bytes. */
type TooLarge = { type: 'entity.too.large'; limit?: unknown };
const isTooLarge = (e: unknown): e is TooLarge => (e as { type?: unknown } | null)?.type === 'entity.too.large';
const boundOf = (e: TooLarge): number | undefined => (typeof e.limit === 'number' ? e.limit : undefined);

/** Body-parser and other library errors carry `type`/`status`; translate the ones clients cause. */
function translate(err: unknown): GatehouseError {
  // A full disk, a file too large, an I/O error: 503 storage_unavailable with its reason, whoever threw it.
  const storage = asStorageError(err);
  if (storage) return storage;
  if (isGatehouseError(err)) return err;
  if (isTooLarge(err)) {
    const bound = boundOf(err);
    const at = bound === undefined ? '' : ` (at most ${bound} bytes)`;
    return new GatehouseError('too_large', 'body_too_large', `request body is too large${at}`);
  }
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.parse.failed')
    return new GatehouseError('invalid_input', 'invalid_json', 'request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new GatehouseError('invalid_input', 'unsupported_encoding', 'unsupported request body encoding');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500)
    return new GatehouseError('invalid_input', 'bad_request', 'bad request');
  return internal('internal_error', 'internal error', err);
}

/** What the refusal's record adds: the bound a body went over (never the body, which is not kept). */
function detailOf(err: unknown): RefusalDetail | undefined {
  const bound = isTooLarge(err) ? boundOf(err) : undefined;
  return bound === undefined ? undefined : { maxBodyBytes: bound };
}

/**
 * `onRefusal` sees every translated error before the answer goes out (http/audit-refusal.ts audits the refusals
 * among them as access.denied); it is awaited so the evidence is written before the client hears the refusal.
 * Every route's body over the bound comes through here, so this is the one place it is audited.
 */
export function errorHandler(
  logger: Logger,
  onRefusal?: (err: GatehouseError, req: Request, detail?: RefusalDetail) => Promise<void>,
): ErrorRequestHandler {
  return async (err, req, res, _next) => {
    const ge = translate(err);
    if (ge.status >= 500) logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if (onRefusal)
      await onRefusal(ge, req, detailOf(err)).catch((e) => logger.error({ err: e }, 'refusal hook failed'));
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(ge.status).json(ge.toJSON());
  };
}

/** Unknown API routes answer in the API's error format rather than express's HTML page. */
export const apiNotFound: RequestHandler = (_req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
};
