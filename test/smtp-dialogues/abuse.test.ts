// Security review (issue 14, SMTP part): what slow, stuck or guessing clients can no longer do.
// Expected values come from the RFCs, not from the program's output:
//   421 closes the connection (RFC 5321 §3.8, §4.2.3); X.4.2 "bad connection" for a client too
//     slow to finish a command line or DATA, X.7.0 for too many failed AUTH attempts (RFC 3463 §3.5, §3.8);
//   535 5.7.8 for wrong credentials (RFC 4954 §6);
//   postmaster, bare and at every domain we receive mail for, must be accepted (RFC 5321 §4.5.1);
//   an unknown MAIL FROM / RCPT TO parameter → 555 (RFC 5321 §4.1.1.11) with X.5.4 (RFC 3463 §3.6);
//   the parameters of the advertised extensions stay usable: SIZE (RFC 1870), BODY (8BITMIME,
//     RFC 6152), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 §5); those of an extension not advertised
//     (DSN, RFC 3461 §4: RET, ENVID, NOTIFY, ORCPT) are unknown here.
// The deadlines are set short through the gateway's environment, so that the tests take seconds;
// the outcomes are awaited as replies and closes, never as sleeps.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addDevice } from '../../src/services/devices.js';
import { driver } from '../helpers/env.js';
import {
  authLogin,
  authPlain,
  countRows,
  dataPayload,
  dialogueGateway,
  ehloKeywords,
  expectReply,
  messageBySha,
  scanMessage,
  sha256,
  Smtp,
  tasksOf,
  transaction,
  waitFor,
  type LogLine,
} from './lib.js';

const SCAN = 'scan@agency.example';
const SENDER = 'scanner@agency.example';
type G = Awaited<ReturnType<typeof dialogueGateway>>;

/**
 * Writes `bytes` to the connection one byte every `intervalMs` (a trickling client), from now on.
 * @returns stop(), and the time the first byte went out
 */
function trickle(smtp: Smtp, bytes: string, intervalMs: number): { stop(): void; startedAt: number } {
  let i = 0;
  const timer = setInterval(() => {
    if (smtp.isClosed || i >= bytes.length) return clearInterval(timer);
    smtp.write(bytes[i++]!);
  }, intervalMs);
  smtp.closed.then(() => clearInterval(timer));
  const startedAt = Date.now();
  smtp.write(bytes[i++]!);
  return { stop: () => clearInterval(timer), startedAt };
}

