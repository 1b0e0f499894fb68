// A frame the `ws` library refuses on an open socket (a message over maxPayload, a malformed frame, bad UTF-8 in a
// text frame): ws closes the socket itself and reports an error with a `code` (node_modules/ws/lib/receiver.js).
// That is a refusal like any other, so it goes through the refusal hook (http/audit-refusal.ts, its rate limit per
// IP) with the ws code and the bound, never the message.
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import { GatehouseError, invalidInput } from '../errors.js';
import { detach } from '../background.js';

/** What the hook records besides the refusal itself. */
export type WsViolation = {
  /** ws's own code, e.g. WS_ERR_UNSUPPORTED_MESSAGE_LENGTH. */
  wsCode: string;
  /** The socket's bound on one message, in bytes. */
  maxPayload: number;
};

/** ws's codes for a message over the bound (1009) or split into more fragments than it buffers (1008). */
const TOO_LARGE = new Set([
  'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
  'WS_ERR_TOO_MANY_BUFFERED_PARTS',
]);

/** ws's error as the refusal it is; undefined for anything that is not a protocol refusal (a socket's own error). */
export function violationError(err: unknown, maxPayload: number): GatehouseError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return undefined;
  if (TOO_LARGE.has(code))
    return new GatehouseError('too_large', 'message_too_large', `a message may be at most ${maxPayload} bytes`);
  return invalidInput('invalid_frame', 'a frame the websocket protocol does not allow');
}

/** Close reasons by ws's close code; a page shows one it has no words of its own for (web/terminal/socket.ts). */
const reasons = (maxPayload: number): Record<number, string> => ({
  1002: 'invalid websocket frame',
  1007: 'text message is not valid UTF-8',
  1008: 'message in too many fragments',
  1009: `message too large (at most ${maxPayload} bytes)`,
});

/**
 * Audits what ws refuses on `ws` through `refused`, once per socket (ws reports one error, then the socket is
 * closing). Why `close` is wrapped: ws closes with 1002/1007/1008/1009 before it reports the error, and without a
 * reason; the wrapper adds one to a close that has none, so the page can say why.
 */
export function auditViolations(
  ws: WebSocket,
  maxPayload: number,
  refused: (err: GatehouseError, detail: WsViolation) => Promise<void>,
  logger: Pick<Logger, 'error'>,
): void {
  const byCode = reasons(maxPayload);
  const close = ws.close.bind(ws);
  ws.close = (code?: number, reason?: string | Buffer) =>
    close(code, reason ?? (code === undefined ? undefined : byCode[code]));
  ws.on('error', (err: unknown) => {
    const refusal = violationError(err, maxPayload);
    if (!refusal) return;
    const wsCode = String((err as { code: string }).code);
    detach(refused(refusal, { wsCode, maxPayload }), logger, 'could not audit a refused websocket frame');
  });
}
