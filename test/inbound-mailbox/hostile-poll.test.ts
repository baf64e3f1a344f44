/**
 * Issue 12 over the mailbox pollers: "a poll never leaves a message on the server because of its
 * content". Hostile messages, built here byte for byte, are put into a real Dovecot mailbox
 * (test/helpers/dovecot.ts) and polled over IMAP (after-import `seen`) and POP3 (after-import
 * `delete`): every message is stored exactly once, its raw bytes are the bytes the server hands
 * out (fetched independently here: imapflow for IMAP, a raw POP3 session for POP3), the decoded
 * subject and sender are worked out by hand, the messages whose parsed copy lost something are
 * `incomplete`, every message got its after-import action, and a second poll changes nothing.
 *
 * What Dovecot 2.3 hands out is not always the file it stored; the expectations follow it and
 * are checked first, so that a change there fails as such and not as a product failure:
 * - LF-only line ends become CRLF (both protocols);
 * - IMAP: a NUL byte is sent as 0x80 (RFC 3501 §4.3: a literal may not contain NUL; Dovecot
 *   substitutes 0x80 in FETCH BODY[] — only BINARY, RFC 3516, would carry the NUL);
 * - POP3: a last line without a line end gets CRLF before the terminating "." line (RFC 1939 §3),
 *   and that CRLF belongs to the message as the client reads it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import type { AppContext } from '../../src/context.js';
import { listFailures } from '../../src/db/repositories/mailboxes.js';
import { imapAdapter } from '../../src/inbound/imap/adapter.js';
import type { MailboxSettings, PollReport } from '../../src/inbound/mailbox/types.js';
import { pop3Adapter } from '../../src/inbound/pop3/adapter.js';
import { listMessages, rawMessage, showMessage } from '../../src/services/messages.js';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver, testContext } from '../helpers/env.js';
import { counts, countingIngest, imapSettings, pollDeps, sha256, storedHashes } from './imap-lib.js';

const USERS = [
  { user: 'imapseen', password: 'pw-imap-Ä1' },
  { user: 'pop3del', password: 'pw-pop3-Ä1' },
];
const pw = (user: string) => USERS.find((u) => u.user === user)!.password;
const NOTHING: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
/** Maildir info suffix with the S (seen) flag: "<name>:2,<flags in ASCII order>" */
const SEEN = /:2,[A-Z]*S[a-z]*$/;
const CRLF = Buffer.from('\r\n');

const crlf = (lines: (string | Buffer)[]) => Buffer.concat(lines.map((l) => Buffer.concat([Buffer.isBuffer(l) ? l : Buffer.from(l, 'utf8'), CRLF])));
const latin1 = (s: string) => Buffer.from(s, 'latin1');

type Protocol = 'imap' | 'pop3';

interface Case {
  name: string;
  /** the file put into the Maildir */
  bytes: Buffer;
  /** what the server hands out, per protocol (see the header comment); default `bytes` */
  served?: Partial<Record<Protocol, Buffer>>;
  /** decoded subject, per protocol when the served bytes differ in the Subject */
  subject: string | Record<Protocol, string>;
  sender: string;
  senderName?: string;
  /** the parsed copy lost something: showMessage().incomplete */
  incomplete: boolean;
  /** issue codes that must be present, per protocol when they differ */
  issues: string[] | Record<Protocol, string[]>;
  text?: RegExp;
}

const NUL_BOUNCE = crlf([
  'From: Mail Delivery System <MAILER-DAEMON@outlook.example>',
  'To: scan@agency.example',
  latin1('Subject: Unzustellbar\u0000: Antrag'),
  'Message-ID: <bounce-poll-1@outlook.example>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Die Nachricht konnte nicht zugestellt werden.=00 Diagnose: 550',
]);
const BARE_CR = latin1('From: J\u00fcrgen <juergen.weiss@agency.example>\rTo: scan@agency.example\rSubject: Nur CR\r\rZeile eins\rZeile zwei\r');
const LF_ONLY = Buffer.from('From: scanner-eg@agency.example\nTo: scan@agency.example\nSubject: Nur LF\n\nSeite eins\nSeite zwei\n');

