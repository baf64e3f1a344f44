/**
 * decodeUuencoded() and unpackTnef(): attachment containers that mailparser leaves undecoded.
 *
 * Expected values come from outside the code under test:
 * - the .uue fixtures were written by Debian sharutils 4.15 (`uuencode sample.bin 'Bescheid Müller.bin'`,
 *   `uuencode -m …`; the CRLF one is the first with CR LF line ends and text around it), and
 *   `sha256sum sample.bin` gave SAMPLE_SHA256;
 * - winmail.dat was written by test/fixtures/containers/tnef-writer.ts after MS-OXTNEF, and Debian's
 *   `tnef` 1.4.18 extracted from it the three files whose `sha256sum` values are below.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeUuencoded, unpackTnef, TNEF_MAX_FILES } from '../../src/ingest/containers.js';
import { rawFromBuffer, rawFromFile, type RawMessage } from '../../src/ingest/raw.js';
import { uuencode } from '../helpers/uuencode.js';
import * as tnef from '../fixtures/containers/tnef-writer.js';

const FIXTURES = new URL('../fixtures/containers/', import.meta.url);
const fixture = (name: string) => readFile(new URL(name, FIXTURES));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function bytesOf(raw: RawMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of raw.open()) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Bytes delivered in pieces of `size` bytes, so that lines, CR LF pairs and attributes span chunks. */
function chunked(bytes: Buffer, size: number): RawMessage {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return { ...rawFromBuffer(bytes), open: () => Readable.from(pieces) };
}

const SAMPLE_SHA256 = 'c14ef09b2d6e4d7d546eccd7ca654bf2095335b51f03cc65835e035e167fca40';
// sha256sum of the files Debian's tnef extracted from winmail.dat
const PDF_SHA256 = '6ed7f3aebfaf2ee3913347e0844980ccf8101f72be9f2e7858922276768012da';
const OVERVIEW_SHA256 = 'd215bd86c2b0f882d072107099fb47ee13e030d13ebdbb2f09e9b6af89b270da';
const NOTES_SHA256 = 'ed8f7d8cecd885a87c6863926af2f61e2ba33581fd623d5fed8ae0a3f17acafb';

let spoolDir: string;
before(async () => {
  spoolDir = await mkdtemp(path.join(tmpdir(), 'containers-test-'));
});
after(async () => {
  await rm(spoolDir, { recursive: true, force: true });
});

