// `gatehouse demo`: the whole system on one machine with no setup. State lives in --dir or a new
// temporary folder (printed), so a demo never touches a real site's evidence.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startGateway } from '../app.js';
import { loadConfig } from '../config.js';
import { shippedConfigDir } from '../paths.js';
import { type CliIo, parseArgs } from './io.js';
import { waitForSignal } from './serve.js';

export async function runDemo(argv: string[], io: CliIo): Promise<number> {
  const { flags } = parseArgs(argv);
  const given = flags.get('dir');
  const dir = typeof given === 'string' ? resolve(given) : await mkdtemp(join(tmpdir(), 'gatehouse-demo-'));
  await mkdir(dir, { recursive: true });

  // The demo's client secret is made per run: nothing secret is shipped in the repository.
  const env = { ...process.env, GATEHOUSE_DEMO_OIDC_SECRET: randomBytes(24).toString('base64url') };
  const config = await loadConfig(join(shippedConfigDir, 'demo.yaml'), { env, cwd: dir, resolveSecrets: false });
  config.storage.dir = dir;

  const gateway = await startGateway({ config, cwd: dir });
  io.out(
    [
      '',
      `Gatehouse demo — ${config.site.name}`,
      `  web:      ${gateway.http.url}/`,
      `  storage:  ${dir}`,
      '',
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );
  return waitForSignal(gateway, io);
}
