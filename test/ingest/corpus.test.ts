/**
 * The corpus (test/fixtures/, copied from the shared corpus) through the one ingest pipeline and
 * through the real CLI. Every expected value comes from the corpus README, from the message
 * headers read by hand (dates converted to UTC per RFC 5322 §3.3), or is computed here from the
 * fixture bytes; nothing is copied from the program's output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AppContext } from '../../src/context.js';
import type { Db } from '../../src/db/client.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import { rawFromBuffer, rawFromFile } from '../../src/ingest/raw.js';
import { rawMessage, showMessage } from '../../src/services/messages.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { listTasks } from '../../src/services/tasks.js';
import { driver, freshPostgresDatabase, tempDir, testContext } from '../helpers/env.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const ROOT = path.resolve(FIXTURES, '../..');
const fixture = (name: string) => path.join(FIXTURES, name);
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface ExpectedAttachment {
  filename: string;
  /** the stored (effective) type: declared, or detected when the part said octet-stream */
  contentType?: string;
  declaredContentType?: string;
  size: number;
  sha256: string;
}

interface Expected {
  file: string;
  sha256: string;
  size: number;
  sender: string | null;
  senderName?: string | null;
  subject?: string;
  textContains?: string;
  /** UTC instant of the `Date` header; null: no Date header, time of receipt applies */
  date: string | null;
  messageIdHeader: string | null;
  attachments?: ExpectedAttachment[];
}

/** From /work/shared/corpus/README.md; dates and Message-IDs read off the headers. */
const CORPUS: Expected[] = [
  {
    file: 'scanner-basic.eml',
    sha256: 'ed37789e567861537ca64e7f689709dda5592fd8177b44152a47db183db7ebb0',
    size: 1466,
    sender: 'scanner-2og@agency.example',
    senderName: 'MFP 2. OG',
    subject: 'Scan from MFP 2. OG',
    textContains: 'Scanned document attached.',
    date: '2021-02-24T09:35:12.000Z', // Wed, 24 Feb 2021 10:35:12 +0100
    messageIdHeader: '<20210224103512.0001@mfp-2og.agency.example>',
    attachments: [
      {
        filename: '20210224103512.pdf',
        contentType: 'application/pdf',
        declaredContentType: 'application/pdf',
        size: 584,
        sha256: '9febcb43dbae922f6a793336de8e3f1aa0f69795447112234d109918be4d20d5',
      },
    ],
  },
  {
    file: 'scanner-octet-stream-no-msgid.eml',
    sha256: 'bf57c81803bfb9fb0ed3893f6e1a5aaf9db455a6204ebfc7245ec270d2fe832f',
    size: 1143,
    sender: 'scanner-eg@agency.example',
    senderName: null,
    subject: '',
    date: null,
    messageIdHeader: null,
    attachments: [
      {
        filename: 'Scan_0002.pdf',
        contentType: 'application/pdf', // README: detectedType
        declaredContentType: 'application/octet-stream',
        size: 584,
        sha256: '228e8b2054b869097d2ca4f44ed98de9a683f5e46218b917b497f88c01626d60',
      },
    ],
  },
  {
    file: 'scanner-rfc2231-umlaut-filename.eml',
    sha256: '4cfb40a9479146ab8d2c8713b25ce3e0c9ce5609aabf09bf9be891384be1fb40',
    size: 1400,
    sender: 'scanner-sozial@agency.example',
    senderName: 'Scanner Sozialamt',
    subject: 'Scan Bescheid Müller',
    textContains: 'Gescannt am 25.02.2021 – Bürgerbüro',
    date: '2021-02-25T07:01:00.000Z', // Thu, 25 Feb 2021 08:01:00 +0100
    messageIdHeader: '<a1b2c3@mfp-sozial.agency.example>',
    attachments: [
      {
        filename: 'Bescheid Müller 2021.pdf',
        contentType: 'application/pdf',
        declaredContentType: 'application/pdf',
        size: 583,
        sha256: '0758c04f4c4bdf34cd1cba62eb1aec05150115e42c3a1f478272a253b57a0003',
      },
    ],
  },
  {
    file: 'latin1-split-encoded-word.eml',
    sha256: '3d0a32c7429e5e6f076f2005078c103798f7bfe1c2130ac5938a67c48ccde2fc',
    size: 489,
    sender: 'juergen.weiss@agency.example',
    senderName: 'Jürgen Weiß',
    subject: 'Terminänderung für die Sprechstunde am Montag (Straßenverkehrsamt)',
    textContains: 'die Sprechstunde fällt aus. Grüße',
    date: '2021-03-01T13:22:05.000Z', // Mon, 01 Mar 2021 14:22:05 +0100
    messageIdHeader: '<ae12@mail.agency.example>',
    attachments: [],
  },
  {
    file: 'forwarded-message-rfc822.eml',
    sha256: '29d196d160de8e83801465eb7931ed049e962983431a1a082cb0ebda3c608648',
    size: 764,
    sender: 'susi.weiss@agency.example',
    senderName: 'Weiß, Susi',
    subject: 'WG: Antrag auf Wohngeld',
    textContains: 'Bitte als Vorgang anlegen.',
    date: '2021-03-01T08:15:00.000Z', // Mon, 01 Mar 2021 09:15:00 +0100
    messageIdHeader: '<fwd-1@agency.example>',
  },
  {
    file: 'empty-from.eml',
    sha256: 'fc141924e791ec59b3d7a8bde3e2ed6f69b301cbf4144021f13e3d085e7e5381',
    size: 141,
    sender: null,
    senderName: null,
    subject: 'no sender',
    textContains: 'body',
    date: '2021-03-04T11:00:00.000Z', // Thu, 04 Mar 2021 12:00:00 +0100
    messageIdHeader: '<nosender@agency.example>',
    attachments: [],
  },
  {
    file: 'xss-subject-and-traversal-filename.eml',
    sha256: '963854984c2e13f1c58f35b07ec4e0827de7628b7b8f83b3b9893f501d0ac3d7',
    size: 619,
    sender: 'attacker@example.org',
    senderName: null,
    // the header is plain ASCII, not encoded: the stored subject is exactly that text
    subject: '<img src=x onerror="alert(document.cookie)"><script>alert(1)</script>',
    date: '2021-03-05T11:00:00.000Z', // Fri, 05 Mar 2021 12:00:00 +0100
    messageIdHeader: '<xss-1@example.org>',
    // attachment checked by its own test (name must be made safe; README gives no name)
  },
];

