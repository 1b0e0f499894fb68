// Where the package's own files are, whether running from dist/ or from source under vitest.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('gatehouse: cannot find the package root');
}

export const packageRoot = findPackageRoot();
/** The bundled browser app (npm run build writes it). */
export const webRoot = join(packageRoot, 'dist', 'web');
export const shippedConfigDir = join(packageRoot, 'config');
