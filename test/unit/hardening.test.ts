import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import { safeFilename } from '../../src/ingest/filename.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { showMessage } from '../../src/services/messages.js';
import { testContext } from '../helpers/env.js';

describe('numbers in the configuration are plain decimal digits', () => {
  for (const [name, value] of [
    ['SMTP_PORT', '0x50'],
    ['HTTP_PORT', '1e3'],
    ['SMTP_PORT', '25.5'],
    ['SMTP_MAX_MESSAGE_BYTES', '5e7'],
  ] as const) {
    test(`${name}=${value} is refused, naming ${name}`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (err: unknown) => err instanceof ConfigError && err.variable === name && err.message.includes(name),
      );
    });
  }
  test('SMTP_PORT=465 is taken as 465', () => assert.equal(loadConfig({ SMTP_PORT: '465' }).SMTP_PORT, 465));
});

describe('file names cannot disguise themselves', () => {
  test('a bidi override (U+202E) is removed, so "Rechnung‮fdp.exe" shows its real extension', () => {
    assert.equal(safeFilename('Rechnung\u202Efdp.exe', 1), 'Rechnungfdp.exe');
  });
  test('zero-width characters are removed', () => assert.equal(safeFilename('sc\u200Ban.pdf', 1), 'scan.pdf'));
  test('trailing dots and spaces are removed (Windows forbids them)', () => {
    assert.equal(safeFilename('Bescheid.pdf. . ', 1), 'Bescheid.pdf');
    assert.equal(safeFilename(' . ', 4, 'pdf'), 'attachment-4.pdf');
  });
});

describe('ingest', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
  });
  after(() => env.close());

  test('an octet-stream part whose bytes are not recognised stays application/octet-stream, whatever its name says', async () => {
    // the part is declared application/octet-stream, named "….sh", and holds the bytes "harmless"
    const bytes = readFileSync(new URL('../fixtures/xss-subject-and-traversal-filename.eml', import.meta.url));
    const r = await env.ctx.ingest(rawFromBuffer(bytes), { kind: 'file', channels: ['general'], path: 'xss.eml' });
    const m = await showMessage(env.ctx.db, r.messageId);
    assert.equal(m.attachments.length, 1);
    assert.equal(m.attachments[0]!.contentType, 'application/octet-stream');
    assert.equal(m.attachments[0]!.size, 'harmless'.length);
  });

  test('a file saved from an mbox (starting with a "From " line, RFC 4155) is read, and stored as it was', async () => {
    const bytes = Buffer.from(
      'From scanner-eg@agency.example Thu Feb 25 10:00:00 2021\r\n' +
        'From: Scanner EG <Scanner-EG@agency.example>\r\nSubject: Scan 0815\r\nMessage-ID: <mbox-1@agency.example>\r\n\r\nbody\r\n',
    );
    const r = await env.ctx.ingest(rawFromBuffer(bytes), { kind: 'file', channels: ['scanner'], path: 'saved.mbox' });
    assert.equal(r.parseError, null);
    const m = await showMessage(env.ctx.db, r.messageId);
    assert.equal(m.senderAddress, 'scanner-eg@agency.example');
    assert.equal(m.subject, 'Scan 0815');
    assert.deepEqual(await readBlobBuffer(env.ctx.db, m.sha256), bytes);
  });
});