describe('decodeUuencoded', () => {
  test('sharutils output with LF line ends: name, mode and exact bytes', async () => {
    const result = await decodeUuencoded(rawFromBuffer(await fixture('sample.uue')), spoolDir);
    assert.ok(result);
    assert.equal(result.filename, 'Bescheid Müller.bin');
    assert.equal(result.mode, '644');
    assert.equal(result.content.size, 1000);
    assert.equal(result.content.sha256, SAMPLE_SHA256);
    assert.equal(sha256(await bytesOf(result.content)), SAMPLE_SHA256);
    assert.deepEqual(await bytesOf(result.content), await fixture('sample.bin'));
  });

  test('CR LF line ends with text before and after the block', async () => {
    const bytes = await fixture('sample-crlf.uue');
    // guard against a checkout that normalised the fixture's line ends
    assert.equal(bytes.toString('latin1').split('\r\n').length, bytes.toString('latin1').split('\n').length);
    const result = await decodeUuencoded(rawFromBuffer(bytes), spoolDir);
    assert.ok(result);
    assert.equal(result.filename, 'Bescheid Müller.bin');
    assert.equal(result.content.sha256, SAMPLE_SHA256);
  });

  test('input arriving in small chunks (lines and CR LF split across them)', async () => {
    for (const name of ['sample.uue', 'sample-crlf.uue', 'sample-base64.uue']) {
      for (const size of [1, 2, 7, 61, 64]) {
        const result = await decodeUuencoded(chunked(await fixture(name), size), spoolDir);
        assert.equal(result?.content.sha256, SAMPLE_SHA256, `${name} in pieces of ${size}`);
        assert.equal(result?.filename, 'Bescheid Müller.bin');
      }
    }
  });

  test('begin-base64 variant (uuencode -m)', async () => {
    const result = await decodeUuencoded(rawFromBuffer(await fixture('sample-base64.uue')), spoolDir);
    assert.ok(result);
    assert.equal(result.filename, 'Bescheid Müller.bin');
    assert.equal(result.mode, '644');
    assert.equal(result.content.sha256, SAMPLE_SHA256);
  });

  test('the test encoder reproduces sharutils byte for byte', async () => {
    assert.deepEqual(uuencode(await fixture('sample.bin'), 'Bescheid Müller.bin'), await fixture('sample.uue'));
  });

  test('an empty file (as `uuencode /dev/null empty.txt` writes it)', async () => {
    const result = await decodeUuencoded(rawFromBuffer(Buffer.from('begin 644 empty.txt\n`\nend\n')), spoolDir);
    assert.ok(result);
    assert.equal(result.filename, 'empty.txt');
    assert.equal(result.content.size, 0);
    assert.equal(result.content.sha256, sha256(Buffer.alloc(0)));
  });

  test('spaces for zero values with trailing spaces stripped in transport', async () => {
    const text = (await fixture('sample.uue')).toString('utf8').replaceAll('`', ' ').replace(/ +$/gm, '');
    const result = await decodeUuencoded(rawFromBuffer(Buffer.from(text, 'utf8')), spoolDir);
    assert.ok(result);
    assert.equal(result.content.sha256, SAMPLE_SHA256);
  });

  test('a header without a name gives filename null', async () => {
    const result = await decodeUuencoded(rawFromBuffer(Buffer.from('begin 600\n#86)C\n`\nend\n')), spoolDir);
    assert.ok(result);
    assert.equal(result.filename, null);
    assert.equal(result.mode, '600');
    assert.deepEqual(await bytesOf(result.content), Buffer.from('abc'));
  });

  test('a large input is spooled to a file and decoded exactly', async () => {
    const data = Buffer.alloc(700 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 8)) & 0xff;
    const dir = await mkdtemp(path.join(spoolDir, 'large-'));
    const result = await decodeUuencoded(rawFromBuffer(uuencode(data, 'big.bin', '\r\n')), dir);
    assert.ok(result);
    assert.equal(result.content.size, data.length);
    assert.equal(result.content.sha256, sha256(data));
    assert.equal(sha256(await bytesOf(result.content)), sha256(data));
    assert.equal((await readdir(dir)).length, 1, 'one spool file');
    await result.content.discard();
    assert.equal((await readdir(dir)).length, 0);
  });

  test('text without a uuencode block → null', async () => {
    assert.equal(await decodeUuencoded(rawFromBuffer(Buffer.from('Hallo,\r\nanbei nichts.\r\n')), spoolDir), null);
    assert.equal(await decodeUuencoded(rawFromBuffer(Buffer.alloc(0)), spoolDir), null);
    assert.equal(await decodeUuencoded(rawFromBuffer(Buffer.from('begin the meeting at 10\n')), spoolDir), null);
  });

  test('malformed or unterminated blocks → null, no spool file left', async () => {
    const dir = await mkdtemp(path.join(spoolDir, 'bad-'));
    const cases = [
      'begin 644 x.txt\nhello world, this is prose\n`\nend\n', // characters above 0x60
      'begin 644 x.txt\n#86)C\n', // no zero-count line, no end
      'begin 644 x.txt\n#86)C\n`\n', // no end
      'begin 644 x.txt\n#86)C\n`\nmore\nend\n', // something between the zero-count line and end
      'begin-base64 644 x.txt\nYWJj\n', // no ====
      'begin-base64 644 x.txt\nYW*j\n====\n', // not base64
      'begin-base64 644 x.txt\nYQ==\nYQ==\n====\n', // data after padding
      `begin 644 x.txt\nM${'!'.repeat(5000)}\n\`\nend\n`, // overlong line
    ];
    for (const text of cases) {
      assert.equal(await decodeUuencoded(rawFromBuffer(Buffer.from(text)), dir), null, JSON.stringify(text.slice(0, 60)));
    }
    // a large block cut short: spooled to a file first, which must be removed
    const big = uuencode(Buffer.alloc(600 * 1024, 0x5a), 'big.bin');
    assert.equal(await decodeUuencoded(rawFromBuffer(big.subarray(0, big.length - 20)), dir), null);
    assert.deepEqual(await readdir(dir), []);
  });

  test('a missing zero-count line before end is tolerated; text after end is ignored', async () => {
    const result = await decodeUuencoded(rawFromBuffer(Buffer.from('begin 644 a.txt\n#86)C\nend\nbegin 644 b.txt\n')), spoolDir);
    assert.ok(result);
    assert.equal(result.filename, 'a.txt');
    assert.deepEqual(await bytesOf(result.content), Buffer.from('abc'));
  });
});

