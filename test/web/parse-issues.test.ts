// Issue 12: what the parse adapted or lost is shown with the message — the API (`parseIssues`,
// `incomplete`, in the OpenAPI document), the admin's message page (German first, English on
// request) and `posteingang messages show`. Inputs built here; the expected words come from the
// catalogue's meaning (a NUL removed from the subject, a boundary that never appears).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { createAdmin, createSession } from '../../src/services/admin-auth.js';
import { createToken } from '../../src/services/tokens.js';
import { createApp } from '../../src/web/app.js';
import { driver, testContext } from '../helpers/env.js';

const NUL_SUBJECT = Buffer.from('From: amt@stadt.example\r\nSubject: Antrag\u0000 Nr. 5\r\n\r\nText\r\n', 'latin1');
const NO_BOUNDARY = Buffer.from('From: postmaster@relay.example\r\nSubject: Fehler\r\nContent-Type: multipart/mixed; boundary="nie"\r\n\r\nDer Inhalt ohne Grenze.\r\n');
const CR_ONLY = Buffer.from('From: alt@mac.example\rSubject: Alte Zeilenenden\r\rText\r');
const PLAIN = Buffer.from('From: buerger@example.org\r\nSubject: Normal\r\n\r\nText\r\n');

describe(`parse issues in the API and the admin (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  let token = '';
  let cookie = '';
  const ids: Record<string, { task: number; message: number }> = {};
  const api = async (p: string) => {
    const r = await app.request(`/api/v1${p}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, p);
    return r.json() as Promise<Record<string, unknown>>;
  };
  const page = async (p: string, lang = 'de') => {
    const r = await app.request(p, { headers: { cookie: `pe_session=${cookie}; lang=${lang}` } });
    assert.equal(r.status, 200, p);
    return r.text();
  };

  before(async () => {
    t = await testContext();
    app = createApp(t.ctx);
    const admin = await createAdmin(t.ctx.db, { login: 'admin', password: 'Rathaus-Admin-2026', name: 'Admin, Anna', email: 'anna@rathaus.example' });
    token = await createToken(t.ctx.db, 'admin');
    cookie = (await createSession(t.ctx.db, admin.id)).cookie;
    for (const [name, raw] of Object.entries({ nul: NUL_SUBJECT, boundary: NO_BOUNDARY, cr: CR_ONLY, plain: PLAIN })) {
      const r = await t.ctx.ingest(rawFromBuffer(raw), { kind: 'file', channels: ['general'], path: `${name}.eml` });
      ids[name] = { task: r.tasks[0]!.id, message: r.messageId };
    }
  });
  after(() => t?.close());

  test('GET /messages/{id} and /messages carry parseIssues and incomplete', async () => {
    const nul = await api(`/messages/${ids.nul!.message}`);
    assert.equal(nul.subject, 'Antrag Nr. 5');
    assert.equal(nul.incomplete, true);
    assert.deepEqual(nul.parseIssues, [{ code: 'text-characters-removed', params: { fields: ['subject'] } }]);
    const boundary = await api(`/messages/${ids.boundary!.message}`);
    assert.equal(boundary.incomplete, true);
    assert.equal(boundary.text, 'Der Inhalt ohne Grenze.\n');
    assert.deepEqual((boundary.parseIssues as { code: string }[]).map((i) => i.code), ['multipart-without-parts']);
    const cr = await api(`/messages/${ids.cr!.message}`);
    assert.equal(cr.incomplete, false, 'bare CR line ends are read, nothing lost');
    assert.deepEqual(cr.parseIssues, [{ code: 'cr-line-ends' }]);
    const plain = await api(`/messages/${ids.plain!.message}`);
    assert.deepEqual([plain.incomplete, plain.parseIssues], [false, []]);
    const list = (await (await app.request('/api/v1/messages', { headers: { Authorization: `Bearer ${token}` } })).json()) as { id: number; incomplete: boolean }[];
    assert.equal(list.find((m) => m.id === ids.nul!.message)?.incomplete, true);
    assert.equal(list.find((m) => m.id === ids.plain!.message)?.incomplete, false);
  });

  test('the OpenAPI document describes parseIssues and incomplete', async () => {
    const doc = JSON.stringify(await api('/openapi.json'));
    assert.match(doc, /"parseIssues"/);
    assert.match(doc, /"incomplete"/);
  });

  test('the message page warns in German and names the field; English on request; nothing for a plain message', async () => {
    const nul = await page(`/tasks/${ids.nul!.task}`);
    assert.match(nul, /data-testid="parse-issues" data-incomplete="true"/);
    assert.match(nul, /Maßgeblich ist die Originalnachricht \(\.eml\)/);
    assert.match(nul, /\(NUL\), wurden entfernt aus: Betreff\./);
    assert.match(await page(`/tasks/${ids.boundary!.task}`), /Die MIME-Grenze \(boundary\) kommt in der Nachricht nicht vor/);
    const cr = await page(`/tasks/${ids.cr!.task}`);
    assert.match(cr, /data-incomplete="false"/);
    assert.doesNotMatch(cr, /Maßgeblich ist die Originalnachricht/);
    assert.match(await page(`/tasks/${ids.nul!.task}`, 'en'), /removed from: subject\./);
    assert.doesNotMatch(await page(`/tasks/${ids.plain!.task}`), /data-testid="parse-issues"/);
  });
});
