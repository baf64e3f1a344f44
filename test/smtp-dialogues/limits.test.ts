// Issue 3, item 5: the limits that protect the gateway, each with its reply code and a log line.
//   connections per client IP and overall → 421 (RFC 5321 §3.8: "421 Service not available,
//     closing transmission channel"; the server closes the connection);
//   recipients per message → 452 4.5.3 (RFC 5321 §4.5.3.1.10, RFC 3463 X.5.3 "too many recipients");
//   idle between commands → 421 and close (RFC 5321 §4.5.3.2, §3.8);
//   SIZE (RFC 1870): advertised as `SIZE <n>`; MAIL ... SIZE=<n+1> and a message over n octets → 552
//     (RFC 3463 X.3.4 "message too big for system" or X.2.3 "message length exceeds administrative limit").
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addInboundAddress } from '../../src/services/addresses.js';
import { driver } from '../helpers/env.js';
import {
  ConnectionClosed,
  countRows,
  dataPayload,
  dialogueGateway,
  ehloParams,
  expectReply,
  logsMatching,
  messageBySha,
  scanMessage,
  sha256,
  Smtp,
  smtpSourceOf,
  storedRaw,
  transaction,
  waitFor,
} from './lib.js';

const SCAN = 'scan@agency.example';
type G = Awaited<ReturnType<typeof dialogueGateway>>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the connection is closed by the server, or fails after `ms`. */
async function closedWithin(smtp: Smtp, ms: number, what: string) {
  await Promise.race([smtp.closed, sleep(ms).then(() => assert.fail(`${what}: the gateway did not close the connection`))]);
}

/** Opens a connection; true when it was greeted with 220 (and it is kept open in `keep`). */
async function openInto(keep: Smtp[], port: number, opts: Parameters<typeof Smtp.connect>[1] = {}): Promise<Smtp> {
  const smtp = await Smtp.connect(port, opts);
  keep.push(smtp);
  return smtp;
}

/** A refused connection: greeting 421 (enhanced class 4 if any), then closed by the server. */
async function expectRefused(smtp: Smtp, note: string) {
  expectReply(smtp.greeting, 421, {}, note);
  await closedWithin(smtp, 8000, note);
}

describe(`SMTP_MAX_CONNECTIONS_PER_IP=2 (${driver})`, () => {
  let g: G;
  const open: Smtp[] = [];
  before(async () => {
    g = await dialogueGateway({ SMTP_MAX_CONNECTIONS_PER_IP: '2', SMTP_TLS_PORT: '0' });
  });
  after(async () => {
    for (const s of open) s.destroy();
    await g?.close();
  });

  test('a third concurrent connection from the same address → 421 and closed, with a log line; other addresses still served', async () => {
    const a = await openInto(open, g.gateway.smtp.port);
    const b = await openInto(open, g.gateway.smtp.port);
    expectReply(a.greeting, 220);
    expectReply(b.greeting, 220);
    const logsBefore = g.logs.length;
    const third = await openInto(open, g.gateway.smtp.port);
    await expectRefused(third, 'third connection from 127.0.0.1');
    assert.ok(logsMatching(g.logs.slice(logsBefore), /SMTP_MAX_CONNECTIONS_PER_IP/).length >= 1, 'log line names SMTP_MAX_CONNECTIONS_PER_IP');
    // the implicit-TLS port counts towards the same limit
    const tls = await openInto(open, g.gateway.smtpTls!.port, { tls: {} });
    await expectRefused(tls, 'third connection on the TLS port');
    // another client address is not affected
    const other = await openInto(open, g.gateway.smtp.port, { localAddress: '127.0.0.2' });
    expectReply(other.greeting, 220, {}, 'connection from 127.0.0.2');
    // the two open connections still work
    expectReply(await a.command('NOOP'), 250);
    expectReply(await b.command('EHLO scanner'), 250);
    // one closes: a new connection from 127.0.0.1 is admitted again
    await a.quit();
    await waitFor(async () => {
      const s = await Smtp.connect(g.gateway.smtp.port);
      open.push(s);
      return s.greeting.code === 220;
    }, 15_000, 'a connection to be admitted after one closed');
  });
});

