// Bundles web/ into dist/web with esbuild: every browser asset is served by the gateway (air-gapped sites).
// Code and styles go to dist/web/assets/ under content-hashed names (served as immutable, gateway/http/
// static-assets.ts); index.html is written here with those names. Text assets get .br and .gz copies.
import { realpathSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants as zc, gzip } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const hashed = {
  entryNames: 'assets/[name]-[hash]',
  chunkNames: 'assets/chunk-[hash]',
  assetNames: 'assets/[name]-[hash]',
};
/** The URL path of an esbuild output (metafile paths are relative to absWorkingDir, the repository). */
const urlOf = (output) => `/${relative(out, join(root, output)).split(sep).join('/')}`;
/** The output esbuild wrote for `entry` (metafile names entries by real path: node_modules may be a link). */
const outputFor = (metafile, entry) => {
  const name = relative(root, realpathSync(entry)).split(sep).join('/');
  const found = Object.entries(metafile.outputs).find(([, o]) => o.entryPoint === name);
  if (!found) throw new Error(`esbuild produced no output for ${entry}`);
  return found;
};

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

// Page styles, and the replay player's styles (bundled from node_modules; the replay page links them on first use).
const stylesEntry = join(root, 'web', 'styles.css');
const playerEntry = join(root, 'node_modules', 'asciinema-player', 'dist', 'bundle', 'asciinema-player.css');
const css = await build({
  entryPoints: { styles: stylesEntry, 'asciinema-player': playerEntry },
  absWorkingDir: root,
  outdir: out,
  ...hashed,
  bundle: true,
  minify: true,
  metafile: true,
  logLevel: 'warning',
});

const appEntry = join(root, 'web', 'main.ts');
const app = await build({
  entryPoints: { app: appEntry },
  absWorkingDir: root,
  outdir: out,
  ...hashed,
  bundle: true,
  // ESM chunks: the pages with xterm.js, asciinema-player or guacamole-common-js load them on first visit.
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  loader: { '.css': 'css', '.woff2': 'file', '.woff': 'file', '.ttf': 'file' },
  define: { GATEHOUSE_PLAYER_CSS: JSON.stringify(urlOf(outputFor(css.metafile, playerEntry)[0])) },
  metafile: true,
  logLevel: 'warning',
});
const [appJs, appOut] = outputFor(app.metafile, appEntry);
if (!appOut.cssBundle) throw new Error('the app bundle has no stylesheet');
// esbuild also writes a stylesheet per lazy chunk; the app's holds all of it (checked), so those are never linked.
const unlinked = new Set(Object.values(app.metafile.outputs).map((o) => o.cssBundle));
unlinked.delete(appOut.cssBundle);
unlinked.delete(undefined);
for (const file of unlinked) {
  for (const input of Object.keys(app.metafile.outputs[file].inputs))
    if (!app.metafile.outputs[appOut.cssBundle].inputs[input])
      throw new Error(`${input} is missing from the app stylesheet`);
  await rm(join(root, file));
  for (const extra of ['.map', '.LEGAL.txt']) await rm(join(root, file + extra), { force: true });
}
// Chunks the entry imports statically are announced in the page, so the browser fetches them in parallel.
const preload = [];
const walk = (file) => {
  for (const i of app.metafile.outputs[file].imports)
    if (i.kind === 'import-statement' && !preload.includes(i.path)) {
      preload.push(i.path);
      walk(i.path);
    }
};
walk(appJs);

const names = {
  'href="/app.css"': `href="${urlOf(appOut.cssBundle)}"`,
  'href="/styles.css"': `href="${urlOf(outputFor(css.metafile, stylesEntry)[0])}"`,
  '<script type="module" src="/app.js"></script>': [
    `<script type="module" src="${urlOf(appJs)}"></script>`,
    ...preload.map((p) => `<link rel="modulepreload" href="${urlOf(p)}" />`),
  ].join('\n    '),
};
let html = await readFile(join(root, 'web', 'index.html'), 'utf8');
for (const [from, to] of Object.entries(names)) {
  if (!html.includes(from)) throw new Error(`web/index.html no longer contains ${from}`);
  html = html.replace(from, to);
}
await writeFile(join(out, 'index.html'), html);
// Unhashed, short cache: the icon, and styles.css for the gateway's own sign-in error page (gateway/http/routes/auth.ts).
for (const file of ['styles.css', 'favicon.svg']) await cp(join(root, 'web', file), join(out, file));

// Precompressed copies, kept only when they save something; below 1 KiB the headers cost more than they save.
// Source maps (fetched only by developer tools) get a quicker brotli level: 11 on them triples the build time.
const COMPRESSIBLE = new Set(['.js', '.css', '.html', '.svg', '.txt', '.map']);
const brotli = promisify(brotliCompress);
const gz = promisify(gzip);
const files = (await readdir(out, { recursive: true })).map((f) => join(out, f));
await Promise.all(
  files.map(async (file) => {
    if (!COMPRESSIBLE.has(extname(file)) || (await stat(file)).size < 1024) return;
    const body = await readFile(file);
    const variants = [
      [
        '.br',
        await brotli(body, {
          params: {
            [zc.BROTLI_PARAM_QUALITY]: file.endsWith('.map') ? 6 : 11,
            [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT,
            [zc.BROTLI_PARAM_SIZE_HINT]: body.length,
          },
        }),
      ],
      ['.gz', await gz(body, { level: 9 })],
    ];
    for (const [ext, packed] of variants) if (packed.length < body.length) await writeFile(file + ext, packed);
  }),
);
