// One stored copy of a long body (issue 13): a message whose decoded text and HTML are together
// longer than BODY_STORED_MAX_CHARS keeps them only in its raw bytes (`body_from_raw`), and
// showMessage parses them from there — the same text as the sender wrote, without writing
// attachments anywhere. Short bodies stay in the row. Expected texts are the inputs themselves.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import iconv from 'iconv-lite';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { AppContext } from '../../src/context.js';
import { message } from '../../src/db/schema.js';
import { BODY_STORED_MAX_CHARS, type IngestResult } from '../../src/ingest/ingest.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { showMessage } from '../../src/services/messages.js';
import { testContext } from '../helpers/env.js';

/** `n` characters of German text, lines of 60, with umlauts and ß (non-ASCII in every line). */
function germanText(n: number, seed: string): string {
  const line = `${seed} Änderung des Bescheids über Grundsteuer, Straße Nr. `;
  let s = '';
  for (let i = 0; s.length < n; i++) s += `${line}${i}\n`;
  return s;
}

async function compose(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer({ from: 'buerger@example.org', to: 'eingang@agency.example', date: new Date('2026-12-07T10:00:00Z'), ...mail }).compile().build();
}

describe('bodies longer than BODY_STORED_MAX_CHARS are stored once (in the raw)', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
  });
  after(() => close());

  async function store(raw: Buffer): Promise<number> {
    const r = (await ctx.ingest(rawFromBuffer(raw), { kind: 'file', channels: ['general'], path: 'x.eml' })) as IngestResult;
    return r.messageId;
  }
  const row = async (id: number) => (await ctx.db.select({ text: message.text, html: message.html, bodyFromRaw: message.bodyFromRaw }).from(message).where(eq(message.id, id)))[0]!;

  test('a long Latin-1 quoted-printable text: not in the row, shown exactly as written; its attachment is listed and nothing is spooled', async () => {
    const text = germanText(BODY_STORED_MAX_CHARS + 8000, 'Lang');
    const raw = await compose({
      subject: 'Langer Text',
      // ISO-8859-1, so that the derived text really went through charset decoding
      alternatives: [{ contentType: 'text/plain; charset=iso-8859-1', content: iconv.encode(text, 'latin1'), contentTransferEncoding: 'quoted-printable' }],
      attachments: [{ filename: 'scan.pdf', content: Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n'), contentType: 'application/pdf' }],
    });
    const id = await store(raw);
    assert.deepEqual(await row(id), { text: null, html: null, bodyFromRaw: true });
    const spoolBefore = await readdir(ctx.spoolDir).catch(() => []);
    const shown = await showMessage(ctx.db, id);
    assert.equal(shown.text, text);
    assert.equal(shown.html, null);
    assert.deepEqual(shown.attachments.map((a) => a.filename), ['scan.pdf']);
    assert.deepEqual(await readdir(ctx.spoolDir).catch(() => []), spoolBefore, 'showing it wrote no file');
    assert.equal('bodyFromRaw' in shown, false, 'the storage detail is not part of the message as shown');
  });

  test('a long HTML body beside a short text: both come from the raw, as written', async () => {
    const html = `<html><body>${germanText(BODY_STORED_MAX_CHARS, 'Html').split('\n').map((l) => `<p>${l}</p>`).join('')}</body></html>`;
    const text = 'Kurzfassung: siehe HTML.\n';
    const id = await store(await compose({ subject: 'Newsletter', text, html }));
    assert.deepEqual(await row(id), { text: null, html: null, bodyFromRaw: true });
    const shown = await showMessage(ctx.db, id);
    assert.equal(shown.text, text);
    assert.equal(shown.html, html);
  });

  test('characters the database cannot hold are removed from a derived body as from a stored one', async () => {
    const text = germanText(BODY_STORED_MAX_CHARS + 100, 'Nul').replace('Änderung', 'Än\u0000derung');
    const id = await store(await compose({ subject: 'NUL', text }));
    assert.equal((await row(id)).bodyFromRaw, true);
    const shown = await showMessage(ctx.db, id);
    assert.equal(shown.text, text.replace('\u0000', ''));
  });

  test('a body up to the limit stays in the row', async () => {
    const text = germanText(2000, 'Kurz');
    const id = await store(await compose({ subject: 'Kurz', text }));
    assert.deepEqual(await row(id), { text, html: null, bodyFromRaw: false });
    assert.equal((await showMessage(ctx.db, id)).text, text);
  });
});
