import type { Context } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { messages, type Language } from '../../../views/i18n/index.js';
import type { View } from '../../../views/view.js';
import type { SessionRow } from '../../db/repositories/admin-sessions.js';

/** Variables of every admin request, set by the middleware in ./middleware.ts. */
export type AdminEnv = { Variables: { session: SessionRow | null; language: string } };

/** The View (language, messages, path, signed-in person, CSRF token) a page or fragment gets. */
export function view(c: Context<AdminEnv>): View {
  const lang = (c.get('language') === 'en' ? 'en' : 'de') satisfies Language;
  const s = c.get('session');
  return {
    lang,
    t: messages(lang),
    path: c.req.path,
    user: s ? { id: s.staffId, name: s.name, role: s.role } : undefined,
    csrfToken: s?.csrfToken,
  };
}

/** Whether the request came from htmx (it sends `HX-Request: true`): answer with a fragment. */
export function isHtmx(c: Context): boolean {
  return c.req.header('HX-Request') === 'true';
}

/** Sends a whole page (with doctype). */
export async function page(c: Context, node: JSX.Element, status: 200 | 400 | 401 | 403 | 404 | 429 | 500 = 200): Promise<Response> {
  return c.html(`<!doctype html>${await node.toString()}`, status);
}

/** Sends a fragment for htmx to swap. */
export async function fragment(c: Context, node: JSX.Element, status: 200 | 400 | 401 | 403 | 404 | 422 = 200): Promise<Response> {
  return c.html(await node.toString(), status);
}
