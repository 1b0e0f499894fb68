// The only place errors become HTTP responses: `{ error: { code, message } }`, 5xx details hidden.
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { GatehouseError, internal, isGatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { asStorageError } from '../storage-faults.js';

/** Body-parser and other library errors carry `type`/`status`; translate the ones clients cause. */
function translate(err: unknown): GatehouseError {
  // A full disk, a file too large, an I/O error: 503 storage_unavailable with its reason, whoever threw it.
  const storage = asStorageError(err);
  if (storage) return storage;
  if (isGatehouseError(err)) return err;
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.too.large')
    return new GatehouseError('too_large', 'body_too_large', 'request body is too large');
  if (e?.type === 'entity.parse.failed')
    return new GatehouseError('invalid_input', 'invalid_json', 'request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new GatehouseError('invalid_input', 'unsupported_encoding', 'unsupported request body encoding');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500)
    return new GatehouseError('invalid_input', 'bad_request', 'bad request');
  return internal('internal_error', 'internal error', err);
}

/**
 * `onRefusal` sees every translated error before the answer goes out (the sign-in issue audits 401/403
 * there as access.denied); it is awaited so the evidence is written before the client hears the refusal.
 */
export function errorHandler(
  logger: Logger,
  onRefusal?: (err: GatehouseError, req: Request) => Promise<void>,
): ErrorRequestHandler {
  return async (err, req, res, _next) => {
    const ge = translate(err);
    if (ge.status >= 500) logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if (onRefusal) await onRefusal(ge, req).catch((e) => logger.error({ err: e }, 'refusal hook failed'));
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
