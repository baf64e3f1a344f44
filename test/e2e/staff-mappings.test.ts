/**
 * Browser tests of the staff, activity-type and mapping pages (issue 6 items 4–6) in Debian's
 * chromium against a real gateway on the suite's driver: forms filled as an admin would (one flow by
 * keyboard only), refusals shown beside the field, the mapping grid's htmx row swaps without a page
 * load, waiting unassigned tasks routed from the grid and a deactivation that sends them back to
 * the unassigned queue. Every value is checked on the page and in the database (services).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { listActivityTypes } from '../../src/services/activity-types.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { listChannelSettings } from '../../src/services/settings.js';
import { countWaitingTasks } from '../../src/services/staff-lifecycle.js';
import { getStaff, listMappings, listStaff, updateStaff, verifyStaffPassword } from '../../src/services/staff.js';
import { driver } from '../helpers/env.js';
import { sendRaw, simpleMessage } from '../inbound/lib.js';
import { ADMIN, adminTab, csrfToken, inlineScripts, login, sessionCookie, STAFF, loadAfter } from './lib.js';

const BERND = { name: 'Berger, Bernd', email: 'bernd.berger@rathaus.example', login: 'bberger', password: 'Bernd-Berger-2026!' };
const CLARA = { name: 'Cramer, Clara', email: 'clara.cramer@rathaus.example', login: 'ccramer', password: 'Clara-Cramer-2026!' };
const ERIKA = { name: 'Extern, Erika', email: 'erika@partner.example' };
const INBOUND = 'post@rathaus.example';

describe(`admin pages: staff, activity types, mapping grid (${driver})`, () => {
  let tab: Awaited<ReturnType<typeof adminTab>>;
  let g: typeof tab.g;
  let page: Page;
  let rec: typeof tab.rec;
  const inline: { url: string; scripts: number; handlers: string[] }[] = [];
  const id = async (name: string) => (await listStaff(g.ctx.db)).find((s) => s.name === name)!.id;

  before(async () => {
    tab = await adminTab('staff-mappings');
    ({ g, page, rec } = tab);
    page.on('load', () => void inlineScripts(page).then((i) => inline.push({ url: page.url(), ...i }), () => {}));
  });
  after(() => tab?.close());

  test('two staff members with login and mail.import (one entirely by keyboard) and an external one are created through the form', async () => {
    await loadAfter(page, `${g.base}/staff`, () => page.getByRole('navigation').getByRole('link', { name: 'Mitarbeiter*innen' }).click());
    assert.equal(await page.locator('h1').textContent(), 'Mitarbeiter*innen');
    const form = page.getByTestId('staff-create-form');

    // Bernd with the mouse
    await form.getByLabel('Name (Nachname, Vorname)').fill(BERND.name);
    await form.getByLabel('E-Mail-Adresse').fill(BERND.email);
    await form.getByLabel('Anmeldename').fill(BERND.login);
    await form.getByLabel(/^E-Mails automatisch einlesen/).check();
    await form.getByLabel(/^Passwort/).fill(BERND.password);
    await loadAfter(page, /\/staff\?created=\d+$/, () => form.getByRole('button', { name: 'Anlegen' }).click());
    assert.equal(await page.getByRole('status').textContent(), `${BERND.name} wurde angelegt.`);

    // Clara by keyboard only: focus the first field, then Tab, typing, Space and Enter
    await page.getByTestId('staff-create-form').getByLabel('Name (Nachname, Vorname)').focus();
    await page.keyboard.type(CLARA.name);
    await page.keyboard.press('Tab'); // E-Mail
    await page.keyboard.type(CLARA.email);
    await page.keyboard.press('Tab'); // Extern
    await page.keyboard.press('Tab'); // Anmeldename
    await page.keyboard.type(CLARA.login);
    await page.keyboard.press('Tab'); // Rolle (stays Sachbearbeitung)
    await page.keyboard.press('Tab'); // E-Mails automatisch einlesen: on by default for a person with a login (README), so no key
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement).checked), true);
    await page.keyboard.press('Tab'); // Passwort
    await page.keyboard.type(CLARA.password);
    await loadAfter(page, /\/staff\?created=\d+$/, () => page.keyboard.press('Enter'));
    assert.equal(await page.getByRole('status').textContent(), `${CLARA.name} wurde angelegt.`);

    // Erika: external, no login, no mail.import
    await form.getByLabel('Name (Nachname, Vorname)').fill(ERIKA.name);
    await form.getByLabel('E-Mail-Adresse').fill(ERIKA.email);
    await form.getByLabel('Extern (ohne Anmeldung)').check();
    await loadAfter(page, /\/staff\?created=\d+$/, () => form.getByRole('button', { name: 'Anlegen' }).click());
    assert.equal(await page.getByRole('status').textContent(), `${ERIKA.name} wurde angelegt.`);

    // the list: Name, E-Mail, Aktuell, Extern, Anmeldename, Rolle, mail.import
    const row = (name: string) => page.getByTestId('staff-table').locator('tbody tr', { hasText: name }).locator('td');
    assert.deepEqual((await row(BERND.name).allTextContents()).slice(0, 7), [BERND.name, BERND.email, 'ja', 'nein', BERND.login, 'Sachbearbeitung', 'ja']);
    assert.deepEqual((await row(CLARA.name).allTextContents()).slice(0, 7), [CLARA.name, CLARA.email, 'ja', 'nein', CLARA.login, 'Sachbearbeitung', 'ja']);
    assert.deepEqual((await row(ERIKA.name).allTextContents()).slice(0, 7), [ERIKA.name, ERIKA.email, 'ja', 'ja', '–', 'Sachbearbeitung', 'nein']);

    // the database agrees, and the passwords typed work (argon2 hashes, checked by the service)
    const db = g.ctx.db;
    const staff = await listStaff(db);
    const pick = (name: string) => {
      const s = staff.find((x) => x.name === name)!;
      return { email: s.email, login: s.login, active: s.active, external: s.external, role: s.role, mailImport: s.mailImport };
    };
    assert.deepEqual(pick(BERND.name), { email: BERND.email, login: BERND.login, active: true, external: false, role: 'staff', mailImport: true });
    assert.deepEqual(pick(CLARA.name), { email: CLARA.email, login: CLARA.login, active: true, external: false, role: 'staff', mailImport: true });
    assert.deepEqual(pick(ERIKA.name), { email: ERIKA.email, login: null, active: true, external: true, role: 'staff', mailImport: false });
    assert.ok(await verifyStaffPassword(db, BERND.login, BERND.password));
    assert.ok(await verifyStaffPassword(db, CLARA.login, CLARA.password));
    assert.ok(!(await page.content()).includes(CLARA.password), 'a password is never sent back');
    await rec.shoot('staff-created');
  });

  test('a duplicate e-mail (other case) is refused with the reason beside the field; the typed values stay', async () => {
    const count = (await listStaff(g.ctx.db)).length;
    const form = page.getByTestId('staff-create-form');
    await form.getByLabel('Name (Nachname, Vorname)').fill('Doppelt, Dora');
    await form.getByLabel('E-Mail-Adresse').fill('Bernd.Berger@Rathaus.example');
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/staff'), form.getByRole('button', { name: 'Anlegen' }).click()]);
    assert.equal(res.status(), 400);
    await page.waitForLoadState();
    const email = page.getByTestId('staff-create-form').getByLabel('E-Mail-Adresse');
    assert.equal(await email.getAttribute('aria-invalid'), 'true');
    const errorId = await email.getAttribute('aria-describedby');
    // addStaff's rule: the e-mail is unique among active staff, compared without case
    assert.equal(await page.locator(`#${errorId}`).textContent(), `${BERND.email} gehört bereits zur aktiven Mitarbeiter*in „${BERND.name}“`);
    assert.equal(await page.getByRole('alert').textContent(), 'Bitte korrigieren Sie die markierten Felder.');
    assert.equal(await email.inputValue(), 'Bernd.Berger@Rathaus.example');
    assert.equal(await page.getByTestId('staff-create-form').getByLabel('Name (Nachname, Vorname)').inputValue(), 'Doppelt, Dora');
    assert.equal((await listStaff(g.ctx.db)).length, count, 'nobody was added');
    await rec.shoot('staff-duplicate-email');
  });

  test('a password set on the edit page is stored as a hash that verifies, and is not shown back', async () => {
    const claraId = await id(CLARA.name);
    await page.goto(`${g.base}/staff/${claraId}`);
    assert.equal(await page.locator('h1').textContent(), `Mitarbeiter*in bearbeiten: ${CLARA.name}`);
    const pw = page.getByTestId('password-form');
    await pw.getByLabel('Passwort (mindestens 10 Zeichen)').fill('kurz');
    await page.getByTestId('password-form').getByLabel('Passwort (mindestens 10 Zeichen)').evaluate((e) => e.removeAttribute('required'));
    await Promise.all([page.waitForLoadState(), pw.getByRole('button', { name: 'Passwort setzen' }).click()]);
    assert.equal(await page.locator('#staff-password-error').textContent(), 'muss mindestens 10 Zeichen lang sein');
    const fresh = 'Clara-Neues-Passwort-7';
    await page.getByTestId('password-form').getByLabel('Passwort (mindestens 10 Zeichen)').fill(fresh);
    await loadAfter(page, `${g.base}/staff/${claraId}?password=1`, () => page.getByTestId('password-form').getByRole('button', { name: 'Passwort setzen' }).click());
    assert.equal(await page.getByRole('status').textContent(), `Das Passwort für „${CLARA.login}“ wurde gesetzt.`);
    assert.ok(!(await page.content()).includes(fresh));
    assert.ok(await verifyStaffPassword(g.ctx.db, CLARA.login, fresh));
    assert.equal(await verifyStaffPassword(g.ctx.db, CLARA.login, CLARA.password), null, 'the old password no longer works');
    CLARA.password = fresh;
  });

  test('an activity type is created, renamed and chosen for scans; general mail keeps its type', async () => {
    await loadAfter(page, `${g.base}/activity-types`, () => page.getByRole('navigation').getByRole('link', { name: 'Tätigkeiten' }).click());
    const before = await listChannelSettings(g.ctx.db);
    const general = before.find((s) => s.channel === 'general')!.activityType;
    assert.equal(general, 'E-Mail-Eingang', 'the seed');
    await page.getByLabel('Name', { exact: true }).fill('Scan Jugendamt');
    await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Anlegen' }).click()]);
    assert.equal(await page.getByRole('status').textContent(), 'Die Tätigkeit „Scan Jugendamt“ wurde angelegt.');

    // a name another type has (other case) is refused beside the field
    await page.getByLabel('Name', { exact: true }).fill('scan-eingang');
    await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Anlegen' }).click()]);
    assert.equal(await page.locator('#activity-type-name-error').textContent(), 'Eine Tätigkeit namens „Scan-Eingang“ gibt es bereits');

    const created = (await listActivityTypes(g.ctx.db)).find((a) => a.name === 'Scan Jugendamt')!;
    await page.getByLabel('Neuer Name für „Scan Jugendamt“').fill('Scan-Eingang Jugendamt');
    await Promise.all([page.waitForLoadState(), page.locator(`tr[data-activity-type-id="${created.id}"]`).getByRole('button', { name: 'Umbenennen' }).click()]);
    assert.equal(await page.getByRole('status').textContent(), '„Scan Jugendamt“ heißt jetzt „Scan-Eingang Jugendamt“.');

    await page.getByLabel('Scans (Empfang per Scanner)').selectOption('Scan-Eingang Jugendamt');
    await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Auswahl speichern' }).click()]);
    assert.equal(await page.getByRole('status').textContent(), 'Die Tätigkeiten der Kanäle wurden gespeichert.');
    const row = page.locator(`tr[data-activity-type-id="${created.id}"] td`);
    assert.deepEqual((await row.allTextContents()).slice(0, 3), ['Scan-Eingang Jugendamt', 'Scans (Empfang per Scanner)', '0']);
    await rec.shoot('activity-types-chosen-for-scans');

    const after = await listChannelSettings(g.ctx.db);
    assert.equal(after.find((s) => s.channel === 'scanner')!.activityType, 'Scan-Eingang Jugendamt');
    assert.equal(after.find((s) => s.channel === 'general')!.activityType, general);
    assert.equal((await listActivityTypes(g.ctx.db)).find((a) => a.id === created.id)!.name, 'Scan-Eingang Jugendamt');
  });

  test('the grid: Neu adds Erika → Bernd in place; the two waiting tasks from Erika are routed from the row', async () => {
    // two messages from Erika arrive before any mapping: they wait unassigned
    await addInboundAddress(g.ctx.db, INBOUND, 'general');
    for (let i = 1; i <= 2; i++) {
      const sent = await sendRaw(g.gateway.smtp.port, { from: ERIKA.email, to: [INBOUND] }, simpleMessage({ from: `"${ERIKA.name}" <${ERIKA.email}>`, to: INBOUND, subject: `Antrag ${i}` }));
      assert.equal(sent.code, 250);
    }
    assert.equal(await countWaitingTasks(g.ctx.db, ERIKA.email), 2);

    await loadAfter(page, `${g.base}/mappings`, () => page.getByRole('navigation').getByRole('link', { name: 'E-Mail-Adressen verwalten' }).click());
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    const empty = page.locator('#mapping-rows tr.empty-row');
    assert.equal(await empty.textContent(), 'Noch keine Zuordnungen. Mit „Neu“ fügen Sie eine Zeile hinzu.');
    assert.equal(await empty.isVisible(), true);
    await page.getByRole('button', { name: 'Neu' }).click();
    const editing = page.locator('#mapping-rows tr.editing');
    await editing.waitFor();
    assert.equal(await empty.isVisible(), false, 'the grid has a row now');
    await rec.shoot('mapping-new-row');

    // Von offers the active staff e-mails (datalist), An the active staff with login and mail.import
    const offered = await editing.locator('datalist option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.deepEqual(offered, [ADMIN.email, BERND.email, CLARA.email, ERIKA.email, STAFF.email].sort());
    const to = await editing.getByLabel('An (Mitarbeiter*in)').locator('option').allTextContents();
    assert.deepEqual(to, ['bitte wählen', `${ADMIN.name} (${ADMIN.login})`, `${BERND.name} (${BERND.login})`, `${CLARA.name} (${CLARA.login})`, `${STAFF.name} (${STAFF.login})`]);

    await editing.getByLabel('Von (E-Mail-Adresse)').fill(ERIKA.email);
    await editing.getByLabel('An (Mitarbeiter*in)').selectOption({ label: `${BERND.name} (${BERND.login})` });
    await editing.getByRole('button', { name: 'Speichern' }).click();
    const mappings = await waitFor(async () => (await listMappings(g.ctx.db)).filter((m) => m.from === ERIKA.email));
    assert.deepEqual(mappings.map((m) => m.toLogin), [BERND.login]);
    const row = page.locator(`#mapping-${mappings[0]!.id}`);
    await row.waitFor();
    assert.deepEqual(await row.locator('td.from, td.to').allTextContents(), [ERIKA.email, `${BERND.name} (${BERND.login})`]);
    assert.match((await row.locator('td.status').textContent())!, /Gespeichert\. +2 Vorgänge von erika@partner\.example warten in „Nicht zugeordnet“\. +Jetzt zuordnen/);
    await rec.shoot('mapping-added-offer');

    await row.getByRole('button', { name: 'Jetzt zuordnen' }).click();
    await row.locator('td.status [data-routed]').waitFor();
    assert.equal(await row.locator('td.status').textContent(), '2 Vorgänge wurden zugeordnet.');
    assert.equal(await countWaitingTasks(g.ctx.db, ERIKA.email), 0);
    await rec.shoot('mapping-routed');

    assert.equal(new URL(page.url()).pathname, '/mappings');
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'no page load: the rows were swapped by htmx');
  });

  test('a mapping to a person who lost her login is refused with the reason in the row; a sender that is not staff too', async () => {
    await page.getByRole('button', { name: 'Neu' }).click();
    const editing = page.locator('#mapping-rows tr.editing');
    await editing.waitFor();
    await editing.getByLabel('Von (E-Mail-Adresse)').fill(ERIKA.email);
    await editing.getByLabel('An (Mitarbeiter*in)').selectOption({ label: `${CLARA.name} (${CLARA.login})` });
    // meanwhile another admin takes Clara's login away (the open row still offers her)
    await updateStaff(g.ctx.db, await id(CLARA.name), { login: null });
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/mappings'), editing.getByRole('button', { name: 'Speichern' }).click()]);
    assert.equal(res.status(), 400);
    const refused = page.locator('#mapping-rows tr.editing');
    await refused.locator('.field-error').waitFor();
    // addMapping's rule (domain.md item 5): An must be an active staff member with a login
    assert.equal(await refused.locator('td.to .field-error').textContent(), `„${CLARA.name}“ hat keinen Anmeldenamen: Nur Mitarbeiter*innen mit Anmeldenamen erhalten Vorgänge`);
    assert.equal(await refused.getByLabel('An (Mitarbeiter*in)').getAttribute('aria-invalid'), 'true');
    assert.equal(await refused.getByLabel('Von (E-Mail-Adresse)').inputValue(), ERIKA.email);
    await rec.shoot('mapping-refused-no-login');

    // Von must be the address of an active staff record, never free text
    await refused.getByLabel('Von (E-Mail-Adresse)').fill('fremd@anderswo.example');
    await refused.getByLabel('An (Mitarbeiter*in)').selectOption({ label: `${STAFF.name} (${STAFF.login})` });
    await refused.getByRole('button', { name: 'Speichern' }).click();
    await page.locator('#mapping-rows tr.editing td.from .field-error').waitFor();
    assert.equal(
      await page.locator('#mapping-rows tr.editing td.from .field-error').textContent(),
      'fremd@anderswo.example ist keine E-Mail-Adresse einer aktuellen Mitarbeiter*in; legen Sie die Absender*in zuerst unter Mitarbeiter*innen an (extern, ohne Anmeldung)',
    );
    assert.deepEqual((await listMappings(g.ctx.db)).map((m) => `${m.from}>${m.toLogin}`), [`${ERIKA.email}>${BERND.login}`], 'nothing was added');
    await rec.shoot('mapping-refused-sender');

    await page.locator('#mapping-rows tr.editing').getByRole('button', { name: 'Abbrechen' }).click();
    await page.locator('#mapping-rows tr.editing').waitFor({ state: 'detached' });
  });

  test('a row is edited in place and another added and deleted in place, by keyboard', async () => {
    const [m] = await listMappings(g.ctx.db);
    await page.locator(`#mapping-${m!.id}`).getByRole('button', { name: 'Bearbeiten' }).click();
    const editing = page.locator(`#mapping-${m!.id}.editing`);
    await editing.waitFor();
    assert.equal(await editing.getByLabel('Von (E-Mail-Adresse)').inputValue(), ERIKA.email);
    await editing.getByLabel('An (Mitarbeiter*in)').selectOption({ label: `${STAFF.name} (${STAFF.login})` });
    await editing.getByRole('button', { name: 'Speichern' }).click();
    const changed = await waitFor(async () => {
      const all = await listMappings(g.ctx.db);
      return all.length === 1 && all[0]!.toLogin === STAFF.login ? all : undefined;
    });
    const row = page.locator(`#mapping-${changed[0]!.id}`);
    await row.locator('td.status [role="status"]').waitFor();
    assert.deepEqual(await row.locator('td.from, td.to').allTextContents(), [ERIKA.email, `${STAFF.name} (${STAFF.login})`]);
    await rec.shoot('mapping-edited');

    // by keyboard: Neu (Enter), Von gets the focus, Tab to An, arrow keys, Tab to Speichern, Enter
    await page.getByRole('button', { name: 'Neu' }).focus();
    await page.keyboard.press('Enter');
    const fresh = page.locator('#mapping-rows tr.editing');
    await fresh.waitFor();
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'from');
    await page.keyboard.type(ADMIN.email);
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown'); // the first person: Admin, Anna
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    const two = await waitFor(async () => ((await listMappings(g.ctx.db)).length === 2 ? listMappings(g.ctx.db) : undefined));
    const added = two.find((x) => x.from === ADMIN.email)!;
    assert.equal(added.toLogin, ADMIN.login);
    await page.locator(`#mapping-${added.id}`).waitFor();

    // delete in place, after the confirmation
    const dialog = new Promise<string>((resolve) => page.once('dialog', (d) => void d.accept().then(() => resolve(d.message()))));
    await page.locator(`#mapping-${added.id}`).getByRole('button', { name: 'Löschen' }).click();
    assert.equal(await dialog, `Zeile ${ADMIN.email} → ${ADMIN.name} (${ADMIN.login}) löschen?`);
    await page.locator(`#mapping-${added.id}`).waitFor({ state: 'detached' });
    assert.deepEqual((await listMappings(g.ctx.db)).map((x) => x.id), [changed[0]!.id]);
    assert.equal(await page.locator('#mapping-rows tr[data-mapping-id]').count(), 1);
    await rec.shoot('mapping-deleted');
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'still no page load');
  });

  test('deactivating Bernd (after the confirmation) ends his candidacies: the two tasks wait unassigned again', async () => {
    const berndId = await id(BERND.name);
    await page.goto(`${g.base}/staff`);
    await loadAfter(page, `${g.base}/staff/${berndId}`, () => page.getByRole('link', { name: `Bearbeiten: ${BERND.name}` }).click());
    await loadAfter(page, `${g.base}/staff/${berndId}/deactivate`, () => page.getByRole('link', { name: 'Deaktivieren …' }).click());
    assert.equal(await page.locator('h1').textContent(), `${BERND.name} deaktivieren?`);
    await rec.shoot('staff-deactivate-confirm');
    await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Ja, deaktivieren' }).click()]);
    const lines = await page.getByRole('status').locator('p').allTextContents();
    assert.equal(lines[0], `${BERND.name} wurde deaktiviert.`);
    assert.match(lines[1]!, /^Kandidaturen beendet: 2 Vorgänge\. Vorgänge: #\d+, #\d+$/);
    assert.match(lines[2]!, /^Jetzt in „Nicht zugeordnet“ \(ohne weitere Kandidat\*in\): 2 Vorgänge\. Vorgänge: #\d+, #\d+$/);
    assert.equal(lines[3], 'Noch ihr/ihm zugewiesen (bitte weiterleiten): 0 Vorgänge.');
    assert.equal(await page.getByLabel('Aktuell').isChecked(), false);
    await rec.shoot('staff-deactivated-report');

    assert.equal((await getStaff(g.ctx.db, berndId)).active, false);
    // the two tasks routed to Bernd alone wait in the unassigned queue again
    assert.equal(await countWaitingTasks(g.ctx.db, ERIKA.email), 2);

    await page.goto(`${g.base}/staff`);
    const cells = await page.getByTestId('staff-table').locator('tbody tr', { hasText: BERND.name }).locator('td').allTextContents();
    assert.equal(cells[2], 'nein', 'Aktuell: nein');
    // the grid no longer offers him as An, nor his address as Von
    await page.goto(`${g.base}/mappings`);
    await page.getByRole('button', { name: 'Neu' }).click();
    const editing = page.locator('#mapping-rows tr.editing');
    await editing.waitFor();
    const to = await editing.getByLabel('An (Mitarbeiter*in)').locator('option').allTextContents();
    assert.ok(!to.some((o) => o.includes(BERND.name)), to.join(' | '));
    const offered = await editing.locator('datalist option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(!offered.includes(BERND.email));
    await rec.shoot('mapping-after-deactivation');
  });

  test('the three pages speak English after the language switch', async () => {
    const expect = { '/staff': 'Staff', '/activity-types': 'Activity types', '/mappings': 'Manage e-mail addresses' };
    for (const [path, title] of Object.entries(expect)) {
      await page.goto(`${g.base}/sprache?lang=en&back=${encodeURIComponent(path)}`);
      assert.equal(new URL(page.url()).pathname, path);
      assert.equal(await page.locator('h1').textContent(), title);
    }
    assert.deepEqual(await page.locator('.mapping-grid thead th').allTextContents(), ['From', 'To', 'Actions', 'Notes']);
    await page.goto(`${g.base}/sprache?lang=de&back=/mappings`);
  });

  test('staff without the admin role get 403 on the three pages and their fragments', async () => {
    const other = await tab.browser.newContext({ locale: 'de-DE' });
    const p = await other.newPage();
    await login(p, g.base, STAFF);
    for (const path of ['/staff', `/staff/${await id(ERIKA.name)}`, '/activity-types', '/mappings', '/mappings/new']) {
      const res = await p.goto(`${g.base}${path}`);
      assert.equal(res!.status(), 403, path);
    }
    const cookie = await sessionCookie(other);
    const token = await csrfToken(p);
    const post = await fetch(`${g.base}/mappings`, { method: 'POST', headers: { cookie, 'X-CSRF-Token': token, 'HX-Request': 'true' }, body: new URLSearchParams({ from: ERIKA.email, to: String(await id(STAFF.name)) }) });
    assert.equal(post.status, 403);
    assert.deepEqual((await listMappings(g.ctx.db)).map((m) => m.toLogin), [STAFF.login], 'nothing added');
    await other.close();
  });

  test('the pages carry no inline script', () => {
    const paths = new Set(inline.map((p) => new URL(p.url).pathname));
    for (const p of ['/staff', '/activity-types', '/mappings']) assert.ok(paths.has(p), `${p} was loaded`);
    for (const p of inline) {
      assert.equal(p.scripts, 0, p.url);
      assert.deepEqual(p.handlers, [], p.url);
    }
  });
});

/** Polls `probe` until it gives a non-empty value (an empty array counts as nothing), for up to 10 s. */
async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + 10_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) return v;
    if (Date.now() > until) throw new Error('waited 10 s in vain');
    await new Promise((r) => setTimeout(r, 100));
  }
}