/** Resolves when the server has closed the connection; fails after `ms`. */
async function closedWithin(smtp: Smtp, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    smtp.closed,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: the gateway did not close the connection`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** One complete delivery from `localAddress`; returns the final reply and the message's SHA-256. */
async function deliverFrom(g: G, localAddress: string, tag: string) {
  const smtp = await Smtp.connect(g.gateway.smtp.port, { localAddress });
  try {
    expectReply(smtp.greeting, 220, {}, `greeting for ${localAddress}`);
    expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
    const bytes = scanMessage({ from: SENDER, to: SCAN, tag });
    const r = await transaction(smtp, { from: SENDER, to: [SCAN], data: bytes });
    return { final: r.final!, sha: sha256(bytes) };
  } finally {
    await smtp.quit();
  }
}

const byReason = (logs: LogLine[], reason: string) => logs.filter((l) => l.reason === reason);

describe(`a command line must be complete within SMTP_COMMAND_DEADLINE_SECONDS=2, however slowly it trickles (${driver})`, () => {
  const DEADLINE_MS = 2000;
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_COMMAND_DEADLINE_SECONDS: '2' });
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  test('a byte every 200 ms never finishing its line → 421 4.4.2 after the deadline and closed; another address gets 250 meanwhile', async () => {
    const logsBefore = g.logs.length;
    const slow = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.1' });
    try {
      expectReply(slow.greeting, 220);
      // each byte restarts the idle timeout (300 s by default): only the deadline can end this
      const t = trickle(slow, `EHLO ${'slow'.repeat(100)}`, 200);
      const reply = slow.next(DEADLINE_MS + 15_000);
      // a real scanner from another address is served while the slow client holds its connection
      const other = await deliverFrom(g, '127.0.0.2', 'beside-a-trickler');
      expectReply(other.final, 250, {}, 'delivery from 127.0.0.2 while 127.0.0.1 trickles');
      assert.ok(await messageBySha(g.db, other.sha), 'the other delivery is stored');
      assert.ok(!slow.isClosed, 'the slow client was still connected during that delivery');

      const r = await reply;
      const after = Date.now() - t.startedAt;
      expectReply(r, 421, { enhanced: ['4.4.2'], required: true }, 'trickled command line');
      assert.ok(after >= DEADLINE_MS - 50, `421 came ${after} ms after the first byte, before the ${DEADLINE_MS} ms deadline`);
      await closedWithin(slow, 8000, 'after the deadline 421');
      t.stop();
      await waitFor(() => byReason(g.logs.slice(logsBefore), 'command-deadline').length === 1, 8000, 'one log line with reason command-deadline');
    } finally {
      slow.destroy();
    }
  });

  test('the deadline is per line, not per session or idle time: a line sent in pieces within it is answered; silence between lines is not cut', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
      // one line in three pieces over ~1 s (within the 2 s deadline)
      const first = smtp.next();
      const pieces = ['NO', 'O', 'P\r\n'];
      for (const [i, piece] of pieces.entries()) setTimeout(() => smtp.write(piece), i * 500);
      expectReply(await first, 250, {}, 'NOOP sent in pieces');
      // the client says nothing for longer than the deadline (the idle timeout is 300 s): not a
      // command line in progress, so nothing to cut; the next command is answered
      const quiet = new Promise((r) => setTimeout(r, DEADLINE_MS + 700));
      await Promise.race([quiet, smtp.closed.then(() => assert.fail('the connection was closed while the client was silent between commands'))]);
      expectReply(await smtp.command('NOOP'), 250, {}, 'after silence longer than the deadline');
    } finally {
      await smtp.quit();
    }
  });
});

describe(`DATA below SMTP_DATA_MIN_BYTES_PER_SECOND=2000 after SMTP_DATA_DEADLINE_SECONDS=1 is cut (${driver})`, () => {
  const RATE = 2000;
  const BASE_MS = 1000;
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_DATA_DEADLINE_SECONDS: '1', SMTP_DATA_MIN_BYTES_PER_SECOND: String(RATE) });
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  /** Opens a transaction up to the 354 (RFC 5321 §4.1.1.4). */
  async function toData(): Promise<Smtp> {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
    expectReply(await smtp.command(`MAIL FROM:<${SENDER}>`), 250);
    expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
    expectReply(await smtp.command('DATA'), 354);
    return smtp;
  }

  /** A line of exactly `n` octets (CRLF included) that does not start with a dot. */
  const line = (n: number) => `${'x'.repeat(n - 2)}\r\n`;

  test('100 bytes every 100 ms (1000 bytes/s, half the minimum) → 421 4.4.2 and closed; nothing stored', async () => {
    const before = await countRows(g.db);
    const logsBefore = g.logs.length;
    const smtp = await toData();
    try {
      const startedAt = Date.now();
      smtp.write(`From: ${SENDER}\r\nTo: ${SCAN}\r\nSubject: slow\r\n\r\n`);
      const timer = setInterval(() => !smtp.isClosed && smtp.write(line(100)), 100);
      try {
        const r = await smtp.next(15_000);
        const after = Date.now() - startedAt;
        expectReply(r, 421, { enhanced: ['4.4.2'], required: true }, 'DATA below the minimum rate');
        // at 1000 bytes/s the allowance max(1 s, bytes / 2000) is used up after the first second
        assert.ok(after >= BASE_MS - 50, `cut after ${after} ms, before the ${BASE_MS} ms base deadline`);
        await closedWithin(smtp, 8000, 'after the DATA deadline');
      } finally {
        clearInterval(timer);
      }
      assert.deepEqual(await countRows(g.db), before, 'nothing stored');
      await waitFor(() => byReason(g.logs.slice(logsBefore), 'data-deadline').length === 1, 8000, 'one log line with reason data-deadline');
    } finally {
      smtp.destroy();
    }
  });

  test('1000 bytes every 100 ms (10000 bytes/s) for 2 s — longer than the base deadline, above the rate → 250, stored', async () => {
    const smtp = await toData();
    try {
      const head = `From: ${SENDER}\r\nTo: ${SCAN}\r\nSubject: steady\r\nMessage-ID: <steady.${Date.now()}@agency.example>\r\n\r\n`;
      const chunks: string[] = [head];
      smtp.write(head);
      const startedAt = Date.now();
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (smtp.isClosed || Date.now() - startedAt >= 2 * BASE_MS) {
            clearInterval(timer);
            return resolve();
          }
          const chunk = line(100).repeat(10);
          chunks.push(chunk);
          smtp.write(chunk);
        }, 100);
      });
      assert.ok(!smtp.isClosed, 'still connected after twice the base deadline');
      smtp.write('.\r\n');
      const r = await smtp.next(15_000);
      expectReply(r, 250, {}, 'DATA above the minimum rate');
      assert.ok(await messageBySha(g.db, sha256(Buffer.from(chunks.join(''), 'latin1'))), 'stored byte for byte');
    } finally {
      await smtp.quit();
    }
  });
});

describe(`the default per-address limit leaves room for other addresses (${driver})`, () => {
  let g: G;
  const open: Smtp[] = [];
  const defaults = loadConfig({});
  before(async () => {
    g = await dialogueGateway();
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(async () => {
    for (const s of open) s.destroy();
    await g?.close();
  });

  test('defaults: two addresses cannot take every connection', () => {
    assert.ok(defaults.SMTP_MAX_CONNECTIONS_PER_IP * 2 <= defaults.SMTP_MAX_CONNECTIONS, `${defaults.SMTP_MAX_CONNECTIONS_PER_IP} per address of ${defaults.SMTP_MAX_CONNECTIONS}`);
  });

  test('connections from one address up to the default limit are greeted, one more → 421 and closed; another address still delivers', async () => {
    const limit = defaults.SMTP_MAX_CONNECTIONS_PER_IP;
    for (let i = 0; i < limit; i++) {
      const s = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.1' });
      open.push(s);
      expectReply(s.greeting, 220, {}, `connection ${i + 1} of ${limit}`);
    }
    const over = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.1' });
    open.push(over);
    expectReply(over.greeting, 421, { enhanced: ['4.7.0'] }, `connection ${limit + 1} from 127.0.0.1`);
    await closedWithin(over, 8000, 'the refused connection');
    const other = await deliverFrom(g, '127.0.0.2', 'beside-a-full-address');
    expectReply(other.final, 250, {}, 'delivery from 127.0.0.2 while 127.0.0.1 is at its limit');
  });
});

describe(`postmaster (RFC 5321 §4.5.1) (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway();
    // the domains we receive for: agency.example (scanner) and branch.example, whose postmaster is configured itself
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addInboundAddress(g.db, 'postmaster@branch.example', 'scanner');
  });
  after(() => g?.close());

  test('postmaster@<our domain> in any case and bare postmaster → 250; postmaster of a foreign domain → 550 5.1.1', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO mx.example'), 250);
      expectReply(await smtp.command('MAIL FROM:<>'), 250, {}, 'null reverse-path (a bounce)');
      expectReply(await smtp.command('RCPT TO:<postmaster@agency.example>'), 250, {}, 'postmaster@agency.example');
      expectReply(await smtp.command('RCPT TO:<PostMaster@Agency.Example>'), 250, {}, 'case-insensitive');
      expectReply(await smtp.command('RCPT TO:<Postmaster>'), 250, {}, 'bare postmaster');
      expectReply(await smtp.command('RCPT TO:<postmaster@elsewhere.example>'), 550, { enhanced: ['5.1.1'], required: true }, 'not our domain: never a relay');
      expectReply(await smtp.command('RCPT TO:<someone@agency.example>'), 550, { enhanced: ['5.1.1'], required: true }, 'only postmaster, not every address of the domain');
    } finally {
      await smtp.quit();
    }
  });

  for (const rcpt of ['postmaster@agency.example', 'postmaster']) {
    test(`mail to <${rcpt}> becomes a message with a task on the general channel`, async () => {
      const smtp = await Smtp.connect(g.gateway.smtp.port);
      try {
        expectReply(await smtp.command('EHLO mx.example'), 250);
        const bytes = scanMessage({ from: 'mailer-daemon@mx.example', to: rcpt, tag: `postmaster-${rcpt.replace(/\W/g, '-')}` });
        const r = await transaction(smtp, { from: '', to: [rcpt], data: bytes });
        expectReply(r.final!, 250, {}, `DATA to ${rcpt}`);
        const m = await messageBySha(g.db, sha256(bytes));
        assert.ok(m, 'stored');
        assert.deepEqual((await tasksOf(g.db, m.id)).map((t) => t.channel), ['general']);
      } finally {
        await smtp.quit();
      }
    });
  }

  test('a postmaster address configured as an inbound address keeps its own channel', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO mx.example'), 250);
      const bytes = scanMessage({ from: 'mailer-daemon@mx.example', to: 'postmaster@branch.example', tag: 'postmaster-branch' });
      const r = await transaction(smtp, { from: '', to: ['postmaster@branch.example'], data: bytes });
      expectReply(r.final!, 250);
      const m = await messageBySha(g.db, sha256(bytes));
      assert.ok(m);
      assert.deepEqual((await tasksOf(g.db, m.id)).map((t) => t.channel), ['scanner']);
    } finally {
      await smtp.quit();
    }
  });
});

