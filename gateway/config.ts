// The gateway's configuration: load config/gatehouse.yaml once at start and stop loudly on any problem.
import { readFile } from 'node:fs/promises';
import { ConfigError, parseConfigText } from './config/parse.js';
import type { Config } from './config/schema.js';
import { resolveConfigPaths, unresolvedSecrets } from './config/secrets.js';

export { type HostPort, parseClockTime, parseHostPort } from './config/checks.js';
export {
  ConfigError,
  type ConfigProblem,
  formatPath,
  formatProblems,
  type ParseResult,
  parseConfig,
  parseConfigText,
} from './config/parse.js';
export type {
  AuditConfig,
  CommandRule,
  Config,
  MaintenanceWindow,
  RdpTargetConfig,
  SecretRef,
  SshTargetConfig,
  SyslogConfig,
  TargetConfig,
} from './config/schema.js';
export {
  type ResolveOptions,
  resolveConfigPath,
  resolveConfigPaths,
  resolveSecret,
  SecretError,
  secretRefs,
  unresolvedSecrets,
} from './config/secrets.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Relative paths inside the config resolve against this (default process.cwd()); `file` itself does not. */
  cwd?: string;
  /** Check that every secret ref resolves now (default true): a missing secret should stop start-up, not a login. */
  resolveSecrets?: boolean;
}

/**
 * Reads, validates and returns the config with every path made absolute. Throws ConfigError with
 * all problems found. Secret values are not read into the result: call resolveSecret on use.
 */
export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<Config> {
  const cwd = opts.cwd ?? process.cwd();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file. To make one: copy config/gatehouse.example.yaml to that path, edit it, and run ' +
          '`gatehouse config check --config <path>`; or try everything first with `gatehouse demo` (no config needed)'
        : code === 'EISDIR'
          ? 'is a directory'
          : (code ?? String(err));
    throw new ConfigError([{ path: '(file)', message: `cannot read config file ${file}: ${why}` }], file);
  }
  const parsed = parseConfigText(text, file);
  if (!parsed.ok) throw new ConfigError(parsed.problems, file);
  const config = resolveConfigPaths(parsed.config, cwd);
  if (opts.resolveSecrets ?? true) {
    const problems = unresolvedSecrets(config, { env: opts.env ?? process.env, cwd });
    if (problems.length > 0) throw new ConfigError(problems, file);
  }
  return config;
}

export { auditFileWarnings } from './config/audit-files.js';
export { isHost, normalizeCertSha256 } from './config/checks.js';
