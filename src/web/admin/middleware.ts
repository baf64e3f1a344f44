import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { MessagePage } from '../../../views/pages/Message.js';
import type { AppContext } from '../../context.js';
import { resolveSession, sameSecret } from '../../services/admin-auth.js';
import { isHtmx, page, view, type AdminEnv } from './render.js';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'pe_session';
/** Name of the language cookie (`de` or `en`). */
export const LANGUAGE_COOKIE = 'lang';

/** Whether the browser reached us over TLS: directly, or through a trusted proxy (HTTP_TRUST_PROXY). */
export function overTls(ctx: AppContext, c: Context): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return ctx.config.HTTP_TRUST_PROXY && c.req.header('X-Forwarded-Proto')?.split(',')[0]?.trim() === 'https';
}

/** The client's address: the socket's peer, or the last X-Forwarded-For hop when behind a trusted proxy. */
export function clientAddress(ctx: AppContext, c: Context): string {
  if (ctx.config.HTTP_TRUST_PROXY) {
    const hop = c.req.header('X-Forwarded-For')?.split(',').pop()?.trim();
    if (hop) return hop;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // app.request() in tests has no socket
  }
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
 * Refuses a state-changing request whose Origin is another site (this also covers login and first
 * run, which have no session yet). Behind a trusted proxy the host is X-Forwarded-Host when set.
 */
export function sameOrigin(ctx: AppContext): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const origin = c.req.header('Origin');
    if (UNSAFE.has(c.req.method) && origin) {
      const host = (ctx.config.HTTP_TRUST_PROXY && c.req.header('X-Forwarded-Host')?.split(',')[0]?.trim()) || new URL(c.req.url).host;
      if (origin === 'null' || !URL.canParse(origin) || new URL(origin).host !== host) {
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
  const next_ = c.req.path !== '/' ? `?next=${encodeURIComponent(c.req.path)}` : '';
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
