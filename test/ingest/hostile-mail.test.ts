/**
 * Issue 12: every message stored, none merged. One input per kind of real-world fault, each
 * built here byte for byte, ingested through `ingest` and sent over SMTP (a raw socket, so the
 * bytes arrive as they are): one stored message per input, the raw bytes unchanged (SHA-256 of
 * the input), `250` over SMTP, the decoded subject and sender worked out by hand, the flag where
 * the parsed copy lost something.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AppContext } from '../../src/context.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import type { Source } from '../../src/ingest/source.js';
import { listMessages, rawMessage, showMessage } from '../../src/services/messages.js';
import { listTasks } from '../../src/services/tasks.js';
import { testContext, testGateway } from '../helpers/env.js';
import { uuencode } from '../helpers/uuencode.js';
import { rawTransaction, setupOffice, TAUOFFICE } from '../inbound/lib.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const src: Source = { kind: 'file', channels: ['general'], path: 'hostile-mail.test' };
const crlf = (lines: (string | Buffer)[]) => Buffer.concat(lines.map((l) => Buffer.concat([Buffer.isBuffer(l) ? l : Buffer.from(l, 'utf8'), Buffer.from('\r\n')])));
const latin1 = (s: string) => Buffer.from(s, 'latin1');

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
const TNEF = readFileSync(new URL('../fixtures/containers/winmail.dat', import.meta.url));
// what Debian's tnef 1.4.18 extracted from that file (test/unit/containers.test.ts)
const TNEF_PDF_SHA256 = '6ed7f3aebfaf2ee3913347e0844980ccf8101f72be9f2e7858922276768012da';
const TNEF_OVERVIEW_SHA256 = 'd215bd86c2b0f882d072107099fb47ee13e030d13ebdbb2f09e9b6af89b270da';
const TNEF_NOTES_SHA256 = 'ed8f7d8cecd885a87c6863926af2f61e2ba33581fd623d5fed8ae0a3f17acafb';

interface Case {
  name: string;
  bytes: Buffer;
  subject: string | null;
  sender: string | null;
  senderName?: string | null;
  /** the parsed copy lost something: message.incomplete */
  incomplete: boolean;
  /** issue codes that must be present */
  issues?: string[];
  text?: RegExp;
  attachments?: { filename: string; contentType: string; sha256?: string }[];
}

