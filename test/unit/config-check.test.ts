// `gatehouse config check`, called in-process with a capturing CliIo: shipped configs pass, broken ones name paths.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfigCheck } from '../../gateway/cli/config-check.js';
import type { CliIo } from '../../gateway/cli/io.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const example = fileURLToPath(new URL('../../config/gatehouse.example.yaml', import.meta.url));
const demo = fileURLToPath(new URL('../../config/demo.yaml', import.meta.url));

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  return { io, out, err, all: () => [...out, ...err].join('\n') };
}

let tmp: TempDir;
beforeAll(async () => {
  tmp = await tempDir('gatehouse-config-check-');
});
afterAll(() => tmp.remove());

describe('gatehouse config check', () => {
  it('passes the shipped example, with unresolvable secrets as warnings only', async () => {
    const c = captureIo();
    const code = await runConfigCheck(['--config', example], c.io, { env: {}, cwd: tmp.path });
    expect(code).toBe(0);
    expect(c.out).toEqual([expect.stringMatching(/^OK: 1 target, site "Plant 3 - Line 2" \(Europe\/Berlin\)/)]);
    expect(c.err).toContain('warning: oidc.clientSecret: environment variable GATEHOUSE_OIDC_SECRET is not set');
    expect(c.err).toContain('warning: targets[0].rdp.credential: environment variable ENGWS01_PASSWORD is not set');
    expect(c.err.some((l) => l.startsWith('warning: targets[0].ssh.credential: secret file'))).toBe(true);
  });

  it('prints no warnings once every secret resolves, and never a secret value', async () => {
    await mkdir(join(tmp.path, 'config/keys'), { recursive: true });
    await writeFile(join(tmp.path, 'config/keys/eng-ws-01'), 'PRIVATE-KEY-MATERIAL\n');
    const env = { GATEHOUSE_OIDC_SECRET: 'oidc-secret-value', ENGWS01_PASSWORD: 'rdp-secret-value' };
    const c = captureIo();
    expect(await runConfigCheck([`--config=${example}`], c.io, { env, cwd: tmp.path })).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.all()).not.toMatch(/secret-value|PRIVATE-KEY/);
  });

  it('passes the demo config', async () => {
    const c = captureIo();
    const env = { GATEHOUSE_DEMO_OIDC_SECRET: 'x' };
    expect(await runConfigCheck(['--config', demo], c.io, { env, cwd: tmp.path })).toBe(0);
    expect(c.out[0]).toMatch(/^OK: 1 target, site "Demo plant"/);
  });

  it('exits 1 and names every problem path in a broken config', async () => {
    const file = join(tmp.path, 'broken.yaml');
    const text = (await readFile(example, 'utf8'))
      .replace('"Europe/Berlin"', '"Europe/Atlantis"')
      .replace(/hostKeySha256: ".*"/, 'hostKeySha256: "SHA256:nope"')
      .replace('approvalsRequired: 1 ', 'approvalsRequired: 0 ');
    await writeFile(file, text);
    const c = captureIo();
    expect(await runConfigCheck(['--config', file], c.io, { env: {} })).toBe(1);
    expect(c.out).toEqual([]);
    expect(c.err[0]).toBe(`${file}: 3 problems`);
    const report = c.err.join('\n');
    expect(report).toMatch(/^site\.timezone: .*Europe\/Atlantis.* \(line \d+\)$/m);
    expect(report).toMatch(/^targets\[0\]\.ssh\.hostKeySha256: /m);
    expect(report).toMatch(/^targets\[0\]\.approvalsRequired: /m);
  });

  it('exits 1 with a clear message when the file is missing', async () => {
    const c = captureIo();
    expect(await runConfigCheck(['--config', join(tmp.path, 'gatehouse.yaml')], c.io)).toBe(1);
    expect(c.err[0]).toMatch(
      /^error: cannot read config file .*gatehouse\.yaml: no such file\. To make one: copy config\/gatehouse\.example\.yaml/,
    );
  });

  it('exits 1 on a YAML syntax error, naming file, line and column', async () => {
    const file = join(tmp.path, 'syntax.yaml');
    await writeFile(file, 'site: { name: "x", timezone: UTC\nhttp: {}\n');
    const c = captureIo();
    expect(await runConfigCheck(['--config', file], c.io)).toBe(1);
    const first = c.err[1]!;
    expect(first.startsWith(`${file}:`)).toBe(true);
    expect(first.slice(file.length)).toMatch(/^:\d+:\d+: \S/);
    expect(first).not.toContain('(line');
  });

  it('exits 2 on a usage error and 0 on --help', async () => {
    const c = captureIo();
    expect(await runConfigCheck(['--conifg', example], c.io)).toBe(2);
    expect(await runConfigCheck(['--config'], c.io)).toBe(2);
    expect(await runConfigCheck(['extra'], c.io)).toBe(2);
    expect(c.err).toContain('gatehouse config check: unknown option --conifg');
    expect(c.err).toContain('gatehouse config check: --config needs a path');
    expect(c.err).toContain("gatehouse config check: unexpected argument 'extra'");
    expect(c.err.join('\n')).toMatch(/usage: gatehouse config check/);
    expect(await runConfigCheck(['--help'], captureIo().io)).toBe(0);
  });
});
