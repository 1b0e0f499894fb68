// `gatehouse serve`: run the gateway until SIGTERM/SIGINT, then shut down gracefully.
import { type Gateway, startGateway } from '../app.js';
import { ACCEPT_MISSING_HEAD_FLAG } from '../audit-log.js';
import { loadConfig } from '../config.js';
import { type CliIo, parseArgs } from './io.js';

export async function runServe(argv: string[], io: CliIo): Promise<number> {
  const { flags } = parseArgs(argv);
  const configPath =
    typeof flags.get('config') === 'string' ? (flags.get('config') as string) : 'config/gatehouse.yaml';
  const config = await loadConfig(configPath);
  // The flag's use is itself an audit record (see AuditLog.open): accepting a missing head is never silent.
  const acceptMissingAuditHead = flags.get(ACCEPT_MISSING_HEAD_FLAG.slice(2)) === true;
  const gateway = await startGateway({ config, acceptMissingAuditHead });
  // Handlers first: whoever waits for the line below may signal the moment it reads it, before this
  // process runs another statement, and a SIGTERM with no handler yet kills it without a clean stop.
  const stopped = waitForSignal(gateway, io);
  io.out(`Gatehouse serving ${config.site.name} on ${gateway.http.url}`);
  return stopped;
}

/** Resolves with the exit code once a stop signal has been handled (stop accepting, finish audit writes, unlock). */
export function waitForSignal(gateway: Pick<Gateway, 'stop'>, io: CliIo): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      io.err(`gatehouse: ${signal} received, shutting down`);
      gateway.stop(signal).then(
        () => resolve(0),
        (err: unknown) => {
          io.err(`gatehouse: shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
