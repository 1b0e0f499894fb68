// Files the audit.* config names (signing key, SIEM CA), checked for `gatehouse config check` as warnings: like
// secrets, they may live only on the gateway's host, not where the check runs.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { dirname } from 'node:path';
import type { ConfigProblem } from './parse.js';
import type { Config } from './schema.js';

const why = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT'
    ? 'does not exist'
    : code === 'EACCES'
      ? 'is not readable (permission denied)'
      : `cannot be read (${code ?? 'error'})`;
};

/** Paths must already be absolute (resolveConfigPaths). */
export function auditFileWarnings(config: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const key = config.audit.signingKey?.file;
  if (key) {
    try {
      const mode = statSync(key).mode;
      accessSync(key, constants.R_OK);
      if ((mode & 0o077) !== 0)
        out.push({
          path: 'audit.signingKey.file',
          message: `${key} is readable by others: the gateway tightens it to 0600 at start`,
        });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        out.push({ path: 'audit.signingKey.file', message: `${key} ${why(err)}` });
      else {
        try {
          accessSync(dirname(key), constants.W_OK);
          out.push({
            path: 'audit.signingKey.file',
            message: `${key} does not exist: a first start creates it (a start on an existing log refuses)`,
          });
        } catch {
          out.push({ path: 'audit.signingKey.file', message: `${key} does not exist and its folder is not writable` });
        }
      }
    }
  }
  const ca = config.audit.syslog?.caFile;
  if (ca) {
    let pem: Buffer | undefined;
    try {
      pem = readFileSync(ca);
    } catch (err) {
      out.push({ path: 'audit.syslog.caFile', message: `${ca} ${why(err)}` });
    }
    try {
      if (pem) new X509Certificate(pem);
    } catch {
      out.push({ path: 'audit.syslog.caFile', message: `${ca} is not a PEM certificate` });
    }
  }
  return out;
}
