import type { Context, MiddlewareHandler } from 'hono';
import type { Config } from '../config.js';

/** Request bodies of the pages anyone may open (login, first run, language): a form of a few fields. */
export const PUBLIC_BODY_BYTES = 16 * 1024;
/** Forms and JSON after login. */
export const SIGNED_IN_BODY_BYTES = 1024 * 1024;
/** CSV imports of staff and mappings. */
export const IMPORT_BODY_BYTES = 10 * 1024 * 1024;

/**
 * The largest request body (bytes) a route takes. Anything that needs a login is refused by its
 * guard (session cookie, bearer token) before its body is read, so only the public routes get
 * bodies from strangers, and theirs are small; a message to send takes its attachments in base64
 * (4 bytes for 3) up to `SMTP_MAX_MESSAGE_BYTES`, plus 1 MiB for the rest of the JSON.
 */
export function bodyLimitFor(config: Pick<Config, 'SMTP_MAX_MESSAGE_BYTES'>, path: string): number {
  if (path === '/api/v1/outbox' || /^\/api\/v1\/tasks\/[0-9]+\/reply$/.test(path)) return Math.ceil((config.SMTP_MAX_MESSAGE_BYTES * 4) / 3) + 1024 * 1024;
  if (/^\/api\/v1\/(staff|mappings)\/import$/.test(path)) return IMPORT_BODY_BYTES;
  if (path === '/api' || path.startsWith('/api/')) return SIGNED_IN_BODY_BYTES;
  if (path === '/login' || path === '/first-run' || path === '/sprache' || path.startsWith('/static/')) return PUBLIC_BODY_BYTES;
  return SIGNED_IN_BODY_BYTES;
}

/** The 413 answer: it names the limit and closes the connection, so the rest is never read. */
function tooLarge(c: Context, maxBytes: number): Response {
  return c.json({ error: `the request body is larger than ${maxBytes} bytes`, code: 'body-too-large', maxBytes }, 413, { Connection: 'close' });
}

/**
 * Limits every request body (RFC 9110 §15.5.14, 413 Content Too Large): a declared
 * `Content-Length` over the limit is answered at once, before any handler or guard runs; a body
 * without one (chunked) is counted as the handler reads it and cut at the limit, with the same
 * answer. Nothing is buffered here.
 * @param maxBytesFor the limit of a request, bytes
 */
export function limitBody(maxBytesFor: (c: Context) => number): MiddlewareHandler {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const maxBytes = maxBytesFor(c);
    const declared = c.req.header('Content-Length');
    if (declared !== undefined && c.req.header('Transfer-Encoding') === undefined) {
      return Number(declared) > maxBytes ? tooLarge(c, maxBytes) : next();
    }
    let seen = 0;
    let exceeded = false;
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          seen += chunk.byteLength;
          if (seen > maxBytes) {
            exceeded = true;
            out.error(new Error('request body too large'));
          } else out.enqueue(chunk);
        },
      }),
    );
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: 'half' } as RequestInit);
    await next();
    // whatever the handler made of the cut body (an error page, a 400), the answer is 413
    if (exceeded) c.res = tooLarge(c, maxBytes);
  };
}