const CASES: Case[] = [
  {
    name: 'quoted-printable =00 in the text and a raw NUL in Subject (Office 365 bounce)',
    bytes: NUL_BOUNCE,
    // IMAP: the NUL goes out as 0x80, a raw 8-bit header byte, read as Windows-1252: 0x80 is "€" (U+20AC)
    served: { imap: Buffer.from(NUL_BOUNCE.map((b) => (b === 0x00 ? 0x80 : b))) },
    subject: { imap: 'Unzustellbar\u20ac: Antrag', pop3: 'Unzustellbar: Antrag' },
    sender: 'mailer-daemon@outlook.example',
    incomplete: true,
    issues: { imap: ['text-characters-removed', 'header-charset-fallback'], pop3: ['text-characters-removed'] },
    text: /werden\. Diagnose: 550/,
  },
  {
    name: 'bare CR line endings (old Mac mail), raw Latin-1 ü in the display name',
    bytes: BARE_CR,
    served: { pop3: Buffer.concat([BARE_CR, CRLF]) },
    subject: 'Nur CR',
    sender: 'juergen.weiss@agency.example',
    senderName: 'Jürgen',
    incomplete: false,
    issues: ['cr-line-ends', 'header-charset-fallback'],
    text: /^Zeile eins\nZeile zwei/,
  },
  {
    name: 'multipart whose boundary never appears (a real bounce)',
    bytes: crlf([
      'From: postmaster@relay.example',
      'To: scan@agency.example',
      'Subject: Delivery failure',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="never-used"',
      '',
      'Your message to x@y.example could not be delivered.',
      'Reason: mailbox full',
    ]),
    subject: 'Delivery failure',
    sender: 'postmaster@relay.example',
    incomplete: true,
    issues: ['multipart-without-parts'],
    text: /could not be delivered\.\nReason: mailbox full/,
  },
  {
    name: 'a UTF-8 byte order mark before the header',
    bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), crlf(['From: anna.berger@agency.example', 'To: scan@agency.example', 'Subject: Mit BOM', '', 'Text mit BOM'])]),
    subject: 'Mit BOM',
    sender: 'anna.berger@agency.example',
    incomplete: false,
    issues: ['bom-skipped'],
  },
  {
    name: 'raw Latin-1 bytes in Subject and display name',
    bytes: crlf([latin1('From: J\u00fcrgen Wei\u00df <juergen.weiss@agency.example>'), 'To: scan@agency.example', latin1('Subject: Fr\u00f6sche und Kr\u00f6ten'), '', 'Text']),
    subject: 'Frösche und Kröten',
    sender: 'juergen.weiss@agency.example',
    senderName: 'Jürgen Weiß',
    incomplete: false,
    issues: ['header-charset-fallback'],
  },
  {
    name: 'LF-only line ends (a Unix MTA), served with CRLF',
    bytes: LF_ONLY,
    served: { imap: Buffer.from(LF_ONLY.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'), pop3: Buffer.from(LF_ONLY.toString('latin1').replace(/\n/g, '\r\n'), 'latin1') },
    subject: 'Nur LF',
    sender: 'scanner-eg@agency.example',
    incomplete: false,
    issues: [],
    text: /^Seite eins\nSeite zwei/,
  },
];

const servedBy = (c: Case, p: Protocol) => c.served?.[p] ?? c.bytes;
const subjectBy = (c: Case, p: Protocol) => (typeof c.subject === 'string' ? c.subject : c.subject[p]);
const issuesBy = (c: Case, p: Protocol) => (Array.isArray(c.issues) ? c.issues : c.issues[p]);

let dc: DovecotServer;
before(async () => {
  dc = await startDovecot({ users: USERS });
});
after(async () => {
  await dc?.stop();
});

async function withCtx(fn: (ctx: AppContext) => Promise<void>): Promise<void> {
  const { ctx, close } = await testContext();
  try {
    await fn(ctx);
  } finally {
    await close();
  }
}

/** An independent imapflow session on a harness account (implicit TLS, harness CA). */
async function imapSession<T>(user: string, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({
    host: dc.host,
    port: dc.ports.imaps,
    secure: true,
    tls: { ca: dc.ca, servername: 'localhost' },
    auth: { user, pass: pw(user) },
    logger: false,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.logout();
  }
}

/** What the server hands out over IMAP (BODY.PEEK[], read-only: no flag changes), with each message's flags, by UID. */
async function imapView(user: string): Promise<{ uid: number; source: Buffer; flags: Set<string> }[]> {
  return imapSession(user, async (client) => {
    const box = await client.mailboxOpen('INBOX', { readOnly: true });
    if (box.exists === 0) return [];
    const out: { uid: number; source: Buffer; flags: Set<string> }[] = [];
    for await (const m of client.fetch('1:*', { uid: true, source: true, flags: true })) out.push({ uid: m.uid, source: m.source!, flags: m.flags ?? new Set() });
    return out.sort((a, b) => a.uid - b.uid);
  });
}

/**
 * What the server hands out over POP3: a raw session over implicit TLS, RETR of every message
 * (no DELE), the multi-line answer read up to the "." line and un-stuffed (RFC 1939 §3: a line
 * beginning with "." had one "." prepended; the CRLF before the "." line ends the last line).
 */
async function pop3View(user: string): Promise<Buffer[]> {
  const socket = tls.connect({ host: dc.host, port: dc.ports.pop3s, ca: dc.ca, servername: 'localhost' });
  let rx = Buffer.alloc(0);
  let waiting: { done(buf: Buffer): number; resolve(b: Buffer): void; reject(e: Error): void } | null = null;
  const check = () => {
    if (!waiting) return;
    const end = waiting.done(rx);
    if (end < 0) return;
    const answer = rx.subarray(0, end);
    rx = rx.subarray(end);
    const w = waiting;
    waiting = null;
    w.resolve(answer);
  };
  socket.on('data', (d: Buffer) => {
    rx = Buffer.concat([rx, d]);
    check();
  });
  const fail = (e: Error) => waiting?.reject(e);
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('POP3 server closed the connection')));
  const lineEnd = (b: Buffer) => (b.indexOf(CRLF) < 0 ? -1 : b.indexOf(CRLF) + 2);
  const read = (done: (b: Buffer) => number) =>
    new Promise<Buffer>((resolve, reject) => {
      waiting = { done, resolve, reject };
      check();
    });
  const single = async (cmd: string | null) => {
    if (cmd !== null) socket.write(`${cmd}\r\n`);
    const line = (await read(lineEnd)).toString('latin1');
    if (!line.startsWith('+OK')) throw new Error(`POP3 ${cmd ?? 'greeting'}: ${line}`);
    return line;
  };
  try {
    await single(null);
    await single(`USER ${user}`);
    await single(`PASS ${pw(user)}`);
    const count = Number(/^\+OK (\d+)/.exec(await single('STAT'))![1]);
    const out: Buffer[] = [];
    for (let n = 1; n <= count; n++) {
      await single(`RETR ${n}`);
      const TERM = Buffer.from('\r\n.\r\n');
      // the body up to and including the "." line; a message of no bytes would be ".\r\n" alone (not used here)
      const body = await read((b) => (b.indexOf(TERM) < 0 ? -1 : b.indexOf(TERM) + TERM.length));
      const lines: Buffer[] = [];
      let pos = 0;
      const content = body.subarray(0, body.length - 3); // without ".\r\n"
      while (pos < content.length) {
        let end = content.indexOf(CRLF, pos);
        end = end < 0 ? content.length : end + 2;
        const line = content.subarray(pos, end);
        lines.push(line[0] === 0x2e ? line.subarray(1) : line);
        pos = end;
      }
      out.push(Buffer.concat(lines));
    }
    await single('QUIT');
    return out;
  } finally {
    socket.destroy();
  }
}

