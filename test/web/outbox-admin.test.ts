// The outbox admin page (Postausgang) after the user trial: the server reply has a column of its
// own width (no mid-word breaks), Erneut versuchen keeps the ?state filter, an unknown state is
// refused beside the filter (400) instead of showing everything, and every row links to a detail
// page with To, Cc, Bcc, subject, the task it replies to, attempts and the full last server reply.
// HTTP-level (createApp(ctx).request with a session); expected values come from the input.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { outboxMessage } from '../../src/db/schema.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { createAdmin, createSession } from '../../src/services/admin-auth.js';
import { enqueueMessage, replyToTask } from '../../src/services/outbox.js';
import { setSmtpAccount } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { createApp } from '../../src/web/app.js';
import { ROOT } from '../helpers/cli.js';
import { driver, testContext } from '../helpers/env.js';

const REPLY =
  '550 5.1.1 <weg@stadt.example>: Recipient address rejected: User unknown in virtual mailbox table; see https://mx.stadt.example/hilfe/zustellung for details';

describe(`outbox admin page (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  let cookie = '';
  let csrf = '';
  const ids: Record<string, number> = {};
  let taskId = 0;
  const get = (p: string) => app.request(p, { headers: { cookie: `pe_session=${cookie}` } });
  const post = (p: string) =>
    app.request(p, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', cookie: `pe_session=${cookie}` },
      body: new URLSearchParams({ _csrf: csrf }),
    });
  const fail = (id: number | undefined, attempts: number) =>
    t.ctx.db.update(outboxMessage).set({ state: 'failed', attempts, lastReply: REPLY, lastAttemptAt: new Date() }).where(eq(outboxMessage.id, id!));

  before(async () => {
    t = await testContext();
    app = createApp(t.ctx);
    const admin = await createAdmin(t.ctx.db, { login: 'admin', password: 'Rathaus-Admin-2026', name: 'Admin, Anna', email: 'anna@rathaus.example' });
    ({ cookie, csrfToken: csrf } = await createSession(t.ctx.db, admin.id));
    // no worker runs in this test: entries stay as the test sets them
    await setSmtpAccount(t.ctx, { host: '127.0.0.1', port: 2, security: 'none', auth: 'none', fromAddress: 'versand@rathaus.example', fromName: 'Rathaus' });
    const plain = await enqueueMessage(t.ctx, OPERATOR, {
      to: 'Bauamt <bauamt@stadt.example>',
      cc: 'Kopie <kopie@stadt.example>',
      bcc: 'geheim@stadt.example',
      subject: 'Stellungnahme Bauantrag 12/2026',
      text: 'Guten Tag',
    });
    ids.plain = plain.id;
    const ingested = await t.ctx.ingest(
      rawFromBuffer(Buffer.from('From: Bürger <buerger@example.org>\r\nTo: post@rathaus.example\r\nSubject: Antrag Sondernutzung\r\nMessage-ID: <antrag.1@example.org>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0100\r\n\r\nText\r\n')),
      { kind: 'file', channels: ['general'], path: 'antrag.eml' },
    );
    taskId = ingested.tasks[0]!.id;
    ids.reply = (await replyToTask(t.ctx, OPERATOR, taskId, { text: 'Danke, wir melden uns.' })).id;
    ids.queued = (await enqueueMessage(t.ctx, OPERATOR, { to: 'wartet@stadt.example', subject: 'Wartet noch', text: 'x' })).id;
    await fail(ids.plain, 3);
    await fail(ids.reply, 5);
  });
  after(() => t?.close());

  test('the server reply column has a width of its own: no overflow-wrap: anywhere, a minimum width', () => {
    const css = readFileSync(path.join(ROOT, 'views/static/settings.css'), 'utf8');
    const rule = /td\.reply \{([^}]*)\}/.exec(css)?.[1] ?? '';
    assert.match(rule, /min-width: *\d+rem/);
    assert.match(rule, /overflow-wrap: *break-word/);
    assert.doesNotMatch(rule, /anywhere/);
  });

  test('?state=failed lists the failed entries only, each with a detail link', async () => {
    const r = await get('/outbox?state=failed');
    assert.equal(r.status, 200);
    const html = await r.text();
    assert.match(html, new RegExp(`data-testid="outbox-${ids.plain}" data-state="failed"`));
    assert.match(html, new RegExp(`data-testid="outbox-${ids.reply}" data-state="failed"`));
    assert.doesNotMatch(html, new RegExp(`data-testid="outbox-${ids.queued}"`));
    assert.match(html, new RegExp(`href="/outbox/${ids.plain}"`));
    // the retry form carries the filter along
    assert.match(html, new RegExp(`action="/outbox/${ids.plain}/retry\\?state=failed"`));
  });

  test('Erneut versuchen from the failed filter returns to the failed filter', async () => {
    const r = await post(`/outbox/${ids.plain}/retry?state=failed`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/outbox?state=failed&retried=${ids.plain}`);
    const html = await (await get(r.headers.get('location')!)).text();
    assert.match(html, new RegExp(`Nachricht ${ids.plain} wird erneut versucht\\.`));
    assert.match(html, /<a href="\/outbox\?state=failed" aria-current="page">/);
    // now queued again: no longer under "failed"
    assert.doesNotMatch(html, new RegExp(`data-testid="outbox-${ids.plain}"`));
    // from the unfiltered list, back to the unfiltered list
    await fail(ids.plain, 3);
    const all = await post(`/outbox/${ids.plain}/retry`);
    assert.equal(all.headers.get('location'), `/outbox?retried=${ids.plain}`);
    await fail(ids.plain, 3);
  });

  test('a retry refused (not failed) keeps the filter on the page it shows', async () => {
    const r = await post(`/outbox/${ids.queued}/retry?state=queued`);
    assert.equal(r.status, 400);
    const html = await r.text();
    assert.match(html, /role="alert"/);
    assert.match(html, /<a href="\/outbox\?state=queued" aria-current="page">/);
  });

  test('?state=bogus is refused beside the filter with 400, and nothing is listed as if unfiltered', async () => {
    const r = await get('/outbox?state=bogus');
    assert.equal(r.status, 400);
    const html = await r.text();
    assert.match(html, /data-testid="state-error"[^>]*>„bogus“ ist kein Zustand des Postausgangs\./);
    assert.doesNotMatch(html, /data-testid="outbox"/);
    // and the filter links are still there to choose from
    assert.match(html, /href="\/outbox\?state=failed"/);
    // the empty value means "all"
    assert.equal((await get('/outbox?state=')).status, 200);
  });

  test('the detail page shows To, Cc, Bcc, subject, attempts and the whole server reply', async () => {
    const r = await get(`/outbox/${ids.plain}`);
    assert.equal(r.status, 200);
    const html = await r.text();
    const dd = (id: string) => new RegExp(`data-testid="${id}">([^<]*)<`).exec(html)?.[1];
    assert.equal(dd('state'), 'fehlgeschlagen');
    assert.equal(dd('to'), 'Bauamt &lt;bauamt@stadt.example&gt;');
    assert.equal(dd('cc'), 'Kopie &lt;kopie@stadt.example&gt;');
    assert.equal(dd('bcc'), 'geheim@stadt.example');
    assert.equal(dd('subject'), 'Stellungnahme Bauantrag 12/2026');
    assert.equal(dd('attempts'), '3');
    assert.equal(dd('task'), 'keine (neue Nachricht)');
    // the whole reply, escaped as HTML text
    assert.equal(dd('reply'), REPLY.replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    assert.match(html, new RegExp(`action="/outbox/${ids.plain}/retry\\?from=detail"`));
  });

  test('a reply’s detail page links the task it answers; no Cc or Bcc', async () => {
    const html = await (await get(`/outbox/${ids.reply}`)).text();
    assert.match(html, new RegExp(`data-testid="task"><a href="/tasks/${taskId}">Vorgang ${taskId}</a>`));
    assert.match(html, /data-testid="to">[^<]*buerger@example\.org/);
    assert.match(html, /data-testid="cc">–</);
    assert.match(html, /data-testid="bcc">–</);
    assert.match(html, /data-testid="attempts">5</);
    assert.match(html, /data-testid="subject">AW: Antrag Sondernutzung</);
  });

  test('retry from the detail page returns to it; an unknown entry is 404', async () => {
    const r = await post(`/outbox/${ids.reply}/retry?from=detail`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/outbox/${ids.reply}?retried=1`);
    const html = await (await get(r.headers.get('location')!)).text();
    assert.match(html, /data-testid="state">wartend</);
    assert.match(html, new RegExp(`Nachricht ${ids.reply} wird erneut versucht\\.`));
    assert.equal((await get('/outbox/999999')).status, 404);
  });
});
