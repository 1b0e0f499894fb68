// Bundles web/ into dist/web with esbuild: every browser asset is served by the gateway (air-gapped sites).
import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'web', 'main.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  loader: { '.css': 'css', '.woff2': 'file', '.woff': 'file', '.ttf': 'file' },
  logLevel: 'warning',
});
// The replay page's player styles (issue 6), bundled from node_modules like the code; the page links them on first use.
await build({
  entryPoints: { 'vendor/asciinema-player': join(root, 'node_modules', 'asciinema-player', 'dist', 'bundle', 'asciinema-player.css') },
  outdir: out,
  bundle: true,
  minify: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'styles.css', 'favicon.svg'])
  await cp(join(root, 'web', file), join(out, file));