const CASES: Case[] = [
  {
    name: 'NUL from a quoted-printable =00 in the text (Office 365 bounce) and raw NULs in Subject and Message-ID',
    bytes: crlf([
      'From: Mail Delivery System <MAILER-DAEMON@outlook.example>',
      'To: tauoffice@agency.example',
      latin1('Subject: Unzustellbar\u0000: Antrag'),
      latin1('Message-ID: <bounce\u00001@outlook.example>'),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Die Nachricht konnte nicht zugestellt werden.=00 Diagnose: 550',
    ]),
    subject: 'Unzustellbar: Antrag',
    sender: 'mailer-daemon@outlook.example',
    incomplete: true,
    issues: ['text-characters-removed'],
    text: /werden\. Diagnose: 550/,
  },
  {
    name: 'NUL in an HTML part and in a display name',
    bytes: crlf([
      latin1('From: "Anna\u0000 Berger" <anna.berger@agency.example>'),
      'To: tauoffice@agency.example',
      'Subject: HTML mit NUL',
      'MIME-Version: 1.0',
      'Content-Type: text/html; charset=utf-8',
      '',
      latin1('<p>Guten\u0000 Tag</p>'),
    ]),
    subject: 'HTML mit NUL',
    sender: 'anna.berger@agency.example',
    incomplete: true,
    issues: ['text-characters-removed'],
  },
  {
    name: 'bare CR line endings (old Mac mail)',
    bytes: latin1('From: Jürgen <juergen.weiss@agency.example>\rTo: tauoffice@agency.example\rSubject: Nur CR\r\rZeile eins\rZeile zwei\r'.replace('ü', '\u00fc')),
    subject: 'Nur CR',
    sender: 'juergen.weiss@agency.example',
    senderName: 'Jürgen',
    incomplete: false,
    issues: ['cr-line-ends', 'header-charset-fallback'],
    text: /^Zeile eins\nZeile zwei/,
  },
  {
    name: 'another message with bare CR line endings is another message',
    bytes: latin1('From: susi.weiss@agency.example\rSubject: Auch nur CR\r\rAnderer Text\r'),
    subject: 'Auch nur CR',
    sender: 'susi.weiss@agency.example',
    incomplete: false,
    issues: ['cr-line-ends'],
    text: /Anderer Text/,
  },
  {
    name: 'multipart whose boundary never appears (a real bounce)',
    bytes: crlf([
      'From: postmaster@relay.example',
      'To: tauoffice@agency.example',
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
    name: 'multipart whose closing delimiter is missing: its parts are kept',
    bytes: crlf([
      'From: scanner-eg@agency.example',
      'Subject: Scan ohne Ende',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Scan vom Erdgeschoss',
      '--b1',
      'Content-Type: application/pdf; name="scan.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      PDF.toString('base64'),
    ]),
    subject: 'Scan ohne Ende',
    sender: 'scanner-eg@agency.example',
    incomplete: true,
    issues: ['multipart-unclosed'],
    text: /Scan vom Erdgeschoss/,
    attachments: [{ filename: 'scan.pdf', contentType: 'application/pdf', sha256: sha256(PDF) }],
  },
  {
    name: 'multipart/digest parts without Content-Type are attached messages (RFC 2046 §5.1.5)',
    bytes: crlf([
      'From: liste@verband.example',
      'Subject: Digest Nr. 7',
      'MIME-Version: 1.0',
      'Content-Type: multipart/digest; boundary="d"',
      '',
      '--d',
      '',
      'From: a@verband.example',
      'Subject: Erster Beitrag',
      '',
      'Text eins',
      '--d',
      '',
      'From: b@verband.example',
      'Subject: Zweiter Beitrag',
      '',
      'Text zwei',
      '--d--',
    ]),
    subject: 'Digest Nr. 7',
    sender: 'liste@verband.example',
    incomplete: false,
    issues: ['digest-part-typed'],
    attachments: [
      { filename: 'attachment-1.eml', contentType: 'message/rfc822', sha256: sha256(crlf(['From: a@verband.example', 'Subject: Erster Beitrag', '', 'Text eins']).subarray(0, -2)) },
      { filename: 'attachment-2.eml', contentType: 'message/rfc822', sha256: sha256(crlf(['From: b@verband.example', 'Subject: Zweiter Beitrag', '', 'Text zwei']).subarray(0, -2)) },
    ],
  },
  {
    name: 'x-uuencode part: decoded, labelled by what it is',
    bytes: crlf([
      'From: altgeraet@agency.example',
      'Subject: Altes Faxgerät'.replace('ä', 'ae'),
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="u"',
      '',
      '--u',
      'Content-Type: text/plain',
      '',
      'Fax anbei',
      '--u',
      'Content-Type: application/octet-stream; name="fax.pdf"',
      'Content-Transfer-Encoding: x-uuencode',
      '',
      uuencode(PDF, 'fax.pdf', '\r\n').toString('utf8').replace(/\r\n$/, ''),
      '--u--',
    ]),
    subject: 'Altes Faxgeraet',
    sender: 'altgeraet@agency.example',
    incomplete: false,
    issues: ['uuencode-decoded'],
    attachments: [{ filename: 'fax.pdf', contentType: 'application/pdf', sha256: sha256(PDF) }],
  },
  {
    name: 'x-uuencode part that is not uuencoded: never labelled as what it claims',
    bytes: crlf([
      'From: altgeraet@agency.example',
      'Subject: Kaputt',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="u"',
      '',
      '--u',
      'Content-Type: image/png; name="bild.png"',
      'Content-Transfer-Encoding: x-uuencode',
      '',
      'kein uuencode hier',
      '--u--',
    ]),
    subject: 'Kaputt',
    sender: 'altgeraet@agency.example',
    incomplete: true,
    issues: ['uuencode-invalid'],
    attachments: [{ filename: 'bild.png', contentType: 'application/octet-stream' }],
  },
  {
    name: 'obsolete syntax: white space before the colon (RFC 5322 §4.5), also in From',
    bytes: crlf(['From : Amt <amt@agency.example>', 'Subject : Alte Syntax', 'To: tauoffice@agency.example', '', 'Text']),
    subject: 'Alte Syntax',
    sender: 'amt@agency.example',
    incomplete: false,
  },
  {
    name: 'a leading blank line before the header',
    bytes: Buffer.concat([Buffer.from('\r\n'), crlf(['From: anna.berger@agency.example', 'Subject: Leerzeile davor', '', 'Text'])]),
    subject: 'Leerzeile davor',
    sender: 'anna.berger@agency.example',
    incomplete: false,
    issues: ['leading-blank-lines'],
  },
  {
    name: 'a UTF-8 byte order mark before the header',
    bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), crlf(['From: anna.berger@agency.example', 'Subject: Mit BOM', '', 'Text'])]),
    subject: 'Mit BOM',
    sender: 'anna.berger@agency.example',
    incomplete: false,
    issues: ['bom-skipped'],
  },
  {
    name: 'raw Latin-1 bytes in Subject and display name, and inside a Q encoded-word',
    bytes: crlf([
      latin1('From: J\u00fcrgen Wei\u00df <juergen.weiss@agency.example>'),
      latin1('Subject: Fr\u00f6sche und =?iso-8859-1?Q?Kr=F6ten_und_Fr\u00f6sche?='),
      '',
      'Text',
    ]),
    subject: 'Frösche und Kröten und Frösche',
    sender: 'juergen.weiss@agency.example',
    senderName: 'Jürgen Weiß',
    incomplete: false,
    issues: ['header-charset-fallback'],
  },
  {
    name: 'Windows-1252 bytes outside Latin-1 (€ is 0x80) in a raw header',
    bytes: crlf([latin1('From: kasse@agency.example'), latin1('Subject: 50 \u0080 Geb\u00fchr'), '', 'Text']),
    subject: '50 € Gebühr',
    sender: 'kasse@agency.example',
    incomplete: false,
    issues: ['header-charset-fallback'],
  },
  {
    name: 'UTF-7 encoded-word subject (RFC 2152)',
    // "Grüße" in UTF-7: ü = U+00FC → +APw-, ß = U+00DF → +AN8-
    bytes: crlf(['From: alt@client.example', 'Subject: =?utf-7?Q?Gr+APwA3w-e?=', '', 'Text']),
    subject: 'Grüße',
    sender: 'alt@client.example',
    incomplete: false,
    issues: ['utf7-decoded'],
  },
  {
    name: 'Outlook winmail.dat (TNEF): the files inside become attachments, the original stays',
    bytes: crlf([
      'From: "Berger, Anna" <anna.berger@agency.example>',
      'Subject: Unterlagen',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="t"',
      '',
      '--t',
      'Content-Type: text/plain',
      '',
      'Anbei.',
      '--t',
      'Content-Type: application/ms-tnef; name="winmail.dat"',
      'Content-Disposition: attachment; filename="winmail.dat"',
      'Content-Transfer-Encoding: base64',
      '',
      TNEF.toString('base64').replace(/.{76}/g, '$&\r\n'),
      '--t--',
    ]),
    subject: 'Unterlagen',
    sender: 'anna.berger@agency.example',
    senderName: 'Berger, Anna',
    incomplete: false,
    issues: ['tnef-unpacked'],
    attachments: [
      { filename: 'winmail.dat', contentType: 'application/ms-tnef', sha256: sha256(TNEF) },
      { filename: 'Bescheid Müller.pdf', contentType: 'application/pdf', sha256: TNEF_PDF_SHA256 },
      { filename: 'Übersicht 2024.txt', contentType: 'application/octet-stream', sha256: TNEF_OVERVIEW_SHA256 },
      { filename: 'notes.txt', contentType: 'application/octet-stream', sha256: TNEF_NOTES_SHA256 },
    ],
  },
  {
    name: 'CR CR LF after the header (a doubled line-end conversion): the body is kept',
    bytes: Buffer.from('From: mix@x.example\r\nSubject: Doppelt gewandelt\r\r\nZeile eins\r\nZeile zwei\r\n'),
    subject: 'Doppelt gewandelt',
    sender: 'mix@x.example',
    incomplete: false,
    text: /^Zeile eins\nZeile zwei/,
  },
  {
    name: 'an address written inside an encoded-word of the display name never becomes the sender',
    // RFC 2047 §5: an encoded-word is a word of the phrase; the angle-addr after it is the address
    bytes: crlf(['From: =?utf-8?Q?MFP_<scanner-2og@agency.example>?= <attacker@evil.example>', 'Subject: Scan', '', 'Text']),
    subject: 'Scan',
    sender: 'attacker@evil.example',
    senderName: null,
    incomplete: false,
    issues: ['sender-name-holds-address'],
  },
  {
    name: 'a Date with a five-digit year (a typo: 20260): the time of receipt instead of a database refusal',
    bytes: crlf(['From: tippfehler@agency.example', 'Subject: Jahr 20260', 'Date: Mon, 7 Dec 20260 10:00:00 +0100', '', 'Text']),
    subject: 'Jahr 20260',
    sender: 'tippfehler@agency.example',
    incomplete: false,
    issues: ['date-out-of-range'],
  },
];