describe(`SMTP_MAX_CONNECTIONS=2 (${driver})`, () => {
  let g: G;
  const open: Smtp[] = [];
  before(async () => {
    g = await dialogueGateway({ SMTP_MAX_CONNECTIONS: '2', SMTP_TLS_PORT: '0' });
  });
  after(async () => {
    for (const s of open) s.destroy();
    await g?.close();
  });

  test('a third concurrent connection (from another address) → 421 and closed, with a log line', async () => {
    const a = await openInto(open, g.gateway.smtp.port, { localAddress: '127.0.0.3' });
    const b = await openInto(open, g.gateway.smtp.port, { localAddress: '127.0.0.4' });
    expectReply(a.greeting, 220);
    expectReply(b.greeting, 220);
    const logsBefore = g.logs.length;
    const third = await openInto(open, g.gateway.smtp.port, { localAddress: '127.0.0.5' });
    await expectRefused(third, 'third connection');
    await waitFor(() => logsMatching(g.logs.slice(logsBefore), /SMTP_MAX_CONNECTIONS\b/).length >= 1, 15_000, 'a log line naming SMTP_MAX_CONNECTIONS');
    a.destroy();
    b.destroy();
  });

  test('the limit is overall: one plain and one implicit-TLS connection fill it', async () => {
    // until the previous test's connections are gone on the server side
    await waitFor(async () => {
      const probe = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.11' });
      const ok = probe.greeting.code === 220;
      await probe.quit();
      await probe.closed;
      return ok;
    }, 15_000, 'the gateway to admit connections again');
    await sleep(200);
    const a = await openInto(open, g.gateway.smtp.port, { localAddress: '127.0.0.6' });
    const b = await openInto(open, g.gateway.smtpTls!.port, { tls: {}, localAddress: '127.0.0.7' });
    expectReply(a.greeting, 220);
    expectReply(b.greeting, 220);
    const third = await openInto(open, g.gateway.smtp.port, { localAddress: '127.0.0.8' });
    await expectRefused(third, 'third connection, plain port');
    const fourth = await openInto(open, g.gateway.smtpTls!.port, { tls: {}, localAddress: '127.0.0.9' });
    await expectRefused(fourth, 'third connection, TLS port');
    await b.quit();
    await waitFor(async () => {
      const s = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.10' });
      open.push(s);
      return s.greeting.code === 220;
    }, 15_000, 'a connection to be admitted after one closed');
  });
});