describe(`MAIL FROM / RCPT TO parameters (RFC 5321 §4.1.1.11) (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway();
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  test('an unknown parameter → 555 5.5.4, in RCPT TO and MAIL FROM; the transaction goes on', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const ehlo = await smtp.command('EHLO scanner.agency.example');
      expectReply(ehlo, 250);
      assert.ok(!ehloKeywords(ehlo).includes('XFOO'), 'XFOO is no advertised extension');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> XFOO=1`), 555, { enhanced: ['5.5.4'], required: true }, 'MAIL FROM with XFOO=1');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}>`), 250);
      expectReply(await smtp.command(`RCPT TO:<${SCAN}> XFOO=BAR`), 555, { enhanced: ['5.5.4'], required: true }, 'RCPT TO with XFOO=BAR');
      expectReply(await smtp.command(`RCPT TO:<${SCAN}> HOLDFOR`), 555, { enhanced: ['5.5.4'], required: true }, 'RCPT TO with a bare keyword');
      expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
      const bytes = scanMessage({ from: SENDER, to: SCAN, tag: 'after-555' });
      expectReply(await smtp.command('DATA'), 354);
      smtp.write(dataPayload(bytes));
      expectReply(await smtp.next(), 250, {}, 'the refused parameters did not spoil the transaction');
    } finally {
      await smtp.quit();
    }
  });

  test('the parameters of the advertised extensions are accepted (SIZE, BODY, SMTPUTF8, AUTH); those of DSN, not advertised, are not', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      let ehlo = await smtp.command('EHLO scanner.agency.example');
      const keywords = ehloKeywords(ehlo);
      for (const k of ['SIZE', '8BITMIME', 'SMTPUTF8', 'STARTTLS']) assert.ok(keywords.includes(k), `${k} advertised`);
      assert.ok(!keywords.includes('DSN'), 'DSN is not advertised');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> RET=HDRS`), 555, { enhanced: ['5.5.4'], required: true }, 'RET without DSN');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> SIZE=1000 BODY=8BITMIME SMTPUTF8`), 250, {}, 'RFC 1870, 6152, 6531 parameters');
      expectReply(await smtp.command(`RCPT TO:<${SCAN}> NOTIFY=FAILURE,DELAY`), 555, { enhanced: ['5.5.4'], required: true }, 'NOTIFY without DSN');
      expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
      expectReply(await smtp.command('RSET'), 250);
      // AUTH is advertised after STARTTLS; its MAIL parameter (RFC 4954 §5) is then accepted
      await smtp.starttls();
      ehlo = await smtp.command('EHLO scanner.agency.example');
      assert.ok(ehloKeywords(ehlo).includes('AUTH'), 'AUTH advertised over TLS');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> AUTH=<>`), 250, {}, 'AUTH=<>');
      expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
    } finally {
      await smtp.quit();
    }
  });
});

