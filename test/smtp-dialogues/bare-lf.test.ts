// Issue 3, item 4 (last point): DATA and bare line feeds. RFC 5321 §4.1.1.4: only CRLF "." CRLF
// ends DATA; LF.LF, LF.CRLF and CRLF.LF must not (SMTP smuggling, CVE-2023-51764..6). A device that
// ends its message with LF.LF gets 451 after SMTP_DATA_TIMEOUT_SECONDS with a log line that names
// bare line feeds; bare LFs inside a CRLF.CRLF-terminated DATA are stored as received.
// Expected bytes are the bytes this test sends (RFC 5321 §4.5.2 dot-unstuffing applied by hand).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addInboundAddress } from '../../src/services/addresses.js';
import { rawMessage } from '../../src/services/messages.js';
import { driver } from '../helpers/env.js';
import {
  countRows,
  dataPayload,
  dialogueGateway,
  expectReply,
  logsMatching,
  messageBySha,
  messageIds,
  scanMessage,
  sha256,
  Smtp,
  storedRaw,
  transaction,
} from './lib.js';

const SCAN = 'scan@agency.example';
const DATA_TIMEOUT_SECONDS = 2;

type G = Awaited<ReturnType<typeof dialogueGateway>>;

/** Opens a connection and gets to the 354 of DATA. */
async function intoData(g: G): Promise<Smtp> {
  const smtp = await Smtp.connect(g.gateway.smtp.port);
  expectReply(await smtp.command('EHLO old-scanner.agency.example'), 250);
  expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 250);
  expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
  expectReply(await smtp.command('DATA'), 354, {}, 'DATA');
  return smtp;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`DATA and bare line feeds (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_DATA_TIMEOUT_SECONDS: String(DATA_TIMEOUT_SECONDS) });
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  test('DATA ended only with LF.LF → 451 4.4.2 after the DATA timeout, connection closed, nothing stored, log names bare LFs', async () => {
    const before = await countRows(g.db);
    const logsBefore = g.logs.length;
    const smtp = await intoData(g);
    try {
      smtp.write('From: scanner@agency.example\nTo: scan@agency.example\nSubject: LF only\n\nscanned with bare LF\n.\n');
      const sentAt = Date.now();
      const reply = await smtp.next(DATA_TIMEOUT_SECONDS * 1000 + 15_000);
      const elapsed = Date.now() - sentAt;
      // RFC 3463 X.4.2 "bad connection": the transaction could not complete, e.g. by a time-out
      expectReply(reply, 451, { enhanced: ['4.4.2'], required: true }, 'DATA timeout');
      assert.ok(elapsed >= DATA_TIMEOUT_SECONDS * 1000 - 250, `451 came after ${elapsed} ms, before the ${DATA_TIMEOUT_SECONDS} s DATA timeout`);
      assert.ok(elapsed < DATA_TIMEOUT_SECONDS * 1000 + 10_000, `451 came only after ${elapsed} ms`);
      await Promise.race([smtp.closed, sleep(8000).then(() => assert.fail('the gateway did not close the connection after 451'))]);
      assert.deepEqual(smtp.unread, [], 'exactly one reply to the unfinished DATA');
      assert.deepEqual(await countRows(g.db), before, 'nothing stored');
      const lines = g.logs.slice(logsBefore);
      const named = logsMatching(lines, /bare line feed|bare LF|LF without CR/i);
      assert.ok(named.length >= 1 && named.every((l) => l.level >= 40), `a warning names bare line feeds: ${JSON.stringify(lines.map((l) => l.msg))}`);
    } finally {
      smtp.destroy();
    }
  });

  test('a client silent inside DATA (CRLF lines) → 451 4.4.2 too, and the log does not blame bare LFs', async () => {
    const before = await countRows(g.db);
    const logsBefore = g.logs.length;
    const smtp = await intoData(g);
    try {
      smtp.write('From: scanner@agency.example\r\nSubject: stalled\r\n\r\nfirst page\r\n');
      const reply = await smtp.next(DATA_TIMEOUT_SECONDS * 1000 + 15_000);
      expectReply(reply, 451, { enhanced: ['4.4.2'], required: true }, 'DATA timeout');
      await Promise.race([smtp.closed, sleep(8000).then(() => assert.fail('connection not closed'))]);
      assert.deepEqual(await countRows(g.db), before, 'nothing stored');
      const lines = g.logs.slice(logsBefore);
      assert.ok(logsMatching(lines, /DATA timed out|timeout/i).length >= 1, 'the timeout is logged');
      assert.equal(logsMatching(lines, /bare line feed|bare LF/i).length, 0, 'no bare LF was sent, none is blamed');
    } finally {
      smtp.destroy();
    }
  });

  test('bare LFs inside a DATA ended with CRLF.CRLF → 250, stored byte for byte as received', async () => {
    // header lines with CRLF, body lines with bare LF and a lone CR, one CRLF line starting with a
    // dot (sent dot-stuffed, RFC 5321 §4.5.2), the last line with CRLF
    const message = Buffer.from(
      'From: scanner@agency.example\r\nTo: scan@agency.example\r\nSubject: mixed line ends\r\nMessage-ID: <mixed-lf@scanner.agency.example>\r\n\r\n' +
        'page one\nline two\nline three\r\n.starts with a dot\r\nbare CR\rafter it\nlast line\r\n',
      'latin1',
    );
    const wire = dataPayload(message);
    assert.ok(wire.includes(Buffer.from('\r\n..starts with a dot\r\n')), 'the test stuffs the dot line');
    const smtp = await intoData(g);
    try {
      smtp.write(wire);
      expectReply(await smtp.next(), 250, { enhanced: ['2.0.0', '2.6.0'] }, 'end of DATA');
      const m = await messageBySha(g.db, sha256(message));
      assert.ok(m, 'stored under the SHA-256 of the bytes sent');
      const stored = await storedRaw(g.db, m.id);
      assert.ok(stored.equals(message), `stored bytes differ:\n${JSON.stringify(stored.toString('latin1'))}\n${JSON.stringify(message.toString('latin1'))}`);
      // the service the admin and API use gives the same bytes
      const raw = await rawMessage(g.db, m.id);
      const parts: Buffer[] = [];
      for await (const c of raw.chunks) parts.push(c);
      assert.equal(sha256(Buffer.concat(parts)), sha256(message));
      assert.equal(raw.size, message.length);
    } finally {
      await smtp.quit();
    }
  });

  for (const [name, fake] of [
    ['LF.CRLF', '\n.\r\n'],
    ['CRLF.LF', '\r\n.\n'],
    ['LF.LF', '\n.\n'],
    ['CR.CRLF', '\r.\r\n'],
  ] as const) {
    test(`SMTP smuggling: ${name} followed by a second transaction does not end DATA; one message, all bytes in it`, async () => {
      const idsBefore = await messageIds(g.db);
      const message = Buffer.from(
        `From: scanner@agency.example\r\nTo: scan@agency.example\r\nSubject: smuggling ${name}\r\n\r\nfirst message${fake}` +
          'MAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<scan@agency.example>\r\nDATA\r\n' +
          `From: ceo@agency.example\r\nSubject: smuggled ${name}\r\n\r\nsmuggled body\r\n`,
        'latin1',
      );
      const smtp = await intoData(g);
      try {
        // no line of `message` begins with a dot after CRLF, so nothing is stuffed: the wire carries it as is
        smtp.write(Buffer.concat([message, Buffer.from('.\r\n')]));
        const reply = await smtp.next();
        expectReply(reply, 250, { enhanced: ['2.0.0', '2.6.0'] }, `DATA with ${name}`);
        await sleep(500);
        assert.deepEqual(smtp.unread, [], `no second transaction was answered: ${JSON.stringify(smtp.unread)}`);
        const ids = await messageIds(g.db);
        assert.equal(ids.length, idsBefore.length + 1, 'exactly one message');
        const id = ids.at(-1)!;
        const stored = await storedRaw(g.db, id);
        assert.ok(stored.equals(message), `stored bytes differ:\n${JSON.stringify(stored.toString('latin1'))}`);
        // and the connection still speaks SMTP after the one message
        expectReply(await smtp.command('NOOP'), 250);
      } finally {
        await smtp.quit();
      }
    });
  }

  test('after all of that the gateway still accepts a normal scan', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner'), 250);
      const bytes = scanMessage({ from: 'scanner@agency.example', to: SCAN, tag: 'after-bare-lf' });
      const r = await transaction(smtp, { from: 'scanner@agency.example', to: [SCAN], data: bytes });
      expectReply(r.final!, 250);
      assert.ok(await messageBySha(g.db, sha256(bytes)));
    } finally {
      await smtp.quit();
    }
  });
});
