// Issue 3, item 4: the sloppy but harmless dialogues real scanners speak, as raw SMTP over TCP.
// Expected values come from RFC 5321 (HELO/EHLO, MAIL, null sender, §4.1.3 address literals),
// RFC 4954 and the LOGIN mechanism (334 "Username:"/"Password:", 235), RFC 3207 (220 to STARTTLS)
// and the bytes the test sends, never from the receiver's output.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addDevice } from '../../src/services/devices.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { listTasks } from '../../src/services/tasks.js';
import { driver } from '../helpers/env.js';
import {
  authLogin,
  b64,
  dataPayload,
  dialogueGateway,
  expectReply,
  messageBySha,
  scanMessage,
  sha256,
  Smtp,
  smtpSourceOf,
  transaction,
} from './lib.js';

const SCAN = 'scan@agency.example';
const DEVICE = 'mfp-3og';
const DEVICE_PASSWORD = 'Kyocera-3OG-secret';
const ODD_SENDER = 'device.@agency.example';
const LOGIN = 'mmuster';
/** RFC 5321 §4.1.3: the address literal of the test client, which connects from 127.0.0.1. */
const CLIENT_LITERAL = '[127.0.0.1]';

type G = Awaited<ReturnType<typeof dialogueGateway>>;

/** Delivers one message over an already greeted connection and returns the stored message. */
async function deliver(g: G, smtp: Smtp, opts: { from: string; tag: string; headerFrom?: string }) {
  const bytes = scanMessage({ from: opts.headerFrom ?? (opts.from || 'scanner@agency.example'), to: SCAN, tag: opts.tag });
  const r = await transaction(smtp, { from: opts.from, to: [SCAN], data: bytes });
  expectReply(r.mail, 250, { enhanced: ['2.1.0', '2.0.0'] }, `MAIL FROM:<${opts.from}>`);
  expectReply(r.rcpt[0]!, 250, { enhanced: ['2.1.5', '2.0.0'] }, 'RCPT');
  expectReply(r.data!, 354, {}, 'DATA');
  expectReply(r.final!, 250, { enhanced: ['2.0.0', '2.6.0'] }, 'end of DATA');
  const stored = await messageBySha(g.db, sha256(bytes));
  assert.ok(stored, 'the message is stored with exactly the bytes sent (after dot-unstuffing)');
  return stored;
}

