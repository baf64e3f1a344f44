// The task pages in a real browser (issue 6 item 7 and the safety checks of "How it is checked"):
// the open-task list over 30 tasks with filters, sort and pagination (URL kept), CSV exports, the
// unassigned queue (assign, mapping for a sender, a sender that is no staff record), the message
// detail with attachment download (same SHA-256 as in the .eml), complete and history; and the
// corpus message with a script in its subject and a path in its attachment name on every page
// that shows it: no dialog, no request to another host, the subject as literal text, a safe
// download name, CSRF refused. Screenshots of every page under test-output/screenshots/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { assignTask, OPERATOR } from '../../src/services/task-actions.js';
import { driver } from '../helpers/env.js';
import { ADMIN, adminGateway, csrfToken, launchBrowser, login, recordPages, sessionCookie, STAFF, loadAfter } from './lib.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

// what the corpus message must become (shared/corpus/README.md, worked out from its bytes)
const XSS_FILE = 'xss-subject-and-traversal-filename.eml';
const XSS_SUBJECT = '<img src=x onerror="alert(document.cookie)"><script>alert(1)</script>';
// declared "../../../../etc/cron.d/<svg onload=alert(2)>.sh": the path dropped, < and > replaced by _
const XSS_SAFE_NAME = '_svg onload=alert(2)_.sh';
// the part's base64 body, decoded by hand: "aGFybWxlc3M=" is "harmless"
const XSS_ATTACHMENT = Buffer.from('aGFybWxlc3M=', 'base64');