/**
 * More MIME parts than mailparser allows (its limit is 1,000 nodes), attachments among them, and
 * a large part after them: the parse fails while attachment streams are open. It used to wait on
 * them for ever (no SMTP answer, `ingest` hung); now the message is stored with what its header
 * says (sender, subject, routing), flagged.
 */
function tooManyParts(): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < 1500; i++) parts.push(`--b\r\nContent-Type: application/octet-stream; name="p${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(`p${i}`).toString('base64')}\r\n`);
  parts.push(`--b\r\nContent-Type: text/plain\r\n\r\n${'y'.repeat(998)}\r\n`.repeat(1) + `${'z'.repeat(998)}\r\n`.repeat(300) + '--b--\r\n');
  return Buffer.from(`From: viele@agency.example\r\nSubject: 1500 Teile\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts.join('')}`);
}

async function storedRaw(ctx: AppContext, id: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of (await rawMessage(ctx.db, id)).chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** Checks one stored message against its case; `received` are the bytes as they arrived (default: the case's). */
async function check(ctx: AppContext, messageId: number, c: Case, received = c.bytes) {
  const m = await showMessage(ctx.db, messageId);
  assert.equal(m.parseError, null, `${c.name}: readable`);
  assert.equal(m.sha256, sha256(received), `${c.name}: raw bytes as received`);
  assert.ok((await storedRaw(ctx, messageId)).equals(received), `${c.name}: raw stored byte for byte`);
  assert.equal(m.subject, c.subject, `${c.name}: subject`);
  assert.equal(m.senderAddress, c.sender, `${c.name}: sender`);
  if (c.senderName !== undefined) assert.equal(m.senderName, c.senderName, `${c.name}: display name`);
  assert.equal(m.incomplete, c.incomplete, `${c.name}: incomplete flag (issues: ${JSON.stringify(m.parseIssues)})`);
  const codes = m.parseIssues.map((i) => i.code);
  for (const code of c.issues ?? []) assert.ok(codes.includes(code as never), `${c.name}: issue ${code} in ${JSON.stringify(codes)}`);
  if (c.text) assert.match(m.text ?? '', c.text, `${c.name}: text`);
  for (const field of [m.subject, m.senderName, m.messageIdHeader, m.text, m.html]) assert.ok(!field?.includes('\u0000'), `${c.name}: no NUL stored`);
  if (c.attachments) {
    assert.deepEqual(
      m.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, ...(c.attachments!.find((e) => e.filename === a.filename)?.sha256 ? { sha256: a.sha256 } : {}) })),
      c.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, ...(a.sha256 ? { sha256: a.sha256 } : {}) })),
      `${c.name}: attachments`,
    );
    for (const a of m.attachments) assert.equal(sha256((await readBlobBuffer(ctx.db, a.sha256)) ?? Buffer.alloc(0)), a.sha256, `${c.name}: ${a.filename} stored intact`);
  }
}

