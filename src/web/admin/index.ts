import { Hono } from 'hono';
import { every } from 'hono/combine';
import { getCookie, setCookie } from 'hono/cookie';
import { languageDetector } from 'hono/language';
import { secureHeaders } from 'hono/secure-headers';
import { DashboardPanel } from '../../../views/fragments/DashboardPanel.js';
import { LANGUAGES } from '../../../views/i18n/index.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import { codedRefusals, refusalText } from '../../../views/i18n/coded-refusals.js';
import { DashboardPage } from '../../../views/pages/Dashboard.js';
import { FirstRunPage } from '../../../views/pages/FirstRun.js';
import { LoginPage } from '../../../views/pages/Login.js';
import { MessagePage } from '../../../views/pages/Message.js';
import type { AppContext } from '../../context.js';
import { adminExists, createAdmin, createSession, endSession, newFirstRunCode, sameSecret, verifyStaffPassword } from '../../services/admin-auth.js';
import { attemptSucceeded, beginAttempt, forgetOldAttempts } from '../../services/auth-throttle.js';
import { dashboard } from '../../services/dashboard.js';
import { ForbiddenError, NotFoundError, RateLimitError, ValidationError } from '../../services/errors.js';
import { checkCsrf, clearSessionCookie, clientAddress, LANGUAGE_COOKIE, loadSession, requireAdmin, requireLogin, sameOrigin, SESSION_COOKIE, setSessionCookie } from './middleware.js';
import { fragment, isHtmx, page, view, type AdminEnv } from './render.js';
import { taskDetailRoutes } from './messages.js';
import { tasksAdminRoutes } from './tasks.js';
import { activityTypeRoutes } from './activity-types.js';
import { mappingRoutes } from './mappings.js';
import { staffRoutes } from './staff.js';
import { outboxRoutes } from './outbox.js';
import { settingsRoutes } from './settings.js';
import { staticRoutes } from './static.js';
import { describeError } from '../../db/errors.js';
import { localPath } from '../local-path.js';

export interface AdminOptions {
  /** the clock of the login throttle (tests freeze it); default the real time */
  now?: () => Date;
  /** seconds between the dashboard's htmx polls (default 5) */
  dashboardPollSeconds?: number;
}

/** Paths that are not the admin's (the API and the health check keep their own rules). */
const notAdmin = (path: string) => path === '/healthz' || path === '/api' || path.startsWith('/api/');

/**
 * The browser admin (issue 6): server-rendered hono/jsx pages under views/, htmx from our own
 * /static. Mounted at `/` beside /api/v1 and /healthz (which it leaves alone).
 *
 * Order of the guards: security headers (CSP without inline script, frame-ancestors 'none',
 * nosniff, Referrer-Policy), language (cookie `lang`, then Accept-Language, German by default),
 * session from the cookie, same-origin check of state-changing requests; then the public routes
 * (static files, login, first run, language switch); then login required, CSRF token required on
 * POST/PUT/PATCH/DELETE; then "Meine Vorgänge" and logout for everybody signed in; then admin
 * only (403 for staff) for everything registered after, which is where new pages go.
 */
