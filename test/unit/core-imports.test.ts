// gateway/core/ stays pure: no module in it imports anything that does I/O, nor anything outside core but errors.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const coreDir = join(root, 'gateway', 'core');
const errorsFile = join(root, 'gateway', 'errors.js');

/** Modules that reach disks, sockets, processes or the log: adapters' business, never core's. */
const IO_MODULES = new Set([
  'fs',
  'fs/promises',
  'net',
  'tls',
  'dgram',
  'http',
  'https',
  'http2',
  'child_process',
  'express',
  'ssh2',
  'lowdb',
  'lowdb/node',
  'ws',
  'pino',
]);

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier in `text`: static imports, re-exports, import types, `import()` and `require()`. */
function specifiersOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** Why `spec`, imported by `file`, breaks core's rule; undefined if it is fine. */
function problemOf(file: string, spec: string): string | undefined {
  const bare = spec.replace(/^node:/, '');
  if (IO_MODULES.has(bare) || IO_MODULES.has(bare.split('/')[0]!)) return `${spec} does I/O`;
  if (spec.startsWith('.')) {
    const target = resolve(dirname(file), spec);
    if (target === errorsFile) return undefined;
    if (!target.startsWith(coreDir + sep))
      return `${spec} lies outside gateway/core (only ../errors.js may be imported)`;
  }
  return undefined;
}

describe('gateway/core imports', () => {
  it('finds the imports this test relies on, in every syntax', () => {
    const text = `import a from 'node:fs';\nimport type { B } from "../store.js";\nexport { c } from './x.js';\nconst d = await import('ws');\nconst e = require('net');\nimport {\n  f, // it's here\n} from 'ssh2';\n`;
    expect(specifiersOf(text)).toEqual(['node:fs', '../store.js', './x.js', 'ws', 'net', 'ssh2']);
    const fake = join(coreDir, 'fake.ts');
    expect(specifiersOf(text).map((s) => problemOf(fake, s))).toEqual([
      'node:fs does I/O',
      '../store.js lies outside gateway/core (only ../errors.js may be imported)',
      undefined,
      'ws does I/O',
      'net does I/O',
      'ssh2 does I/O',
    ]);
    expect(problemOf(fake, '../errors.js')).toBeUndefined();
    expect(problemOf(fake, './sub/../../config.js')).toBeDefined();
    expect(problemOf(fake, 'node:fs/promises')).toBeDefined();
    expect(problemOf(fake, 'node:crypto')).toBeUndefined();
  });

  it('has no module that imports I/O or reaches outside core', () => {
    const files = tsFiles(coreDir);
    expect(files.map((f) => relative(coreDir, f))).toEqual(
      expect.arrayContaining(['model.ts', 'windows.ts', 'requests.ts', 'policy.ts']),
    );
    const problems = files.flatMap((file) =>
      specifiersOf(readFileSync(file, 'utf8')).flatMap((spec) => {
        const p = problemOf(file, spec);
        return p ? [`${relative(root, file)}: ${p}`] : [];
      }),
    );
    expect(problems).toEqual([]);
  });
});