describe(`failed SMTP AUTH attempts (default SMTP_AUTH_MAX_FAILURES) (${driver})`, () => {
  const DEVICE = 'mfp-3og';
  const PASSWORD = 'Ricoh-IM-C3000-secret';
  const WRONG = ['wrong-guess-one', 'wrong-guess-two', 'wrong-guess-three'];
  const INVALID = { enhanced: ['5.7.8'], required: true };
  let g: G;
  before(async () => {
    g = await dialogueGateway();
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, PASSWORD);
  });
  after(() => g?.close());

  async function tlsSession(): Promise<Smtp> {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    expectReply(await smtp.command('EHLO mfp.agency.example'), 250);
    await smtp.starttls();
    expectReply(await smtp.command('EHLO mfp.agency.example'), 250);
    return smtp;
  }

  test('the third wrong AUTH → 421 4.7.0 and closed; the log has one line for the connection, without passwords', async () => {
    const max = loadConfig({}).SMTP_AUTH_MAX_FAILURES;
    assert.equal(max, 3);
    const logsBefore = g.logs.length;
    const smtp = await tlsSession();
    try {
      expectReply(await authPlain(smtp, DEVICE, WRONG[0]!), 535, INVALID, 'first wrong AUTH PLAIN');
      expectReply((await authLogin(smtp, DEVICE, WRONG[1]!))[2]!, 535, INVALID, 'second wrong AUTH LOGIN');
      const third = await authPlain(smtp, 'admin', WRONG[2]!);
      expectReply(third, 421, { enhanced: ['4.7.0'], required: true }, 'third wrong AUTH');
      await closedWithin(smtp, 8000, 'after the third failure');
    } finally {
      smtp.destroy();
    }
    const lines = () => byReason(g.logs.slice(logsBefore), 'auth-failures');
    await waitFor(() => lines().length >= 1, 8000, 'the aggregated AUTH log line');
    const [line, ...more] = lines();
    assert.equal(more.length, 0, 'one line for the connection');
    assert.equal(line!.authFailures, 3);
    assert.equal(line!.peer, '127.0.0.1');
    assert.deepEqual(line!.logins, { [DEVICE]: 2, admin: 1 });
    assert.equal(line!.closedAtLimit, true);
    const text = JSON.stringify(g.logs.slice(logsBefore));
    for (const secret of WRONG) assert.ok(!text.includes(secret), `the password ${secret} is not logged`);
    const mentioning = g.logs.slice(logsBefore).filter((l) => JSON.stringify(l).includes('"admin"'));
    assert.equal(mentioning.length, 1, `no line per guess: ${JSON.stringify(mentioning)}`);
  });

  test('two failures then the right password → 235, the connection stays and delivers; one line with two failures at its close', async () => {
    const logsBefore = g.logs.length;
    const smtp = await tlsSession();
    try {
      expectReply(await authPlain(smtp, DEVICE, WRONG[0]!), 535, INVALID);
      expectReply(await authPlain(smtp, DEVICE, WRONG[1]!), 535, INVALID);
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 235, { enhanced: ['2.7.0'] }, 'right password after two failures');
      const bytes = scanMessage({ from: SENDER, to: SCAN, tag: 'after-two-failures' });
      const r = await transaction(smtp, { from: SENDER, to: [SCAN], data: bytes });
      expectReply(r.final!, 250);
      assert.equal(byReason(g.logs.slice(logsBefore), 'auth-failures').length, 0, 'nothing logged per guess while the connection is open');
    } finally {
      await smtp.quit();
    }
    await waitFor(() => byReason(g.logs.slice(logsBefore), 'auth-failures').length >= 1, 8000, 'the aggregated AUTH log line');
    const lines = byReason(g.logs.slice(logsBefore), 'auth-failures');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.authFailures, 2);
    assert.deepEqual(lines[0]!.logins, { [DEVICE]: 2 });
    assert.equal(lines[0]!.closedAtLimit, false);
  });
});
