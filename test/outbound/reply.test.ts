// Issue 7 items 3 and 4 through the HTTP API: a reply to the corpus message
// latin1-split-encoded-word.eml carries In-Reply-To and References equal to its Message-ID
// (RFC 5322 §3.6.4) and "AW: " + its decoded subject (expected value written from
// shared/corpus/README.md, not taken from the program); prefixes are not doubled; header injection
// through to, cc, bcc, subject and a reply to a sender whose name hides a line break is refused
// with 400 naming the field; an automatic reply to an auto-submitted message is refused while a
// person's reply goes out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { startOutboxWorker, type OutboxWorker } from '../../src/outbound/outbox.js';
import { ForbiddenError } from '../../src/services/errors.js';
import { replySubject, replyToTask } from '../../src/services/outbox.js';
import { setSmtpAccount } from '../../src/services/smtp-account.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { createToken } from '../../src/services/tokens.js';
import { createApp } from '../../src/web/app.js';
import { testContext } from '../helpers/env.js';
import { scriptedServer, waitFor } from './lib.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/latin1-split-encoded-word.eml');
/** From shared/corpus/README.md for latin1-split-encoded-word.eml */
const DECODED_SUBJECT = 'Terminänderung für die Sprechstunde am Montag (Straßenverkehrsamt)';
const ORIGINAL_ID = '<ae12@mail.agency.example>';
const PASSWORD = 'Versand-Passwort-0815';

describe('replySubject', () => {
  const cases: [string | null, string][] = [
    ['Antrag', 'AW: Antrag'],
    ['AW: Antrag', 'AW: Antrag'],
    ['Aw: Antrag', 'AW: Antrag'],
    ['aw:Antrag', 'AW: Antrag'],
    ['RE: Antrag', 'AW: Antrag'],
    ['Re: AW: Re[2]: Antrag', 'AW: Antrag'],
    ['WG: Antrag', 'AW: WG: Antrag'],
    ['Antrag AW: Frist', 'AW: Antrag AW: Frist'],
    [null, 'AW: '],
  ];
  for (const [subject, expected] of cases) test(`${subject} → ${expected}`, () => assert.equal(replySubject(subject), expected));
});

