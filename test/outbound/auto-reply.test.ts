// Issue 7 item 4: loop protection. The pure classifier against header fields as RFC 3834 §2 and
// §3.1.8 (Auto-Submitted), RFC 2919 (List-Id), RFC 3464 (multipart/report; report-type=
// delivery-status), RFC 5321 §4.5.5 (null reverse path of a bounce) define them; then the flag as
// ingest stores it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { messageAutomated } from '../../src/db/repositories/outbox.js';
import { classifyAutomated, type HeaderLine } from '../../src/ingest/auto-reply.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { testContext } from '../helpers/env.js';

/** Header lines as mailparser gives them: lower-case key, the whole folded line. */
const lines = (...fields: string[]): HeaderLine[] =>
  ['From: Amt <amt@example.org>', 'Subject: x', ...fields].map((line) => ({ key: line.slice(0, line.indexOf(':')).toLowerCase(), line }));

describe('classifyAutomated', () => {
  const cases: [string, HeaderLine[], string | null | undefined, string | null][] = [
    ['a person’s mail', lines('To: a@b.example'), undefined, null],
    ['Auto-Submitted: no (RFC 3834 §5: sent by a person)', lines('Auto-Submitted: no'), undefined, null],
    ['Auto-Submitted: auto-replied', lines('Auto-Submitted: auto-replied'), undefined, 'auto-submitted'],
    ['Auto-Submitted: auto-generated with a comment', lines('Auto-Submitted: auto-generated (Tagesbericht)'), undefined, 'auto-submitted'],
    ['Auto-Submitted in upper case', lines('AUTO-SUBMITTED: Auto-Replied'), undefined, 'auto-submitted'],
    ['X-Auto-Response-Suppress', lines('X-Auto-Response-Suppress: All'), undefined, 'auto-submitted'],
    ['Precedence: bulk', lines('Precedence: bulk'), undefined, 'bulk'],
    ['Precedence: junk', lines('Precedence: junk'), undefined, 'bulk'],
    ['Precedence: list', lines('Precedence: list'), undefined, 'list'],
    ['List-Id', lines('List-Id: Amtsblatt <amtsblatt.lists.example.org>'), undefined, 'list'],
    ['null MAIL FROM', lines(), '', 'bounce'],
    ['Return-Path: <> of polled mail', lines('Return-Path: <>'), null, 'bounce'],
    ['a DSN, parameter folded and quoted', lines('Content-Type: multipart/report;\r\n\treport-type="delivery-status";\r\n\tboundary="b1"'), 'mailer-daemon@x', 'bounce'],
    ['a read receipt is no bounce', lines('Content-Type: multipart/report; report-type=disposition-notification; boundary=b'), 'a@b', null],
    ['a bounce that also says auto-replied is a bounce', lines('Auto-Submitted: auto-replied'), '', 'bounce'],
    ['a normal sender with a Return-Path', lines('Return-Path: <amt@example.org>'), 'amt@example.org', null],
  ];
  for (const [name, headerLines, envelopeFrom, expected] of cases) {
    test(name, () => assert.equal(classifyAutomated(headerLines, envelopeFrom)?.kind ?? null, expected));
  }
});

describe('ingest flags automated mail on its message', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
  });
  after(async () => env.close());

  const raw = (fields: string, body = 'Text\r\n') =>
    rawFromBuffer(Buffer.from(`From: Amt <amt@example.org>\r\nTo: tauoffice@agency.example\r\nSubject: Abwesend ${Math.random()}\r\n${fields}\r\n${body}`));

  test('auto-reply, DSN by SMTP null sender, list mail, and a person’s mail', async () => {
    const file = { kind: 'file' as const, channels: ['general' as const], path: 'x.eml' };
    const auto = await env.ctx.ingest(raw('Auto-Submitted: auto-replied\r\n'), file);
    const list = await env.ctx.ingest(raw('List-Id: <amtsblatt.lists.example.org>\r\n'), file);
    const person = await env.ctx.ingest(raw(''), file);
    const bounce = await env.ctx.ingest(raw(''), {
      kind: 'smtp',
      channels: ['general'],
      sessionId: 's1',
      peer: { address: '127.0.0.1', port: 1 },
      helo: 'mx.example.org',
      envelope: { mailFrom: '', rcptTo: ['tauoffice@agency.example'] },
      tls: null,
      authUser: null,
    });
    assert.equal(await messageAutomated(env.ctx.db, auto.messageId), 'auto-submitted');
    assert.equal(await messageAutomated(env.ctx.db, list.messageId), 'list');
    assert.equal(await messageAutomated(env.ctx.db, person.messageId), null);
    assert.equal(await messageAutomated(env.ctx.db, bounce.messageId), 'bounce');
  });
});