async function readRaw(db: Db, id: number): Promise<Buffer> {
  const raw = await rawMessage(db, id);
  const parts: Buffer[] = [];
  for await (const c of raw.chunks) parts.push(c);
  return Buffer.concat(parts);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe('corpus fixtures', () => {
  test('test/fixtures holds exactly the corpus files, byte for byte as the README says', () => {
    const files = readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.eml') && !f.startsWith('gen-'))
      .sort();
    assert.deepEqual(files, CORPUS.map((c) => c.file).sort());
    for (const c of CORPUS) {
      const bytes = readFileSync(fixture(c.file));
      assert.equal(bytes.length, c.size, `${c.file}: size`);
      assert.equal(sha256(bytes), c.sha256, `${c.file}: sha256 (a checkout that rewrote line endings breaks this)`);
    }
  });
});

describe('corpus through ctx.ingest', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
  });
  after(async () => {
    await close();
  });

  for (const c of CORPUS) {
    test(c.file, async () => {
      const file = fixture(c.file);
      const bytes = readFileSync(file);
      const beforeIngest = Date.now();
      const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['scanner'], path: file });
      const afterIngest = Date.now();

      assert.equal(r.duplicate, false);
      assert.equal(r.parseError, null);
      assert.equal(r.tasks.length, 1);
      assert.equal(r.tasks[0]!.channel, 'scanner');
      assert.equal(r.tasks[0]!.created, true);
      // no mapping exists in this context: every task waits in the unassigned queue
      assert.equal(r.tasks[0]!.status, 'unassigned');
      assert.deepEqual(r.tasks[0]!.candidates, []);

      const m = await showMessage(ctx.db, r.messageId);
      assert.equal(m.senderAddress, c.sender);
      if (c.senderName !== undefined) assert.equal(m.senderName, c.senderName);
      if (c.subject !== undefined) assert.equal(m.subject, c.subject);
      if (c.textContains !== undefined) {
        assert.ok(m.text?.includes(c.textContains), `text ${JSON.stringify(m.text)} should contain ${JSON.stringify(c.textContains)}`);
      }
      assert.equal(m.messageIdHeader, c.messageIdHeader);
      assert.equal(m.parseError, null);
      assert.equal(m.size, c.size);
      assert.equal(m.sha256, c.sha256);

      if (c.date === null) {
        assert.equal(m.dateFromHeader, false);
        assert.ok(m.date.getTime() >= beforeIngest && m.date.getTime() <= afterIngest, `date ${m.date.toISOString()} is the time of receipt`);
        assert.equal(m.date.getTime(), m.receivedAt.getTime());
      } else {
        assert.equal(m.dateFromHeader, true);
        assert.equal(m.date.toISOString(), c.date);
      }
      assert.ok(m.receivedAt.getTime() >= beforeIngest && m.receivedAt.getTime() <= afterIngest);

      // raw bytes come back exactly as the file
      const back = await readRaw(ctx.db, r.messageId);
      assert.equal(sha256(back), c.sha256);
      assert.ok(back.equals(bytes), 'raw bytes read back equal the file');

      if (c.attachments) {
        assert.equal(m.attachments.length, c.attachments.length);
        c.attachments.forEach((want, i) => {
          const got = m.attachments[i]!;
          assert.equal(got.position, i + 1);
          assert.equal(got.filename, want.filename);
          if (want.contentType) assert.equal(got.contentType, want.contentType);
          if (want.declaredContentType) assert.equal(got.declaredContentType, want.declaredContentType);
          assert.equal(got.size, want.size);
          assert.equal(got.sha256, want.sha256);
        });
        for (const want of c.attachments) {
          const content = await readBlobBuffer(ctx.db, want.sha256);
          assert.ok(content, `attachment content ${want.sha256} is stored`);
          assert.equal(content.length, want.size);
          assert.equal(sha256(content), want.sha256);
        }
      }

      // one receipt, recording where it came from
      assert.equal(m.receipts.length, 1);
      assert.equal(m.receipts[0]!.sourceKind, 'file');
      assert.equal(m.receipts[0]!.duplicate, false);
      assert.deepEqual(m.receipts[0]!.source, { kind: 'file', channels: ['scanner'], path: file });
    });
  }

  test('empty From: sender null, task in the unassigned queue', async () => {
    const file = fixture('empty-from.eml');
    const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['general'], path: file });
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.senderAddress, null);
    const [t] = (await listTasks(ctx.db, { channel: 'general' })).filter((x) => x.messageId === r.messageId);
    assert.ok(t);
    assert.equal(t.status, 'unassigned');
    assert.equal(t.sender, null);
    assert.equal(t.unreadable, false);
    assert.deepEqual(t.candidates, []);
  });

  test('xss file: attachment stored under a safe name, content intact', async () => {
    const file = fixture('xss-subject-and-traversal-filename.eml');
    const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['scanner'], path: file });
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.attachments.length, 1);
    const a = m.attachments[0]!;
    assert.ok(!a.filename.includes('/'), `no "/" in ${a.filename}`);
    assert.ok(!a.filename.includes('\\'), `no "\\" in ${a.filename}`);
    assert.ok(!CONTROL.test(a.filename), 'no control characters');
    assert.ok(!a.filename.includes('..'), 'no parent-directory part');
    assert.ok(!a.filename.startsWith('.'), 'not a hidden/dot name');
    assert.ok(a.filename.length > 0);
    // the last path part of the declared name is kept (characters Windows forbids replaced)
    assert.ok(a.filename.endsWith('.sh'), a.filename);
    assert.ok(!/[<>]/.test(a.filename), 'angle brackets replaced');
    // "aGFybWxlc3M=" decoded
    const content = Buffer.from('aGFybWxlc3M=', 'base64');
    assert.equal(a.size, content.length);
    assert.equal(a.sha256, sha256(content));
    assert.equal(a.declaredContentType, 'application/octet-stream');
    const stored = await readBlobBuffer(ctx.db, a.sha256);
    assert.ok(stored?.equals(content));
    // the HTML body is stored as received (sanitising is the view's job), the script is not in the text
    assert.ok(m.html?.includes('<p>Hallo</p>'));
  });
});

