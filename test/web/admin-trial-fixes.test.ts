// The admin without a browser, for the findings of the fresh-clone trial of issue 6: pages are
// never cached, a form sent after the session ended says so, a candidate takes a task
// (Übernehmen) and sees no Erledigen before, forwarding staff land on their list, the queue keeps
// a refusal whose row has left it, queue forms work without JavaScript, a mapping to someone who
// cannot receive tasks is marked, staff names are bounded, mail.import is on by default.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { createAdmin, createSession } from '../../src/services/admin-auth.js';
import { showMailbox } from '../../src/services/mailboxes.js';
import { addMapping, addStaff, getStaff, listStaff, setStaffPassword, updateStaff } from '../../src/services/staff.js';
import { getTask, OPERATOR, taskHistoryFor } from '../../src/services/task-actions.js';
import { createApp } from '../../src/web/app.js';
import { driver, testContext } from '../helpers/env.js';

const mail = (from: string, subject: string) =>
  Buffer.from(`From: ${from}\r\nTo: post@rathaus.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@test>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0100\r\n\r\nText\r\n`);

describe(`admin pages after the trial (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  const who: Record<string, { cookie: string; csrf: string; id: number }> = {};
  const get = (path: string, as: string, headers: Record<string, string> = {}) => app.request(path, { headers: { cookie: `pe_session=${who[as]!.cookie}`, ...headers } });
  const post = (path: string, as: string | null, form: Record<string, string>, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(as ? { cookie: `pe_session=${who[as]!.cookie}` } : {}), ...headers },
      body: new URLSearchParams(as ? { _csrf: who[as]!.csrf, ...form } : form),
    });
  const ingest = async (from: string, subject: string) => (await t.ctx.ingest(rawFromBuffer(mail(from, subject)), { kind: 'file', channels: ['general'], path: `${subject}.eml` })).tasks[0]!.id;

  before(async () => {
    t = await testContext();
    app = createApp(t.ctx);
    const db = t.ctx.db;
    await createAdmin(db, { login: 'admin', password: 'Rathaus-Admin-2026', name: 'Admin, Anna', email: 'anna@rathaus.example' });
    for (const [login, name] of [['susi', 'Weiß, Susi'], ['hans', 'Müller, Hans']] as const) {
      await addStaff(db, { name, email: `${login}@rathaus.example`, login });
      await setStaffPassword(db, login, `${login}-Passwort-2026`);
    }
    await addStaff(db, { name: 'Amt, Bau', email: 'bauamt@stadt.example', external: true });
    await addMapping(db, 'bauamt@stadt.example', 'susi');
    await addMapping(db, 'bauamt@stadt.example', 'hans');
    for (const s of await listStaff(db)) {
      if (!s.login) continue;
      const { cookie, csrfToken } = await createSession(db, s.id);
      who[s.login] = { cookie, csrf: csrfToken, id: s.id };
    }
  });
  after(() => t?.close());

  test('signed-in pages are sent with Cache-Control: no-store, so Back after logout shows nothing', async () => {
    const id = await ingest('bauamt@stadt.example', 'Bauantrag 1');
    for (const path of ['/', `/tasks/${id}`, '/tasks', '/staff', '/meine-vorgaenge']) {
      const r = await get(path, 'admin');
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('cache-control'), 'no-store', path);
    }
  });

  test('a form sent without a live session goes to the login page, which says the action was not carried out', async () => {
    const id = await ingest('bauamt@stadt.example', 'Bauantrag 2');
    const r = await post(`/tasks/${id}/complete`, null, {}, { cookie: 'pe_session=abgelaufen' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/login?expired=1');
    const login = await app.request('/login?expired=1');
    assert.match(await login.text(), /Ihre Sitzung ist abgelaufen oder wurde beendet\. Bitte melden Sie sich erneut an; die letzte Aktion wurde nicht ausgeführt\./);
    assert.equal((await getTask(t.ctx.db, OPERATOR, id)).status, 'open', 'nothing was completed');
  });

  test('a candidate sees Übernehmen, not Erledigen; after taking the task she may complete it; the other candidate is told it was taken', async () => {
    const id = await ingest('bauamt@stadt.example', 'Bauantrag 3');
    const before = await (await get(`/tasks/${id}`, 'susi')).text();
    assert.match(before, new RegExp(`action="/tasks/${id}/claim"`));
    assert.doesNotMatch(before, new RegExp(`action="/tasks/${id}/complete"`));
    assert.doesNotMatch(before, new RegExp(`action="/tasks/${id}/forward"`));
    const taken = await post(`/tasks/${id}/claim`, 'susi', {});
    assert.equal(taken.status, 303);
    assert.equal(taken.headers.get('location'), `/tasks/${id}?done=claimed`);
    const task = await getTask(t.ctx.db, OPERATOR, id);
    assert.equal(task.assignee?.login, 'susi');
    const afterwards = await (await get(`/tasks/${id}?done=claimed`, 'susi')).text();
    assert.match(afterwards, /Sie haben den Vorgang übernommen\./);
    assert.match(afterwards, new RegExp(`action="/tasks/${id}/complete"`));
    assert.doesNotMatch(afterwards, new RegExp(`action="/tasks/${id}/claim"`));
    // a second click changes nothing
    assert.equal((await post(`/tasks/${id}/claim`, 'susi', {})).headers.get('location'), `/tasks/${id}?done=claimed`);
    // Hans, the other candidate, clicked on a page loaded before: told, not shown a 404
    const late = await post(`/tasks/${id}/claim`, 'hans', {});
    assert.equal(late.headers.get('location'), `/meine-vorgaenge?taken=${id}`);
    assert.match(await (await get(`/meine-vorgaenge?taken=${id}`, 'hans')).text(), new RegExp(`Vorgang ${id} hat inzwischen jemand anderes übernommen\\.`));
    assert.equal((await getTask(t.ctx.db, OPERATOR, id)).assignee?.login, 'susi');
    const history = (await taskHistoryFor(t.ctx.db, OPERATOR, id)).map((e) => e.action);
    assert.deepEqual(history, ['created', 'claimed'], 'one claimed event');
  });

  test('forwarding her task sends the staff member to her list with a notice, not to a page she may no longer see', async () => {
    const id = await ingest('bauamt@stadt.example', 'Bauantrag 4');
    await post(`/tasks/${id}/claim`, 'susi', {});
    const r = await post(`/tasks/${id}/forward`, 'susi', { to: 'hans' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/meine-vorgaenge?forwarded=${id}`);
    assert.match(await (await get(`/meine-vorgaenge?forwarded=${id}`, 'susi')).text(), new RegExp(`Vorgang ${id} wurde weitergeleitet\\.`));
    assert.equal((await getTask(t.ctx.db, OPERATOR, id)).assignee?.login, 'hans');
  });

  test('the queue: forms carry the CSRF field (no JavaScript needed); a refusal for a row that left the queue is shown above it', async () => {
    const id = await ingest('fremd@extern.example', 'Anfrage ohne Zuordnung');
    const page = await (await get('/tasks/unassigned', 'admin')).text();
    const forms = page.match(/<form method="post" action="\/tasks\/[^"]*"[^>]*>[\s\S]*?<\/form>/g) ?? [];
    assert.ok(forms.length >= 1);
    for (const f of forms) assert.match(f, new RegExp(`name="_csrf" value="${who.admin!.csrf}"`));
    // plain form post (no htmx): assigned
    const ok = await post(`/tasks/${id}/assign`, 'admin', { to: 'susi' });
    assert.equal(ok.status, 303);
    // the second tab still shows the row and assigns to Hans with htmx: the row is gone, the reason stays visible
    const late = await post(`/tasks/${id}/assign`, 'admin', { to: 'hans' }, { 'HX-Request': 'true' });
    assert.equal(late.status, 400);
    const html = await late.text();
    assert.match(html, new RegExp(`<p class="message error" role="alert">Vorgang ${id} steht nicht mehr in dieser Liste \\(inzwischen geändert\\): `));
    // the same without JavaScript: the queue page again, the reason above the list
    const plain = await post(`/tasks/${id}/assign`, 'admin', { to: 'hans', from: 'queue' });
    assert.equal(plain.status, 400);
    const page2 = await plain.text();
    assert.match(page2, /<h1>Nicht zugeordnete Vorgänge<\/h1>/);
    assert.match(page2, new RegExp(`<p class="message error" role="alert">Vorgang ${id} steht nicht mehr in dieser Liste \\(inzwischen geändert\\): `));
    // from the task page, whose assign form is gone now that the task is open: the reason above the actions
    const detail = await post(`/tasks/${id}/assign`, 'admin', { to: 'hans' });
    assert.equal(detail.status, 400);
    assert.match(await detail.text(), new RegExp(`<p class="message error" role="alert">Vorgang ${id} ist nicht in „Nicht zugeordnet“`));
    assert.equal((await getTask(t.ctx.db, OPERATOR, id)).assignee?.login, 'susi');
  });

  test('a mapping whose An was deactivated is marked "nicht wirksam" in the grid', async () => {
    await addStaff(t.ctx.db, { name: 'Kurz, Karl', email: 'karl@rathaus.example', login: 'karl' });
    await addStaff(t.ctx.db, { name: 'Amt, Ordnung', email: 'ordnung@stadt.example', external: true });
    await addMapping(t.ctx.db, 'ordnung@stadt.example', 'karl');
    const row = (html: string) => /<tr id="mapping-\d+"[^>]*>\s*<td class="from">ordnung@stadt\.example<\/td>[\s\S]*?<\/tr>/.exec(html)?.[0] ?? '';
    assert.doesNotMatch(row(await (await get('/mappings', 'admin')).text()), /nicht wirksam/);
    const karl = (await listStaff(t.ctx.db)).find((s) => s.login === 'karl')!;
    await updateStaff(t.ctx.db, karl.id, { active: false });
    assert.match(row(await (await get('/mappings', 'admin')).text()), /nicht wirksam/);
  });

  test('staff names: more than 200 characters or a line break refused (service and form); the form ticks E-Mails automatisch einlesen by default', async () => {
    await assert.rejects(addStaff(t.ctx.db, { name: 'x'.repeat(201), email: 'lang@rathaus.example' }), { name: 'ValidationError', field: 'name' });
    await assert.rejects(addStaff(t.ctx.db, { name: 'Zeile, Eins\nZwei', email: 'zeile@rathaus.example' }), { name: 'ValidationError', field: 'name' });
    const ok = await addStaff(t.ctx.db, { name: 'y'.repeat(200), email: 'genau@rathaus.example' });
    assert.equal((await getStaff(t.ctx.db, ok.id)).name.length, 200);
    const form = (await (await get('/staff', 'admin')).text()).match(/<form method="post" action="\/staff"[\s\S]*?<\/form>/)![0];
    assert.match(form, /<input id="staff-create-name" name="name" value="" required="" autocomplete="off" maxlength="200"/);
    assert.match(form, /<input type="checkbox" id="staff-create-mailImport" name="mailImport" value="on" checked=""/);
    // sent with a login and the box ticked: mail.import on; the same without a login: off, no refusal
    const withLogin = await post('/staff', 'admin', { name: 'Neu, Nora', email: 'nora@rathaus.example', login: 'nora', mailImport: 'on', role: 'staff' });
    assert.equal(withLogin.status, 303);
    const without = await post('/staff', 'admin', { name: 'Ohne, Otto', email: 'otto@rathaus.example', login: '', mailImport: 'on', role: 'staff' });
    assert.equal(without.status, 303);
    const all = await listStaff(t.ctx.db);
    assert.equal(all.find((s) => s.name === 'Neu, Nora')!.mailImport, true);
    assert.equal(all.find((s) => s.name === 'Ohne, Otto')!.mailImport, false);
  });

  test('Nach dem Einlesen is a choice; "verschieben" takes its folder from the field beside it (UTF-8 name kept)', async () => {
    const form = { protocol: 'imap', host: '127.0.0.1', port: '1', security: 'none', user: 'AGENCY\\scan', password: 'geheim-2026', folder: 'INBOX', afterImport: 'move', afterImportFolder: 'Erledigt/Gelöschte Elemente', caFile: '', importSince: '' };
    const r = await post('/settings/mailbox/general', 'admin', form);
    assert.equal(r.status, 303);
    assert.equal((await showMailbox(t.ctx, 'general'))?.afterImport, 'move:Erledigt/Gelöschte Elemente');
    const html = await (await get('/settings?tab=general', 'admin')).text();
    assert.match(html, /<option value="move" selected="">in einen Ordner verschieben \(IMAP\)<\/option>/);
    assert.match(html, /name="afterImportFolder" type="text" value="Erledigt\/Gelöschte Elemente"/);
    // another choice ignores the folder field
    assert.equal((await post('/settings/mailbox/general', 'admin', { ...form, afterImport: 'keep' })).status, 303);
    assert.equal((await showMailbox(t.ctx, 'general'))?.afterImport, 'keep');
  });
});