describe('unpackTnef', () => {
  test('the writer reproduces the stored fixture', async () => {
    assert.deepEqual(tnef.fixtureWinmail(), await fixture('winmail.dat'));
  });

  test('winmail.dat: long names, exact bytes, body text and HTML', async () => {
    const result = await unpackTnef(rawFromBuffer(await fixture('winmail.dat')), spoolDir);
    assert.ok(result);
    assert.deepEqual(
      result.files.map((f) => [f.filename, f.content.size, f.content.sha256]),
      [
        ['Bescheid Müller.pdf', 148, PDF_SHA256],
        ['Übersicht 2024.txt', 50, OVERVIEW_SHA256],
        ['notes.txt', 12, NOTES_SHA256],
      ],
    );
    const pdf = await bytesOf(result.files[0]!.content);
    assert.equal(pdf.subarray(0, 8).toString('latin1'), '%PDF-1.4');
    assert.equal(sha256(pdf), PDF_SHA256);
    assert.equal(result.bodyText, 'Sehr geehrte Frau Weiß,\r\nanbei der Bescheid.\r\n');
    assert.equal(result.bodyHtml, '<p>Sehr geehrte Frau Weiß,</p><p>anbei der Bescheid.</p>');
  });

  test('input arriving in small chunks', async () => {
    const whole = await fixture('winmail.dat');
    for (const size of [1, 3, 10, 100]) {
      const result = await unpackTnef(chunked(whole, size), spoolDir);
      assert.deepEqual(
        result?.files.map((f) => [f.filename, f.content.sha256]),
        [
          ['Bescheid Müller.pdf', PDF_SHA256],
          ['Übersicht 2024.txt', OVERVIEW_SHA256],
          ['notes.txt', NOTES_SHA256],
        ],
        `pieces of ${size}`,
      );
      assert.equal(result?.bodyHtml, '<p>Sehr geehrte Frau Weiß,</p><p>anbei der Bescheid.</p>');
    }
  });

  test('bytes that are not TNEF → null', async () => {
    assert.equal(await unpackTnef(rawFromBuffer(tnef.PDF), spoolDir), null);
    assert.equal(await unpackTnef(rawFromBuffer(Buffer.alloc(0)), spoolDir), null);
    assert.equal(await unpackTnef(rawFromBuffer(Buffer.from([0x78, 0x9f, 0x3e])), spoolDir), null);
    assert.equal(await unpackTnef(rawFromBuffer(Buffer.from('winmail.dat')), spoolDir), null);
  });

  test('every truncation: no throw; null unless cut exactly after an attribute', async () => {
    const whole = await fixture('winmail.dat');
    // attribute boundaries, from the layout: 6-byte header, then 9 + length + 2 per attribute
    const boundaries = new Set<number>();
    for (let at = 6; at < whole.length; at += 11 + whole.readUInt32LE(at + 5)) boundaries.add(at);
    let nulls = 0;
    for (let cut = 0; cut < whole.length; cut++) {
      const result = await unpackTnef(rawFromBuffer(whole.subarray(0, cut)), spoolDir);
      if (boundaries.has(cut)) assert.notEqual(result, null, `cut at ${cut}`);
      else {
        assert.equal(result, null, `cut at ${cut}`);
        nulls++;
      }
    }
    assert.ok(nulls > 800);
  });

  test('cut inside the PDF data → null', async () => {
    const whole = await fixture('winmail.dat');
    const pdfAt = whole.indexOf('%PDF-1.4');
    assert.equal(await unpackTnef(rawFromBuffer(whole.subarray(0, pdfAt + 50)), spoolDir), null);
  });

  test('a wrong checksum → null', async () => {
    const bytes = Buffer.concat([
      tnef.header(),
      ...tnef.messageAttributes(),
      tnef.attribute(tnef.LEVEL_ATTACHMENT, tnef.attAttachRendData, tnef.rendData()),
      tnef.attribute(tnef.LEVEL_ATTACHMENT, tnef.attAttachData, tnef.PDF, true),
    ]);
    assert.equal(await unpackTnef(rawFromBuffer(bytes), spoolDir), null);
  });

  test('a hostile attribute length → null at once (17 bytes claiming 256 MiB)', async () => {
    const bytes = Buffer.concat([tnef.header(), Buffer.from([0x02, 0x0f, 0x80, 0x06, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00])]);
    assert.equal(bytes.length, 17);
    const started = Date.now();
    assert.equal(await unpackTnef(rawFromBuffer(bytes), spoolDir), null);
    assert.ok(Date.now() - started < 1000);
  });

  test(`at most ${TNEF_MAX_FILES} attachments`, async () => {
    const many = (n: number) =>
      Buffer.concat([
        tnef.header(),
        ...Array.from({ length: n }, (_, i) => [
          tnef.attribute(tnef.LEVEL_ATTACHMENT, tnef.attAttachRendData, tnef.rendData()),
          tnef.attribute(tnef.LEVEL_ATTACHMENT, tnef.attAttachTitle, tnef.string8(`f${i}.txt`)),
          tnef.attribute(tnef.LEVEL_ATTACHMENT, tnef.attAttachData, Buffer.from([i & 0xff])),
        ]).flat(),
      ]);
    const ok = await unpackTnef(rawFromBuffer(many(TNEF_MAX_FILES)), spoolDir);
    assert.ok(ok);
    assert.equal(ok.files.length, TNEF_MAX_FILES);
    assert.equal(ok.files[999]!.filename, 'f999.txt');
    assert.deepEqual(await bytesOf(ok.files[999]!.content), Buffer.from([999 & 0xff]));
    assert.equal(await unpackTnef(rawFromBuffer(many(TNEF_MAX_FILES + 1)), spoolDir), null);
  });

  test('a large attachment is spooled to a file; discard removes it', async () => {
    const data = Buffer.alloc(400 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 3) & 0xff;
    const dir = await mkdtemp(path.join(spoolDir, 'tnef-large-'));
    const bytes = Buffer.concat([tnef.header(), ...tnef.attachmentAttributes('SCAN.PDF', data, null)]);
    const result = await unpackTnef(rawFromBuffer(bytes), dir);
    assert.ok(result);
    assert.equal(result.files.length, 1);
    assert.equal(result.files[0]!.filename, 'SCAN.PDF');
    assert.equal(result.files[0]!.content.sha256, sha256(data));
    assert.equal((await readdir(dir)).length, 1);
    await result.files[0]!.content.discard();
    assert.deepEqual(await readdir(dir), []);
    // cut inside that attachment: the partial spool file is removed
    assert.equal(await unpackTnef(rawFromBuffer(bytes.subarray(0, bytes.length - 100)), dir), null);
    assert.deepEqual(await readdir(dir), []);
  });

  test('a body only as compressed RTF gives no body; attBody is used as text', async () => {
    const rtfOnly = Buffer.concat([
      tnef.header(),
      tnef.attribute(
        tnef.LEVEL_MESSAGE,
        tnef.attMsgProps,
        tnef.propertyList([{ type: tnef.PT.BINARY, id: 0x1009, values: [Buffer.from('compressed rtf bytes')] }]),
      ),
    ]);
    assert.deepEqual(await unpackTnef(rawFromBuffer(rtfOnly), spoolDir), { files: [], bodyText: null, bodyHtml: null });

    const withAttBody = Buffer.concat([
      tnef.header(),
      tnef.attribute(tnef.LEVEL_MESSAGE, tnef.attOemCodepage, Buffer.from([0xe4, 0x04, 0, 0, 0, 0, 0, 0])), // 1252
      tnef.attribute(tnef.LEVEL_MESSAGE, tnef.attBody, tnef.cp1252('Grüße')),
    ]);
    const result = await unpackTnef(rawFromBuffer(withAttBody), spoolDir);
    assert.equal(result?.bodyText, 'Grüße');
    assert.equal(result?.bodyHtml, null);
  });

  test('an embedded message: the bytes after the 16-byte interface ID, named by its display name', async () => {
    const inner = Buffer.concat([tnef.header(), ...tnef.attachmentAttributes('inner.txt', Buffer.from('x'), null)]);
    const iid = Buffer.from('0703020000000000c000000000000046', 'hex');
    const bytes = Buffer.concat([
      tnef.header(),
      tnef.attribute(tnef.LEVEL_ATTACHMENT, tnef.attAttachRendData, tnef.rendData()),
      tnef.attribute(
        tnef.LEVEL_ATTACHMENT,
        tnef.attAttachment,
        tnef.propertyList([
          { type: tnef.PT.LONG, id: 0x3705, values: [Buffer.from([5, 0, 0, 0])] },
          { type: tnef.PT.UNICODE, id: 0x3001, values: [tnef.unicode('Weitergeleitet: Antrag')] },
          { type: tnef.PT.OBJECT, id: 0x3701, values: [Buffer.concat([iid, inner])] },
        ]),
      ),
    ]);
    const result = await unpackTnef(rawFromBuffer(bytes), spoolDir);
    assert.ok(result);
    assert.equal(result.files.length, 1);
    assert.equal(result.files[0]!.filename, 'Weitergeleitet: Antrag');
    assert.equal(result.files[0]!.content.sha256, sha256(inner));
    const nested = await unpackTnef(result.files[0]!.content, spoolDir);
    assert.equal(nested?.files[0]?.filename, 'inner.txt');
  });

  test('line ends appended after the last attribute are tolerated', async () => {
    const whole = await fixture('winmail.dat');
    const result = await unpackTnef(rawFromBuffer(Buffer.concat([whole, Buffer.from('\r\n')])), spoolDir);
    assert.equal(result?.files.length, 3);
    assert.equal(await unpackTnef(rawFromBuffer(Buffer.concat([whole, Buffer.from('xy')])), spoolDir), null);
  });
});

describe('I/O errors are thrown, not taken for bad input', () => {
  test('the input file vanished before it was read', async () => {
    for (const [name, unpack] of [
      ['sample.uue', decodeUuencoded],
      ['winmail.dat', unpackTnef],
    ] as const) {
      const file = path.join(spoolDir, `gone-${name}`);
      await writeFile(file, await fixture(name));
      const raw = await rawFromFile(file);
      await rm(file);
      await assert.rejects(unpack(raw, spoolDir), { code: 'ENOENT' });
    }
  });
});
