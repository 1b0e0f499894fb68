// Secret refs ({ env } / { file }) and relative config paths, resolved against an explicit env and cwd.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConfigProblem } from './parse.js';
import type { Config, SecretRef } from './schema.js';

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Relative paths resolve against this folder (default: process.cwd()). */
  cwd?: string;
}

/** A secret could not be read. The message names the variable or file, never a value. */
export class SecretError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretError';
  }
}

/** A config path made absolute: relative ones resolve against `cwd`, absolute ones stay. */
export const resolveConfigPath = (p: string, cwd: string = process.cwd()): string => resolve(cwd, p);

/**
 * Reads a secret when it is needed, so that the Config object itself never holds one
 * (it is logged, shown to admins and passed around freely).
 */
export function resolveSecret(ref: SecretRef, opts: ResolveOptions = {}): string {
  if ('env' in ref) {
    const value = (opts.env ?? process.env)[ref.env];
    if (value === undefined) throw new SecretError(`environment variable ${ref.env} is not set`);
    if (value === '') throw new SecretError(`environment variable ${ref.env} is empty`);
    return value;
  }
  const file = resolveConfigPath(ref.file, opts.cwd);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory'
            : `cannot be read (${code ?? 'error'})`;
    throw new SecretError(`secret file ${file} ${why}`, { cause: err });
  }
  // Editors add one trailing newline; a secret never ends in one.
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new SecretError(`secret file ${file} is empty`);
  return value;
}

/** Every secret ref in the config, with its key path. */
export function secretRefs(config: Config): { path: string; ref: SecretRef }[] {
  const refs = [{ path: 'oidc.clientSecret', ref: config.oidc.clientSecret }];
  config.targets.forEach((t, i) => {
    if (t.ssh) refs.push({ path: `targets[${i}].ssh.credential`, ref: t.ssh.credential });
    if (t.rdp) refs.push({ path: `targets[${i}].rdp.credential`, ref: t.rdp.credential });
  });
  const pg = config.storage.engine === 'postgres' ? config.storage.postgres : undefined;
  if (pg?.url) refs.push({ path: 'storage.postgres.url', ref: pg.url });
  if (pg?.password) refs.push({ path: 'storage.postgres.password', ref: pg.password });
  if (pg?.tls?.keyFile) refs.push({ path: 'storage.postgres.tls.keyFile', ref: pg.tls.keyFile });
  return refs;
}

/** Each secret ref that does not resolve now (unset variable, missing/unreadable/empty file). */
export function unresolvedSecrets(config: Config, opts: ResolveOptions = {}): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { path, ref } of secretRefs(config)) {
    try {
      resolveSecret(ref, opts);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      problems.push({ path, message: err.message });
    }
  }
  return problems;
}

/** A copy of `config` with every relative path (storage, host keys, TLS, secret files) made absolute. */
export function resolveConfigPaths(config: Config, cwd: string = process.cwd()): Config {
  const abs = (p: string) => resolveConfigPath(p, cwd);
  const absRef = (ref: SecretRef): SecretRef => ('file' in ref ? { file: abs(ref.file) } : ref);
  return {
    ...config,
    http: config.http.tls
      ? { ...config.http, tls: { cert: abs(config.http.tls.cert), key: abs(config.http.tls.key) } }
      : config.http,
    ssh: { ...config.ssh, hostKeys: config.ssh.hostKeys.map(abs) },
    oidc: { ...config.oidc, clientSecret: absRef(config.oidc.clientSecret) },
    storage: {
      ...config.storage,
      dir: abs(config.storage.dir),
      ...(config.storage.postgres && { postgres: absPostgres(config.storage.postgres, abs, absRef) }),
    },
    audit: {
      ...config.audit,
      ...(config.audit.signingKey && { signingKey: { file: abs(config.audit.signingKey.file) } }),
      ...(config.audit.syslog?.caFile && {
        syslog: { ...config.audit.syslog, caFile: abs(config.audit.syslog.caFile) },
      }),
    },
    targets: config.targets.map((t) => ({
      ...t,
      ...(t.ssh && { ssh: { ...t.ssh, credential: absRef(t.ssh.credential) } }),
      ...(t.rdp && { rdp: { ...t.rdp, credential: absRef(t.rdp.credential) } }),
    })),
  };
}

type PostgresConfig = NonNullable<Config['storage']['postgres']>;

function absPostgres(
  pg: PostgresConfig,
  abs: (p: string) => string,
  absRef: (r: SecretRef) => SecretRef,
): PostgresConfig {
  const tls = pg.tls && {
    ...pg.tls,
    ...(pg.tls.caFile && { caFile: abs(pg.tls.caFile) }),
    ...(pg.tls.certFile && { certFile: abs(pg.tls.certFile) }),
    ...(pg.tls.keyFile && { keyFile: absRef(pg.tls.keyFile) }),
  };
  return {
    ...pg,
    ...(pg.url && { url: absRef(pg.url) }),
    ...(pg.password && { password: absRef(pg.password) }),
    ...(tls && { tls }),
  };
}
