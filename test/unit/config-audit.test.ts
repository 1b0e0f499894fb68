// The audit.* config keys: defaults, the SIEM stream's shape, what is rejected with its path, and what config check warns about.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runConfigCheck } from '../../gateway/cli/config-check.js';
import { parseConfig, resolveConfigPaths } from '../../gateway/config.js';
import { testConfigInput } from '../helpers/config.js';
import { makeTestCa } from '../helpers/rsyslog.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await tempDir('gatehouse-config-audit-');
});
afterEach(() => tmp.remove());

const withAudit = (audit: unknown) => parseConfig({ ...testConfigInput('state'), audit });

describe('audit config', () => {
  it('defaults to a 60 s checkpoint, the key in the storage folder and no SIEM', () => {
    const r = parseConfig(testConfigInput('state'));
    expect(r.ok && r.config.audit).toEqual({ checkpointEverySeconds: 60 });
  });

  it('takes a key file and a SIEM, with TLS and defaults filled in; relative paths resolve', () => {
    const r = withAudit({
      signingKey: { file: 'keys/audit.pem' },
      checkpointEverySeconds: 30,
      syslog: { host: 'siem.plant3.example', port: 6514, caFile: 'siem-ca.pem' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.audit.syslog).toEqual({
      host: 'siem.plant3.example',
      port: 6514,
      transport: 'tls',
      caFile: 'siem-ca.pem',
      appName: 'gatehouse',
      alertBacklog: 10_000,
      alertAfterSeconds: 60,
    });
    const abs = resolveConfigPaths(r.config, '/etc/gatehouse');
    expect(abs.audit.signingKey).toEqual({ file: '/etc/gatehouse/keys/audit.pem' });
    expect(abs.audit.syslog?.caFile).toBe('/etc/gatehouse/siem-ca.pem');
  });

  it.each([
    ['an inline key', { signingKey: 'BEGIN PRIVATE KEY' }, 'audit.signingKey', /object/],
    ['a key from env', { signingKey: { env: 'KEY' } }, 'audit.signingKey.env', /unknown key/],
    ['no checkpoint interval', { checkpointEverySeconds: 0 }, 'audit.checkpointEverySeconds', />=1|too small/i],
    ['a SIEM without a port', { syslog: { host: 'siem' } }, 'audit.syslog.port', /required/],
    ['UDP', { syslog: { host: 'siem', port: 514, transport: 'udp' } }, 'audit.syslog.transport', /tcp|tls/],
    [
      'a CA on plain TCP',
      { syslog: { host: 'siem', port: 514, transport: 'tcp', caFile: 'ca.pem' } },
      'audit.syslog.caFile',
      /only applies to transport: tls/,
    ],
    [
      'an APP-NAME with a space',
      { syslog: { host: 'siem', port: 6514, appName: 'gate house' } },
      'audit.syslog.appName',
      /printable ASCII/,
    ],
    ['a bad host', { syslog: { host: 'siem_1', port: 6514 } }, 'audit.syslog.host', /not a hostname/],
    ['a misspelt key', { syslog: { host: 'siem', port: 6514, hots: 'x' } }, 'audit.syslog.hots', /unknown key/],
  ])('rejects %s', (_what, audit, path, message) => {
    const r = withAudit(audit);
    if (r.ok) throw new Error('expected a rejection');
    const p = r.problems.find((x) => x.path === path);
    expect(p, JSON.stringify(r.problems)).toBeDefined();
    expect(p!.message).toMatch(message);
  });

  it('config check warns about a missing CA file or key, and passes good ones', async () => {
    const input = {
      ...testConfigInput('state'),
      audit: {
        signingKey: { file: 'nokeys/audit.pem' },
        syslog: { host: '127.0.0.1', port: 6514, caFile: 'missing-ca.pem' },
      },
    };
    const file = join(tmp.path, 'gatehouse.yaml');
    await writeFile(file, stringify(input));
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const env = { GATEHOUSE_TEST_OIDC_SECRET: 'x' };
    await writeFile(join(tmp.path, 'target-key'), 'k\n');
    expect(await runConfigCheck(['--config', file], io, { env, cwd: tmp.path })).toBe(0);
    expect(lines.join('\n')).toMatch(/warning: audit.syslog.caFile: .*missing-ca.pem does not exist/);
    expect(lines.join('\n')).toMatch(/warning: audit.signingKey.file: .*does not exist and its folder is not writable/);

    const ca = makeTestCa(tmp.path);
    await mkdir(join(tmp.path, 'nokeys'));
    await writeFile(join(tmp.path, 'nokeys', 'audit.pem'), 'x', { mode: 0o600 });
    await writeFile(
      file,
      stringify({ ...input, audit: { ...input.audit, syslog: { ...input.audit.syslog, caFile: ca.caFile } } }),
    );
    lines.length = 0;
    expect(await runConfigCheck(['--config', file], io, { env, cwd: tmp.path })).toBe(0);
    expect(lines.join('\n')).not.toMatch(/warning: audit/);
    await writeFile(ca.caFile, 'not a certificate');
    lines.length = 0;
    await runConfigCheck(['--config', file], io, { env, cwd: tmp.path });
    expect(lines.join('\n')).toMatch(/warning: audit.syslog.caFile: .* is not a PEM certificate/);
  });
});