describe(`SMTP_MAX_RECIPIENTS=2 and SIZE (SMTP_MAX_MESSAGE_BYTES=4096) (${driver})`, () => {
  const LIMIT = 4096;
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_MAX_RECIPIENTS: '2', SMTP_MAX_MESSAGE_BYTES: String(LIMIT) });
    await addInboundAddress(g.db, 'scan@agency.example', 'scanner');
    await addInboundAddress(g.db, 'scan2@agency.example', 'scanner');
    await addInboundAddress(g.db, 'office@agency.example', 'general');
  });
  after(() => g?.close());

  test('the third RCPT → 452 4.5.3 with a log line; the first two get the message; the third is accepted in the next transaction', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner'), 250);
      expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 250);
      expectReply(await smtp.command('RCPT TO:<scan@agency.example>'), 250);
      expectReply(await smtp.command('RCPT TO:<office@agency.example>'), 250);
      const logsBefore = g.logs.length;
      expectReply(await smtp.command('RCPT TO:<scan2@agency.example>'), 452, { enhanced: ['4.5.3'], required: true }, 'third RCPT');
      assert.ok(logsMatching(g.logs.slice(logsBefore), /SMTP_MAX_RECIPIENTS/).length >= 1, 'log line names SMTP_MAX_RECIPIENTS');
      expectReply(await smtp.command('DATA'), 354);
      const bytes = scanMessage({ from: 'scanner@agency.example', to: 'scan@agency.example', tag: 'max-rcpt' });
      smtp.write(dataPayload(bytes));
      expectReply(await smtp.next(), 250);
      const m = await messageBySha(g.db, sha256(bytes));
      assert.ok(m);
      assert.deepEqual((await smtpSourceOf(g.db, m.id)).envelope.rcptTo, ['scan@agency.example', 'office@agency.example']);
      // the limit is per message: the next transaction takes the remaining recipient
      expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 250);
      expectReply(await smtp.command('RCPT TO:<scan2@agency.example>'), 250);
      expectReply(await smtp.command('RSET'), 250);
    } finally {
      await smtp.quit();
    }
  });

  /** A message of exactly `n` octets, CRLF lines, no line starting with a dot. */
  function sized(n: number, tag: string): Buffer {
    const head = Buffer.from(`From: scanner@agency.example\r\nTo: ${SCAN}\r\nSubject: size ${tag}\r\n\r\n`, 'latin1');
    const lines: string[] = [];
    let left = n - head.length;
    while (left > 0) {
      const len = Math.min(70, left - 2);
      if (len < 1) {
        lines.push('\r\n'.slice(0, left)); // (never reached with the sizes used here)
        break;
      }
      lines.push(`${'x'.repeat(len)}\r\n`);
      left -= len + 2;
    }
    const bytes = Buffer.concat([head, Buffer.from(lines.join(''), 'latin1')]);
    assert.equal(bytes.length, n);
    return bytes;
  }

  test('EHLO advertises SIZE 4096; MAIL FROM … SIZE=4097 → 552; SIZE=4096 → 250', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const ehlo = await smtp.command('EHLO scanner');
      assert.deepEqual(ehloParams(ehlo, 'SIZE'), [String(LIMIT)]);
      expectReply(await smtp.command(`MAIL FROM:<scanner@agency.example> SIZE=${LIMIT + 1}`), 552, { enhanced: ['5.3.4', '5.2.3'] }, 'SIZE over the limit');
      expectReply(await smtp.command(`MAIL FROM:<scanner@agency.example> SIZE=${LIMIT}`), 250);
    } finally {
      await smtp.quit();
    }
  });

  test('a message of exactly 4096 octets → 250, stored byte for byte; 4097 octets → 552, nothing stored, log line; the session goes on', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner'), 250);
      const fits = sized(LIMIT, 'fits');
      let r = await transaction(smtp, { from: 'scanner@agency.example', to: [SCAN], data: fits });
      expectReply(r.final!, 250, {}, `${LIMIT} octets`);
      const m = await messageBySha(g.db, sha256(fits));
      assert.ok(m);
      assert.ok((await storedRaw(g.db, m.id)).equals(fits));

      const before = await countRows(g.db);
      const logsBefore = g.logs.length;
      const over = sized(LIMIT + 1, 'over');
      r = await transaction(smtp, { from: 'scanner@agency.example', to: [SCAN], data: over });
      expectReply(r.final!, 552, { enhanced: ['5.3.4', '5.2.3'] }, `${LIMIT + 1} octets`);
      assert.deepEqual(await countRows(g.db), before, 'nothing stored');
      assert.ok(logsMatching(g.logs.slice(logsBefore), /size limit/i).length >= 1, 'log line about the size limit');

      expectReply(await smtp.command('NOOP'), 250);
      const next = scanMessage({ from: 'scanner@agency.example', to: SCAN, tag: 'after-552' });
      r = await transaction(smtp, { from: 'scanner@agency.example', to: [SCAN], data: next });
      expectReply(r.final!, 250, {}, 'next message in the same session');
    } finally {
      await smtp.quit();
    }
  });
});

describe(`SMTP_COMMAND_TIMEOUT_SECONDS=1 (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_COMMAND_TIMEOUT_SECONDS: '1' });
  });
  after(() => g?.close());

  test('an idle connection → 421 after about a second, then closed, with a log line', async () => {
    const logsBefore = g.logs.length;
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(smtp.greeting, 220);
      expectReply(await smtp.command('EHLO scanner'), 250);
      const idleSince = Date.now();
      const reply = await smtp.next(15_000);
      const idle = Date.now() - idleSince;
      expectReply(reply, 421, { enhanced: ['4.4.2'] }, 'idle timeout');
      assert.ok(idle >= 900 && idle < 8000, `421 after ${idle} ms idle`);
      await closedWithin(smtp, 8000, 'after the idle 421');
      await assert.rejects(smtp.command('NOOP', 2000), (e: Error) => e instanceof ConnectionClosed || /closed|EPIPE|write after end/i.test(e.message));
      await waitFor(
        () => logsMatching(g.logs.slice(logsBefore), /SMTP_COMMAND_TIMEOUT_SECONDS|idle/i).length >= 1,
        8000,
        `a log line about the idle timeout: ${JSON.stringify(g.logs.slice(logsBefore).map((l) => l.msg))}`,
      );
    } finally {
      smtp.destroy();
    }
  });

});

describe(`SMTP_COMMAND_TIMEOUT_SECONDS=2 (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_COMMAND_TIMEOUT_SECONDS: '2' });
  });
  after(() => g?.close());

  test('the limit is on idleness, not on the session: NOOP every 250 ms for 5 s keeps it open', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const start = Date.now();
      while (Date.now() - start < 5000) {
        expectReply(await smtp.command('NOOP'), 250);
        await sleep(250);
      }
      expectReply(await smtp.command('EHLO scanner'), 250);
    } finally {
      smtp.destroy();
    }
  });
});
