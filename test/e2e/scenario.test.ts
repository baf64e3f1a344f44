// The whole admin scenario of issue 6 in Debian's chromium against a real gateway on the suite's
// driver: log in, set up the scanner mailbox against the test Dovecot and press "Verbindung testen",
// add the scanner's inbound address, create two staff members and an external one (the scanner),
// build a mapping in the grid, send a scan over SMTP with nodemailer and watch it appear on the
// dashboard without reloading, open the message, download the attachment (same SHA-256), complete.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver } from '../helpers/env.js';
import { ADMIN, adminGateway, launchBrowser, login, recordPages, loadAfter } from './lib.js';

const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
const SCAN_BOX = { user: 'scan@rathaus.example', password: 'Scan-Postfach-2026!' };
const BERND = { name: 'Berger, Bernd', email: 'bernd.berger@rathaus.example', login: 'bernd', password: 'Bernd-Berger-2026' };
const CLARA = { name: 'Conrad, Clara', email: 'clara.conrad@rathaus.example', login: 'clara', password: 'Clara-Conrad-2026' };
const SCANNER = { name: 'Scanner, Flur 2', email: 'mfp-flur2@rathaus.example' };
const INBOUND = 'scan@rathaus.example';

describe(`the admin scenario of issue 6 (${driver})`, () => {
  let g: Awaited<ReturnType<typeof adminGateway>>;
  let dovecot: DovecotServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let rec: ReturnType<typeof recordPages>;

  before(async () => {
    dovecot = await startDovecot({ users: [SCAN_BOX] });
    g = await adminGateway();
    browser = await launchBrowser();
    context = await browser.newContext({ locale: 'de-DE', acceptDownloads: true });
    page = await context.newPage();
    rec = recordPages(page, 'scenario');
  });
  after(async () => {
    await rec?.flush();
    await context?.close();
    await browser?.close();
    await g?.close();
    await dovecot?.stop();
  });

  test('log in → scanner mailbox + Verbindung testen → staff → mapping → scan over SMTP on the dashboard → message, attachment, complete', async () => {
    await login(page, g.base, ADMIN);

    // 1. the scanner mailbox against the test Dovecot, and its connection test
    await loadAfter(page, (u) => u.pathname === '/settings', () => page.getByRole('navigation').getByRole('link', { name: 'Einstellungen' }).click());
    await loadAfter(page, (u) => u.search === '?tab=scanner', () => page.getByRole('link', { name: 'Empfang per Scanner' }).click());
    const mb = page.getByTestId('mailbox-form-scanner');
    await mb.getByLabel('Server (Host)').fill(dovecot.host);
    await mb.getByLabel('Port').fill(String(dovecot.ports.imaps));
    await mb.getByLabel('Sicherheit').selectOption('tls');
    await mb.getByLabel('Benutzername').fill(SCAN_BOX.user);
    await mb.getByLabel('Passwort').fill(SCAN_BOX.password);
    await mb.getByLabel(/^CA-Datei/).fill(dovecot.caFile);
    await loadAfter(page, (u) => u.searchParams.get('notice') === 'saved', () => mb.getByRole('button', { name: 'Speichern' }).click());
    await page.getByRole('button', { name: 'Verbindung testen' }).click();
    await page.locator('#mailbox-test-scanner [role=status]').waitFor({ timeout: 30_000 });
    const steps = await page.locator('#mailbox-test-scanner li.step').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-step')}:${e.getAttribute('data-ok')}`));
    assert.deepEqual(steps, ['connect:true', 'tls:true', 'login:true', 'folder:true', 'fetch:true']);
    await rec.shoot('mailbox-tested');
    // the SMTP receiver takes scans for this address
    await page.getByLabel('Neue Empfangsadresse').fill(INBOUND);
    await loadAfter(page, (u) => u.searchParams.get('notice') === 'added', () => page.getByRole('button', { name: 'Hinzufügen' }).click());

    // 2. two staff members with login and mail.import, and the scanner as an external one
    await loadAfter(page, `${g.base}/staff`, () => page.getByRole('navigation').getByRole('link', { name: 'Mitarbeiter*innen' }).click());
    for (const p of [BERND, CLARA]) {
      const form = page.getByTestId('staff-create-form');
      await form.getByLabel('Name (Nachname, Vorname)').fill(p.name);
      await form.getByLabel('E-Mail-Adresse').fill(p.email);
      await form.getByLabel('Anmeldename').fill(p.login);
      await form.getByLabel(/^E-Mails automatisch einlesen/).check();
      await form.getByLabel(/^Passwort/).fill(p.password);
      await loadAfter(page, /\/staff\?created=\d+$/, () => form.getByRole('button', { name: 'Anlegen' }).click());
      assert.equal(await page.getByRole('status').textContent(), `${p.name} wurde angelegt.`);
    }
    const ext = page.getByTestId('staff-create-form');
    await ext.getByLabel('Name (Nachname, Vorname)').fill(SCANNER.name);
    await ext.getByLabel('E-Mail-Adresse').fill(SCANNER.email);
    await ext.getByLabel('Extern (ohne Anmeldung)').check();
    await loadAfter(page, /\/staff\?created=\d+$/, () => ext.getByRole('button', { name: 'Anlegen' }).click());
    assert.equal(await page.getByRole('status').textContent(), `${SCANNER.name} wurde angelegt.`);

    // 3. the mapping: the scanner's address → Bernd, added in the grid
    await loadAfter(page, `${g.base}/mappings`, () => page.getByRole('navigation').getByRole('link', { name: 'E-Mail-Adressen verwalten' }).click());
    await page.getByRole('button', { name: 'Neu' }).click();
    const editing = page.locator('#mapping-rows tr.editing');
    await editing.waitFor();
    await editing.getByLabel('Von (E-Mail-Adresse)').fill(SCANNER.email);
    await editing.getByLabel('An (Mitarbeiter*in)').selectOption({ label: `${BERND.name} (${BERND.login})` });
    await editing.getByRole('button', { name: 'Speichern' }).click();
    const saved = page.locator('#mapping-rows tr[id^="mapping-"]', { hasText: SCANNER.email });
    await saved.waitFor();
    assert.deepEqual(await saved.locator('td.from, td.to').allTextContents(), [SCANNER.email, `${BERND.name} (${BERND.login})`]);
    await rec.shoot('mapping-saved');

    // 4. the dashboard, then a scan over SMTP: the task appears without a reload
    await loadAfter(page, `${g.base}/`, () => page.getByRole('navigation').getByRole('link', { name: 'Übersicht' }).click());
    assert.equal(await page.getByTestId('open-count').textContent(), '0');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 6));
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n% Posteingang scenario scan\n'), randomBytes(4096), Buffer.from('\n%%EOF\n')]);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: g.gateway.smtp.port, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      from: `"MFP Flur 2" <${SCANNER.email}>`,
      to: INBOUND,
      subject: 'Scan vom MFP Flur 2',
      text: 'Gescanntes Dokument im Anhang.',
      attachments: [{ filename: 'Scan_0001.pdf', content: pdf, contentType: 'application/pdf' }],
    });
    transport.close();
    assert.deepEqual(info.accepted, [INBOUND]);
    await page.waitForFunction(() => document.querySelector('[data-testid="open-count"]')?.textContent === '1', undefined, { timeout: 30_000 });
    assert.equal(await page.getByTestId('unassigned-count').textContent(), '0', 'the mapping routed it');
    assert.equal(await page.getByTestId('smtp-today-scanner').textContent(), '1');
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 6, 'the page was not reloaded');
    await rec.shoot('dashboard-with-scan');

    // 5. the message: open it from the task list, download the attachment, complete the task
    await loadAfter(page, (u) => u.pathname === '/tasks', () => page.getByRole('navigation').getByRole('link', { name: 'Vorgänge', exact: true }).click());
    const row = page.locator('tr', { hasText: 'Scan vom MFP Flur 2' });
    await loadAfter(page, /\/tasks\/\d+$/, () => row.locator('a[href^="/tasks/"]').first().click());
    assert.equal(await page.getByTestId('subject').textContent(), 'Scan vom MFP Flur 2');
    assert.equal(await page.getByTestId('from').textContent(), `MFP Flur 2 <${SCANNER.email}>`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('attachment').click()]);
    assert.equal(download.suggestedFilename(), 'Scan_0001.pdf');
    assert.equal(sha256(readFileSync((await download.path())!)), sha256(pdf));
    await loadAfter(page, (u) => u.search === '?done=completed', () => page.getByRole('button', { name: 'Erledigen' }).click());
    assert.equal(await page.getByRole('status').textContent(), 'Der Vorgang ist erledigt.');
    assert.equal(await page.getByTestId('status').textContent(), 'erledigt');
    await page.goto(`${g.base}/`);
    assert.equal(await page.getByTestId('open-count').textContent(), '0');
  });
});