async function storedRaw(ctx: AppContext, id: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of (await rawMessage(ctx.db, id)).chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** Each case is stored once, from the bytes the server handed out, with the fields worked out above. */
async function checkStored(ctx: AppContext, protocol: Protocol, served: Buffer[]): Promise<void> {
  const rows = await listMessages(ctx.db, { limit: 1000, offset: 0 });
  assert.equal(rows.length, CASES.length, 'one stored message per message on the server');
  for (const [i, c] of CASES.entries()) {
    const found = rows.filter((r) => r.sha256 === sha256(served[i]!));
    assert.equal(found.length, 1, `${c.name}: stored once, as the bytes the server handed out`);
    const m = await showMessage(ctx.db, found[0]!.id);
    assert.ok((await storedRaw(ctx, m.id)).equals(served[i]!), `${c.name}: raw stored byte for byte`);
    assert.equal(m.parseError, null, `${c.name}: readable`);
    assert.equal(m.subject, subjectBy(c, protocol), `${c.name}: subject`);
    assert.equal(m.senderAddress, c.sender, `${c.name}: sender`);
    if (c.senderName !== undefined) assert.equal(m.senderName, c.senderName, `${c.name}: display name`);
    assert.equal(m.incomplete, c.incomplete, `${c.name}: incomplete (issues: ${JSON.stringify(m.parseIssues)})`);
    const codes = m.parseIssues.map((x) => x.code as string);
    for (const code of issuesBy(c, protocol)) assert.ok(codes.includes(code), `${c.name}: issue ${code} in ${JSON.stringify(codes)}`);
    if (c.text) assert.match(m.text ?? '', c.text, `${c.name}: text`);
    for (const field of [m.subject, m.senderName, m.messageIdHeader, m.text, m.html]) assert.ok(!field?.includes('\u0000'), `${c.name}: no NUL stored`);
    assert.deepEqual(
      m.receipts.map((r) => [r.sourceKind, r.duplicate]),
      [[protocol, false]],
      `${c.name}: one receipt, from ${protocol}`,
    );
  }
}

describe(`hostile mail through the mailbox pollers against Dovecot (${driver})`, () => {
  test('IMAP, after-import seen: each message stored once as served, fields as expected, \\Seen set; a second poll changes nothing', () =>
    withCtx(async (ctx) => {
      const user = 'imapseen';
      for (const c of CASES) await dc.deliver(user, c.bytes);

      // precondition: what Dovecot hands out (UIDs follow delivery order)
      const view = await imapView(user);
      assert.equal(view.length, CASES.length);
      for (const [i, c] of CASES.entries()) {
        assert.ok(view[i]!.source.equals(servedBy(c, 'imap')), `${c.name}: Dovecot serves over IMAP ${JSON.stringify(view[i]!.source.toString('latin1'))}`);
        assert.ok(!view[i]!.flags.has('\\Seen'), `${c.name}: new mail, not \\Seen before the poll`);
      }
      const served = view.map((v) => v.source);

      const settings: MailboxSettings = imapSettings({ port: dc.ports.imaps, user, password: pw(user), security: 'tls', ca: dc.ca, afterImport: 'seen' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: CASES.length });
      assert.deepEqual(await counts(ctx), { messages: CASES.length, tasks: CASES.length, failures: 0 });
      assert.deepEqual(await storedHashes(ctx), served.map(sha256).sort());
      await checkStored(ctx, 'imap', served);
      assert.deepEqual(await listFailures(ctx.db, settings.account), [], 'no message left as failed');

      // the after-import action, seen by the server (flags over IMAP) and on its disk (Maildir S flag)
      const afterPoll = await imapView(user);
      assert.deepEqual(
        afterPoll.map((v) => [v.uid, v.flags.has('\\Seen')]),
        view.map((v) => [v.uid, true]),
      );
      const files = await dc.messageFiles(user);
      assert.equal(files.length, CASES.length);
      for (const f of files) assert.match(f, SEEN, `${f} carries the S flag`);

      // second poll: nothing read, nothing stored, nothing left behind
      const c = countingIngest(ctx);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 0, 'nothing handed to ingest again');
      assert.deepEqual(await counts(ctx), { messages: CASES.length, tasks: CASES.length, failures: 0 });
      assert.deepEqual(await listFailures(ctx.db, settings.account), []);
      assert.deepEqual(
        (await imapView(user)).filter((v) => !v.flags.has('\\Seen')).map((v) => v.uid),
        [],
        'no unseen message on the server',
      );
    }));

  test('POP3, after-import delete: each message stored once as served, fields as expected, the mailbox empty; a second poll changes nothing', () =>
    withCtx(async (ctx) => {
      const user = 'pop3del';
      for (const c of CASES) await dc.deliver(user, c.bytes);

      // precondition: what Dovecot hands out (message numbers follow delivery order)
      const served = await pop3View(user);
      assert.equal(served.length, CASES.length);
      for (const [i, c] of CASES.entries()) {
        assert.ok(served[i]!.equals(servedBy(c, 'pop3')), `${c.name}: Dovecot serves over POP3 ${JSON.stringify(served[i]!.toString('latin1'))}`);
      }
      assert.equal((await dc.messageFiles(user)).length, CASES.length, 'the independent RETRs left the messages');

      const settings: MailboxSettings = {
        channel: 'scanner',
        protocol: 'pop3',
        host: dc.host,
        port: dc.ports.pop3s,
        security: 'tls',
        username: user,
        password: pw(user),
        folder: 'INBOX',
        afterImport: 'delete',
        ca: dc.ca,
        tlsLegacy: false,
        importSince: null,
        account: `pop3://${user}@${dc.host}:${dc.ports.pop3s}`,
      };
      assert.deepEqual(await pop3Adapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: CASES.length });
      assert.deepEqual(await counts(ctx), { messages: CASES.length, tasks: CASES.length, failures: 0 });
      assert.deepEqual(await storedHashes(ctx), served.map(sha256).sort());
      await checkStored(ctx, 'pop3', served);
      assert.deepEqual(await listFailures(ctx.db, settings.account), [], 'no message left as failed');
      assert.deepEqual(await dc.messageFiles(user), [], 'DELE + QUIT removed every message');
      assert.deepEqual(await pop3View(user), [], 'the server lists no message');

      const c = countingIngest(ctx);
      assert.deepEqual(await pop3Adapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 0, 'nothing handed to ingest again');
      assert.deepEqual(await counts(ctx), { messages: CASES.length, tasks: CASES.length, failures: 0 });
      assert.deepEqual(await listFailures(ctx.db, settings.account), []);
      assert.deepEqual(await dc.messageFiles(user), []);
    }));
});
