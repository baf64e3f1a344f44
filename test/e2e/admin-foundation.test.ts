import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addStaff, setStaffPassword } from '../../src/services/staff.js';
import { sendRaw } from '../inbound/lib.js';
import { driver } from '../helpers/env.js';
import { ADMIN, adminGateway, csrfToken, inlineScripts, launchBrowser, login, recordPages, sessionCookie, STAFF, loadAfter } from './lib.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));

describe(`admin in the browser: login, safety, dashboard (${driver})`, () => {
  let g: Awaited<ReturnType<typeof adminGateway>>;
  let browser: Browser;
  /** every admin page the suite loaded, for the CSP checks */
  const seen: { url: string; csp: string | null; scripts: number; handlers: string[] }[] = [];
  const cspViolations: string[] = [];

  /** A new tab (own cookies) that records screenshots, CSP headers, inline scripts and CSP console errors. */
  async function tab(prefix: string, locale = 'de-DE') {
    const context = await browser.newContext({ locale });
    const page = await context.newPage();
    const rec = recordPages(page, prefix);
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    // the CSP header of each document, and the DOM checked for inline script once it has loaded
    const csp = new Map<string, string | null>();
    const pending: Promise<unknown>[] = [];
    const headersRead: Promise<unknown>[] = [];
    page.on('response', (r) => {
      if (r.request().resourceType() === 'document') headersRead.push(r.headerValue('content-security-policy').then((v) => csp.set(r.url(), v)));
    });
    page.on('load', () => {
      const url = page.url();
      pending.push(
        inlineScripts(page)
          .then(async (i) => {
            await Promise.all(headersRead.slice());
            seen.push({ url, csp: csp.get(url) ?? null, ...i });
          })
          .catch(() => {}),
      );
    });
    return { context, page, rec, async close() { await rec.flush(); await Promise.all(pending); await context.close(); } };
  }

  before(async () => {
    g = await adminGateway();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await g?.close();
  });

  test('a page without a session redirects to /login; an htmx request gets 401 with HX-Redirect', async () => {
    const r = await fetch(`${g.base}/einstellungen`, { redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/login?next=%2Feinstellungen');
    const h = await fetch(`${g.base}/`, { headers: { 'HX-Request': 'true' }, redirect: 'manual' });
    assert.equal(h.status, 401);
    assert.equal(h.headers.get('hx-redirect'), '/login');
    const t = await tab('no-session');
    await t.page.goto(`${g.base}/`);
    assert.equal(new URL(t.page.url()).pathname, '/login');
    await t.close();
  });

  test('a wrong password is refused with a German message and no session', async () => {
    const t = await tab('wrong-password');
    await t.page.goto(`${g.base}/login`);
    await t.page.getByLabel('Anmeldename').fill(ADMIN.login);
    await t.page.getByLabel('Passwort').fill('not-the-password');
    const [res] = await Promise.all([t.page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'), t.page.getByRole('button', { name: 'Anmelden' }).click()]);
    assert.equal(res.status(), 401);
    assert.equal(await t.page.getByRole('alert').textContent(), 'Anmeldename oder Passwort ist falsch.');
    assert.equal((await t.context.cookies()).some((c) => c.name === 'pe_session'), false);
    await t.close();
  });

  test('after 5 failures for a login at an address (README), each try waits longer, and the right password is refused while it must wait', async () => {
    const max = { login: 'max', password: 'Max-Mustermann-42' };
    await addStaff(g.ctx.db, { name: 'Mustermann, Max', email: 'max@rathaus.example', login: max.login });
    await setStaffPassword(g.ctx.db, max.login, max.password);
    const t = await tab('throttle');
    // five free, then 1, 2, 4 s: the 8th failure makes the next try wait 8 s
    for (let i = 1; i <= 8; i++) {
      await t.page.goto(`${g.base}/login`);
      await t.page.getByLabel('Anmeldename').fill(max.login);
      await t.page.getByLabel('Passwort').fill(`wrong-${i}`);
      const [res] = await Promise.all([t.page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'), t.page.getByRole('button', { name: 'Anmelden' }).click()]);
      await t.page.getByRole('alert').waitFor();
      if (res.status() === 429) {
        // too early for the delay set by the failure before: wait as told, then try again
        await new Promise((r) => setTimeout(r, Number(res.headers()['retry-after']) * 1000));
        i--;
        continue;
      }
      assert.equal(await t.page.getByRole('alert').textContent(), 'Anmeldename oder Passwort ist falsch.', `attempt ${i}`);
    }
    await t.page.goto(`${g.base}/login`);
    await t.page.getByLabel('Anmeldename').fill(max.login);
    await t.page.getByLabel('Passwort').fill(max.password);
    const [res] = await Promise.all([t.page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'), t.page.getByRole('button', { name: 'Anmelden' }).click()]);
    assert.equal(res.status(), 429);
    const wait = Number(res.headers()['retry-after']);
    assert.ok(wait >= 1 && wait <= 8, `Retry-After ${wait}`);
    assert.equal(
      await t.page.getByRole('alert').textContent(),
      `Zu viele fehlgeschlagene Anmeldeversuche. Bitte warten Sie ${wait} ${wait === 1 ? 'Sekunde' : 'Sekunden'} und versuchen Sie es dann erneut.`,
    );
    assert.equal((await t.context.cookies()).some((c) => c.name === 'pe_session'), false);
    // another login from the same address is not blocked by it
    await login(t.page, g.base, ADMIN);
    assert.equal(new URL(t.page.url()).pathname, '/');
    await t.close();
  });

  test('the session cookie is HttpOnly and SameSite=Strict; a POST without the CSRF token, or from another origin, is refused with 403', async () => {
    const t = await tab('csrf');
    await login(t.page, g.base, ADMIN);
    const c = (await t.context.cookies()).find((x) => x.name === 'pe_session')!;
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.secure, false, 'plain HTTP without a trusted proxy: not Secure');
    const cookie = await sessionCookie(t.context);
    const without = await fetch(`${g.base}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    assert.equal(without.status, 403);
    const wrong = await fetch(`${g.base}/logout`, { method: 'POST', headers: { cookie, 'X-CSRF-Token': 'x'.repeat(43) }, redirect: 'manual' });
    assert.equal(wrong.status, 403);
    // the session survived the refused requests
    const still = await fetch(`${g.base}/`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(still.status, 200);
    // the token the page carries works: hx-headers on <body> and the hidden field of the logout form
    const token = await csrfToken(t.page);
    const headers = JSON.parse((await t.page.locator('body').getAttribute('hx-headers:inherited'))!) as Record<string, string>;
    assert.equal(headers['X-CSRF-Token'], token);
    const foreign = await fetch(`${g.base}/logout`, { method: 'POST', headers: { cookie, 'X-CSRF-Token': token, Origin: 'http://evil.example' }, redirect: 'manual' });
    assert.equal(foreign.status, 403, 'a cross-site POST is refused even with the right token');
    const ok = await fetch(`${g.base}/logout`, { method: 'POST', headers: { cookie, 'X-CSRF-Token': token }, redirect: 'manual' });
    assert.equal(ok.status, 303);
    await t.close();
  });

  test('logout ends the session: the login page says so and the old cookie no longer opens a page', async () => {
    const t = await tab('logout');
    await login(t.page, g.base, ADMIN);
    const cookie = await sessionCookie(t.context);
    await loadAfter(t.page, (u) => u.pathname === '/login', () => t.page.getByRole('button', { name: 'Abmelden' }).click());
    assert.equal(await t.page.getByRole('status').textContent(), 'Sie wurden abgemeldet.');
    const r = await fetch(`${g.base}/`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/login');
    await t.close();
  });

  test('German by default, English by Accept-Language, and the switch changes the language', async () => {
    const t = await tab('language');
    await t.page.goto(`${g.base}/login`);
    assert.equal(await t.page.locator('h1').textContent(), 'Anmelden');
    assert.equal(await t.page.locator('html').getAttribute('lang'), 'de');
    await t.page.getByLabel('Sprache').selectOption('en');
    await loadAfter(t.page, (u) => u.pathname === '/login', () => t.page.getByRole('button', { name: 'OK' }).click());
    assert.equal(await t.page.locator('h1').textContent(), 'Log in');
    assert.equal(await t.page.locator('html').getAttribute('lang'), 'en');
    await login(t.page, g.base, ADMIN);
    assert.equal(await t.page.locator('h1').textContent(), 'Dashboard');
    await t.page.getByLabel('Language').selectOption('de');
    await loadAfter(t.page, (u) => u.pathname === '/', () => t.page.getByRole('button', { name: 'OK' }).click());
    assert.equal(await t.page.locator('h1').textContent(), 'Übersicht');
    await t.close();
    const en = await tab('accept-language', 'en-US');
    await en.page.goto(`${g.base}/login`);
    assert.equal(await en.page.locator('h1').textContent(), 'Log in');
    await en.close();
  });

  test('staff without the admin role get their own page, and 403 on every admin page', async () => {
    const t = await tab('staff');
    await login(t.page, g.base, STAFF);
    assert.equal(new URL(t.page.url()).pathname, '/meine-vorgaenge');
    assert.equal(await t.page.locator('h1').textContent(), 'Meine Vorgänge');
    const nav = await t.page.getByRole('navigation').getByRole('link').allTextContents();
    assert.deepEqual(nav, ['Meine Vorgänge']);
    for (const path of ['/tasks', '/tasks/unassigned', '/staff', '/mappings', '/activity-types', '/settings', '/outbox']) {
      const res = await t.page.goto(`${g.base}${path}`);
      assert.equal(res!.status(), 403, path);
      assert.equal(await t.page.locator('h1').textContent(), 'Kein Zugriff');
    }
    const cookie = await sessionCookie(t.context);
    const fragment = await fetch(`${g.base}/`, { headers: { cookie, 'HX-Request': 'true' }, redirect: 'manual' });
    assert.equal(fragment.status, 303, 'the dashboard fragment is not for staff');
    await t.close();
  });

  test('the dashboard updates the unassigned count after a scan arrives over SMTP, without reloading', async () => {
    await addInboundAddress(g.ctx.db, 'scan@rathaus.example', 'scanner');
    const t = await tab('dashboard');
    await login(t.page, g.base, ADMIN);
    const unassigned = t.page.getByTestId('unassigned-count');
    const today = t.page.getByTestId('smtp-today-scanner');
    const before = Number(await unassigned.textContent());
    assert.equal(await today.textContent(), '0');
    await t.page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    // htmx's poll carries HX-Request and the session's CSRF token (hx-headers:inherited on <body>)
    const token = await csrfToken(t.page);
    const poll = await t.page.waitForRequest((r) => r.url() === `${g.base}/` && r.headers()['hx-request'] === 'true', { timeout: 20_000 });
    assert.equal(poll.headers()['x-csrf-token'], token);
    // scanner-basic.eml comes from an address nobody is mapped for: one unassigned task
    const sent = await sendRaw(g.gateway.smtp.port, { from: 'scanner@rathaus.example', to: ['scan@rathaus.example'] }, fixture('scanner-basic.eml'));
    assert.equal(sent.code, 250);
    await t.page.waitForFunction((n) => document.querySelector('[data-testid="unassigned-count"]')?.textContent === String(n), before + 1, { timeout: 20_000 });
    assert.equal(await today.textContent(), '1');
    assert.equal(await t.page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
    await t.rec.shoot('dashboard-after-scan');
    await t.close();
  });

  test('every page sent the CSP without inline script and has no inline script; no CSP violation was reported', () => {
    const paths = new Set(seen.map((p) => new URL(p.url).pathname));
    for (const path of ['/login', '/', '/meine-vorgaenge', '/settings', '/tasks']) assert.ok(paths.has(path), `checked ${path}: ${[...paths].join(' ')}`);
    for (const p of seen) {
      assert.ok(p.csp, `${p.url}: CSP header`);
      assert.match(p.csp!, /(^|;\s*)script-src 'self'(;|$)/, p.url);
      assert.match(p.csp!, /frame-ancestors 'none'/, p.url);
      assert.doesNotMatch(p.csp!, /unsafe-inline|unsafe-eval/, p.url);
      assert.equal(p.scripts, 0, `${p.url}: inline <script>`);
      assert.deepEqual(p.handlers, [], `${p.url}: inline handlers`);
    }
    assert.deepEqual(cspViolations, []);
  });
});
