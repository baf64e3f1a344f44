// Security review (issue 14, SMTP part): what slow, stuck or guessing clients can no longer do.
// Expected values come from the RFCs, not from the program's output:
//   421 closes the connection (RFC 5321 §3.8, §4.2.3); X.4.2 "bad connection" for a client too
//     slow to finish a command line or DATA, X.7.0 for too many failed AUTH attempts (RFC 3463 §3.5, §3.8);
//   535 5.7.8 for wrong credentials (RFC 4954 §6);
//   postmaster, bare and at every domain we receive mail for, must be accepted (RFC 5321 §4.5.1);
//   an unknown MAIL FROM / RCPT TO parameter → 555 (RFC 5321 §4.1.1.11) with X.5.4 (RFC 3463 §3.6);
//   the parameters of the advertised extensions stay usable: SIZE (RFC 1870), BODY (8BITMIME,
//     RFC 6152), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 §5); those of an extension not advertised
//     (DSN, RFC 3461 §4: RET, ENVID, NOTIFY, ORCPT) are unknown here, and so is every parameter
//     after HELO, which enables no extension (RFC 5321 §4.1.1.1, RFC 1869 §4), and AUTH= where
//     the session's EHLO did not offer AUTH;
//   a session that delivers nothing is closed with 421 X.4.2 however many NOOPs it sends (RFC 5321
//     §7.8: servers may protect themselves against clients that hold connections), and a flood of
//     junk commands with 421 X.7.0, as for too many failed AUTH attempts.
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
  closedWithin,
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
  ConnectionClosed,
  type LogLine,
  type Reply,
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

/**
 * Keeps a connection busy the way the review's attacker did: a NOOP every `everyMs`, waiting for
 * an unsolicited reply in between (so that a 421 is seen the moment it comes).
 * @returns the first reply that is not the 250 to a NOOP, and when it came (Date.now())
 */
async function noopUntilRefused(smtp: Smtp, everyMs: number): Promise<{ reply: Reply; at: number }> {
  for (;;) {
    try {
      const reply = await smtp.next(everyMs);
      return { reply, at: Date.now() };
    } catch (err) {
      if (err instanceof ConnectionClosed) throw err;
      // no reply within everyMs: the client's turn
    }
    const reply = await smtp.command('NOOP');
    if (reply.code !== 250) return { reply, at: Date.now() };
  }
}

