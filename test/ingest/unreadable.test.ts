/**
 * Nothing is lost: input that is not a message is stored raw and flagged, never routed; auto-complete;
 * attachments declared application/octet-stream get their type from their bytes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppContext } from '../../src/context.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import type { Channel } from '../../src/db/schema.js';
import { rawFromBuffer, rawFromFile } from '../../src/ingest/raw.js';
import type { Source } from '../../src/ingest/source.js';
import { rawMessage, showMessage } from '../../src/services/messages.js';
import { setAutoComplete } from '../../src/services/settings.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { listTasks } from '../../src/services/tasks.js';
import { testContext } from '../helpers/env.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const fixture = (name: string) => path.join(FIXTURES, name);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const src = (...channels: Channel[]): Source => ({ kind: 'file', channels, path: 'unreadable.test' });

async function storedRaw(ctx: AppContext, id: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of (await rawMessage(ctx.db, id)).chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** The task rows of one message. */
async function tasksOf(ctx: AppContext, messageId: number) {
  return (await listTasks(ctx.db, { limit: 1000 })).filter((t) => t.messageId === messageId);
}

/** Jürgen (external sender) → Anna (login aberger); returns Anna's staff id. */
async function mapJuergenToAnna(ctx: AppContext): Promise<number> {
  await addStaff(ctx.db, { name: 'Weiß, Jürgen', email: 'juergen.weiss@agency.example', external: true });
  const anna = await addStaff(ctx.db, { name: 'Berger, Anna', email: 'anna.berger@agency.example', login: 'aberger' });
  await addMapping(ctx.db, 'juergen.weiss@agency.example', 'aberger');
  return anna.id;
}

/** The bytes of a (tiny) PDF file with a binary comment line, as a scanner might hand it over raw. */
const PDF_BYTES = Buffer.concat([
  Buffer.from('%PDF-1.4\n'),
  Buffer.from([0x25, 0xe2, 0xe3, 0xcf, 0xd3, 0x0a]),
  Buffer.from('1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'),
  Buffer.from('% From: juergen.weiss@agency.example\n'),
  Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x0d, 0x0a]),
  Buffer.from('trailer\n<< /Root 1 0 R >>\n%%EOF\n'),
]);

/** Text that carries a matching From line, but does not begin with a header field (RFC 5322 §2.1). */
const NOT_A_HEADER = Buffer.from(
  [
    'Dies ist kein Header, sondern Text',
    'From: juergen.weiss@agency.example',
    'Subject: sieht aus wie eine Mail',
    '',
    'Inhalt',
    '',
  ].join('\r\n'),
);

describe('unreadable input is stored raw and flagged', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
    await mapJuergenToAnna(ctx);
  });
  after(async () => {
    await close();
  });

  for (const [name, bytes] of [
    ['a PDF file’s bytes', PDF_BYTES],
    ['text not beginning with a header field (matching From inside)', NOT_A_HEADER],
  ] as const) {
    test(name, async () => {
      const r = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
      assert.equal(r.duplicate, false);
      assert.equal(typeof r.parseError, 'string');
      assert.ok(r.parseError!.length > 0);
      assert.equal(r.tasks.length, 1);
      // a mapping for juergen.weiss exists, but an unreadable message is never routed
      assert.equal(r.tasks[0]!.status, 'unassigned');
      assert.deepEqual(r.tasks[0]!.candidates, []);

      const m = await showMessage(ctx.db, r.messageId);
      assert.equal(m.parseError, r.parseError);
      assert.equal(m.senderAddress, null);
      assert.equal(m.subject, null);
      assert.equal(m.size, bytes.length);
      assert.equal(m.sha256, sha256(bytes));
      assert.equal(m.dateFromHeader, false);
      assert.deepEqual(m.attachments, []);
      const back = await storedRaw(ctx, r.messageId);
      assert.ok(back.equals(bytes), 'stored byte for byte');

      const [t, ...rest] = await tasksOf(ctx, r.messageId);
      assert.equal(rest.length, 0);
      assert.equal(t!.status, 'unassigned');
      assert.equal(t!.unreadable, true);
      assert.deepEqual(t!.candidates, []);
    });
  }

  test('the same unreadable bytes twice: one message (keyed by the bytes)', async () => {
    const bytes = Buffer.concat([PDF_BYTES, Buffer.from('% zweite Kopie\n')]);
    const r1 = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
    const r2 = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
    assert.equal(r2.duplicate, true);
    assert.equal(r2.messageId, r1.messageId);
    assert.equal(r2.tasks[0]!.id, r1.tasks[0]!.id);
    assert.notEqual(r2.parseError, null, 'a redelivery is not reported as readable either');
    // and a different unreadable input is another message
    const r3 = await ctx.ingest(rawFromBuffer(Buffer.concat([bytes, Buffer.from('x')])), src('scanner'));
    assert.notEqual(r3.messageId, r1.messageId);
  });

  test('empty input is stored (0 bytes) and flagged', async () => {
    const r = await ctx.ingest(rawFromBuffer(Buffer.alloc(0)), src('general'));
    assert.notEqual(r.parseError, null);
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.size, 0);
    assert.equal(m.sha256, sha256(Buffer.alloc(0)));
    assert.equal((await storedRaw(ctx, r.messageId)).length, 0);
    const [t] = await tasksOf(ctx, r.messageId);
    assert.equal(t!.unreadable, true);
    assert.equal(t!.status, 'unassigned');
  });
});