describe('hostile and broken mail through ingest', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
  });
  after(() => close());

  test('every input is one stored message with the expected fields; a second delivery stores nothing new', async () => {
    const ids = new Map<number, string>();
    for (const c of CASES) {
      const r = await ctx.ingest(rawFromBuffer(c.bytes), src);
      assert.equal(r.duplicate, false, `${c.name}: new (not merged with ${ids.get(r.messageId)})`);
      ids.set(r.messageId, c.name);
      await check(ctx, r.messageId, c);
    }
    for (const c of CASES) {
      const again = await ctx.ingest(rawFromBuffer(c.bytes), src);
      assert.equal(again.duplicate, true, `${c.name}: recognised again`);
      // a client that adds a final CRLF delivers the same message
      const plus = await ctx.ingest(rawFromBuffer(Buffer.concat([c.bytes, Buffer.from('\r\n')])), src);
      assert.equal(plus.messageId, again.messageId, `${c.name}: with a final CRLF added`);
    }
    assert.equal((await listMessages(ctx.db, { limit: 1000, offset: 0 })).length, CASES.length);
  });

  test('more MIME parts than the parser allows: never a hang; sender and subject from the header, flagged', async () => {
    const bytes = tooManyParts();
    const r = await ctx.ingest(rawFromBuffer(bytes), src);
    assert.equal(r.parseError, null);
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.sha256, sha256(bytes));
    assert.equal(m.senderAddress, 'viele@agency.example');
    assert.equal(m.subject, '1500 Teile');
    assert.equal(m.incomplete, true);
    assert.ok(m.parseIssues.some((i) => i.code === 'mime-structure-unreadable'), JSON.stringify(m.parseIssues));
    // the same bytes again: recognised (the key needed a read of its own)
    assert.equal((await ctx.ingest(rawFromBuffer(bytes), src)).messageId, r.messageId);
  });

  test('an unreadable input delivered twice, once with a final CRLF added, is one message', async () => {
    const junk = Buffer.from([0x25, 0x50, 0x44, 0x46, 0x0d, 0x0a, 0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x41]);
    const r1 = await ctx.ingest(rawFromBuffer(junk), src);
    const r2 = await ctx.ingest(rawFromBuffer(Buffer.concat([junk, Buffer.from('\r\n')])), src);
    assert.notEqual(r1.parseError, null);
    assert.equal(r2.duplicate, true);
    assert.equal(r2.messageId, r1.messageId);
  });

  test('two messages that differ only in an attachment file name, or only in a Content-ID, are not merged', async () => {
    const part = (name: string, cid: string) =>
      crlf([
        'From: scanner-2og@agency.example',
        'Subject: Scan',
        'MIME-Version: 1.0',
        `Content-Type: application/pdf; name="${name}"`,
        `Content-Disposition: attachment; filename="${name}"`,
        `Content-ID: <${cid}>`,
        'Content-Transfer-Encoding: base64',
        '',
        PDF.toString('base64'),
      ]);
    const a = await ctx.ingest(rawFromBuffer(part('scan-1.pdf', 'c1@mfp')), src);
    const b = await ctx.ingest(rawFromBuffer(part('scan-2.pdf', 'c1@mfp')), src);
    const c = await ctx.ingest(rawFromBuffer(part('scan-1.pdf', 'c2@mfp')), src);
    assert.equal(new Set([a.messageId, b.messageId, c.messageId]).size, 3);
    assert.deepEqual([a.duplicate, b.duplicate, c.duplicate], [false, false, false]);
  });
});

