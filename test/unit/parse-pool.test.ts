// ParsePool (ingest/parse-pool.ts): a parse in a worker thread gives what the same parse gives
// in this thread, whether the bytes are in memory or in a file from an offset (the inbound
// queue's entries); attachments come back readable, a large one as a spool file the caller
// removes; an unreadable message is an outcome; a pool that was closed starts a new worker.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { discardParsed } from '../../src/ingest/parse.js';
import { ParsePool } from '../../src/ingest/parse-pool.js';
import { parseForIngest } from '../../src/ingest/parse-step.js';
import { MEMORY_SPOOL_BYTES, rawAt, rawFromBuffer } from '../../src/ingest/raw.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function bytesOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

describe('ParsePool', () => {
  let dir: string;
  let spoolDir: string;
  const pool = new ParsePool(1);
  const small = randomBytes(1000);
  const large = randomBytes(MEMORY_SPOOL_BYTES + 5000);
  let mail: Buffer;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'parse-pool-'));
    spoolDir = path.join(dir, 'spool');
    mail = await new MailComposer({
      from: 'Scanner Zimmer 3 <mfp@agency.example>',
      to: 'scan@agency.example',
      subject: 'Scan vom 07.12. – Grundsteuer',
      text: 'Bitte prüfen.\n',
      attachments: [
        { filename: 'klein.bin', content: small, contentType: 'application/octet-stream' },
        { filename: 'gross.bin', content: large, contentType: 'application/octet-stream' },
      ],
    })
      .compile()
      .build();
  });
  after(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('in memory and in a file from an offset: the fields, the key and the attachments are those of a parse in this thread', async () => {
    const here = await parseForIngest(rawFromBuffer(mail), spoolDir);
    const file = path.join(dir, 'entry');
    const header = Buffer.from('{"queue":"meta"}\n');
    await writeFile(file, Buffer.concat([header, mail]));
    const fromMemory = await pool.parse(rawFromBuffer(mail), spoolDir);
    const fromFile = await pool.parse(rawAt({ kind: 'file', path: file, start: header.length, owned: false }, mail.length, sha(mail)), spoolDir);
    for (const there of [fromMemory, fromFile]) {
      assert.equal(there.parseError, null);
      assert.equal(there.key, here.key);
      assert.equal(there.parsed!.subject, 'Scan vom 07.12. – Grundsteuer');
      assert.equal(there.parsed!.senderAddress, 'mfp@agency.example');
      assert.equal(there.parsed!.text, 'Bitte prüfen.\n');
      assert.deepEqual(
        there.parsed!.attachments.map((a) => [a.filename, a.size, a.sha256]),
        [
          ['klein.bin', small.length, sha(small)],
          ['gross.bin', large.length, sha(large)],
        ],
      );
      assert.ok((await bytesOf(there.parsed!.attachments[0]!.content.open())).equals(small));
      assert.ok((await bytesOf(there.parsed!.attachments[1]!.content.open())).equals(large));
    }
    // the large attachments went to spool files, which belong to the caller: discarding removes them
    assert.equal((await readdir(spoolDir)).length, 3, 'one spool file per parse of the large attachment');
    for (const o of [here, fromMemory, fromFile]) await discardParsed(o.parsed!);
    assert.deepEqual(await readdir(spoolDir), []);
  });

  test('bytes that are no message: the reason and the key, as in this thread', async () => {
    const junk = Buffer.from('\x00\x01 not a header\r\n\r\nbody\r\n', 'latin1');
    const here = await parseForIngest(rawFromBuffer(junk), spoolDir);
    const there = await pool.parse(rawFromBuffer(junk), spoolDir);
    assert.equal(there.parsed, null);
    assert.equal(typeof there.parseError, 'string');
    assert.equal(there.parseError, here.parseError);
    assert.equal(there.key, here.key);
  });

  test('a structure mailparser gives up on (more parts than it allows): the header-only outcome, as in this thread', async () => {
    const parts = Array.from({ length: 1500 }, (_, i) => `--b\r\nContent-Type: application/octet-stream\r\n\r\np${i}\r\n`).join('');
    const bytes = Buffer.from(`From: viele@agency.example\r\nSubject: 1500 Teile\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b--\r\n`);
    const here = await parseForIngest(rawFromBuffer(bytes), spoolDir);
    const there = await pool.parse(rawFromBuffer(bytes), spoolDir);
    assert.equal(there.parsed!.subject, '1500 Teile');
    assert.ok(there.parsed!.issues.some((i) => i.code === 'mime-structure-unreadable'));
    assert.equal(there.key, here.key);
    assert.deepEqual(there.parsed!.issues, here.parsed!.issues);
  });

  test('a parse under way when the pool closes fails; the next one gets a new worker', async () => {
    const pending = pool.parse(rawFromBuffer(mail), spoolDir);
    await pool.close();
    await assert.rejects(pending, /the parse worker has ended/);
    const again = await pool.parse(rawFromBuffer(mail), spoolDir);
    assert.equal(again.parsed!.subject, 'Scan vom 07.12. – Grundsteuer');
    await discardParsed(again.parsed!);
  });
});