describe('replies and the outbox through the API', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let server: Awaited<ReturnType<typeof scriptedServer>>;
  let worker: OutboxWorker;
  let app: ReturnType<typeof createApp>;
  let token: string;
  let otherToken: string;
  const file = { kind: 'file' as const, channels: ['general' as const], path: 'x.eml' };

  const api = (method: string, url: string, body?: unknown, bearer = token) =>
    app.request(`/api/v1${url}`, {
      method,
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** The message with that Message-ID, once the server accepted it. */
  const arrival = async (messageId: string) => {
    await waitFor(() => server.accepted.some((m) => m.messageId === messageId), 60_000, `message ${messageId}`);
    return server.accepted.find((m) => m.messageId === messageId)!;
  };

  before(async () => {
    env = await testContext({ OUTBOX_POLL_SECONDS: '1' });
    server = await scriptedServer({ security: 'none', auth: { user: 'versand', pass: PASSWORD } });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', auth: 'plain', username: 'versand', password: PASSWORD, fromAddress: 'tauoffice@agency.example', fromName: 'Jugendamt' });
    await addStaff(env.ctx.db, { name: 'Weiß, Jürgen', email: 'juergen.weiss@agency.example', external: true });
    await addStaff(env.ctx.db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'sweiss' });
    await addStaff(env.ctx.db, { name: 'Müller, Max', email: 'max.mueller@agency.example', login: 'mmueller' });
    await addMapping(env.ctx.db, 'juergen.weiss@agency.example', 'sweiss');
    await addStaff(env.ctx.db, { name: 'Amt, Externes', email: 'amt@example.org', external: true });
    await addMapping(env.ctx.db, 'amt@example.org', 'sweiss');
    await addStaff(env.ctx.db, { name: 'MFP 2. OG', email: 'scanner-2og@agency.example', external: true });
    await addMapping(env.ctx.db, 'scanner-2og@agency.example', 'sweiss');
    token = await createToken(env.ctx.db, 'sweiss');
    otherToken = await createToken(env.ctx.db, 'mmueller');
    app = createApp(env.ctx);
    worker = await startOutboxWorker(env.ctx);
  });
  after(async () => {
    await worker.stop();
    await server.close();
    await env.close();
  });

  test('reply to the Latin-1 corpus message: threading headers and "AW: " + decoded subject', async () => {
    const ingested = await env.ctx.ingest(rawFromBuffer(readFileSync(FIXTURE)), file);
    const taskId = ingested.tasks[0]!.id;
    const res = await api('POST', `/tasks/${taskId}/reply`, { text: 'Vielen Dank, der Termin ist notiert.\n' });
    assert.equal(res.status, 201, await res.clone().text());
    const queued = (await res.json()) as { id: number; messageId: string; state: string };
    assert.equal(queued.state, 'queued');
    await server.waitAccepted(1);
    const sent = await simpleParser(server.accepted[0]!.raw);
    assert.equal(sent.inReplyTo, ORIGINAL_ID);
    assert.equal(sent.references, ORIGINAL_ID);
    assert.equal(sent.subject, `AW: ${DECODED_SUBJECT}`);
    assert.equal(sent.messageId, queued.messageId);
    // To: the original sender (From, RFC 5322 §3.6.3: no Reply-To there)
    assert.deepEqual(server.accepted[0]!.to.map((a) => a.toLowerCase()), ['juergen.weiss@agency.example']);
    assert.match(server.accepted[0]!.raw.toString('latin1'), /^In-Reply-To: <ae12@mail\.agency\.example>\r$/m);
    // GET /outbox/:id shows the state to its author, 404 to someone else
    let state = '';
    for (let i = 0; i < 100 && state !== 'sent'; i++) {
      state = ((await (await api('GET', `/outbox/${queued.id}`)).json()) as { state: string }).state;
      if (state !== 'sent') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(state, 'sent');
    assert.equal((await api('GET', `/outbox/${queued.id}`, undefined, otherToken)).status, 404);
    const history = (await (await api('GET', `/tasks/${taskId}/history`)).json()) as { action: string }[];
    assert.ok(history.some((h) => h.action === 'replied'));
  });

  test('a reply in a thread: References keeps the earlier ids and adds the parent; Reply-To wins', async () => {
    const raw =
      'From: Amt <amt@example.org>\r\nReply-To: Sachbearbeitung <antwort@example.org>\r\nTo: tauoffice@agency.example\r\n' +
      'Subject: Re: AW: Akteneinsicht\r\nMessage-ID: <m3@example.org>\r\nIn-Reply-To: <m2@agency.example>\r\n' +
      'References: <m1@example.org>\r\n <m2@agency.example>\r\n\r\nText\r\n';
    const ingested = await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), file);
    const res = await api('POST', `/tasks/${ingested.tasks[0]!.id}/reply`, { text: 'Antwort', cc: 'Akte <akte@agency.example>' });
    assert.equal(res.status, 201, await res.clone().text());
    const received = await arrival(((await res.json()) as { messageId: string }).messageId);
    const sent = await simpleParser(received.raw);
    assert.deepEqual(sent.references, ['<m1@example.org>', '<m2@agency.example>', '<m3@example.org>']);
    assert.equal(sent.inReplyTo, '<m3@example.org>');
    assert.equal(sent.subject, 'AW: Akteneinsicht');
    assert.deepEqual(received.to.sort(), ['akte@agency.example', 'antwort@example.org']);
  });

  test('header injection through to, cc, bcc and subject is refused with 400 naming the field', async () => {
    const ok = { to: 'buerger@example.org', subject: 'Bescheid', text: 'x' };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...ok, to: 'buerger@example.org\r\nBcc: evil@example.org' }, 'to'],
      [{ ...ok, to: ['buerger@example.org', 'x@example.org\nSubject: y'] }, 'to'],
      [{ ...ok, cc: 'Name\r\n <cc@example.org>' }, 'cc'],
      [{ ...ok, bcc: 'bcc@example.org\rDATA' }, 'bcc'],
      [{ ...ok, subject: 'Bescheid\r\nBcc: evil@example.org' }, 'subject'],
      [{ ...ok, subject: 'Bescheid\nX-Injected: 1' }, 'subject'],
      [{ ...ok, to: 'kein-at-zeichen' }, 'to'],
      // what the address parser would read otherwise than meant (the trial's cases): a group drops
      // the words before its colon, an unquoted address as display name hides a recipient
      [{ ...ok, to: '<a@b.example>\tBcc: e@x.example' }, 'to'],
      [{ ...ok, to: 'a@b.example Info: e@x.example' }, 'to'],
      [{ ...ok, to: 'a@b.example <c@d.example>' }, 'to'],
      [{ ...ok, cc: 'a@b.example c@d.example' }, 'cc'],
      [{ ...ok, bcc: 'Verteiler: a@b.example, c@d.example;' }, 'bcc'],
      [{ ...ok, to: '' }, 'to'],
      [{ ...ok, attachments: [{ filename: 'a\r\nb.pdf', contentBase64: 'AAAA' }] }, 'attachments.0.filename'],
      [{ ...ok, attachments: [{ filename: 'a.pdf', contentBase64: 'not base64!' }] }, 'attachments.0.contentBase64'],
    ];
    const count = server.state.dataCount;
    for (const [body, field] of cases) {
      const res = await api('POST', '/outbox', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(((await res.json()) as { field: string }).field, field, JSON.stringify(body));
    }
    const task = await env.ctx.ingest(rawFromBuffer(Buffer.from(`From: <juergen.weiss@agency.example>\r\nSubject: Frage ${Date.now()}\r\nMessage-ID: <q@x>\r\n\r\nx\r\n`)), file);
    const res = await api('POST', `/tasks/${task.tasks[0]!.id}/reply`, { text: 'x', subject: 'AW: Frage\r\nBcc: evil@example.org' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { field: string }).field, 'subject');
    assert.equal(server.state.dataCount, count, 'nothing was sent');
  });

  test('addresses as people write them still work: a quoted name with @ or a comma, several with commas or semicolons', async () => {
    const res = await api('POST', '/outbox', { to: '"a@b.example" <c@d.example>, "Müller, Hans" <hans@example.org>; d@e.example', subject: 'Liste', text: 'x' });
    assert.equal(res.status, 201, await res.clone().text());
    const received = await arrival(((await res.json()) as { messageId: string }).messageId);
    assert.deepEqual(received.to.sort(), ['c@d.example', 'd@e.example', 'hans@example.org']);
  });

  test('a reply to a sender whose name holds a comma and an address goes to that sender alone, the name kept', async () => {
    const raw = 'From: "Weiß, Jürgen (juergen@privat.example)" <juergen.weiss@agency.example>\r\nSubject: Antrag\r\nMessage-ID: <komma@x>\r\n\r\nx\r\n';
    const ingested = await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), file);
    const res = await api('POST', `/tasks/${ingested.tasks[0]!.id}/reply`, { text: 'x' });
    assert.equal(res.status, 201, await res.clone().text());
    const received = await arrival(((await res.json()) as { messageId: string }).messageId);
    assert.deepEqual(received.to, ['juergen.weiss@agency.example']);
    const sent = await simpleParser(received.raw);
    assert.deepEqual((sent.to as { value: { name: string; address: string }[] }).value, [{ name: 'Weiß, Jürgen (juergen@privat.example)', address: 'juergen.weiss@agency.example' }]);
  });

  test('an original subject with a line break: the reply without its own subject is refused, saying where the line break is', async () => {
    const raw = 'From: <juergen.weiss@agency.example>\r\nSubject: =?UTF-8?Q?Hallo=0D=0ABcc:_evil@x.example?=\r\nMessage-ID: <subj-inj@x>\r\n\r\nx\r\n';
    const ingested = await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), file);
    const res = await api('POST', `/tasks/${ingested.tasks[0]!.id}/reply`, { text: 'x' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { field: string; error: string };
    assert.equal(body.field, 'subject');
    assert.match(body.error, /^the subject of the original message contains a line break/);
    // with a subject of its own it goes out
    assert.equal((await api('POST', `/tasks/${ingested.tasks[0]!.id}/reply`, { text: 'x', subject: 'AW: Hallo' })).status, 201);
  });

  test('a sender whose decoded name holds a line break: the reply is refused naming to', async () => {
    // =0D=0A in an encoded word (RFC 2047) decodes to CR LF inside the display name
    const raw = 'From: =?UTF-8?Q?Amt=0D=0ABcc=3A_evil@example.org?= <juergen.weiss@agency.example>\r\nSubject: Hallo\r\nMessage-ID: <inj@x>\r\n\r\nx\r\n';
    const ingested = await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), file);
    const res = await api('POST', `/tasks/${ingested.tasks[0]!.id}/reply`, { text: 'x' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { field: string; error: string };
    assert.equal(body.field, 'to');
    assert.match(body.error, /line break/);
  });

  test('POST /outbox with an uploaded and a stored attachment; bcc only in the envelope', async () => {
    const ingested = await env.ctx.ingest(rawFromBuffer(readFileSync(path.resolve(path.dirname(FIXTURE), 'scanner-basic.eml'))), file);
    const shown = (await (await api('GET', `/messages/${ingested.messageId}`)).json()) as { attachments: { id: number; filename: string; size: number }[] };
    assert.ok(shown.attachments.length > 0, 'the fixture has an attachment');
    const res = await api('POST', '/outbox', {
      to: 'Bürger <buerger@example.org>',
      bcc: 'akte@agency.example',
      subject: 'Ihre Unterlagen',
      text: 'Anbei.',
      html: '<p>Anbei.</p>',
      attachments: [{ attachmentId: shown.attachments[0]!.id }, { filename: 'notiz.txt', contentType: 'text/plain', contentBase64: Buffer.from('Notiz äöü').toString('base64') }],
    });
    assert.equal(res.status, 201, await res.clone().text());
    const received = await arrival(((await res.json()) as { messageId: string }).messageId);
    assert.deepEqual(received.to.sort(), ['akte@agency.example', 'buerger@example.org']);
    assert.ok(!/^bcc:/im.test(received.raw.toString().split('\r\n\r\n')[0]!), 'no Bcc header');
    const parsed = await simpleParser(received.raw);
    assert.deepEqual(
      parsed.attachments.map((a) => [a.filename, a.size]),
      [
        [shown.attachments[0]!.filename, shown.attachments[0]!.size],
        ['notiz.txt', Buffer.byteLength('Notiz äöü')],
      ],
    );
    assert.equal(parsed.html, '<p>Anbei.</p>');
    // another staff member may not attach it: the attachment is not theirs to see
    const other = await api('POST', '/outbox', { to: 'x@example.org', subject: 's', text: 't', attachments: [{ attachmentId: shown.attachments[0]!.id }] }, otherToken);
    assert.equal(other.status, 400);
    assert.equal(((await other.json()) as { field: string }).field, 'attachments.0.attachmentId');
  });

  test('loop protection: no automatic reply to an auto-reply; a person may reply', async () => {
    const raw = `From: Amt <amt@example.org>\r\nSubject: Abwesenheitsnotiz\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.org>\r\n\r\nIch bin nicht da.\r\n`;
    const ingested = await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), file);
    const taskId = ingested.tasks[0]!.id;
    await assert.rejects(replyToTask(env.ctx, OPERATOR, taskId, { text: 'Automatische Antwort' }, { automatic: true }), ForbiddenError);
    const manual = await replyToTask(env.ctx, OPERATOR, taskId, { text: 'Persönliche Antwort' });
    assert.equal(manual.state, 'queued');
    assert.equal(manual.subject, 'AW: Abwesenheitsnotiz');
  });

  test('an automatic reply to a person carries Auto-Submitted: auto-replied (RFC 3834 §5)', async () => {
    const raw = `From: <juergen.weiss@agency.example>\r\nSubject: Eingang\r\nMessage-ID: <p1@example.org>\r\n\r\nx\r\n`;
    const ingested = await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), file);
    const queued = await replyToTask(env.ctx, OPERATOR, ingested.tasks[0]!.id, { text: 'Eingangsbestätigung' }, { automatic: true });
    await waitFor(() => server.accepted.some((m) => m.messageId === queued.messageId), 60_000, 'the automatic reply');
    const sent = server.accepted.find((m) => m.messageId === queued.messageId)!;
    assert.match(sent.raw.toString(), /^Auto-Submitted: auto-replied\r$/m);
    assert.match(sent.raw.toString(), /^In-Reply-To: <p1@example\.org>\r$/m);
  });

  test('the OpenAPI document lists the outbox routes; no response carries the SMTP password', async () => {
    const doc = await (await api('GET', '/openapi.json')).text();
    for (const p of ['/api/v1/outbox', '/api/v1/outbox/{id}', '/api/v1/tasks/{id}/reply']) assert.ok(JSON.parse(doc).paths[p], p);
    const one = await (await api('GET', '/outbox/1')).text();
    assert.match(one, /"state":"sent"/);
    assert.ok(!doc.includes(PASSWORD) && !one.includes(PASSWORD));
  });
});