describe(`task pages in the browser: list, queue, detail, safety (${driver})`, () => {
  let g: Awaited<ReturnType<typeof adminGateway>>;
  let browser: Browser;
  const ids: Record<string, number> = {};

  const mail = (from: string, subject: string) =>
    rawFromBuffer(Buffer.from(`From: <${from}>\r\nTo: post@rathaus.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@test>\r\nDate: Mon, 01 Mar 2021 09:00:00 +0100\r\n\r\n${subject}\r\n`));

  /** A tab with its own cookies that records screenshots, dialogs and requests to other hosts. */
  async function tab(prefix: string) {
    const context = await browser.newContext({ locale: 'de-DE', acceptDownloads: true });
    const page = await context.newPage();
    const rec = recordPages(page, prefix);
    const dialogs: string[] = [];
    const outside: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.origin !== g.base) outside.push(r.url());
    });
    return { context, page, rec, dialogs, outside, async close() { await rec.flush(); await context.close(); } };
  }

  before(async () => {
    g = await adminGateway();
    browser = await launchBrowser();
    const { db } = g.ctx;
    await addStaff(db, { name: 'Jansen, Jan', email: 'jan.jansen@rathaus.example', login: 'jan' });
    await addStaff(db, { name: 'Amt, Post', email: 'post@amt.example', external: true });
    await addStaff(db, { name: 'MFP 2. OG', email: 'mfp@rathaus.example', external: true });
    await addMapping(db, 'post@amt.example', STAFF.login);
    const ingest = async (raw: ReturnType<typeof rawFromBuffer>, channel: 'general' | 'scanner', name: string) =>
      (await g.ctx.ingest(raw, { kind: 'file', channels: [channel], path: name })).tasks[0]!.id;
    const two = (i: number) => String(i).padStart(2, '0');
    // 12 open (mapped to susi), 10 scans and 6 letters nobody is mapped for, the corpus scan and the XSS message: 30
    for (let i = 1; i <= 12; i++) await ingest(mail('post@amt.example', `Brief ${two(i)}`), 'general', `b${i}.eml`);
    for (let i = 1; i <= 10; i++) await ingest(mail('mfp@rathaus.example', `Scan ${two(i)}`), 'scanner', `s${i}.eml`);
    for (let i = 1; i <= 6; i++) ids[`stranger${i}`] = await ingest(mail('fremd@example.org', `Anfrage ${two(i)}`), 'general', `a${i}.eml`);
    ids.scan = await ingest(rawFromBuffer(fixture('scanner-basic.eml')), 'scanner', 'scanner-basic.eml');
    ids.xss = await ingest(rawFromBuffer(fixture(XSS_FILE)), 'general', XSS_FILE);
  });
  after(async () => {
    await browser?.close();
    await g?.close();
  });

  const rowsOf = (page: Page) => page.locator('#task-list tbody tr');
  const subjects = (page: Page) => page.locator('#task-list tbody td.subject a').allTextContents();

  test('Vorgänge: 30 tasks in pages of 20, filters and sort by htmx with the URL pushed (reload shows the same), CSV exports of the filter', async () => {
    const t = await tab('tasks-list');
    const { page } = t;
    await login(page, g.base, ADMIN);
    await page.goto(`${g.base}/tasks`);
    assert.equal(await page.getByTestId('total').textContent(), '30 Vorgänge');
    assert.equal(await rowsOf(page).count(), 20);
    assert.equal(await page.getByTestId('page').textContent(), 'Seite 1 von 2');
    // next page: a swap, no page load; the URL follows
    await page.getByRole('link', { name: 'Weiter ›' }).click();
    await page.waitForURL((u) => u.search === '?page=2');
    assert.equal(await page.getByTestId('page').textContent(), 'Seite 2 von 2');
    assert.equal(await rowsOf(page).count(), 10);
    await t.rec.shoot('page-2');
    await page.reload();
    assert.equal(await page.getByTestId('page').textContent(), 'Seite 2 von 2');
    assert.equal(await rowsOf(page).count(), 10);

    // filter: status open = the 12 letters mapped to susi
    await page.getByLabel('Status', { exact: true }).selectOption('open');
    await page.getByRole('button', { name: 'Filtern' }).click();
    await page.waitForURL((u) => u.search === '?status=open');
    assert.equal(await page.getByTestId('total').textContent(), '12 Vorgänge');
    // sort by subject: ascending, then descending
    await page.locator('th a[data-sort="subject"]').click();
    await page.waitForURL((u) => u.search === '?status=open&sort=subject');
    assert.deepEqual((await subjects(page)).slice(0, 2), ['Brief 01', 'Brief 02']);
    await page.locator('th a[data-sort="subject"]').click();
    await page.waitForURL((u) => u.search === '?status=open&sort=subject&order=desc');
    assert.deepEqual((await subjects(page)).slice(0, 2), ['Brief 12', 'Brief 11']);
    await t.rec.shoot('open-by-subject-desc');
    await page.reload();
    assert.deepEqual((await subjects(page)).slice(0, 2), ['Brief 12', 'Brief 11']);
    assert.equal(await page.getByLabel('Status', { exact: true }).inputValue(), 'open');

    // the export links carry the filter: 12 rows + header; the Excel variant with BOM and ;
    const cookie = await sessionCookie(t.context);
    const csvHref = await page.getByRole('link', { name: 'CSV herunterladen' }).getAttribute('href');
    const excelHref = await page.getByRole('link', { name: 'CSV für Excel herunterladen' }).getAttribute('href');
    assert.equal(csvHref, '/tasks/export.csv?status=open&sort=subject&order=desc');
    const csv = await (await fetch(`${g.base}${csvHref}`, { headers: { Cookie: cookie } })).text();
    const lines = csv.trimEnd().split('\n');
    assert.equal(lines[0], 'Vorgang,Status,Kanal,Tätigkeit,Absender,Betreff,Zuständig,Eingang');
    assert.equal(lines.length, 13);
    assert.match(lines[1]!, /,offen,Allgemein,.*,post@amt\.example,Brief 12,,/);
    const excel = Buffer.from(await (await fetch(`${g.base}${excelHref}`, { headers: { Cookie: cookie } })).arrayBuffer());
    assert.deepEqual([...excel.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.ok(excel.toString('utf8').slice(1).startsWith('Vorgang;Status;Kanal;'));

    // sender filter and an age no task reaches
    await page.goto(`${g.base}/tasks?sender=fremd`);
    assert.equal(await page.getByTestId('total').textContent(), '6 Vorgänge');
    await page.goto(`${g.base}/tasks?olderThanDays=3650`);
    assert.equal(await page.getByTestId('total').textContent(), '0 Vorgänge');
    // a refused filter value is named beside its field
    const bad = await page.goto(`${g.base}/tasks?olderThanDays=0`);
    assert.equal(bad?.status(), 400);
    assert.match((await page.locator('#f-olderThanDays-error').textContent()) ?? '', /^mindestens 1 Tag$/);
    await t.close();
    assert.deepEqual(t.dialogs, []);
    assert.deepEqual(t.outside, []);
  });

  test('unassigned queue: a mapping for a staff sender routes its 10 scans; a stranger is sent to /staff; assign; the attachment downloads with the SHA-256 of the .eml; complete shows in the history', async () => {
    const t = await tab('tasks-queue');
    const { page } = t;
    await login(page, g.base, ADMIN);
    await page.goto(`${g.base}/tasks/unassigned`);
    assert.equal(await page.locator('#queue [data-testid="total"]').textContent(), '18 Vorgänge');
    // a sender without a staff record: no mapping form, a link to the staff page
    const stranger = page.locator('#queue tr', { hasText: 'Anfrage 01' });
    assert.match((await stranger.locator('.not-staff').textContent()) ?? '', /fremd@example\.org ist kein aktiver Eintrag/);
    assert.equal(await stranger.getByRole('link', { name: 'zu den Mitarbeiter*innen' }).getAttribute('href'), '/staff');
    // mapping for the scanner (an external staff record) → Jan: all 10 of its scans leave the queue
    const scanRow = page.locator('#queue tr', { hasText: 'Scan 01' });
    await scanRow.getByLabel('Zuordnung an').selectOption('jan');
    await scanRow.getByRole('button', { name: 'Zuordnung für diesen Absender anlegen' }).click();
    await page.getByRole('status').filter({ hasText: 'Zuordnung' }).waitFor();
    assert.equal(await page.getByRole('status').textContent(), 'Zuordnung mfp@rathaus.example → Jansen, Jan angelegt; 10 wartende Vorgänge wurden verteilt.');
    assert.equal(await page.locator('#queue [data-testid="total"]').textContent(), '8 Vorgänge');
    assert.equal(await page.locator('#queue tr', { hasText: 'Scan 0' }).count(), 0);
    await t.rec.shoot('mapping-created');
    // assign the corpus scan to Susi
    const basic = page.locator(`#queue tr[data-task="${ids.scan}"]`);
    await basic.getByLabel('Zuweisen an').selectOption(STAFF.login);
    await basic.getByRole('button', { name: 'zuweisen' }).click();
    await page.getByRole('status').filter({ hasText: `Vorgang ${ids.scan}` }).waitFor();
    assert.equal(await page.getByRole('status').textContent(), `Vorgang ${ids.scan} ist jetzt Weiß, Susi zugewiesen.`);
    assert.equal(await page.locator('#queue [data-testid="total"]').textContent(), '7 Vorgänge');
    await t.rec.shoot('assigned');

    // the message: headers, attachment with the SHA-256 of the attachment in the .eml
    await page.goto(`${g.base}/tasks/${ids.scan}`);
    // From: "MFP 2. OG" <scanner-2og@agency.example>
    assert.equal(await page.getByTestId('from').textContent(), 'MFP 2. OG <scanner-2og@agency.example>');
    assert.equal(await page.getByTestId('subject').textContent(), 'Scan from MFP 2. OG');
    assert.equal(await page.getByTestId('assignee').textContent(), 'Weiß, Susi');
    const parsed = await simpleParser(fixture('scanner-basic.eml'));
    const expected = sha256(parsed.attachments[0]!.content);
    assert.equal(expected, '9febcb43dbae922f6a793336de8e3f1aa0f69795447112234d109918be4d20d5'); // corpus README
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('attachment').click()]);
    assert.equal(download.suggestedFilename(), '20210224103512.pdf');
    assert.equal(sha256(readFileSync((await download.path())!)), expected);
    // the raw .eml is the file byte for byte
    const [rawDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Originalnachricht (.eml) herunterladen' }).click()]);
    assert.equal(sha256(readFileSync((await rawDl.path())!)), sha256(fixture('scanner-basic.eml')));
    // complete: the notice, the status and the history
    await loadAfter(page, (u) => u.search === '?done=completed', () => page.getByRole('button', { name: 'Erledigen' }).click());
    assert.equal(await page.getByRole('status').textContent(), 'Der Vorgang ist erledigt.');
    assert.equal(await page.getByTestId('status').textContent(), 'erledigt');
    const actions = await page.locator('table.history tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    assert.deepEqual(actions.slice(-2), ['assigned', 'completed']);
    assert.match((await page.locator('table.history tr[data-action="completed"]').textContent()) ?? '', /Admin, Anna/);
    await t.close();
    assert.deepEqual(t.dialogs, []);
    assert.deepEqual(t.outside, []);
  });

  test('the XSS corpus message: no dialog, no outside request, subject as literal text on every page; safe download name; HTML sanitised in a sandboxed frame; CSRF refused', async () => {
    const t = await tab('tasks-xss-admin');
    const { page } = t;
    await login(page, g.base, ADMIN);
    await page.goto(`${g.base}/`);
    await page.goto(`${g.base}/tasks?perPage=50`);
    assert.equal(await page.locator(`#task-list tr[data-task="${ids.xss}"] td.subject a`).textContent(), XSS_SUBJECT);
    await page.goto(`${g.base}/tasks/unassigned`);
    assert.equal(await page.locator(`#queue tr[data-task="${ids.xss}"] td.subject a`).textContent(), XSS_SUBJECT);
    await page.goto(`${g.base}/tasks/${ids.xss}`);
    assert.equal(await page.getByTestId('subject').textContent(), XSS_SUBJECT);
    assert.equal(await page.title(), `Vorgang ${ids.xss} – Posteingang`);
    assert.equal(await page.getByTestId('message-id').textContent(), '<xss-1@example.org>');
    assert.equal(await page.getByTestId('to').textContent(), 'tauoffice@agency.example');
    // the HTML body: in a frame without allow-scripts, its own CSP, the script gone, the tracker image blocked
    const frame = page.locator('iframe.mail-html');
    assert.equal(await frame.getAttribute('sandbox'), '');
    const inner = page.frameLocator('iframe.mail-html');
    await inner.locator('p', { hasText: 'Hallo' }).waitFor();
    assert.equal(await inner.locator('script, img').count(), 0);
    assert.equal(await inner.locator('.blocked-img').textContent(), '[Bild: http://tracker.example.org/p.gif]');
    assert.equal(await page.getByRole('link', { name: 'Externe Inhalte laden' }).getAttribute('href'), `/tasks/${ids.xss}?external=1`);
    const html = await fetch(`${g.base}/messages/${ids.xss}/html`, { headers: { Cookie: await sessionCookie(t.context) } });
    assert.equal(html.headers.get('content-security-policy'), "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox");
    // asked for, the frame's document keeps the image and its CSP allows images (fetched here, not loaded: no outside traffic)
    const ext = await fetch(`${g.base}/messages/${ids.xss}/html?external=1`, { headers: { Cookie: await sessionCookie(t.context) } });
    assert.match(ext.headers.get('content-security-policy') ?? '', /img-src http: https: data:/);
    assert.match(await ext.text(), /<p>Hallo<\/p><img src="http:\/\/tracker\.example\.org\/p\.gif" \/><\/body>/);
    // the attachment: a safe name, Content-Disposition attachment, the bytes of the part
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('attachment').click()]);
    assert.equal(download.suggestedFilename(), XSS_SAFE_NAME);
    assert.equal(sha256(readFileSync((await download.path())!)), sha256(XSS_ATTACHMENT));
    const attHref = (await page.getByTestId('attachment').getAttribute('href'))!;
    const att = await fetch(`${g.base}${attHref}`, { headers: { Cookie: await sessionCookie(t.context) } });
    assert.equal(att.headers.get('content-disposition'), `attachment; filename="${XSS_SAFE_NAME}"`);
    await att.arrayBuffer();

    // CSRF: the same POST without the token is refused, with it accepted
    const cookie = await sessionCookie(t.context);
    assert.ok(await csrfToken(page), 'the page carries a token (the requests below leave it out)');
    const post = (headers: Record<string, string>) =>
      fetch(`${g.base}/tasks/${ids.xss}/assign`, { method: 'POST', redirect: 'manual', headers: { Cookie: cookie, Origin: g.base, 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: `to=${STAFF.login}` });
    assert.equal((await post({})).status, 403);
    assert.equal((await post({ 'HX-Request': 'true' })).status, 403);
    assert.equal((await post({ 'X-CSRF-Token': 'wrong' })).status, 403);
    assert.equal(await page.reload().then(() => page.getByTestId('status').textContent()), 'nicht zugeordnet');
    await t.close();
    assert.deepEqual(t.dialogs, []);
    assert.deepEqual(t.outside, []);

    // Susi gets the task and sees it in Meine Vorgänge and its detail
    await assignTask(g.ctx.db, OPERATOR, ids.xss!, STAFF.login);
    const s = await tab('tasks-xss-staff');
    await login(s.page, g.base, STAFF);
    await s.page.goto(`${g.base}/meine-vorgaenge`);
    assert.equal(await s.page.locator(`#task-list tr[data-task="${ids.xss}"] td.subject a`).textContent(), XSS_SUBJECT);
    await s.page.locator(`#task-list tr[data-task="${ids.xss}"] td.subject a`).click();
    await s.page.waitForURL((u) => u.pathname === `/tasks/${ids.xss}`);
    assert.equal(await s.page.getByTestId('subject').textContent(), XSS_SUBJECT);
    await s.page.frameLocator('iframe.mail-html').locator('p', { hasText: 'Hallo' }).waitFor();
    // staff get 403 for the admin's list, 404 for a task that is not theirs
    assert.equal((await s.page.goto(`${g.base}/tasks`))?.status(), 403);
    assert.equal((await s.page.goto(`${g.base}/tasks/${ids.stranger1}`))?.status(), 404);
    await s.close();
    assert.deepEqual(s.dialogs, []);
    assert.deepEqual(s.outside, []);
  });
});
