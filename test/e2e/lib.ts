/**
 * Browser end-to-end helpers for the admin (issue 6): a real gateway (test/helpers/env.ts
 * testGateway, the suite's database driver) and Debian's chromium driven by playwright-core
 * (never a downloaded browser), a login helper and a recorder that saves a full-page screenshot of
 * every page a test visits under test-output/screenshots/ (for a reviewer to look at).
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createAdmin } from '../../src/services/admin-auth.js';
import { addStaff, setStaffPassword } from '../../src/services/staff.js';
import { ROOT } from '../helpers/cli.js';
import { driver, testGateway } from '../helpers/env.js';

export const SCREENSHOT_DIR = path.join(ROOT, 'test-output', 'screenshots');

/** Launches Debian's chromium (/usr/bin/chromium, installed by scripts/install-test-deps.sh). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const ADMIN = { login: 'admin', password: 'Rathaus-Admin-2026', name: 'Admin, Anna', email: 'anna.admin@rathaus.example' };
export const STAFF = { login: 'susi', password: 'Susi-Sachbearbeitung-1', name: 'Weiß, Susi', email: 'susi.weiss@rathaus.example' };

/**
 * A running gateway with an admin (ADMIN) and a staff member without the admin role (STAFF),
 * both with passwords; `base` is its HTTP address (`http://127.0.0.1:<port>`).
 */
export async function adminGateway(env: Record<string, string> = {}) {
  const g = await testGateway(env);
  const { db } = g.gateway.ctx;
  await createAdmin(db, ADMIN);
  await addStaff(db, { name: STAFF.name, email: STAFF.email, login: STAFF.login });
  await setStaffPassword(db, STAFF.login, STAFF.password);
  return { ...g, ctx: g.gateway.ctx, base: `http://127.0.0.1:${g.gateway.http.port}` };
}

/**
 * Runs `action` (a click or key press that submits a form or follows a link) and resolves once the
 * document it leads to has fired `load`; then checks that document's URL against `url` (a string is
 * compared whole, a RegExp tested, a function given the parsed URL). Waiting for the new document's
 * load event, not for a matching URL, keeps a URL the page already had (a second `?created=`)
 * from being taken for the new one.
 * Throws: an Error naming the URL when the loaded page's URL does not match.
 */
export async function loadAfter(page: Page, url: string | RegExp | ((u: URL) => boolean), action: () => Promise<unknown>): Promise<void> {
  await Promise.all([page.waitForEvent('load'), action()]);
  const now = page.url();
  const ok = typeof url === 'string' ? now === url : url instanceof RegExp ? url.test(now) : url(new URL(now));
  if (!ok) throw new Error(`the page loaded ${now}, not the expected URL ${String(url)}`);
}

/** Logs in through the login form; resolves once the page after login has loaded. */
export async function login(page: Page, base: string, who: { login: string; password: string }): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel(/Anmeldename|Login name/).fill(who.login);
  await page.getByLabel(/^(Passwort|Password)$/).fill(who.password);
  await loadAfter(page, (u) => u.pathname !== '/login', () => page.getByRole('button', { name: /^(Anmelden|Log in)$/ }).click());
}

/** The session cookie of a browser context as a `Cookie` header value, for requests with fetch. */
export async function sessionCookie(context: BrowserContext): Promise<string> {
  const c = (await context.cookies()).find((x) => x.name === 'pe_session');
  if (!c) throw new Error('no session cookie in the browser');
  return `${c.name}=${c.value}`;
}

/** The CSRF token of the signed-in page (the `_csrf` field the layout's logout form carries). */
export async function csrfToken(page: Page): Promise<string> {
  const token = await page.locator('input[name="_csrf"]').first().getAttribute('value');
  if (!token) throw new Error('no CSRF token on the page (not signed in?)');
  return token;
}

/**
 * Saves a full-page screenshot of every page the tab loads, as
 * test-output/screenshots/<driver>-<prefix>-<nn>-<path>.png. Call `flush()` before closing the tab.
 * `shoot(label)` saves one now (e.g. after an htmx swap, which loads no page).
 */
export function recordPages(page: Page, prefix: string) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // the shots of an earlier run of this tab would mix with these
  for (const f of readdirSync(SCREENSHOT_DIR)) if (f.startsWith(`${driver}-${prefix}-`) && /^\d{2}-[^.]*\.png$/.test(f.slice(`${driver}-${prefix}-`.length))) rmSync(path.join(SCREENSHOT_DIR, f));
  let n = 0;
  const pending: Promise<unknown>[] = [];
  const shoot = (label: string) => {
    const slug = label.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'root';
    const file = path.join(SCREENSHOT_DIR, `${driver}-${prefix}-${String(++n).padStart(2, '0')}-${slug}.png`);
    const p = page.screenshot({ path: file, fullPage: true }).catch(() => {});
    pending.push(p);
    return p;
  };
  page.on('load', () => void shoot(new URL(page.url()).pathname));
  return {
    shoot,
    async flush() {
      await Promise.all(pending);
    },
  };
}

/** Inline script in the current page: `<script>` without src and `on…=` handler attributes (CSP forbids both). */
export function inlineScripts(page: Page): Promise<{ scripts: number; handlers: string[] }> {
  return page.evaluate(() => ({
    scripts: document.querySelectorAll('script:not([src])').length,
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => a.name.toLowerCase().startsWith('on')).map((a) => `${e.tagName}@${a.name}`)),
  }));
}

/**
 * The usual start of a page test: a gateway with ADMIN and STAFF ({@link adminGateway}), chromium,
 * one German tab whose pages are recorded as `<driver>-<prefix>-…` screenshots, signed in as ADMIN.
 * `close()` flushes the screenshots and stops the browser and the gateway.
 */
export async function adminTab(prefix: string) {
  const g = await adminGateway();
  const browser = await launchBrowser();
  const context = await browser.newContext({ locale: 'de-DE' });
  const page = await context.newPage();
  const rec = recordPages(page, prefix);
  await login(page, g.base, ADMIN);
  return {
    g,
    browser,
    context,
    page,
    rec,
    async close() {
      await rec.flush();
      await context.close();
      await browser.close();
      await g.close();
    },
  };
}