describe(`SMTP_SESSION_IDLE_SECONDS=3: a connection must deliver a message now and then; NOOP does not keep it (${driver})`, () => {
  const LIMIT_MS = 3000;
  let g: G;
  before(async () => {
    // 2 addresses × 2 connections + 1 fill every slot (SMTP_MAX_CONNECTIONS=5)
    g = await dialogueGateway({ SMTP_SESSION_IDLE_SECONDS: '3', SMTP_COMMAND_DEADLINE_SECONDS: '1', SMTP_MAX_CONNECTIONS: '5', SMTP_MAX_CONNECTIONS_PER_IP: '2' });
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  test('NOOP every 300 ms → 421 4.4.2 after the limit and closed; a session delivering every second stays; another address gets in once the slots are free', async () => {
    const logsBefore = g.logs.length;
    const holders: { smtp: Smtp; greetedAt: number }[] = [];
    const all: Smtp[] = [];
    try {
      for (const address of ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2']) {
        const smtp = await Smtp.connect(g.gateway.smtp.port, { localAddress: address });
        all.push(smtp);
        const greetedAt = Date.now();
        expectReply(smtp.greeting, 220, {}, `holder from ${address}`);
        expectReply(await smtp.command('EHLO holder.example'), 250);
        holders.push({ smtp, greetedAt });
      }
      const sender = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.3' });
      all.push(sender);
      const senderSince = Date.now();
      expectReply(sender.greeting, 220);
      expectReply(await sender.command('EHLO scanner.agency.example'), 250);

      // every slot is taken: a legitimate client from a fifth address is refused for now
      const early = await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.4' });
      all.push(early);
      expectReply(early.greeting, 421, { enhanced: ['4.7.0'] }, 'the fifth address while all slots are held');

      const held = holders.map(async ({ smtp, greetedAt }) => {
        const { reply, at } = await noopUntilRefused(smtp, 300);
        expectReply(reply, 421, { enhanced: ['4.4.2'], required: true }, 'a session without a message past the limit');
        assert.ok(at - greetedAt >= LIMIT_MS - 50, `421 ${at - greetedAt} ms after the greeting, before the ${LIMIT_MS} ms limit`);
        await closedWithin(smtp, 8000, 'after the session limit');
      });
      let heldDone = false;
      const allHeld = Promise.all(held).finally(() => (heldDone = true));

      // the sender delivers a message, then waits with NOOPs for about a second, and again,
      // until the holders are gone and it has lived past twice the limit
      let delivered = 0;
      while (!heldDone || Date.now() - senderSince < 2 * LIMIT_MS) {
        const bytes = scanMessage({ from: SENDER, to: SCAN, tag: `steady-${delivered}` });
        const r = await transaction(sender, { from: SENDER, to: [SCAN], data: bytes });
        expectReply(r.final!, 250, {}, `message ${delivered + 1} of the steady sender`);
        delivered++;
        for (let i = 0; i < 4; i++) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          expectReply(await sender.command('NOOP'), 250, {}, 'NOOP between the sender\'s messages');
        }
        if (delivered > 30) assert.fail('the holders were never closed');
      }
      await allHeld;
      assert.ok(!sender.isClosed, 'the sender that delivers every second is still connected');
      assert.ok(Date.now() - senderSince >= 2 * LIMIT_MS, 'the sender lived past twice the limit');

      const late = await deliverFrom(g, '127.0.0.4', 'after-the-holders');
      expectReply(late.final, 250, {}, 'the fifth address once the held slots were freed');
      assert.ok(await messageBySha(g.db, late.sha));
      await waitFor(() => byReason(g.logs.slice(logsBefore), 'session-idle').length === holders.length, 8000, 'one session-idle log line per holder');
    } finally {
      for (const smtp of all) smtp.destroy();
    }
  });

  test('the clock does not run during DATA: a DATA phase longer than the limit → 250; the 250 starts the clock again', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}>`), 250);
      expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
      expectReply(await smtp.command('DATA'), 354);
      const head = `From: ${SENDER}\r\nTo: ${SCAN}\r\nSubject: long DATA\r\nMessage-ID: <long-data.${Date.now()}@agency.example>\r\n\r\n`;
      const chunks = [head];
      smtp.write(head);
      const startedAt = Date.now();
      // 1000 bytes every 100 ms (above the default minimum rate) for longer than the session limit
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (smtp.isClosed || Date.now() - startedAt >= LIMIT_MS + 1000) {
            clearInterval(timer);
            return resolve();
          }
          const chunk = `${'x'.repeat(98)}\r\n`.repeat(10);
          chunks.push(chunk);
          smtp.write(chunk);
        }, 100);
      });
      assert.ok(!smtp.isClosed, 'still connected after a DATA phase longer than the limit');
      const dotAt = Date.now();
      smtp.write('.\r\n');
      expectReply(await smtp.next(), 250, {}, 'a DATA phase longer than SMTP_SESSION_IDLE_SECONDS');
      assert.ok(await messageBySha(g.db, sha256(Buffer.from(chunks.join(''), 'latin1'))), 'stored byte for byte');
      const { reply, at } = await noopUntilRefused(smtp, 300);
      expectReply(reply, 421, { enhanced: ['4.4.2'], required: true }, 'no further message after the 250');
      assert.ok(at - dotAt >= LIMIT_MS - 50, `421 ${at - dotAt} ms after the message, before the ${LIMIT_MS} ms limit`);
      await closedWithin(smtp, 8000, 'after the session limit');
    } finally {
      smtp.destroy();
    }
  });

  test('SMTP_SESSION_IDLE_SECONDS below SMTP_COMMAND_DEADLINE_SECONDS is refused at start, naming it', () => {
    assert.throws(() => loadConfig({ SMTP_SESSION_IDLE_SECONDS: '30', SMTP_COMMAND_DEADLINE_SECONDS: '60' }), /SMTP_SESSION_IDLE_SECONDS/);
    assert.equal(loadConfig({}).SMTP_SESSION_IDLE_SECONDS, 300);
  });
});

describe(`SMTP_MAX_JUNK_COMMANDS=5: junk commands between two messages (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_MAX_JUNK_COMMANDS: '5' });
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  test('EHLO, NOOP, RSET, HELP, VRFY are answered; one more junk command → 421 4.7.0 and closed, with a log line', async () => {
    const logsBefore = g.logs.length;
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
      expectReply(await smtp.command('NOOP'), 250);
      expectReply(await smtp.command('RSET'), 250);
      expectReply(await smtp.command('HELP'), 214);
      // RFC 5321 §3.5.3: 252 when the address cannot be verified
      expectReply(await smtp.command(`VRFY <${SCAN}>`), 252);
      expectReply(await smtp.command('NOOP'), 421, { enhanced: ['4.7.0'], required: true }, 'the sixth junk command');
      await closedWithin(smtp, 8000, 'after too many junk commands');
    } finally {
      smtp.destroy();
    }
    await waitFor(() => byReason(g.logs.slice(logsBefore), 'junk-commands').length === 1, 8000, 'one log line with reason junk-commands');
  });

  test('a delivered message starts the count again; AUTH, MAIL, RCPT and DATA are no junk', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
      for (let i = 0; i < 4; i++) expectReply(await smtp.command('NOOP'), 250, {}, `NOOP ${i + 1}`);
      for (let round = 0; round < 2; round++) {
        const r = await transaction(smtp, { from: SENDER, to: [SCAN], data: scanMessage({ from: SENDER, to: SCAN, tag: `junk-reset-${round}` }) });
        expectReply(r.final!, 250, {}, `message ${round + 1}`);
        for (let i = 0; i < 5; i++) expectReply(await smtp.command('NOOP'), 250, {}, `NOOP ${i + 1} after message ${round + 1}`);
      }
      expectReply(await smtp.command('RSET'), 421, { enhanced: ['4.7.0'], required: true }, 'the sixth junk command after the last message');
    } finally {
      smtp.destroy();
    }
  });
});