describe('hostile and broken mail over SMTP', () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  before(async () => {
    g = await testGateway();
    await setupOffice(g.gateway.ctx.db);
  });
  after(() => g.close());

  test('every input is answered 250 and stored once, raw bytes unchanged', async () => {
    const ctx = g.gateway.ctx;
    for (const c of CASES) {
      const before = (await listMessages(ctx.db, { limit: 1000, offset: 0 })).map((m) => m.id);
      const r = await rawTransaction(g.gateway.smtp.port, { from: 'sender@example.org', to: [TAUOFFICE], data: c.bytes });
      assert.equal(r.final?.code, 250, `${c.name}: ${r.final?.lines?.join(' ')}`);
      const after = await listMessages(ctx.db, { limit: 1000, offset: 0 });
      const fresh = after.filter((m) => !before.includes(m.id));
      assert.equal(fresh.length, 1, `${c.name}: one new message`);
      // SMTP carries lines (RFC 5321 §4.1.1.4): the CRLF before the final "." ends the message's last line
      const endsWithCrlf = c.bytes.subarray(-2).equals(Buffer.from('\r\n'));
      await check(ctx, fresh[0]!.id, c, endsWithCrlf ? c.bytes : Buffer.concat([c.bytes, Buffer.from('\r\n')]));
    }
  });

  test('a scanner address smuggled into the display name is not routed to the scanner\'s people', async () => {
    const bytes = CASES.find((c) => c.issues?.includes('sender-name-holds-address'))!.bytes;
    const r = await rawTransaction(g.gateway.smtp.port, { from: 'attacker@evil.example', to: [TAUOFFICE], data: bytes });
    assert.equal(r.final?.code, 250);
    const [m] = (await listMessages(g.gateway.ctx.db, { limit: 1000, offset: 0 })).filter((x) => x.sha256 === sha256(bytes));
    const tasks = (await listTasks(g.gateway.ctx.db, { limit: 1000 })).filter((t) => t.messageId === m!.id);
    // setupOffice maps scanner-2og@agency.example to Max Muster; the real sender has no mapping
    assert.deepEqual(tasks.map((t) => [t.status, t.candidates]), [['unassigned', []]]);
  });

  test('more MIME parts than the parser allows: 250, stored once', async () => {
    const bytes = tooManyParts();
    const r = await rawTransaction(g.gateway.smtp.port, { from: 'sender@example.org', to: [TAUOFFICE], data: bytes });
    assert.equal(r.final?.code, 250, r.final?.lines?.join(' '));
    const stored = (await listMessages(g.gateway.ctx.db, { limit: 1000, offset: 0 })).filter((m) => m.sha256 === sha256(bytes));
    assert.equal(stored.length, 1);
  });
});
