/**
 * The SMTP receiver against real clients (nodemailer, and a raw socket where the exact dialogue
 * matters), on a running gateway of the suite's driver. Reply codes are those of RFC 5321
 * (250 ok, 550 mailbox unavailable, 503/554 no valid recipients) with RFC 3463 enhanced codes.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { SmtpSource } from '../../src/ingest/source.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { listTasks } from '../../src/services/tasks.js';
import { testGateway } from '../helpers/env.js';
import {
  fixture,
  rawTransaction,
  SCAN,
  SCANNER_SENDER,
  sendRaw,
  setupOffice,
  sha256,
  simpleMessage,
  SmtpDialogue,
  snapshot,
  STAFF_LOGIN,
  TAUOFFICE,
} from './lib.js';

// From test/fixtures/README (the corpus README): scanner-basic.eml
const SCANNER_BASIC_FILE_SHA256 = 'ed37789e567861537ca64e7f689709dda5592fd8177b44152a47db183db7ebb0';
const SCANNER_BASIC_PDF = {
  filename: '20210224103512.pdf',
  contentType: 'application/pdf',
  size: 584,
  sha256: '9febcb43dbae922f6a793336de8e3f1aa0f69795447112234d109918be4d20d5',
};
const FOREIGN = 'someone@example.org';

async function startOffice(env: Record<string, string> = {}) {
  const g = await testGateway(env);
  const { staffId } = await setupOffice(g.gateway.ctx.db);
  return { ...g, staffId, port: g.gateway.smtp.port, db: g.gateway.ctx.db };
}
type Office = Awaited<ReturnType<typeof startOffice>>;

describe('SMTP receiver with real clients', () => {
  let office: Office;
  beforeEach(async () => {
    office = await startOffice();
  });
  afterEach(async () => {
    await office.close();
  });

  it('stores a scan sent to scan@ and makes it a task for the mapped staff member (250)', async () => {
    const raw = fixture('scanner-basic.eml');
    assert.equal(sha256(raw), SCANNER_BASIC_FILE_SHA256, 'fixture intact');

    const sent = await sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN] }, raw);
    assert.equal(sent.ok, true, sent.response);
    assert.equal(sent.code, 250);
    assert.deepEqual(sent.accepted, [SCAN]);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    const m = s.messages[0]!;
    assert.equal(m.rawSha256, sha256(raw), 'the raw bytes are stored as sent');
    assert.equal(m.size, raw.length);
    assert.equal(m.senderAddress, 'scanner-2og@agency.example');
    assert.equal(m.subject, 'Scan from MFP 2. OG');

    assert.equal(s.attachments.length, 1);
    const a = s.attachments[0]!;
    assert.equal(a.messageId, m.id);
    assert.equal(a.sha256, SCANNER_BASIC_PDF.sha256);
    assert.equal(a.size, SCANNER_BASIC_PDF.size);
    assert.equal(a.filename, SCANNER_BASIC_PDF.filename);
    assert.equal(a.contentType, SCANNER_BASIC_PDF.contentType);

    const tasks = await listTasks(office.db);
    assert.equal(tasks.length, 1);
    const t = tasks[0]!;
    assert.equal(t.messageId, m.id);
    assert.equal(t.channel, 'scanner');
    assert.equal(t.activityType, 'Scan-Eingang');
    assert.equal(t.status, 'open');
    assert.deepEqual(
      t.candidates.map((c) => [c.id, c.login]),
      [[office.staffId, STAFF_LOGIN]],
    );

    assert.equal(s.receipts.length, 1);
    const r = s.receipts[0]!;
    assert.equal(r.sourceKind, 'smtp');
    assert.equal(r.duplicate, false);
    const source = r.source as SmtpSource;
    assert.deepEqual(source.envelope, { mailFrom: SCANNER_SENDER, rcptTo: [SCAN] });
    assert.deepEqual(source.channels, ['scanner']);
    assert.equal(source.peer.address, '127.0.0.1');
  });

  it('refuses RCPT TO a foreign address with 550 5.1.1 and stores nothing', async () => {
    const raw = fixture('scanner-basic.eml');

    // nodemailer: every recipient refused → the envelope error carries the reply
    const sent = await sendRaw(office.port, { from: SCANNER_SENDER, to: [FOREIGN] }, raw);
    assert.equal(sent.ok, false);
    assert.equal(sent.code, 550);
    assert.equal(sent.error?.code, 'EENVELOPE');
    assert.match(sent.response, /^550 5\.1\.1 /);
    assert.deepEqual(sent.rejected, [FOREIGN]);

    // raw dialogue: an address in our own domain that is not an inbound address is no relay either
    const { smtp, greeting } = await SmtpDialogue.open(office.port);
    try {
      assert.equal(greeting.code, 220);
      assert.equal((await smtp.command('EHLO client.example.org')).code, 250);
      assert.equal((await smtp.command(`MAIL FROM:<${SCANNER_SENDER}>`)).code, 250);
      for (const rcpt of [FOREIGN, 'nobody@agency.example']) {
        const reply = await smtp.command(`RCPT TO:<${rcpt}>`);
        assert.equal(reply.code, 550, `RCPT TO:<${rcpt}> → ${reply.text}`);
        assert.match(reply.lines[0]!, /^5\.1\.1 /);
      }
      // RFC 5321 §3.3: DATA after every RCPT was refused → 503 (bad sequence) or 554 (no valid recipients)
      const data = await smtp.command('DATA');
      assert.ok([503, 554].includes(data.code), data.text);
    } finally {
      await smtp.quit();
    }

    const s = await snapshot(office.db);
    assert.deepEqual([s.messages.length, s.tasks.length, s.receipts.length, s.attachments.length], [0, 0, 0, 0]);
  });

  it('with one of our recipients and one foreign, stores the message once, for ours only', async () => {
    const raw = fixture('scanner-basic.eml');
    const sent = await sendRaw(office.port, { from: SCANNER_SENDER, to: [FOREIGN, SCAN] }, raw);
    assert.equal(sent.ok, true, sent.response);
    assert.equal(sent.code, 250);
    assert.deepEqual(sent.accepted, [SCAN]);
    assert.deepEqual(sent.rejected, [FOREIGN]);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.equal(s.messages[0]!.rawSha256, sha256(raw));
    assert.equal(s.tasks.length, 1);
    assert.equal(s.tasks[0]!.channel, 'scanner');
    assert.equal(s.receipts.length, 1);
    // the refused recipient is not part of the recorded envelope
    assert.deepEqual((s.receipts[0]!.source as SmtpSource).envelope.rcptTo, [SCAN]);
  });

  it('stores a message to scan@ and tauoffice@ once, with one task per channel', async () => {
    const raw = fixture('scanner-basic.eml');
    const sent = await sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN, TAUOFFICE] }, raw);
    assert.equal(sent.ok, true, sent.response);
    assert.equal(sent.code, 250);
    assert.deepEqual(sent.accepted, [SCAN, TAUOFFICE]);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    const messageId = s.messages[0]!.id;
    const tasks = await listTasks(office.db);
    assert.equal(tasks.length, 2);
    const byChannel = Object.fromEntries(tasks.map((t) => [t.channel, t]));
    assert.deepEqual(Object.keys(byChannel).sort(), ['general', 'scanner']);
    assert.equal(byChannel.scanner!.activityType, 'Scan-Eingang');
    assert.equal(byChannel.general!.activityType, 'E-Mail-Eingang');
    for (const t of tasks) {
      assert.equal(t.messageId, messageId);
      assert.deepEqual(
        t.candidates.map((c) => c.login),
        [STAFF_LOGIN],
      );
    }
    assert.equal(s.receipts.length, 1);
    assert.deepEqual((s.receipts[0]!.source as SmtpSource).envelope.rcptTo, [SCAN, TAUOFFICE]);
  });

  it('creates a single task when two recipients belong to the same channel', async () => {
    await addInboundAddress(office.db, 'scan-2og@agency.example', 'scanner');
    const raw = simpleMessage();
    const sent = await sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN, 'scan-2og@agency.example'] }, raw);
    assert.equal(sent.code, 250, sent.response);
    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.deepEqual(
      s.tasks.map((t) => t.channel),
      ['scanner'],
    );
  });

  it('matches recipient addresses case-insensitively', async () => {
    const raw = simpleMessage();
    const sent = await sendRaw(office.port, { from: SCANNER_SENDER, to: ['Scan@Agency.EXAMPLE'] }, raw);
    assert.equal(sent.code, 250, sent.response);
    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.deepEqual(
      s.tasks.map((t) => t.channel),
      ['scanner'],
    );
  });

  it('keeps one message and one task when the same scan is delivered again', async () => {
    const raw = fixture('scanner-basic.eml');
    const first = await sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN] }, raw);
    const second = await sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN] }, raw);
    // a retry that went through a relay, which put a trace field on top (RFC 5321 §4.4)
    const relayed = Buffer.concat([
      Buffer.from('Received: from mfp-2og.agency.example ([10.1.2.3]) by relay.agency.example; Wed, 24 Feb 2021 10:36:00 +0100\r\n'),
      raw,
    ]);
    const third = await sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN] }, relayed);
    for (const r of [first, second, third]) assert.equal(r.code, 250, r.response);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.equal(s.messages[0]!.rawSha256, sha256(raw), 'the bytes of the first delivery are kept');
    assert.equal(s.tasks.length, 1);
    assert.equal(s.attachments.length, 1);
    assert.deepEqual(
      s.receipts.map((r) => [r.messageId, r.duplicate]),
      [
        [s.messages[0]!.id, false],
        [s.messages[0]!.id, true],
        [s.messages[0]!.id, true],
      ],
    );
    assert.deepEqual(
      s.receipts.map((r) => r.rawSha256),
      [sha256(raw), sha256(raw), sha256(relayed)],
    );
  });

  it('stores a scan delivered by several clients at the same time once', async () => {
    const raw = fixture('scanner-basic.eml');
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => sendRaw(office.port, { from: SCANNER_SENDER, to: [SCAN] }, raw)));
    assert.deepEqual(
      outcomes.map((o) => o.code),
      [250, 250, 250, 250, 250, 250],
      outcomes.map((o) => o.response).join('\n'),
    );
    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.equal(s.tasks.length, 1);
    assert.equal(s.attachments.length, 1);
    assert.equal(s.receipts.length, 6);
    assert.equal(s.receipts.filter((r) => !r.duplicate).length, 1);
  });

  it('accepts and keeps a message that is not RFC 5322, flagged unreadable and unassigned', async () => {
    const raw = Buffer.from('this is not a message\r\n\u0000\u00ff binary\r\n', 'latin1');
    const r = await rawTransaction(office.port, { from: SCANNER_SENDER, to: [SCAN], data: raw });
    assert.equal(r.final?.code, 250, r.final?.text);
    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.equal(s.messages[0]!.rawSha256, sha256(raw), 'kept byte for byte');
    assert.notEqual(s.messages[0]!.parseError, null);
    assert.deepEqual(
      s.tasks.map((t) => [t.channel, t.status, t.unreadable]),
      [['scanner', 'unassigned', true]],
    );
  });

  it('accepts the null sender MAIL FROM:<>', async () => {
    const raw = simpleMessage({ subject: 'Zustellbericht' });
    const r = await rawTransaction(office.port, { from: '', to: [SCAN], data: raw });
    assert.equal(r.mail.code, 250, r.mail.text);
    assert.deepEqual(
      r.rcpt.map((x) => x.code),
      [250],
    );
    assert.equal(r.data?.code, 354);
    assert.equal(r.final?.code, 250, r.final?.text);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.equal(s.messages[0]!.rawSha256, sha256(raw));
    assert.equal(s.messages[0]!.subject, 'Zustellbericht');
    assert.equal(s.tasks.length, 1);
    assert.equal((s.receipts[0]!.source as SmtpSource).envelope.mailFrom, '');
  });

  it('greets with 220 and advertises SIZE with the configured limit in the EHLO reply', async () => {
    const { smtp, greeting } = await SmtpDialogue.open(office.port);
    try {
      assert.equal(greeting.code, 220);
      const ehlo = await smtp.command('EHLO scanner-eg');
      assert.equal(ehlo.code, 250);
      // default SMTP_MAX_MESSAGE_BYTES: 50 MiB (RFC 1870: "SIZE <bytes>")
      const expected = `SIZE ${50 * 1024 * 1024}`;
      assert.equal(expected, 'SIZE 52428800');
      assert.ok(ehlo.lines.includes(expected), ehlo.text);
      assert.match(ehlo.text, /^250[- ]SIZE 52428800$/m);
    } finally {
      await smtp.quit();
    }
  });
});

describe('SMTP receiver, configured size', () => {
  it('advertises the SIZE given in SMTP_MAX_MESSAGE_BYTES', async () => {
    const office = await startOffice({ SMTP_MAX_MESSAGE_BYTES: '1048576' });
    try {
      const { smtp } = await SmtpDialogue.open(office.port);
      const ehlo = await smtp.command('EHLO scanner-eg');
      await smtp.quit();
      assert.match(ehlo.text, /^250[- ]SIZE 1048576$/m);
    } finally {
      await office.close();
    }
  });
});