describe(`sloppy scanner dialogues (${driver})`, () => {
  let g: G;
  let staffId: number;

  before(async () => {
    g = await dialogueGateway();
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, DEVICE_PASSWORD);
    const person = await addStaff(g.db, { name: 'Muster, Max', email: 'max.muster@agency.example', login: LOGIN });
    staffId = person.id;
  });
  after(() => g?.close());

  for (const [name, line] of [
    ['HELO alone', 'HELO'],
    ['HELO with a trailing space', 'HELO '],
  ] as const) {
    test(`${name} → 250; the client's IP literal is recorded as its identity`, async () => {
      const smtp = await Smtp.connect(g.gateway.smtp.port);
      try {
        expectReply(smtp.greeting, 220);
        const helo = await smtp.command(line);
        expectReply(helo, 250, {}, JSON.stringify(line));
        assert.equal(helo.lines.length, 1, 'the reply to HELO is one line (RFC 5321 §4.1.1.1)');
        const m = await deliver(g, smtp, { from: 'scanner@agency.example', tag: `helo-${line.length}` });
        const source = await smtpSourceOf(g.db, m.id);
        assert.equal(source.helo, CLIENT_LITERAL);
      } finally {
        await smtp.quit();
      }
    });
  }

  test('EHLO alone → multi-line 250; identity is the IP literal', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const ehlo = await smtp.command('EHLO');
      expectReply(ehlo, 250);
      assert.ok(ehlo.lines.length > 1, 'EHLO lists extensions');
      const m = await deliver(g, smtp, { from: 'scanner@agency.example', tag: 'ehlo-bare' });
      assert.equal((await smtpSourceOf(g.db, m.id)).helo, CLIENT_LITERAL);
    } finally {
      await smtp.quit();
    }
  });

  test('a proper HELO name is recorded as given (lower case)', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('HELO scanner-2og.agency.example'), 250);
      const m = await deliver(g, smtp, { from: 'scanner@agency.example', tag: 'helo-named' });
      assert.equal((await smtpSourceOf(g.db, m.id)).helo, 'scanner-2og.agency.example');
    } finally {
      await smtp.quit();
    }
  });

  test('HELO (not EHLO), STARTTLS, HELO, AUTH LOGIN → 334, 334, 235; device recorded', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('HELO'), 250);
      const { reply } = await smtp.starttls();
      expectReply(reply, 220, { enhanced: ['2.0.0'] }, 'STARTTLS');
      // RFC 3207 §4.2: the server forgets what the client said before TLS; the device greets again
      expectReply(await smtp.command('HELO'), 250);
      const [first, second, final] = await authLogin(smtp, DEVICE, DEVICE_PASSWORD);
      // LOGIN mechanism: the challenges are base64 of "Username:" and "Password:"
      expectReply(first!, 334);
      assert.equal(first!.lines[0], b64('Username:'));
      expectReply(second!, 334);
      assert.equal(second!.lines[0], b64('Password:'));
      expectReply(final!, 235, { enhanced: ['2.7.0'] }, 'AUTH LOGIN');
      const m = await deliver(g, smtp, { from: 'scanner@agency.example', tag: 'helo-auth-tls' });
      const source = await smtpSourceOf(g.db, m.id);
      assert.equal(source.authUser, DEVICE);
      assert.equal(source.helo, CLIENT_LITERAL);
      assert.equal(source.tls?.protocol, smtp.tlsSocket!.getProtocol());
    } finally {
      await smtp.quit();
    }
  });

  test('MAIL FROM:<device.@agency.example> (trailing dot) → 250, stored, and routed by the sender mapping', async () => {
    // the admin registers the device's odd address as an external sender and maps it
    await addStaff(g.db, { name: 'Scanner, 3. OG', email: ODD_SENDER, external: true });
    await addMapping(g.db, ODD_SENDER, LOGIN);
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner-3og'), 250);
      const m = await deliver(g, smtp, { from: ODD_SENDER, tag: 'odd-sender' });
      const source = await smtpSourceOf(g.db, m.id);
      assert.equal(source.envelope.mailFrom, ODD_SENDER);
      assert.equal(m.senderAddress, ODD_SENDER);
      const tasks = (await listTasks(g.db, { limit: 1000 })).filter((t) => t.messageId === m.id);
      assert.equal(tasks.length, 1, 'one task for the scanner channel');
      assert.deepEqual(
        tasks[0]!.candidates.map((c) => c.id),
        [staffId],
        'the sender mapping device.@agency.example → mmuster made Max Muster the candidate',
      );
      assert.notEqual(tasks[0]!.status, 'unassigned');
    } finally {
      await smtp.quit();
    }
  });

  for (const [what, command, recorded] of [
    ['consecutive dots in the local part', 'MAIL FROM:<scan..er@agency.example>', 'scan..er@agency.example'],
    ['a leading dot in the local part', 'MAIL FROM:<.scanner@agency.example>', '.scanner@agency.example'],
    ['a space after the colon', 'MAIL FROM: <scanner@agency.example>', 'scanner@agency.example'],
  ] as const) {
    test(`MAIL FROM with ${what} → 250 and the envelope sender recorded`, async () => {
      const smtp = await Smtp.connect(g.gateway.smtp.port);
      try {
        expectReply(await smtp.command('EHLO scanner-4og'), 250);
        expectReply(await smtp.command(command), 250, { enhanced: ['2.1.0', '2.0.0'] }, command);
        expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
        expectReply(await smtp.command('DATA'), 354);
        const bytes = scanMessage({ from: 'scanner@agency.example', to: SCAN, tag: `odd-${what}` });
        smtp.write(dataPayload(bytes));
        expectReply(await smtp.next(), 250);
        const m = await messageBySha(g.db, sha256(bytes));
        assert.ok(m);
        assert.equal((await smtpSourceOf(g.db, m.id)).envelope.mailFrom, recorded);
      } finally {
        await smtp.quit();
      }
    });
  }

  test('MAIL FROM:<> (null sender, RFC 5321 §4.5.5) → 250; recorded as the empty sender', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner-5og'), 250);
      const m = await deliver(g, smtp, { from: '', tag: 'null-sender', headerFrom: 'scanner@agency.example' });
      assert.equal((await smtpSourceOf(g.db, m.id)).envelope.mailFrom, '');
    } finally {
      await smtp.quit();
    }
  });

  test('still no open relay: an unknown recipient → 550 5.1.1 (RFC 3463 "bad destination mailbox")', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('HELO'), 250);
      expectReply(await smtp.command(`MAIL FROM:<${ODD_SENDER}>`), 250);
      expectReply(await smtp.command('RCPT TO:<someone@elsewhere.example>'), 550, { enhanced: ['5.1.1'], required: true });
    } finally {
      await smtp.quit();
    }
  });
});

describe(`HELO then AUTH LOGIN in clear text, SMTP_AUTH_ALLOW_CLEARTEXT=true (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_AUTH_ALLOW_CLEARTEXT: 'true' });
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, DEVICE_PASSWORD);
  });
  after(() => g?.close());

  test('HELO, AUTH LOGIN on the plain port → 334, 334, 235; device recorded, no TLS recorded', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('HELO'), 250);
      const [first, second, final] = await authLogin(smtp, DEVICE, DEVICE_PASSWORD);
      expectReply(first!, 334);
      assert.equal(first!.lines[0], b64('Username:'));
      expectReply(second!, 334);
      assert.equal(second!.lines[0], b64('Password:'));
      expectReply(final!, 235, { enhanced: ['2.7.0'] }, 'AUTH LOGIN');
      const m = await deliver(g, smtp, { from: 'scanner@agency.example', tag: 'helo-auth-plain' });
      const source = await smtpSourceOf(g.db, m.id);
      assert.equal(source.authUser, DEVICE);
      assert.equal(source.tls, null);
      assert.equal(source.helo, CLIENT_LITERAL);
    } finally {
      await smtp.quit();
    }
  });
});

describe(`HELO without a name from an IPv6 client (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_HOST: '::1' });
    await addInboundAddress(g.db, SCAN, 'scanner');
  });
  after(() => g?.close());

  test('HELO alone from ::1 → 250; identity is the IPv6 address literal [IPv6:::1] (RFC 5321 §4.1.3)', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port, { host: '::1' });
    try {
      expectReply(await smtp.command('HELO'), 250);
      const m = await deliver(g, smtp, { from: 'scanner@agency.example', tag: 'helo-ipv6' });
      // the tag "IPv6:" is an ABNF literal, case-insensitive (RFC 5234 §2.3)
      assert.equal((await smtpSourceOf(g.db, m.id)).helo.toLowerCase(), '[ipv6:::1]');
    } finally {
      await smtp.quit();
    }
  });
});
