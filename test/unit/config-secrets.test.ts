// Secret refs resolve from env and files; loadConfig makes paths absolute and names every missing secret.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  ConfigError,
  formatProblems,
  loadConfig,
  parseConfig,
  resolveConfigPaths,
  resolveSecret,
  SecretError,
  unresolvedSecrets,
} from '../../gateway/config.js';
import { testConfigInput } from '../helpers/config.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await tempDir('gatehouse-config-');
  await mkdir(join(tmp.path, 'keys'));
  await writeFile(join(tmp.path, 'keys', 'target'), 'file-secret-value\n');
  await writeFile(join(tmp.path, 'two-newlines'), 'abc\n\n');
  await writeFile(join(tmp.path, 'crlf'), 'abc\r\n');
  await writeFile(join(tmp.path, 'empty'), '\n');
});
afterAll(() => tmp.remove());

/** The helper config with relative storage and an ssh + rdp target whose credentials we control. */
function input(credentialFile = 'keys/target') {
  // biome-ignore lint/suspicious/noExplicitAny: the test reshapes the raw helper config.
  const c = testConfigInput('state') as Record<string, any>;
  c.targets[0].ssh.credential = { file: credentialFile };
  c.targets[0].rdp = { host: '127.0.0.1', username: 'maint', credential: { env: 'GH_TEST_RDP_PW' } };
  return c;
}

describe('resolveSecret', () => {
  it('reads an environment variable from the env it is given', () => {
    expect(resolveSecret({ env: 'X_PW' }, { env: { X_PW: 'env-secret' } })).toBe('env-secret');
    expect(() => resolveSecret({ env: 'X_PW' }, { env: {} })).toThrow(/environment variable X_PW is not set/);
    expect(() => resolveSecret({ env: 'X_PW' }, { env: { X_PW: '' } })).toThrow(/X_PW is empty/);
  });

  it('reads a file relative to cwd, dropping exactly one trailing newline', () => {
    expect(resolveSecret({ file: 'keys/target' }, { cwd: tmp.path })).toBe('file-secret-value');
    expect(resolveSecret({ file: join(tmp.path, 'keys/target') })).toBe('file-secret-value');
    expect(resolveSecret({ file: 'two-newlines' }, { cwd: tmp.path })).toBe('abc\n');
    expect(resolveSecret({ file: 'crlf' }, { cwd: tmp.path })).toBe('abc');
  });

  it('names a missing, empty or unreadable file without its content', () => {
    expect(() => resolveSecret({ file: 'nope' }, { cwd: tmp.path })).toThrow(SecretError);
    expect(() => resolveSecret({ file: 'nope' }, { cwd: tmp.path })).toThrow(
      `${join(tmp.path, 'nope')} does not exist`,
    );
    expect(() => resolveSecret({ file: 'empty' }, { cwd: tmp.path })).toThrow(/is empty/);
    expect(() => resolveSecret({ file: 'keys' }, { cwd: tmp.path })).toThrow(/is a directory/);
  });
});

describe('unresolvedSecrets', () => {
  const parsed = parseConfig(input());
  if (!parsed.ok) throw new Error(formatProblems(parsed.problems));
  const config = parsed.config;

  it('is empty when every ref resolves', () => {
    const env = { GATEHOUSE_TEST_OIDC_SECRET: 'oidc-secret-value', GH_TEST_RDP_PW: 'rdp-secret-value' };
    expect(unresolvedSecrets(config, { env, cwd: tmp.path })).toEqual([]);
  });

  it('reports each failing ref by its key path, never a value', () => {
    const env = { GATEHOUSE_TEST_OIDC_SECRET: 'oidc-secret-value' };
    const problems = unresolvedSecrets(config, { env, cwd: join(tmp.path, 'elsewhere') });
    expect(problems).toEqual([
      { path: 'targets[0].ssh.credential', message: expect.stringMatching(/keys\/target does not exist/) },
      { path: 'targets[0].rdp.credential', message: 'environment variable GH_TEST_RDP_PW is not set' },
    ]);
    expect(JSON.stringify(problems)).not.toContain('secret-value');
  });
});

describe('loadConfig', () => {
  const write = async (name: string, c: unknown) => {
    const file = join(tmp.path, name);
    await writeFile(file, typeof c === 'string' ? c : stringify(c));
    return file;
  };
  const env = { GATEHOUSE_TEST_OIDC_SECRET: 'oidc-secret-value', GH_TEST_RDP_PW: 'rdp-secret-value' };

  it('returns the config with relative paths resolved against cwd', async () => {
    const file = await write('ok.yaml', input());
    const config = await loadConfig(file, { env, cwd: tmp.path });
    expect(config.storage.dir).toBe(join(tmp.path, 'state'));
    expect(config.ssh.hostKeys).toEqual([join(tmp.path, 'host_key_ed25519')]);
    expect(config.targets[0]!.ssh!.credential).toEqual({ file: join(tmp.path, 'keys/target') });
    expect(config.targets[0]!.rdp!.credential).toEqual({ env: 'GH_TEST_RDP_PW' });
    expect(JSON.stringify(config)).not.toContain('secret-value');
  });

  it('throws a ConfigError naming every unresolved secret, unless resolveSecrets is false', async () => {
    const file = await write('missing-secrets.yaml', input('keys/absent'));
    const err = await loadConfig(file, { env: {}, cwd: tmp.path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.path)).toEqual([
      'oidc.clientSecret',
      'targets[0].ssh.credential',
      'targets[0].rdp.credential',
    ]);
    await expect(loadConfig(file, { env: {}, cwd: tmp.path, resolveSecrets: false })).resolves.toBeTruthy();
  });

  it('throws a ConfigError with all schema problems and their lines', async () => {
    const c = input();
    c.site.timezone = 'Nowhere/Else';
    c.targets[0].approvalsRequired = 0;
    const file = await write('bad.yaml', c);
    const err = (await loadConfig(file, { env, cwd: tmp.path }).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems.map((p) => p.path)).toEqual(['site.timezone', 'targets[0].approvalsRequired']);
    expect(err.problems.every((p) => typeof p.line === 'number')).toBe(true);
    expect(err.message).toContain('site.timezone: "Nowhere/Else" is not an IANA time zone');
  });

  it('reports a missing file and a YAML syntax error as ConfigErrors', async () => {
    const missing = (await loadConfig(join(tmp.path, 'absent.yaml')).catch((e: unknown) => e)) as ConfigError;
    expect(missing.problems).toEqual([{ path: '(file)', message: expect.stringMatching(/no such file/) }]);
    const file = await write('syntax.yaml', 'site:\n  name: "x\n');
    const syntax = (await loadConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(syntax).toBeInstanceOf(ConfigError);
    expect(syntax.problems[0]!.path).toMatch(/syntax\.yaml:\d+:\d+$/);
  });
});

describe('resolveConfigPaths', () => {
  it('leaves absolute paths alone and does not touch the input', () => {
    const parsed = parseConfig(testConfigInput('/var/lib/gatehouse'));
    if (!parsed.ok) throw new Error('invalid');
    const resolved = resolveConfigPaths(parsed.config, '/srv');
    expect(resolved.storage.dir).toBe('/var/lib/gatehouse');
    expect(resolved.ssh.hostKeys).toEqual(['/srv/host_key_ed25519']);
    expect(parsed.config.ssh.hostKeys).toEqual(['host_key_ed25519']);
  });
});
