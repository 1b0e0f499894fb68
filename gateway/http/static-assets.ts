// The bundled web app's files (dist/web, written by scripts/build-web.js). Content-hashed names under /assets/
// are cached for a year (a new build means new names, so a browser never runs yesterday's code against today's
// API); the few fixed names briefly; the shell page never. The build's .br/.gz copies go to browsers that take them.
import { extname, relative, sep } from 'node:path';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { notFound } from '../errors.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=600';
/** Extensions the build precompresses (scripts/build-web.js). */
const COMPRESSIBLE = new Set(['.js', '.css', '.html', '.svg', '.txt', '.map']);
/** Paths that name a file: missing, they are a 404, never the app's shell page (a script that is HTML fails obscurely). */
const FILE_LIKE = /^\/assets\/|\.(?:m?js|css|map|txt|svg|png|ico|woff2?|ttf|wasm|json|br|gz)$/i;
/** Preferred first: brotli comes out 11-15% smaller than gzip on this bundle. */
const ENCODINGS = [
  { token: 'br', ext: '.br' },
  { token: 'gzip', ext: '.gz' },
] as const;

/**
 * The encoding to send for an Accept-Encoding header: the one with the highest q above 0 (brotli on a tie, which is
 * what browsers send: `gzip, deflate, br` with no weights), or none when the client prefers identity.
 */
export function pickEncoding(header: string | undefined): (typeof ENCODINGS)[number] | undefined {
  if (!header) return undefined;
  const q = new Map<string, number>();
  for (const part of header.slice(0, 1024).split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    // RFC 9110 weights (0 to 1, three decimals); anything else counts as no weight.
    const weight = params
      .map((p) => /^\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/.exec(p)?.[1])
      .find((v) => v !== undefined);
    q.set(name, weight === undefined ? 1 : Number(weight));
  }
  const qOf = (token: string) => q.get(token) ?? q.get('*') ?? 0;
  let best: (typeof ENCODINGS)[number] | undefined;
  for (const e of ENCODINGS) if (qOf(e.token) > 0 && (!best || qOf(e.token) > qOf(best.token))) best = e;
  if (best && (q.get('identity') ?? 0) > qOf(best.token)) return undefined;
  return best;
}

export function staticAssets(root: string): RequestHandler {
  const setHeaders = (res: Response, file: string) => {
    const rel = relative(root, file);
    res.setHeader(
      'Cache-Control',
      rel.startsWith(`assets${sep}`) ? IMMUTABLE : rel === 'index.html' ? 'no-store' : SHORT,
    );
  };
  // ETag, Last-Modified, conditional GETs and ranges as express.static gives them, for both identity and encoded files.
  const serve = express.static(root, {
    index: false,
    redirect: false,
    fallthrough: true,
    cacheControl: false,
    setHeaders,
  });

  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const missing = (err?: unknown) => {
      if (err) next(err);
      else if (FILE_LIKE.test(req.path)) next(notFound('not_found', 'no such file'));
      else next();
    };
    const identity = () => serve(req, res, missing);
    const ext = extname(req.path);
    // A range of the encoded bytes is not a range of the file: ranges always get the identity file.
    if (!COMPRESSIBLE.has(ext) || req.headers.range) return identity();
    res.vary('Accept-Encoding');
    const encoding = pickEncoding(req.headers['accept-encoding']);
    if (!encoding) return identity();

    const url = req.url;
    req.url = req.path + encoding.ext;
    // send keeps a Content-Type already set, so the type is the file's, not the .br/.gz wrapper's.
    res.type(ext).setHeader('Content-Encoding', encoding.token);
    serve(req, res, (err?: unknown) => {
      req.url = url;
      if (err) return next(err);
      // No encoded copy (a small file): the identity file.
      res.removeHeader('Content-Encoding');
      res.removeHeader('Content-Type');
      identity();
    });
  };
}
