/**
 * The SMTP receiver driven by swaks (the Swiss Army Knife for SMTP, a separate program) the way a
 * network scanner talks to it, and every corpus message delivered with `swaks --data`. Expected
 * values come from the corpus README and from the bytes the test generates.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { SmtpSource } from '../../src/ingest/source.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { listTasks } from '../../src/services/tasks.js';
import { tempDir, testGateway } from '../helpers/env.js';
import {
  attachmentsOf,
  FIXTURES,
  fixture,
  makePdf,
  REPO_ROOT,
  SCAN,
  SCANNER_SENDER,
  sendRaw,
  setupOffice,
  sha256,
  snapshot,
  STAFF_LOGIN,
  TAUOFFICE,
} from './lib.js';
import { swaks as runSwaks } from '../smtp-dialogues/lib.js';

const run = promisify(execFile);

/** Runs a program; never throws for a non-zero exit. */
async function runProgram(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  try {
    const { stdout, stderr } = await run(file, args, { ...opts, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

/** swaks against the gateway; `args` add to the server option. */
function swaks(port: number, args: string[]) {
  return runSwaks(['--server', `127.0.0.1:${port}`, '--timeout', '60', ...args], { timeoutMs: 90_000 });
}

/** The server's reply to the end of DATA in a swaks transcript (` -> .` then `<-  250 …`). */
function dataReply(transcript: string): string | undefined {
  const lines = transcript.split('\n');
  const end = lines.findIndex((l) => l === ' -> .');
  return lines.slice(end + 1).find((l) => l.startsWith('<'));
}

async function startOffice() {
  const g = await testGateway();
  const { staffId } = await setupOffice(g.gateway.ctx.db);
  return { ...g, staffId, port: g.gateway.smtp.port, db: g.gateway.ctx.db };
}
type Office = Awaited<ReturnType<typeof startOffice>>;

describe('swaks as the client', () => {
  let office: Office;
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(async () => {
    office = await startOffice();
    tmp = tempDir('pe-swaks-');
  });
  afterEach(async () => {
    await office.close();
    tmp.cleanup();
  });

  it('delivers a scan with a PDF attachment like a scanner; stored byte-exact, routed, visible in the CLI', async () => {
    const pdf = makePdf(`Scan ${process.pid} ${Date.now()}`);
    const pdfName = 'Scan_20210301_090000.pdf';
    const pdfFile = path.join(tmp.dir, pdfName);
    writeFileSync(pdfFile, pdf);

    const result = await swaks(office.port, [
      '--helo', 'scanner-eg',
      '--from', SCANNER_SENDER,
      '--to', SCAN,
      '--attach-type', 'application/pdf',
      '--attach', `@${pdfFile}`,
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(dataReply(result.stdout) ?? '', /^<- {2}250 /, result.stdout);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    const m = s.messages[0]!;
    assert.equal(m.senderAddress, SCANNER_SENDER);
    const attachments = await attachmentsOf(office.db, m.id);
    assert.equal(attachments.length, 1);
    assert.equal(attachments[0]!.sha256, sha256(pdf), 'the PDF decoded from the message is the file sent');
    assert.equal(attachments[0]!.size, pdf.length);
    assert.equal(attachments[0]!.filename, pdfName);
    assert.equal(attachments[0]!.contentType, 'application/pdf');

    const source = s.receipts[0]!.source as SmtpSource;
    assert.equal(source.helo, 'scanner-eg');
    assert.deepEqual(source.envelope, { mailFrom: SCANNER_SENDER, rcptTo: [SCAN] });

    const tasks = await listTasks(office.db);
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0]!.messageId, m.id);
    assert.equal(tasks[0]!.channel, 'scanner');
    assert.equal(tasks[0]!.status, 'open');
    assert.deepEqual(
      tasks[0]!.candidates.map((c) => [c.id, c.login]),
      [[office.staffId, STAFF_LOGIN]],
    );

    // The CLI, a separate process: on PGlite it goes through the running gateway's admin socket
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: office.dataDir, LOG_LEVEL: 'silent' };
    delete env.DATABASE_URL;
    if (office.databaseUrl) env.DATABASE_URL = office.databaseUrl;
    const cli = await runProgram('npm', ['run', '-s', 'cli', '--', 'tasks', 'list', '--json'], { cwd: REPO_ROOT, env });
    assert.equal(cli.code, 0, cli.stderr);
    const listed = JSON.parse(cli.stdout) as { messageId: number; channel: string; activityType: string; candidates: { login: string | null }[] }[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.messageId, m.id);
    assert.equal(listed[0]!.channel, 'scanner');
    assert.equal(listed[0]!.activityType, 'Scan-Eingang');
    assert.ok(
      listed[0]!.candidates.some((c) => c.login === STAFF_LOGIN),
      `${STAFF_LOGIN} among the candidates: ${cli.stdout}`,
    );
  });

  it('delivers every corpus message with --data, parsed as the corpus README says', async () => {
    // senders the office maps: Jürgen Weiß's mail goes to Max Muster; Susi Weiß forwards to herself
    await addStaff(office.db, { name: 'Weiß, Jürgen', email: 'juergen.weiss@agency.example', external: true });
    await addStaff(office.db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'sweiss' });
    await addMapping(office.db, 'juergen.weiss@agency.example', STAFF_LOGIN);
    await addMapping(office.db, 'susi.weiss@agency.example', 'sweiss');

    interface Expected {
      file: string;
      fileSha256: string;
      rcpt: string;
      sender: string | null;
      senderName?: string;
      subject?: string;
      textContains?: string;
      noMessageIdNoDate?: boolean;
      attachments?: { filename: string; contentType: string; size: number; sha256: string }[];
      candidates: string[];
    }
    // values from the corpus README (test/fixtures, /work/shared/corpus/README.md)
    const corpus: Expected[] = [
      {
        file: 'scanner-basic.eml',
        fileSha256: 'ed37789e567861537ca64e7f689709dda5592fd8177b44152a47db183db7ebb0',
        rcpt: SCAN,
        sender: 'scanner-2og@agency.example',
        subject: 'Scan from MFP 2. OG',
        attachments: [
          { filename: '20210224103512.pdf', contentType: 'application/pdf', size: 584, sha256: '9febcb43dbae922f6a793336de8e3f1aa0f69795447112234d109918be4d20d5' },
        ],
        candidates: [STAFF_LOGIN],
      },
      {
        file: 'scanner-octet-stream-no-msgid.eml',
        fileSha256: 'bf57c81803bfb9fb0ed3893f6e1a5aaf9db455a6204ebfc7245ec270d2fe832f',
        rcpt: SCAN,
        sender: 'scanner-eg@agency.example',
        subject: '',
        noMessageIdNoDate: true,
        attachments: [
          // declared application/octet-stream; detected application/pdf
          { filename: 'Scan_0002.pdf', contentType: 'application/pdf', size: 584, sha256: '228e8b2054b869097d2ca4f44ed98de9a683f5e46218b917b497f88c01626d60' },
        ],
        candidates: [],
      },
      {
        file: 'scanner-rfc2231-umlaut-filename.eml',
        fileSha256: '4cfb40a9479146ab8d2c8713b25ce3e0c9ce5609aabf09bf9be891384be1fb40',
        rcpt: SCAN,
        sender: 'scanner-sozial@agency.example',
        subject: 'Scan Bescheid Müller',
        textContains: 'Gescannt am 25.02.2021 – Bürgerbüro',
        attachments: [
          { filename: 'Bescheid Müller 2021.pdf', contentType: 'application/pdf', size: 583, sha256: '0758c04f4c4bdf34cd1cba62eb1aec05150115e42c3a1f478272a253b57a0003' },
        ],
        candidates: [],
      },
      {
        file: 'latin1-split-encoded-word.eml',
        fileSha256: '3d0a32c7429e5e6f076f2005078c103798f7bfe1c2130ac5938a67c48ccde2fc',
        rcpt: TAUOFFICE,
        sender: 'juergen.weiss@agency.example',
        senderName: 'Jürgen Weiß',
        subject: 'Terminänderung für die Sprechstunde am Montag (Straßenverkehrsamt)',
        textContains: 'die Sprechstunde fällt aus. Grüße',
        candidates: [STAFF_LOGIN], // the mapping applies although From is written Juergen.Weiss@Agency.Example
      },
      {
        file: 'forwarded-message-rfc822.eml',
        fileSha256: '29d196d160de8e83801465eb7931ed049e962983431a1a082cb0ebda3c608648',
        rcpt: TAUOFFICE,
        sender: 'susi.weiss@agency.example',
        senderName: 'Weiß, Susi',
        subject: 'WG: Antrag auf Wohngeld',
        candidates: ['sweiss'], // routed by the forwarding staff member's From, not the inner message
      },
      {
        file: 'empty-from.eml',
        fileSha256: 'fc141924e791ec59b3d7a8bde3e2ed6f69b301cbf4144021f13e3d085e7e5381',
        rcpt: SCAN,
        sender: null,
        candidates: [],
      },
      {
        file: 'xss-subject-and-traversal-filename.eml',
        fileSha256: '963854984c2e13f1c58f35b07ec4e0827de7628b7b8f83b3b9893f501d0ac3d7',
        rcpt: TAUOFFICE,
        sender: 'attacker@example.org',
        // stored as text, exactly as written; escaping is the job of whoever shows it
        subject: '<img src=x onerror="alert(document.cookie)"><script>alert(1)</script>',
        candidates: [],
      },
    ];

    for (const x of corpus) {
      assert.equal(sha256(fixture(x.file)), x.fileSha256, `${x.file} intact`);
      const before = (await snapshot(office.db)).messages.length;
      const result = await swaks(office.port, ['--helo', 'relay.agency.example', '--from', 'relay@agency.example', '--to', x.rcpt, '--data', `@${path.join(FIXTURES, x.file)}`]);
      assert.equal(result.code, 0, `${x.file}: ${result.stdout}${result.stderr}`);
      assert.match(dataReply(result.stdout) ?? '', /^<- {2}250 /, `${x.file}: ${result.stdout}`);

      const s = await snapshot(office.db);
      assert.equal(s.messages.length, before + 1, `${x.file}: one new message`);
      const m = s.messages.at(-1)!;
      assert.equal(m.senderAddress, x.sender, `${x.file}: sender`);
      if (x.senderName !== undefined) assert.equal(m.senderName, x.senderName, `${x.file}: sender name`);
      if (x.subject !== undefined) assert.equal(m.subject, x.subject, `${x.file}: subject`);
      if (x.textContains !== undefined) assert.ok(m.text?.includes(x.textContains), `${x.file}: text ${JSON.stringify(m.text)}`);
      if (x.noMessageIdNoDate) {
        assert.equal(m.messageIdHeader, null, `${x.file}: no Message-ID`);
        assert.equal(m.dateFromHeader, false, `${x.file}: Date is the time of receipt`);
      }
      if (x.attachments) {
        const stored = await attachmentsOf(office.db, m.id);
        assert.deepEqual(
          stored.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size, sha256: a.sha256 })),
          x.attachments,
          `${x.file}: attachments`,
        );
      }
      const tasks = (await listTasks(office.db)).filter((t) => t.messageId === m.id);
      assert.equal(tasks.length, 1, `${x.file}: one task`);
      assert.equal(tasks[0]!.channel, x.rcpt === SCAN ? 'scanner' : 'general');
      assert.deepEqual(
        tasks[0]!.candidates.map((c) => c.login),
        x.candidates,
        `${x.file}: candidates`,
      );
      assert.equal(tasks[0]!.status, x.candidates.length ? 'open' : 'unassigned', `${x.file}: status`);
    }
  });

  it('recognises a redelivery of a corpus message by another client as the same message', async () => {
    const file = 'scanner-rfc2231-umlaut-filename.eml';
    const first = await swaks(office.port, ['--from', 'scanner-sozial@agency.example', '--to', SCAN, '--data', `@${path.join(FIXTURES, file)}`]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const second = await sendRaw(office.port, { from: 'scanner-sozial@agency.example', to: [SCAN] }, fixture(file));
    assert.equal(second.code, 250, second.response);

    const s = await snapshot(office.db);
    assert.equal(s.messages.length, 1);
    assert.equal(s.tasks.length, 1);
    assert.deepEqual(
      s.receipts.map((r) => r.duplicate),
      [false, true],
    );
    // nodemailer sends the file as it is (it already ends with CRLF)
    assert.equal(s.receipts[1]!.rawSha256, sha256(fixture(file)));
  });
});