describe(`refused connections are logged summed up per address, not one line each (${driver})`, () => {
  const REFUSED = 30;
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_MAX_CONNECTIONS: '2', SMTP_MAX_CONNECTIONS_PER_IP: '1' });
  });
  after(() => g?.close());

  test(`${REFUSED} connections over the per-address limit and ${REFUSED} over the overall limit: one line each at first, the rest counted in one line per address`, async () => {
    const logsBefore = g.logs.length;
    const holders = [await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.1' }), await Smtp.connect(g.gateway.smtp.port, { localAddress: '127.0.0.2' })];
    for (const h of holders) expectReply(h.greeting, 220);
    const refusals: [string, string][] = [
      ['127.0.0.1', 'per-address-limit'],
      ['127.0.0.3', 'connection-limit'],
    ];
    try {
      for (const [address] of refusals) {
        for (let i = 0; i < REFUSED; i++) {
          const smtp = await Smtp.connect(g.gateway.smtp.port, { localAddress: address });
          expectReply(smtp.greeting, 421, { enhanced: ['4.7.0'] }, `refused connection ${i + 1} from ${address}`);
          await closedWithin(smtp, 8000, 'the refused connection');
        }
      }
      for (const [address, reason] of refusals) {
        const lines = byReason(g.logs.slice(logsBefore), reason).filter((l) => l.peer === address);
        assert.equal(lines.length, 1, `one line for ${address} while the minute runs: ${JSON.stringify(lines)}`);
        assert.equal(lines[0]!.refused, 1);
      }
    } finally {
      for (const h of holders) await h.quit();
    }
    // the receiver writes what it counted when it closes
    await g.close();
    for (const [address, reason] of refusals) {
      const lines = byReason(g.logs.slice(logsBefore), reason).filter((l) => l.peer === address);
      assert.equal(lines.length, 2, `${address}: the first refusal and one summary: ${JSON.stringify(lines)}`);
      assert.equal(lines.reduce((sum, l) => sum + Number(l.refused), 0), REFUSED, `${address}: every refusal counted`);
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

  test('AUTH=<> on a plaintext session whose EHLO did not offer AUTH → 555 5.5.4; without it → 250', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const ehlo = await smtp.command('EHLO scanner.agency.example');
      expectReply(ehlo, 250);
      assert.ok(!ehloKeywords(ehlo).includes('AUTH'), 'AUTH is not offered before STARTTLS (SMTP_AUTH_ALLOW_CLEARTEXT off)');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> AUTH=<>`), 555, { enhanced: ['5.5.4'], required: true }, 'AUTH= without AUTH advertised (RFC 4954 §5)');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}>`), 250, {}, 'the same MAIL without the parameter');
    } finally {
      await smtp.quit();
    }
  });

  test('after HELO no parameter is taken (RFC 5321 §4.1.1.1): SIZE=10 and BODY=8BITMIME → 555 5.5.4; after EHLO, which offers SIZE, SIZE=10 → 250', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('HELO scanner.agency.example'), 250);
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> SIZE=10`), 555, { enhanced: ['5.5.4'], required: true }, 'SIZE after HELO');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> BODY=8BITMIME`), 555, { enhanced: ['5.5.4'], required: true }, 'BODY after HELO');
      // SIZE over the limit is still an unknown parameter here, not a size refusal
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> SIZE=99999999999`), 555, { enhanced: ['5.5.4'], required: true }, 'a huge SIZE after HELO');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}>`), 250, {}, 'plain MAIL after HELO');
      expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
      const bytes = scanMessage({ from: SENDER, to: SCAN, tag: 'helo-no-parameters' });
      expectReply(await smtp.command('DATA'), 354);
      smtp.write(dataPayload(bytes));
      expectReply(await smtp.next(), 250, {}, 'a message after HELO');

      const ehlo = await smtp.command('EHLO scanner.agency.example');
      assert.ok(ehloKeywords(ehlo).includes('SIZE'), 'EHLO offers SIZE (RFC 1870)');
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> SIZE=10`), 250, {}, 'SIZE after EHLO');
      expectReply(await smtp.command('RSET'), 250);
      // a later HELO takes the offer back
      expectReply(await smtp.command('HELO scanner.agency.example'), 250);
      expectReply(await smtp.command(`MAIL FROM:<${SENDER}> SIZE=10`), 555, { enhanced: ['5.5.4'], required: true }, 'SIZE after a second HELO');
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
