// Every command and subcommand answers --help with its usage (exit 0, nothing started, nothing read), and the
// config messages a new admin meets say what to do: no config yet, a misspelt key, a YAML syntax error.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'gh-help-'));
});
afterAll(async () => rm(cwd, { recursive: true, force: true }));

const COMMANDS = [
  ['serve'],
  ['demo'],
  ['config'],
  ['config', 'check'],
  ['audit'],
  ['audit', 'verify'],
  ['recordings'],
  ['recordings', 'verify'],
  ['evidence'],
  ['evidence', 'export'],
  ['evidence', 'verify'],
  ['users'],
  ['users', 'reset-totp'],
  ['rdp-cert'],
];

describe('--help', () => {
  it.each(COMMANDS)(
    'gatehouse %s … --help prints its usage and touches nothing',
    async (...words) => {
      for (const flag of ['--help', '-h']) {
        // A config path that does not exist: --help must not even try to read it.
        const r = await runCli([...words, flag, '--config', 'missing.yaml'], { cwd, timeoutMs: 20_000 });
        expect(r.code).toBe(0);
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(new RegExp(`^usage:\\n {2}gatehouse ${words.join(' ')}`));
      }
      // Nothing was created where it ran (no storage folder, no keys, no demo state).
      expect(await readdir(cwd)).toEqual([]);
    },
    90_000,
  );

  it('a group without its subcommand names the subcommands and fails', async () => {
    const r = await runCli(['evidence'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'evidence' needs a subcommand");
    expect(r.stderr).toContain('gatehouse evidence export');
    expect(r.stderr).toContain('gatehouse evidence verify');
  });

  it('top-level --help lists every command', async () => {
    const r = await runCli(['--help'], { cwd });
    expect(r.code).toBe(0);
    for (const [first] of COMMANDS) expect(r.stdout).toContain(`gatehouse ${first!}`);
  });
});

describe('config messages', () => {
  it('serve without a config says how to get one', async () => {
    const r = await runCli(['serve'], { cwd, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('config/gatehouse.example.yaml');
    expect(r.stderr).toContain('gatehouse config check');
    expect(r.stderr).toContain('gatehouse demo');
  });

  it('a misspelt key suggests the right one, once', async () => {
    const file = join(cwd, 'typo.yaml');
    await writeFile(file, 'site: { name: x, timezon: "UTC" }\nstepUp: { maxAgeMinute: 5 }\n');
    const r = await runCli(['config', 'check', '--config', file], { cwd });
    await rm(file);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('site.timezon: unknown key; did you mean "timezone"? (line 1)');
    expect(r.stdout + r.stderr).toContain('stepUp.maxAgeMinute: unknown key; did you mean "maxAgeMinutes"? (line 2)');
    expect(r.stdout + r.stderr).not.toContain('site.timezone: required');
  });

  it('a YAML syntax error is one problem with its line and column', async () => {
    const file = join(cwd, 'broken.yaml');
    await writeFile(file, 'site: { name: x\n  foo: [\n');
    const r = await runCli(['config', 'check', '--config', file], { cwd });
    await rm(file);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toContain('broken.yaml: 1 problem');
    expect(out).toMatch(/broken\.yaml:1:\d+: YAML syntax error: /);
  });
});