describe('routing of corpus messages by the sender mapping', () => {
  test('latin1: mapping for juergen.weiss@agency.example applies although From is mixed case', async () => {
    const bytes = readFileSync(fixture('latin1-split-encoded-word.eml'));
    // precondition that makes this test meaningful: the header really is mixed case
    assert.ok(bytes.includes(Buffer.from('<Juergen.Weiss@Agency.Example>')));
    const { ctx, close } = await testContext();
    try {
      await addStaff(ctx.db, { name: 'Weiß, Jürgen', email: 'juergen.weiss@agency.example', external: true });
      const anna = await addStaff(ctx.db, { name: 'Berger, Anna', email: 'anna.berger@agency.example', login: 'aberger' });
      const otto = await addStaff(ctx.db, { name: 'Krause, Otto', email: 'otto.krause@agency.example', login: 'okrause' });
      await addMapping(ctx.db, 'juergen.weiss@agency.example', 'aberger');
      await addMapping(ctx.db, 'juergen.weiss@agency.example', 'okrause');
      const file = fixture('latin1-split-encoded-word.eml');
      const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['general'], path: file });
      assert.equal(r.tasks.length, 1);
      assert.equal(r.tasks[0]!.status, 'open');
      assert.deepEqual(r.tasks[0]!.candidates, [anna.id, otto.id].sort((a, b) => a - b));
      const [t] = await listTasks(ctx.db, {});
      assert.equal(t!.status, 'open');
      assert.deepEqual(t!.candidates.map((c) => c.login).sort(), ['aberger', 'okrause']);
      assert.equal(t!.sender, 'juergen.weiss@agency.example');
    } finally {
      await close();
    }
  });

  test('forwarded message is routed by the outer From, not the inner message', async () => {
    const { ctx, close } = await testContext();
    try {
      await addStaff(ctx.db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'sweiss' });
      // the inner sender is a known (external) person mapped to someone else
      await addStaff(ctx.db, { name: 'Buerger', email: 'citizen@example.org', external: true });
      const anna = await addStaff(ctx.db, { name: 'Berger, Anna', email: 'anna.berger@agency.example', login: 'aberger' });
      const otto = await addStaff(ctx.db, { name: 'Krause, Otto', email: 'otto.krause@agency.example', login: 'okrause' });
      await addMapping(ctx.db, 'susi.weiss@agency.example', 'aberger');
      await addMapping(ctx.db, 'citizen@example.org', 'okrause');
      const file = fixture('forwarded-message-rfc822.eml');
      const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['general'], path: file });
      assert.equal(r.tasks[0]!.status, 'open');
      assert.deepEqual(r.tasks[0]!.candidates, [anna.id]);
      assert.ok(!r.tasks[0]!.candidates.includes(otto.id));
      const m = await showMessage(ctx.db, r.messageId);
      assert.equal(m.senderAddress, 'susi.weiss@agency.example');
      assert.equal(m.subject, 'WG: Antrag auf Wohngeld');
    } finally {
      await close();
    }
  });

  test('empty From stays unassigned even when mappings exist', async () => {
    const { ctx, close } = await testContext();
    try {
      await addStaff(ctx.db, { name: 'Berger, Anna', email: 'anna.berger@agency.example', login: 'aberger' });
      await addMapping(ctx.db, 'anna.berger@agency.example', 'aberger');
      const file = fixture('empty-from.eml');
      const r = await ctx.ingest(await rawFromFile(file), { kind: 'file', channels: ['scanner'], path: file });
      assert.equal(r.tasks[0]!.status, 'unassigned');
      assert.deepEqual(r.tasks[0]!.candidates, []);
    } finally {
      await close();
    }
  });
});

