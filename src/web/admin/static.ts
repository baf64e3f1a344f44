import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

const STATIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../views/static');
const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * `GET /static/<name>`: the files of views/static/ and htmx from the `htmx.org` package
 * (`/static/htmx.min.js`), read once and served from our own server (the intranet has no CDN).
 */
export function staticRoutes(): Hono {
  const files = new Map<string, string>([['htmx.min.js', createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js')]]);
  for (const name of readdirSync(STATIC_DIR)) if (TYPES[path.extname(name)]) files.set(name, path.join(STATIC_DIR, name));
  const cache = new Map<string, Buffer>();
  const app = new Hono();
  app.get('/static/:name', (c) => {
    const name = c.req.param('name');
    const file = files.get(name);
    if (!file) return c.notFound();
    let body = cache.get(name);
    if (!body) cache.set(name, (body = readFileSync(file)));
    return c.body(new Uint8Array(body), 200, { 'Content-Type': TYPES[path.extname(name)]!, 'Cache-Control': 'no-cache' });
  });
  return app;
}
