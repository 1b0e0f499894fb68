// The real `gatehouse` binary: serve, a second process refused, SIGTERM, a tampered log stops start-up.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli, startCli } from '../helpers/cli.js';
import { testConfigInput } from '../helpers/config.js';

let dir: string;
const env = { GATEHOUSE_TEST_OIDC_SECRET: 'not-a-real-secret' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gh-cli-'));
  await writeFile(join(dir, 'gatehouse.yaml'), stringify(testConfigInput('state')));
  await writeFile(join(dir, 'target-key'), 'placeholder-key\n', { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse CLI', () => {
  it('prints its version and refuses unknown commands', async () => {
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const u = await runCli(['frobnicate']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("unknown command 'frobnicate'");
  });

  it('serves, refuses a second process on the same storage, and stops cleanly on SIGTERM', async () => {
    const first = await startCli(['serve', '--config', 'gatehouse.yaml'], /serving Test plant on (http:\S+)/, {
      cwd: dir,
      env,
    });
    const url = first.match[1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    const second = await runCli(['serve', '--config', 'gatehouse.yaml'], { cwd: dir, env });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/in use by another Gatehouse process \(pid \d+/);

    first.child.kill('SIGTERM');
    const done = await first.exited;
    expect(done.code).toBe(0);
    const log = await readFile(join(dir, 'state', 'audit.jsonl'), 'utf8');
    expect(log).toContain('"type":"gateway.stopped"');

    const verify = await runCli(['audit', 'verify', '--dir', join(dir, 'state')]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('intact');
  });

  it('refuses to start on a tampered audit log, naming the first bad record', async () => {
    const path = join(dir, 'state', 'audit.jsonl');
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    lines[1] = lines[1]!.replace('"seq":2', '"seq":2,"x":1');
    await writeFile(path, `${lines.join('\n')}\n`);
    const res = await runCli(['serve', '--config', 'gatehouse.yaml'], { cwd: dir, env });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('audit log is broken');
    expect(res.stderr).toMatch(/seq 2\b/);
  });

  it('reports an invalid config with its key path and exit 1', async () => {
    await writeFile(join(dir, 'bad.yaml'), stringify({ ...testConfigInput('state'), surprise: true }));
    const res = await runCli(['serve', '--config', 'bad.yaml'], { cwd: dir, env });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('surprise');
  });
});