describe('Date header edge cases (generated)', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
  });
  after(async () => {
    await close();
  });

  const msg = (date: string | null, id: string) =>
    Buffer.from(
      [
        'From: Anna Berger <anna.berger@agency.example>',
        'To: tauoffice@agency.example',
        'Subject: Datum',
        ...(date === null ? [] : [`Date: ${date}`]),
        `Message-ID: <${id}@agency.example>`,
        '',
        'Text',
        '',
      ].join('\r\n'),
    );

  test('an invalid Date header falls back to the time of receipt, dateFromHeader false', async () => {
    const t0 = Date.now();
    const r = await ctx.ingest(rawFromBuffer(msg('not a date at all', 'bad-date')), { kind: 'file', channels: ['scanner'], path: 'gen' });
    const t1 = Date.now();
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.dateFromHeader, false);
    assert.equal(m.date.getTime(), m.receivedAt.getTime());
    assert.ok(m.date.getTime() >= t0 && m.date.getTime() <= t1);
  });

  test('a folded Date header with a numeric zone is read from the header', async () => {
    // RFC 5322 §3.3: 23:59:59 -0500 is 04:59:59 UTC the next day
    const r = await ctx.ingest(rawFromBuffer(msg('Sun, 28 Feb 2021\r\n 23:59:59 -0500', 'folded-date')), {
      kind: 'file',
      channels: ['scanner'],
      path: 'gen',
    });
    const m = await showMessage(ctx.db, r.messageId);
    assert.equal(m.dateFromHeader, true);
    assert.equal(m.date.toISOString(), '2021-03-01T04:59:59.000Z');
  });
});

