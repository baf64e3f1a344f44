import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DEFAULT_ALLOWED_NETWORKS } from '../../src/config.js';
import { getOutbox } from '../../src/db/repositories/outbox.js';
import { showMailbox } from '../../src/services/mailboxes.js';
import { enqueueMessage } from '../../src/services/outbox.js';
import { listChannelSettings } from '../../src/services/settings.js';
import { showSmtpAccount } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver } from '../helpers/env.js';
import { scriptedServer, waitFor } from '../outbound/lib.js';
import { ADMIN, adminGateway, inlineScripts, launchBrowser, login, recordPages, sessionCookie, loadAfter } from './lib.js';

const SCAN = { user: 'scan@rathaus.example', password: 'Scan-Geheim-2026!' };
const WRONG = 'Falsches-Passwort-99';

describe(`admin settings and outbox in the browser (${driver})`, () => {
  let g: Awaited<ReturnType<typeof adminGateway>>;
  let dovecot: DovecotServer;
  let smtp: Awaited<ReturnType<typeof scriptedServer>>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let rec: ReturnType<typeof recordPages>;

  before(async () => {
    dovecot = await startDovecot({ users: [SCAN] });
    // the test mail is accepted, the first outbox message refused for good (550), the retry accepted
    smtp = await scriptedServer({ script: ['accept', { code: 550, text: '5.7.1 Relaying denied for this sender' }] });
    g = await adminGateway();
    browser = await launchBrowser();
    context = await browser.newContext({ locale: 'de-DE' });
    page = await context.newPage();
    rec = recordPages(page, 'settings');
    await login(page, g.base, ADMIN);
  });
  after(async () => {
    await rec?.flush();
    await context?.close();
    await browser?.close();
    await g?.close();
    await smtp?.close();
    await dovecot?.stop();
  });

  const scannerForm = () => page.getByTestId('mailbox-form-scanner');
  const save = async (form: ReturnType<Page['getByTestId']>) => {
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.request().resourceType() === 'document'), form.getByRole('button', { name: 'Speichern' }).click()]);
    await page.waitForLoadState('load');
    return res;
  };
  /** Presses "Verbindung testen" and returns [step, ok, detail] of each step shown. */
  const testConnection = async () => {
    await page.locator('#mailbox-test-scanner').evaluate((e) => e.replaceChildren());
    await page.getByRole('button', { name: 'Verbindung testen' }).click();
    const items = page.locator('#mailbox-test-scanner li.step');
    await items.first().waitFor({ timeout: 30_000 });
    return items.evaluateAll((els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-ok'), e.querySelector('.step-detail')?.textContent ?? '']));
  };
  /** Every settings tab's HTML as the server sends it (what "view source" shows). */
  const allSources = async () => {
    const cookie = await sessionCookie(context);
    const out: string[] = [];
    for (const tab of ['general', 'scanner', 'sending', 'import']) out.push(await (await fetch(`${g.base}/settings?tab=${tab}`, { headers: { cookie } })).text());
    return out.join('\n');
  };

  test('tabs: four links in a labelled nav, the current one with aria-current; the old path redirects', async () => {
    await page.goto(`${g.base}/einstellungen`);
    assert.equal(new URL(page.url()).pathname, '/settings');
    const tabs = page.getByRole('navigation', { name: 'Bereiche der Einstellungen' }).getByRole('link');
    assert.deepEqual(await tabs.allTextContents(), ['Empfang Allgemein', 'Empfang per Scanner', 'Versand', 'Automatisches Einlesen']);
    assert.equal(await tabs.nth(0).getAttribute('aria-current'), 'page');
    await loadAfter(page, (u) => u.search === '?tab=scanner', () => tabs.nth(1).click());
    assert.equal(await page.getByRole('navigation', { name: 'Bereiche der Einstellungen' }).getByRole('link', { name: 'Empfang per Scanner' }).getAttribute('aria-current'), 'page');
    assert.equal(await page.locator('main h2').first().textContent(), 'Empfang per Scanner');
    // the SMTP receiver facts come from the configuration, read-only
    const receiver = page.getByTestId('receiver');
    const dd = await receiver.locator('dd').allTextContents();
    assert.equal(dd[0], `127.0.0.1:${g.gateway.smtp.port}`);
    assert.equal(dd[2], DEFAULT_ALLOWED_NETWORKS.split(',').join(', '));
    assert.equal(await receiver.locator('input, select, textarea').count(), 0, 'read-only');
    assert.match((await receiver.textContent())!, /SMTP_ALLOWED_NETWORKS/);
    const i = await inlineScripts(page);
    assert.deepEqual(i, { scripts: 0, handlers: [] });
  });

  test('scanner mailbox set up through the form (IMAP STARTTLS with the CA file); Verbindung testen: all five steps ok', async () => {
    await page.goto(`${g.base}/settings?tab=scanner`);
    const f = scannerForm();
    await f.getByLabel('Protokoll').selectOption('imap');
    await f.getByLabel('Server (Host)').fill(dovecot.host);
    await f.getByLabel('Port').fill(String(dovecot.ports.imap));
    await f.getByLabel('Sicherheit').selectOption('starttls');
    await f.getByLabel('Benutzername').fill(SCAN.user);
    await f.getByLabel('Passwort').fill(SCAN.password);
    await f.getByLabel('Ordner (nur IMAP)').fill('INBOX');
    await f.getByLabel('Nach dem Einlesen').selectOption('keep');
    await f.getByLabel(/^CA-Datei/).fill(dovecot.caFile);
    const res = await save(f);
    assert.equal(res.status(), 303);
    assert.equal(await page.getByRole('status').first().textContent(), 'Gespeichert.');
    const stored = await showMailbox(g.ctx, 'scanner');
    assert.deepEqual(
      { protocol: stored?.protocol, host: stored?.host, port: stored?.port, security: stored?.security, username: stored?.username, folder: stored?.folder, afterImport: stored?.afterImport, caFile: stored?.caFile },
      { protocol: 'imap', host: '127.0.0.1', port: dovecot.ports.imap, security: 'starttls', username: SCAN.user, folder: 'INBOX', afterImport: 'keep', caFile: dovecot.caFile },
    );
    // the form shows the stored values, the password field stays empty
    assert.equal(await scannerForm().getByLabel('Server (Host)').inputValue(), '127.0.0.1');
    assert.equal(await scannerForm().getByLabel('Passwort').inputValue(), '');
    const steps = await testConnection();
    await rec.shoot('scanner-test-ok');
    assert.deepEqual(
      steps.map(([s, ok]) => [s, ok]),
      [['connect', 'true'], ['tls', 'true'], ['login', 'true'], ['folder', 'true'], ['fetch', 'true']],
    );
    assert.equal(await page.locator('#mailbox-test-scanner [role=status]').textContent(), 'Alle Schritte erfolgreich.');
    assert.ok(!(await allSources()).includes(SCAN.password), 'the stored password never reaches the browser');
  });

  test('a wrong password: connect and TLS ok, login failed with its reason; an empty field then keeps the stored password', async () => {
    await page.goto(`${g.base}/settings?tab=scanner`);
    await scannerForm().getByLabel('Passwort').fill(WRONG);
    assert.equal((await save(scannerForm())).status(), 303);
    const steps = await testConnection();
    await rec.shoot('scanner-test-login-failed');
    assert.deepEqual(
      steps.map(([s, ok]) => [s, ok]),
      [['connect', 'true'], ['tls', 'true'], ['login', 'false']],
    );
    assert.equal(steps[2]![2], 'Anmeldung fehlgeschlagen: Benutzername oder Passwort falsch');
    assert.equal(await page.locator('#mailbox-test-scanner [role=alert]').textContent(), 'Fehlgeschlagen beim Schritt „Anmeldung“.');
    // the right one again, then a save with the field left empty keeps it
    await scannerForm().getByLabel('Passwort').fill(SCAN.password);
    await save(scannerForm());
    await scannerForm().getByLabel('Nach dem Einlesen').selectOption('seen');
    await save(scannerForm());
    assert.equal((await showMailbox(g.ctx, 'scanner'))?.afterImport, 'seen');
    assert.deepEqual((await testConnection()).map(([, ok]) => ok), ['true', 'true', 'true', 'true', 'true']);
    const sources = await allSources();
    assert.ok(!sources.includes(SCAN.password) && !sources.includes(WRONG), 'no password, stored or entered, in any page source');
  });

  test('an invalid port is shown beside the port field, the other entered values are kept, nothing is stored', async () => {
    await page.goto(`${g.base}/settings?tab=scanner`);
    const f = scannerForm();
    await f.getByLabel('Benutzername').fill('jemand-anderes@rathaus.example');
    await f.getByLabel('Port').fill('70000');
    await f.getByLabel('Passwort').fill(WRONG);
    const res = await save(f);
    await rec.shoot('scanner-invalid-port');
    assert.equal(res.status(), 400);
    assert.equal(await page.locator('#mb-scanner-port-error').textContent(), '„70000“ ist kein Port (1–65535)');
    assert.equal(await page.locator('#mb-scanner-port').getAttribute('aria-invalid'), 'true');
    assert.match((await page.locator('#mb-scanner-port').getAttribute('aria-describedby'))!, /mb-scanner-port-error/);
    assert.equal(await scannerForm().getByLabel('Port').inputValue(), '70000');
    assert.equal(await scannerForm().getByLabel('Benutzername').inputValue(), 'jemand-anderes@rathaus.example');
    assert.equal(await scannerForm().getByLabel('Server (Host)').inputValue(), '127.0.0.1');
    assert.equal(await scannerForm().getByLabel('Passwort').inputValue(), '', 'an entered password is not sent back either');
    assert.ok(!(await page.content()).includes(WRONG));
    assert.equal((await showMailbox(g.ctx, 'scanner'))?.username, SCAN.user, 'nothing stored');
    assert.equal((await showMailbox(g.ctx, 'scanner'))?.port, dovecot.ports.imap);
  });

  test('inbound addresses: added to the scanner channel, a duplicate refused beside the field, removed', async () => {
    await page.goto(`${g.base}/settings?tab=scanner`);
    await page.getByLabel('Neue Empfangsadresse').fill('Scan@Rathaus.Example');
    await loadAfter(page, (u) => u.searchParams.get('notice') === 'added', () => page.getByRole('button', { name: 'Hinzufügen' }).click());
    assert.deepEqual(await page.getByTestId('addresses-scanner').locator('li > span').allTextContents(), ['scan@rathaus.example']);
    await page.getByLabel('Neue Empfangsadresse').fill('scan@rathaus.example');
    await page.getByRole('button', { name: 'Hinzufügen' }).click();
    await page.locator('#addr-scanner-address-error').waitFor();
    assert.equal(await page.locator('#addr-scanner-address-error').textContent(), 'scan@rathaus.example ist bereits eine Empfangsadresse des Kanals „Empfang per Scanner“');
    assert.equal(await page.getByLabel('Neue Empfangsadresse').inputValue(), 'scan@rathaus.example');
    await page.getByLabel('Neue Empfangsadresse').fill('scanner2@rathaus.example');
    await loadAfter(page, (u) => u.searchParams.get('notice') === 'added', () => page.getByRole('button', { name: 'Hinzufügen' }).click());
    await loadAfter(page, (u) => u.searchParams.get('notice') === 'removed', () => page.getByRole('button', { name: 'scanner2@rathaus.example entfernen' }).click());
    assert.deepEqual(await page.getByTestId('addresses-scanner').locator('li > span').allTextContents(), ['scan@rathaus.example']);
    // the general tab does not list the scanner's addresses
    await page.goto(`${g.base}/settings?tab=general`);
    assert.equal(await page.getByTestId('addresses-general').count(), 0);
  });

  test('Automatisches Einlesen: an interval of 0 is refused beside its field with the entered values kept; 30 is stored', async () => {
    await page.goto(`${g.base}/settings?tab=import`);
    const f = page.getByTestId('import-form-scanner');
    await f.getByLabel('Automatisches Einlesen alle x Minuten').fill('0');
    await f.getByLabel('E-Mails automatisch abschließen').check();
    let res = await save(f);
    await rec.shoot('import-interval-0');
    assert.equal(res.status(), 400);
    assert.equal(await page.locator('#imp-scanner-pollIntervalMinutes-error').textContent(), '„0“ ist keine ganze Zahl von Minuten zwischen 1 und 1440');
    assert.equal(await page.getByTestId('import-form-scanner').getByLabel('E-Mails automatisch abschließen').isChecked(), true, 'entered value kept');
    assert.equal(await page.locator('#imp-general-pollIntervalMinutes-error').count(), 0, 'only the refused form shows the error');
    const before = (await listChannelSettings(g.ctx.db)).find((s) => s.channel === 'scanner')!;
    assert.equal(before.autoComplete, false, 'nothing stored');
    await page.getByTestId('import-form-scanner').getByLabel('Automatisches Einlesen alle x Minuten').fill('30');
    res = await save(page.getByTestId('import-form-scanner'));
    assert.equal(res.status(), 303);
    const after = (await listChannelSettings(g.ctx.db)).find((s) => s.channel === 'scanner')!;
    assert.deepEqual({ interval: after.pollIntervalMinutes, autoComplete: after.autoComplete, activityType: after.activityType }, { interval: 30, autoComplete: true, activityType: 'Scan-Eingang' });
    assert.equal(await page.getByTestId('import-form-scanner').getByLabel('Automatisches Einlesen alle x Minuten').inputValue(), '30');
  });

  test('Versand: the SMTP account set through the form; Testmail senden shows each step and the mail arrives', async () => {
    await page.goto(`${g.base}/settings?tab=sending`);
    const f = page.getByTestId('smtp-form');
    await f.getByLabel('Server (Host)').fill('127.0.0.1');
    await f.getByLabel('Port').fill(String(smtp.port));
    await f.getByLabel('Sicherheit').selectOption('none');
    await f.getByLabel('Anmeldung').selectOption('none');
    await f.getByLabel('Absenderadresse').fill('poststelle@rathaus.example');
    await f.getByLabel('Absendername').fill('Jugendamt');
    assert.equal((await save(f)).status(), 303);
    const account = await showSmtpAccount(g.ctx);
    assert.deepEqual(
      { host: account?.host, port: account?.port, security: account?.security, auth: account?.auth, from: account?.fromAddress, name: account?.fromName },
      { host: '127.0.0.1', port: smtp.port, security: 'none', auth: 'none', from: 'poststelle@rathaus.example', name: 'Jugendamt' },
    );
    // an invalid sender is shown beside its field
    await page.getByTestId('smtp-form').getByLabel('Absenderadresse').fill('keine adresse');
    assert.equal((await save(page.getByTestId('smtp-form'))).status(), 400);
    assert.equal(await page.locator('#smtp-from-error').count(), 1);
    assert.equal(await page.getByTestId('smtp-form').getByLabel('Absendername').inputValue(), 'Jugendamt');
    await page.goto(`${g.base}/settings?tab=sending`);
    // an empty test address is refused with the reason, nothing is sent
    const [refused] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/settings/smtp/test'), page.getByRole('button', { name: 'Testmail senden' }).click()]);
    assert.equal(refused.status(), 400);
    assert.equal(await page.locator('#smtp-test [role=alert]').textContent(), 'Ungültig: Mindestens eine Adresse ist erforderlich');
    assert.equal(smtp.state.dataCount, 0);
    await page.getByLabel('Empfängeradresse').fill('pruefung@rathaus.example');
    await page.getByRole('button', { name: 'Testmail senden' }).click();
    await page.locator('#smtp-test li.step').first().waitFor({ timeout: 30_000 });
    await rec.shoot('sending-testmail');
    const steps = await page.locator('#smtp-test li.step').evaluateAll((els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-ok')]));
    assert.deepEqual(steps, [['connect', 'true'], ['tls', 'true'], ['login', 'true'], ['send', 'true']]);
    await smtp.waitAccepted(1);
    assert.deepEqual(smtp.accepted[0]!.to, ['pruefung@rathaus.example']);
    assert.equal(smtp.accepted[0]!.from, 'poststelle@rathaus.example');
    assert.match(smtp.accepted[0]!.raw.toString('utf8'), /^Subject: Posteingang: Testnachricht/m);
  });

  test('Postausgang: a message refused with 550 is shown failed with the reply; Erneut versuchen queues it again and it is sent', async () => {
    const queued = await enqueueMessage(g.ctx, OPERATOR, { to: 'buerger@example.org', subject: 'Ihr Antrag <Nr. 7>', text: 'Guten Tag' });
    await waitFor(async () => (await getOutbox(g.ctx.db, queued.id))?.state === 'failed', 30_000, 'the message to fail');
    await page.goto(`${g.base}/outbox`);
    const row = page.getByTestId(`outbox-${queued.id}`);
    assert.equal(await row.getAttribute('data-state'), 'failed');
    assert.equal(await row.locator('td.state').textContent(), 'fehlgeschlagen');
    assert.match((await row.locator('td.reply').textContent())!, /550.*Relaying denied for this sender/);
    assert.equal(await row.locator('td.attempts').textContent(), '1');
    assert.ok((await row.textContent())!.includes('Ihr Antrag <Nr. 7>'), 'subject as literal text');
    await page.goto(`${g.base}/outbox?state=failed`);
    assert.equal(await page.getByTestId(`outbox-${queued.id}`).count(), 1);
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('retried') === String(queued.id)),
      page.getByRole('button', { name: `Nachricht ${queued.id} erneut versuchen` }).click(),
    ]);
    assert.equal(await page.getByRole('status').textContent(), `Nachricht ${queued.id} wird erneut versucht.`);
    // the filter is kept (?state=failed), where the message queued again no longer appears
    assert.equal(new URL(page.url()).searchParams.get('state'), 'failed');
    await page.goto(`${g.base}/outbox`);
    const state = await page.getByTestId(`outbox-${queued.id}`).getAttribute('data-state');
    assert.ok(state === 'queued' || state === 'sending' || state === 'sent', `queued again, is ${state}`);
    await smtp.waitAccepted(2);
    assert.equal(smtp.accepted[1]!.messageId, queued.messageId, 'the same message, same Message-ID');
    await waitFor(async () => (await getOutbox(g.ctx.db, queued.id))?.state === 'sent', 20_000, 'sent');
    await page.goto(`${g.base}/outbox`);
    assert.equal(await page.getByTestId(`outbox-${queued.id}`).getAttribute('data-state'), 'sent');
    assert.equal(await page.getByTestId(`outbox-${queued.id}`).getByRole('button').count(), 0, 'no retry for a sent message');
    // retrying a message that is not failed is refused with the reason
    const cookie = await sessionCookie(context);
    const token = (await page.locator('input[name="_csrf"]').first().getAttribute('value'))!;
    const again = await fetch(`${g.base}/outbox/${queued.id}/retry`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: token }) });
    assert.equal(again.status, 400);
    assert.match(await again.text(), new RegExp(`Nachricht ${queued.id} ist „gesendet“; nur fehlgeschlagene Nachrichten können erneut versucht werden`));
  });

  test('English labels are available', async () => {
    await page.getByLabel('Sprache').selectOption('en');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'OK' }).click()]);
    await page.goto(`${g.base}/settings?tab=import`);
    assert.deepEqual(await page.getByRole('navigation', { name: 'Settings sections' }).getByRole('link').allTextContents(), ['General mail', 'Scanner mail', 'Sending', 'Automatic import']);
    await page.goto(`${g.base}/settings?tab=general`);
    await page.goto(`${g.base}/settings?tab=sending`);
    await page.goto(`${g.base}/outbox`);
    assert.equal(await page.locator('h1').textContent(), 'Outbox');
  });
});