describe('auto-complete ("E-Mails automatisch abschließen")', () => {
  test('on: a mapped task is created completed; an unmapped one stays unassigned; an unreadable one too', async () => {
    const { ctx, close } = await testContext();
    try {
      const annaId = await mapJuergenToAnna(ctx);
      await setAutoComplete(ctx.db, 'scanner', true);

      const t0 = Date.now();
      const mapped = await ctx.ingest(await rawFromFile(fixture('latin1-split-encoded-word.eml')), src('scanner'));
      const t1 = Date.now();
      assert.equal(mapped.tasks[0]!.status, 'completed');
      assert.deepEqual(mapped.tasks[0]!.candidates, [annaId]);
      const [mt] = await tasksOf(ctx, mapped.messageId);
      assert.equal(mt!.status, 'completed');
      assert.ok(mt!.completedAt, 'completedAt set');
      assert.ok(mt!.completedAt.getTime() >= t0 && mt!.completedAt.getTime() <= t1);

      const unmapped = await ctx.ingest(await rawFromFile(fixture('scanner-basic.eml')), src('scanner'));
      assert.equal(unmapped.tasks[0]!.status, 'unassigned');
      const [ut] = await tasksOf(ctx, unmapped.messageId);
      assert.equal(ut!.status, 'unassigned');
      assert.equal(ut!.completedAt, null);

      const unreadable = await ctx.ingest(rawFromBuffer(NOT_A_HEADER), src('scanner'));
      assert.equal(unreadable.tasks[0]!.status, 'unassigned');
      assert.equal((await tasksOf(ctx, unreadable.messageId))[0]!.unreadable, true);
    } finally {
      await close();
    }
  });

  test('per channel: on for scanner only, a mapped message on both channels is completed on scanner, open on general', async () => {
    const { ctx, close } = await testContext();
    try {
      await mapJuergenToAnna(ctx);
      await setAutoComplete(ctx.db, 'scanner', true);
      const r = await ctx.ingest(await rawFromFile(fixture('latin1-split-encoded-word.eml')), src('scanner', 'general'));
      const status = Object.fromEntries(r.tasks.map((t) => [t.channel, t.status]));
      assert.deepEqual(status, { scanner: 'completed', general: 'open' });
    } finally {
      await close();
    }
  });

  test('off (default): a mapped task is open, completedAt null', async () => {
    const { ctx, close } = await testContext();
    try {
      await mapJuergenToAnna(ctx);
      const r = await ctx.ingest(await rawFromFile(fixture('latin1-split-encoded-word.eml')), src('scanner'));
      assert.equal(r.tasks[0]!.status, 'open');
      assert.equal((await tasksOf(ctx, r.messageId))[0]!.completedAt, null);
    } finally {
      await close();
    }
  });
});

/** CRC-32 as PNG uses it (ISO 3309, polynomial 0xEDB88320), for a valid IHDR chunk. */
function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** PNG signature + IHDR (1×1, 8-bit RGB) + IEND, per the PNG specification. */
function minimalPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0); // width
  ihdr.writeUInt32BE(1, 4); // height
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IEND', Buffer.alloc(0))]);
}