/** The real CLI as a child process, on its own DATA_DIR (and its own PostgreSQL database on that driver). */
describe('corpus through the CLI (npm run cli)', () => {
  const run = promisify(execFile);
  let dataDir: { dir: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;
  let drop = async () => {};

  async function cli(args: string[]): Promise<Buffer> {
    const { stdout } = await run('npm', ['run', '-s', 'cli', '--', ...args], {
      cwd: ROOT,
      env,
      encoding: 'buffer',
      maxBuffer: 16 * 1024 * 1024,
      timeout: 60_000,
    });
    return stdout;
  }
  const cliJson = async (args: string[]) => JSON.parse((await cli(args)).toString('utf8'));

  before(async () => {
    dataDir = tempDir('pe-cli-');
    env = { ...process.env, DATA_DIR: dataDir.dir, LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
  });
  after(async () => {
    await drop();
    dataDir.cleanup();
  });

  const ids = new Map<string, number>();

  test('ingest every corpus file in one call', async () => {
    const files = CORPUS.map((c) => fixture(c.file));
    const results = (await cliJson(['ingest', ...files, '--channel', 'scanner', '--json'])) as {
      file: string;
      messageId: number;
      duplicate: boolean;
      parseError: string | null;
      tasks: { channel: string; status: string; created: boolean }[];
    }[];
    assert.equal(results.length, CORPUS.length);
    results.forEach((r, i) => {
      assert.equal(r.file, files[i]);
      assert.equal(r.duplicate, false);
      assert.equal(r.parseError, null);
      assert.equal(r.tasks.length, 1);
      assert.equal(r.tasks[0]!.channel, 'scanner');
      assert.equal(r.tasks[0]!.status, 'unassigned');
      assert.equal(r.tasks[0]!.created, true);
      ids.set(CORPUS[i]!.file, r.messageId);
    });
    assert.equal(new Set(ids.values()).size, CORPUS.length, 'one message per file');
  });

  for (const name of ['scanner-basic.eml', 'scanner-rfc2231-umlaut-filename.eml', 'latin1-split-encoded-word.eml', 'empty-from.eml']) {
    test(`messages show --json: ${name}`, async () => {
      const c = CORPUS.find((x) => x.file === name)!;
      const id = ids.get(name);
      assert.ok(id, 'ingested by the previous test');
      const m = await cliJson(['messages', 'show', String(id), '--json']);
      assert.equal(m.id, id);
      assert.equal(m.senderAddress, c.sender);
      assert.equal(m.senderName, c.senderName);
      assert.equal(m.subject, c.subject);
      assert.equal(m.size, c.size);
      assert.equal(m.sha256, c.sha256);
      assert.equal(m.messageIdHeader, c.messageIdHeader);
      assert.equal(m.date, c.date);
      assert.equal(m.parseError, null);
      if (c.textContains) assert.ok((m.text as string).includes(c.textContains));
      assert.deepEqual(
        (m.attachments as ExpectedAttachment[]).map(({ filename, contentType, size, sha256 }) => ({ filename, contentType, size, sha256 })),
        (c.attachments ?? []).map(({ filename, contentType, size, sha256 }) => ({ filename, contentType, size, sha256 })),
      );
      assert.equal(m.receipts.length, 1);
      assert.equal(m.receipts[0].source.path, fixture(name));
    });
  }

  for (const name of ['scanner-rfc2231-umlaut-filename.eml', 'latin1-split-encoded-word.eml']) {
    test(`messages raw writes the bytes unchanged: ${name}`, async () => {
      const id = ids.get(name);
      assert.ok(id);
      const out = await cli(['messages', 'raw', String(id)]);
      const file = readFileSync(fixture(name));
      assert.equal(sha256(out), CORPUS.find((x) => x.file === name)!.sha256);
      assert.ok(out.equals(file));
    });
  }

  test('ingesting a file again through the CLI is recognised as a redelivery', async () => {
    const file = fixture('scanner-octet-stream-no-msgid.eml');
    const [r] = await cliJson(['ingest', file, '--channel', 'scanner', '--json']);
    assert.equal(r.messageId, ids.get('scanner-octet-stream-no-msgid.eml'));
    assert.equal(r.duplicate, true);
    assert.equal(r.tasks[0].created, false);
  });
});