export function adminRoutes(ctx: AppContext, options: AdminOptions = {}): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();
  const now = options.now ?? (() => new Date());
  // one code per start, good for one use: after it, a new one nobody was told (restart for another)
  let firstRunCode = newFirstRunCode();
  void adminExists(ctx.db).then(
    (exists) => {
      if (!exists) ctx.log.warn({ firstRunCode }, `no admin yet: open /first-run in a browser and enter the first-run code ${firstRunCode}, or run: posteingang admin create <login>`);
    },
    (err: Error) => ctx.log.error({ err: describeError(err) }, 'could not check for an admin'),
  );

  const guards = every(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
      xFrameOptions: 'DENY',
      referrerPolicy: 'same-origin',
      strictTransportSecurity: false,
      // a route may set its own, narrower headers (the mail HTML frame: its own CSP, SAMEORIGIN)
      overwrite: false,
    }),
    languageDetector({ supportedLanguages: [...LANGUAGES], fallbackLanguage: 'de', order: ['cookie', 'header'], lookupCookie: LANGUAGE_COOKIE, caches: false }),
    loadSession(ctx),
    sameOrigin(ctx),
  );
  admin.use('*', (c, next) => (notAdmin(c.req.path) ? next() : guards(c, next)));
  // pages show mail: never kept by the browser, so that Back after logout shows nothing (static assets set their own)
  admin.use('*', async (c, next) => {
    await next();
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  admin.onError(async (err, c) => {
    const v = view(c);
    if (err instanceof ValidationError) return page(c, MessagePage({ view: v, title: v.t.errors.invalidTitle, text: v.t.errors.invalid(err.field, refusalText(err, v.lang)) }), 400);
    if (err instanceof RateLimitError) {
      c.header('Retry-After', String(err.retryAfterSeconds));
      return page(c, MessagePage({ view: v, title: codedRefusals(v.lang).rateTitle, text: refusalText(err, v.lang) }), 429);
    }
    if (err instanceof NotFoundError) return page(c, MessagePage({ view: v, title: v.t.errors.notFoundTitle, text: localizeRefusal(err.message, v.lang) }), 404);
    if (err instanceof ForbiddenError) return page(c, MessagePage({ view: v, title: v.t.errors.forbiddenTitle, text: localizeRefusal(err.message, v.lang) }), 403);
    if ('getResponse' in err && typeof err.getResponse === 'function') return err.getResponse() as Response;
    ctx.log.error({ err: describeError(err), path: c.req.path }, 'admin request failed');
    return c.text('internal error', 500);
  });

  // ---- public: static files, language switch, login, first run
  admin.route('/', staticRoutes());

  admin.get('/sprache', (c) => {
    const lang = c.req.query('lang');
    if (lang && (LANGUAGES as readonly string[]).includes(lang)) {
      setCookie(c, LANGUAGE_COOKIE, lang, { path: '/', sameSite: 'Lax', maxAge: 365 * 24 * 3600 });
    }
    return c.redirect(localPath(c.req.query('back')), 303);
  });

  admin.get('/login', async (c) => {
    if (c.get('session')) return c.redirect('/', 303);
    const v = view(c);
    const notice = c.req.query('bye') ? v.t.login.loggedOut : c.req.query('expired') ? v.t.login.expired : undefined;
    const wanted = c.req.query('next');
    return page(c, LoginPage({ view: v, notice, next: wanted === undefined ? undefined : localPath(wanted), firstRun: !(await adminExists(ctx.db)) }));
  });

  admin.post('/login', async (c) => {
    const v = view(c);
    const form = await c.req.parseBody();
    const login = typeof form.login === 'string' ? form.login : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const next = localPath(form.next);
    const address = clientAddress(ctx, c);
    const attempt = await beginAttempt(ctx.db, 'admin', { login, address }, now());
    if (!attempt.allowed) {
      if (attempt.logWorthy) ctx.log.warn({ login, address, refused: attempt.refused }, 'admin login throttled');
      c.header('Retry-After', String(attempt.retryAfterSeconds));
      return page(c, LoginPage({ view: v, error: v.t.login.throttled(attempt.retryAfterSeconds), login, next }), 429);
    }
    // an unknown login costs the same password hash as a known one (staff.ts): no answer by timing
    const person = await verifyStaffPassword(ctx.db, login, password);
    if (!person) {
      if (attempt.logWorthy) ctx.log.info({ login, address, failures: attempt.attempt.failures }, 'login failed');
      return page(c, LoginPage({ view: v, error: v.t.login.failed, login, next }), 401);
    }
    await attemptSucceeded(ctx.db, attempt.attempt);
    await forgetOldAttempts(ctx.db);
    const { cookie } = await createSession(ctx.db, person.id);
    setSessionCookie(ctx, c, cookie);
    ctx.log.info({ login: person.login, staffId: person.id, role: person.role }, 'login');
    return c.redirect(next === '/' && person.role !== 'admin' ? '/meine-vorgaenge' : next, 303);
  });

  admin.get('/first-run', async (c) => {
    const v = view(c);
    if (await adminExists(ctx.db)) return page(c, MessagePage({ view: v, title: v.t.firstRun.title, text: v.t.firstRun.done }), 404);
    return page(c, FirstRunPage({ view: v }));
  });

  admin.post('/first-run', async (c) => {
    const v = view(c);
    if (await adminExists(ctx.db)) return page(c, MessagePage({ view: v, title: v.t.firstRun.title, text: v.t.firstRun.done }), 404);
    const form = await c.req.parseBody();
    const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '');
    const values = { name: text('name'), email: text('email'), login: text('login') };
    const address = clientAddress(ctx, c);
    const attempt = await beginAttempt(ctx.db, 'first-run', { address }, now());
    if (!attempt.allowed) {
      c.header('Retry-After', String(attempt.retryAfterSeconds));
      return page(c, FirstRunPage({ view: v, error: v.t.login.throttled(attempt.retryAfterSeconds), values }), 429);
    }
    if (!sameSecret(text('code').trim().toUpperCase(), firstRunCode)) {
      if (attempt.logWorthy) ctx.log.warn({ address, failures: attempt.attempt.failures }, 'wrong first-run code');
      return page(c, FirstRunPage({ view: v, error: v.t.firstRun.wrongCode, values }), 403);
    }
    if (text('password') !== text('password2')) return page(c, FirstRunPage({ view: v, error: v.t.firstRun.mismatch, values }), 400);
    // taken in the same step as it was checked, before anything is awaited: of parallel requests
    // with the code only one gets it; given back when the admin could not be created
    const code = firstRunCode;
    firstRunCode = newFirstRunCode();
    let created;
    try {
      await attemptSucceeded(ctx.db, attempt.attempt);
      created = await createAdmin(ctx.db, { ...values, password: text('password') });
    } catch (err) {
      firstRunCode = code;
      if (err instanceof ValidationError) return page(c, FirstRunPage({ view: v, error: v.t.errors.invalid(err.field, localizeRefusal(err.message, v.lang)), values }), 400);
      throw err;
    }
    ctx.log.info({ login: created.login, staffId: created.id }, 'first admin created on the first-run page; the first-run code is used up');
    const { cookie } = await createSession(ctx.db, created.id);
    setSessionCookie(ctx, c, cookie);
    return c.redirect('/', 303);
  });

  // ---- everything below needs a session and, for POST/PUT/PATCH/DELETE, the CSRF token
  admin.use('*', (c, next) => (notAdmin(c.req.path) ? next() : every(requireLogin, checkCsrf)(c, next)));

  admin.post('/logout', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) await endSession(ctx.db, cookie);
    clearSessionCookie(c);
    if (isHtmx(c)) {
      c.header('HX-Redirect', '/login?bye=1');
      return c.body(null, 204);
    }
    return c.redirect('/login?bye=1', 303);
  });

  // Meine Vorgänge, message detail, task actions, downloads (staff see their own tasks only)
  admin.route('/', taskDetailRoutes(ctx));

  // staff without the admin role land on their own tasks
  admin.get('/', async (c, next) => (c.get('session')?.role === 'admin' ? next() : c.redirect('/meine-vorgaenge', 303)));

  // ---- admin only from here on (403 for staff)
  admin.use('*', (c, next) => (notAdmin(c.req.path) ? next() : requireAdmin(c, next)));

  admin.get('/', async (c) => {
    const v = view(c);
    const model = await dashboard(ctx, new Date(), options.dashboardPollSeconds);
    return isHtmx(c) ? fragment(c, DashboardPanel({ view: v, model })) : page(c, DashboardPage({ view: v, model }));
  });

  admin.route('/', tasksAdminRoutes(ctx));

  admin.route('/', staffRoutes(ctx));
  admin.route('/', activityTypeRoutes(ctx));
  admin.route('/', mappingRoutes(ctx));
  admin.route('/', settingsRoutes(ctx));
  admin.route('/', outboxRoutes(ctx));
  return admin;
}
