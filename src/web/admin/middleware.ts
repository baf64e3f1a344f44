import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import ipaddr from 'ipaddr.js';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { MessagePage } from '../../../views/pages/Message.js';
import { addressInNetworks } from '../../config.js';
import type { AppContext } from '../../context.js';
import { resolveSession, sameSecret } from '../../services/admin-auth.js';
import { localPath } from '../local-path.js';
import { isHtmx, page, view, type AdminEnv } from './render.js';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'pe_session';
/** Name of the language cookie (`de` or `en`). */
export const LANGUAGE_COOKIE = 'lang';

/** The socket peer's address, or undefined when there is no socket (app.request() in tests without one). */
function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the request came straight from one of the reverse proxies of `HTTP_TRUST_PROXY`: only
 * then are its X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-For believed.
 * @returns false without a socket peer, for a peer outside the list, and always when the list is empty (`false`)
 */
export function fromTrustedProxy(ctx: AppContext, c: Context): boolean {
  const peer = peerAddress(c);
  return peer !== undefined && addressInNetworks(peer, ctx.config.HTTP_TRUST_PROXY);
}

/** The first value of a comma-separated forwarding header (the one the client side set), trimmed. */
const firstValue = (header: string | undefined) => header?.split(',')[0]?.trim() || undefined;

/** Whether the browser reached us over TLS: directly, or as a trusted proxy says (X-Forwarded-Proto, HTTP_TRUST_PROXY). */
export function overTls(ctx: AppContext, c: Context): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return fromTrustedProxy(ctx, c) && firstValue(c.req.header('X-Forwarded-Proto'))?.toLowerCase() === 'https';
}

/**
 * Our own origin as the browser sees it (RFC 6454 §4: scheme, host, port): the scheme is https
 * when {@link overTls}, the host is the request's Host, or X-Forwarded-Host when a trusted proxy
 * (HTTP_TRUST_PROXY) sends it.
 * @returns the serialised origin (`https://post.agency.example`, default port left out), or null when the host is no valid host
 */
export function publicOrigin(ctx: AppContext, c: Context): string | null {
  const host = (fromTrustedProxy(ctx, c) && firstValue(c.req.header('X-Forwarded-Host'))) || new URL(c.req.url).host;
  const scheme = overTls(ctx, c) ? 'https' : 'http';
  if (!URL.canParse(`${scheme}://${host}`)) return null;
  const url = new URL(`${scheme}://${host}`);
  // a "host" that carries a path, user or query is no host
  return url.pathname === '/' && !url.username && !url.password && !url.search && !url.hash ? url.origin : null;
}

/**
 * A forwarded hop as an address (IPv4-mapped IPv6 as IPv4, RFC 4291 §2.5.5.2), or undefined when
 * it is none. Proxies may add the client's port (`192.0.2.7:51234`, `[2001:db8::7]:51234`, as in
 * RFC 7239 §6 node names); the port is dropped.
 */
function hopAddress(hop: string | undefined): string | undefined {
  if (!hop) return undefined;
  const address = /^\[([^\]]+)\](?::[0-9]{1,5})?$/.exec(hop)?.[1] ?? /^([0-9.]+):[0-9]{1,5}$/.exec(hop)?.[1] ?? hop;
  return isIP(address) ? ipaddr.process(address).toString() : undefined;
}

/**
 * The client's address: the socket's peer; when that peer is a trusted proxy (HTTP_TRUST_PROXY),
 * the nearest X-Forwarded-For hop that is not itself a trusted proxy, read from the right (the
 * hops a client wrote itself come first and are never reached past an untrusted one). A hop that
 * is not an IP address ends the walk at the last address believed.
 * @returns an address, or `unknown` without a socket (app.request() in tests)
 */
export function clientAddress(ctx: AppContext, c: Context): string {
  const peer = peerAddress(c);
  if (peer === undefined) return 'unknown';
  if (!addressInNetworks(peer, ctx.config.HTTP_TRUST_PROXY)) return peer;
  const hops = (c.req.header('X-Forwarded-For') ?? '').split(',').map((h) => h.trim());
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]);
    if (hop === undefined) break;
    client = hop;
    if (!addressInNetworks(hop, ctx.config.HTTP_TRUST_PROXY)) break;
  }
  return client;
}

/** Sets the session cookie: HttpOnly, SameSite=Strict, Secure over TLS, path /. */
export function setSessionCookie(ctx: AppContext, c: Context, value: string): void {
  setCookie(c, SESSION_COOKIE, value, { httpOnly: true, sameSite: 'Strict', secure: overTls(ctx, c), path: '/' });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/' });
}

/** Loads the session of the cookie (or null) into `c.var.session`. */
export function loadSession(ctx: AppContext): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    const session = cookie ? await resolveSession(ctx.db, cookie) : null;
    if (cookie && !session) clearSessionCookie(c);
    c.set('session', session);
    await next();
  };
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Refuses (403) a state-changing request whose Origin header is not our own origin, compared
 * whole: scheme, host and port (RFC 6454 §5; {@link publicOrigin}). This also covers login and
 * first run, which have no session yet. `Origin: null` is refused; a request without Origin is
 * left to the CSRF token.
 */
export function sameOrigin(ctx: AppContext): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const origin = c.req.header('Origin');
    if (UNSAFE.has(c.req.method) && origin) {
      const ours = publicOrigin(ctx, c);
      const theirs = origin !== 'null' && URL.canParse(origin) ? new URL(origin).origin : null;
      if (ours === null || theirs === null || theirs !== ours) {
        const v = view(c);
        return page(c, MessagePage({ view: v, title: v.t.errors.forbiddenTitle, text: v.t.errors.csrf }), 403);
      }
    }
    await next();
  };
}

/**
 * Every page and fragment needs a session: pages redirect to /login?next=…, htmx requests get
 * 401 with `HX-Redirect: /login` (htmx then loads the login page).
 */
export const requireLogin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (c.get('session')) return next();
  if (isHtmx(c)) {
    c.header('HX-Redirect', '/login');
    return c.text('login required', 401);
  }
  // a form sent from a page kept after logout (or after the session ran out) was not carried out: say so
  if (c.req.method !== 'GET') return c.redirect('/login?expired=1', 303);
  const back = localPath(c.req.path);
  const next_ = back !== '/' ? `?next=${encodeURIComponent(back)}` : '';
  return c.redirect(`/login${next_}`, 302);
};

/** Admin pages: 403 for staff without the admin role. */
export const requireAdmin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (c.get('session')?.role === 'admin') return next();
  const v = view(c);
  return page(c, MessagePage({ view: v, title: v.t.errors.forbiddenTitle, text: v.t.errors.forbidden }), 403);
};

/**
 * CSRF (synchroniser token, OWASP): every POST/PUT/PATCH/DELETE carries the session's token,
 * htmx as the `X-CSRF-Token` header (layout: `hx-headers:inherited` on body), plain forms as the
 * `_csrf` field (views/fragments/CsrfField.tsx). Refused with 403 otherwise.
 */
export const checkCsrf: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (!UNSAFE.has(c.req.method)) return next();
  const expected = c.get('session')?.csrfToken;
  let given = c.req.header('X-CSRF-Token');
  if (!given) {
    const type = c.req.header('Content-Type') ?? '';
    if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
      const field = (await c.req.parseBody())._csrf;
      if (typeof field === 'string') given = field;
    }
  }
  if (!expected || !given || !sameSecret(given, expected)) {
    const v = view(c);
    return page(c, MessagePage({ view: v, title: v.t.errors.forbiddenTitle, text: v.t.errors.csrf }), 403);
  }
  await next();
};
