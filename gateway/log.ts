// Structured JSON logs (pino). Secrets are redacted by path so a careless log call cannot leak them.
import { type Logger, pino } from 'pino';

export type { Logger };

const redactPaths = [
  '*.password',
  '*.secret',
  '*.clientSecret',
  '*.token',
  '*.code',
  '*.credential',
  '*.privateKey',
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf-token"]',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.GATEHOUSE_LOG_LEVEL ?? 'info';
  const opts = { level, base: { app: 'gatehouse' }, redact: { paths: redactPaths, censor: '[redacted]' } };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that writes nothing: for tests and for CLI commands whose output is for humans. */
export const silentLogger: Logger = pino({ level: 'silent' });
