// Bundles a TypeScript entry into one .mjs that a plain `node` child can run (vitest's transform is
// not there), e.g. for SIGKILL tests that must kill a real process mid-write.
import { mkdir, mkdtemp } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../../gateway/paths.js';

/** Where bundles go by default: inside the repo, so the bundle's bare imports resolve from node_modules. */
export const bundleRoot = join(packageRoot, 'node_modules', '.cache', 'gatehouse-test-bundles');

/**
 * Bundles `entryTs` (and the repo files it imports) into `<outDir>/<name>.mjs` and returns its path.
 * npm packages stay external and resolve from the bundle's location, so `outDir` must lie inside the
 * repo; by default a fresh folder under node_modules/.cache is used.
 */
export async function bundleForChild(entryTs: string, outDir?: string): Promise<string> {
  let dir = outDir;
  if (!dir) {
    await mkdir(bundleRoot, { recursive: true });
    dir = await mkdtemp(join(bundleRoot, 'b-'));
  }
  const outfile = join(dir, `${basename(entryTs).replace(/\.[cm]?tsx?$/, '')}.mjs`);
  await build({
    entryPoints: [entryTs],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return outfile;
}