function withPart(part: { headers: string[]; content: Buffer }, id: string): Buffer {
  const b64 = part.content.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      'From: "MFP EG" <scanner-eg@agency.example>',
      'To: scan@agency.example',
      'Subject: Anhang',
      'Date: Tue, 09 Mar 2021 08:00:00 +0100',
      `Message-ID: <${id}@mfp-eg.agency.example>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="p"',
      '',
      '--p',
      ...part.headers,
      'Content-Transfer-Encoding: base64',
      '',
      b64,
      '--p--',
      '',
    ].join('\r\n'),
  );
}

describe('application/octet-stream attachments are typed by their bytes', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
  });
  after(async () => {
    await close();
  });

  test('gen fixture: PDF bytes named "scan" (no extension) → application/pdf', async () => {
    // the PDF the fixture carries (the generator wrote this text base64-encoded)
    const pdf = Buffer.from(
      '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
    );
    const file = fixture('gen-octet-stream-pdf-no-extension.eml');
    const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['scanner'], path: file });
    assert.equal(r.parseError, null);
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.attachments.length, 1);
    const a = m.attachments[0]!;
    assert.equal(a.filename, 'scan');
    assert.equal(a.declaredContentType, 'application/octet-stream');
    assert.equal(a.contentType, 'application/pdf');
    assert.equal(a.size, pdf.length);
    assert.equal(a.sha256, sha256(pdf));
    assert.ok((await readBlobBuffer(ctx.db, a.sha256))?.equals(pdf));
    assert.ok((await storedRaw(ctx, r.messageId)).equals(readFileSync(file)));
  });

  test('a PNG declared application/octet-stream → image/png', async () => {
    const png = minimalPng();
    const bytes = withPart(
      { headers: ['Content-Type: application/octet-stream; name="bild"', 'Content-Disposition: attachment; filename="bild"'], content: png },
      'png-1',
    );
    const r = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
    const [a] = (await showMessage(ctx.db, r.messageId)).attachments;
    assert.ok(a);
    assert.equal(a.filename, 'bild');
    assert.equal(a.declaredContentType, 'application/octet-stream');
    assert.equal(a.contentType, 'image/png');
    assert.equal(a.size, png.length);
    assert.equal(a.sha256, sha256(png));
  });

  test('PDF bytes without any file name → application/pdf, fallback name attachment-1.pdf', async () => {
    const pdf = Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\ntrailer\n<< >>\n%%EOF\n', 'latin1');
    const bytes = withPart({ headers: ['Content-Type: application/octet-stream', 'Content-Disposition: attachment'], content: pdf }, 'noname-1');
    const r = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
    const [a] = (await showMessage(ctx.db, r.messageId)).attachments;
    assert.ok(a);
    assert.equal(a.contentType, 'application/pdf');
    assert.equal(a.filename, 'attachment-1.pdf');
    assert.equal(a.sha256, sha256(pdf));
  });

  test('bytes of no known type declared application/octet-stream stay application/octet-stream', async () => {
    const data = Buffer.from('Kein bekanntes Format, nur Text.\n');
    const bytes = withPart(
      { headers: ['Content-Type: application/octet-stream; name="daten"', 'Content-Disposition: attachment; filename="daten"'], content: data },
      'unknown-1',
    );
    const r = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
    const [a] = (await showMessage(ctx.db, r.messageId)).attachments;
    assert.ok(a);
    assert.equal(a.contentType, 'application/octet-stream');
    assert.equal(a.declaredContentType, 'application/octet-stream');
    assert.equal(a.sha256, sha256(data));
  });

  test('a declared specific type is kept even when the bytes say otherwise', async () => {
    const png = minimalPng();
    const bytes = withPart(
      { headers: ['Content-Type: application/pdf; name="x.pdf"', 'Content-Disposition: attachment; filename="x.pdf"'], content: png },
      'declared-1',
    );
    const r = await ctx.ingest(rawFromBuffer(bytes), src('scanner'));
    const [a] = (await showMessage(ctx.db, r.messageId)).attachments;
    assert.ok(a);
    assert.equal(a.contentType, 'application/pdf');
    assert.equal(a.declaredContentType, 'application/pdf');
  });
});
