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

/** Requests with a body over SIGNED_IN_BODY_BYTES read at the same time in this process; more are answered 503. */
export const LARGE_BODIES_AT_ONCE = 2;
let largeBodies = 0;

/** The 413 answer: it names the limit and closes the connection, so the rest is never read. */
function tooLarge(c: Context, maxBytes: number): Response {
  return c.json({ error: `the request body is larger than ${maxBytes} bytes`, code: 'body-too-large', maxBytes }, 413, { Connection: 'close' });
}

/** The 503 answer when LARGE_BODIES_AT_ONCE large bodies are being read already. */
function tooBusy(c: Context): Response {
  return c.json({ error: 'too many large requests at once; try again shortly', code: 'busy', retryAfterSeconds: 5 }, 503, { 'Retry-After': '5', Connection: 'close' });
}

/**
 * Limits every request body (RFC 9110 §15.5.14, 413 Content Too Large): a declared
 * `Content-Length` over the limit is answered at once, before any handler or guard runs; a body
 * without one (chunked) is counted as the handler reads it and cut at the limit, with the same
 * answer. Nothing is buffered here. At most LARGE_BODIES_AT_ONCE requests with a declared body
 * over SIGNED_IN_BODY_BYTES are served at once (503 with Retry-After beyond); a guard that
 * refuses a request (no login) frees its place at once, as it never reads the body.
 * @param maxBytesFor the limit of a request, bytes
 */
export function limitBody(maxBytesFor: (c: Context) => number): MiddlewareHandler {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const maxBytes = maxBytesFor(c);
    const declared = c.req.header('Content-Length');
    if (declared !== undefined && c.req.header('Transfer-Encoding') === undefined) {
      const bytes = Number(declared);
      if (bytes > maxBytes) return tooLarge(c, maxBytes);
      if (bytes <= SIGNED_IN_BODY_BYTES) return next();
      // a large body (a message with attachments): only a few at once, so that parallel uploads
      // cannot take the memory of the gateway (and its SMTP receiver) with them
      if (largeBodies >= LARGE_BODIES_AT_ONCE) {
        return tooBusy(c);
      }
      largeBodies++;
      try {
        return await next();
      } finally {
        largeBodies--;
      }
    }
    let seen = 0;
    let exceeded = false;
    let busy = false;
    let holding = false;
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          seen += chunk.byteLength;
          if (seen > maxBytes) {
            exceeded = true;
            out.error(new Error('request body too large'));
            return;
          }
          if (seen > SIGNED_IN_BODY_BYTES && !holding) {
            if (largeBodies >= LARGE_BODIES_AT_ONCE) {
              busy = true;
              out.error(new Error('too many large bodies at once'));
              return;
            }
            largeBodies++;
            holding = true;
          }
          out.enqueue(chunk);
        },
      }),
    );
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: 'half' } as RequestInit);
    try {
      await next();
    } finally {
      if (holding) largeBodies--;
    }
    // whatever the handler made of the cut body (an error page, a 400), the answer is 413 / 503
    if (exceeded) c.res = tooLarge(c, maxBytes);
    else if (busy) c.res = tooBusy(c);
  };
}
