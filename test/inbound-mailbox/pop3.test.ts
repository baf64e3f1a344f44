/**
 * POP3 polling against a real Dovecot (test/helpers/dovecot.ts) and, for misbehaviour Dovecot
 * cannot produce, a scripted POP3 server (pop3-lib.ts): exactly once with `delete` and `keep`,
 * bytes kept as bytes (raw Latin-1 header, thousands of dot-leading lines, a terminator split
 * across TCP writes, a "." alone in a write), no UIDL, a failing RETR, a killed poller, the size
 * limit, importSince, and the plain-words errors of a connection test (wrong password, untrusted
 * certificate, TLS 1.0 refused by default).
 * Expected values come from what the test delivered (bytes, sizes, counts), from RFC 1939 (UIDL,
 * byte-stuffing, DELE only at QUIT) and from the UIDL format configured in the harness
 * (`%08Xu%08Xv`: UID and UIDVALIDITY as 8 hex digits each).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { asc, eq } from 'drizzle-orm';
import type { AppContext } from '../../src/context.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import { listFailures, seenUidls } from '../../src/db/repositories/mailboxes.js';
import { message, receipt, task } from '../../src/db/schema.js';
import { openContext } from '../../src/gateway.js';
import { MailboxError, type MailboxSettings, type PollDeps, type PollReport } from '../../src/inbound/mailbox/types.js';
import { DotUnstuffer } from '../../src/inbound/pop3/dot-unstuffer.js';
import { BATCH_MESSAGES } from '../../src/inbound/mailbox/batch.js';
import { arrivalDate, pop3Adapter } from '../../src/inbound/pop3/adapter.js';
import { createLogger } from '../../src/log.js';
import { freePort, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver, freshPostgresDatabase, tempDir, testConfig, testContext } from '../helpers/env.js';
import { countingIngest, failingFor } from './imap-lib.js';
import { startScriptedPop3, stuffForWire, writeInParts, type ScriptedOptions } from './pop3-lib.js';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const NAMES = ['badone', 'del', 'keep', 'bytes', 'crash', 'throw', 'large', 'since', 'wrongpw', 'probe', 'untrusted', 'lost'];
const USERS = [...NAMES.map((user) => ({ user, password: `pw-${user}-Ä1` })), { user: 'AGENCY\\scan', password: 'with space ' }];
const pw = (user: string) => USERS.find((u) => u.user === user)!.password;
const NOTHING: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
const MAX = 10 * 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

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

/** Settings for a POP3 account; default: harness user over implicit TLS trusting the harness CA. */
function settings(o: Partial<MailboxSettings> & { username: string }): MailboxSettings {
  const port = o.port ?? dc.ports.pop3s;
  const host = o.host ?? '127.0.0.1';
  return {
    channel: 'scanner',
    protocol: 'pop3',
    host,
    port,
    security: 'tls',
    password: USERS.find((u) => u.user === o.username)?.password ?? 'secret',
    folder: 'INBOX',
    afterImport: 'delete',
    ca: dc.ca,
    tlsLegacy: false,
    importSince: null,
    account: `pop3://${o.username}@${host}:${port}`,
    ...o,
  };
}

const deps = (ctx: AppContext, maxBytes = MAX): PollDeps => ({ ctx, log: createLogger('silent'), maxBytes });

/** A message with CRLF line ends and a unique Message-ID. */
function mail(i: number, tag: string, extraHeaders = '', body = `Scan ${i} for ${tag}.\r\n`): Buffer {
  return Buffer.from(
    `From: Scanner <scanner-2og@agency.example>\r\nTo: scan@agency.example\r\nSubject: ${tag} ${i}\r\n` +
      `Date: Tue, 03 Nov 2026 10:0${i % 10}:00 +0100\r\nMessage-ID: <${tag}-${i}-${process.pid}@agency.example>\r\n${extraHeaders}` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${body}`,
    'latin1',
  );
}

async function storedHashes(ctx: AppContext): Promise<string[]> {
  return (await ctx.db.select({ h: message.rawSha256 }).from(message)).map((r) => r.h).sort();
}

async function counts(ctx: AppContext) {
  return {
    messages: (await ctx.db.select({ id: message.id }).from(message)).length,
    tasks: (await ctx.db.select({ id: task.id }).from(task)).length,
  };
}

/**
 * The UIDL Dovecot gives with pop3_uidl_format = %08Xu%08Xv: the UID and the UIDVALIDITY, each as
 * 8 hex digits (Dovecot's %X modifier writes lower-case hex, as the classic UW-IMAP/Courier format).
 */
const dovecotUidl = (uid: number, uidValidity: number) => uid.toString(16).padStart(8, '0') + uidValidity.toString(16).padStart(8, '0');

const hashesOf = (msgs: Buffer[]) => msgs.map(sha256).sort();

describe('POP3 against Dovecot', () => {
  test('delete (default): new mail imported once over implicit TLS, removed from the server, UIDLs recorded', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'del'), mail(2, 'del')];
      for (const m of msgs) await dc.deliver('del', m);
      const uidv = await dc.uidValidity('del');
      const s = settings({ username: 'del' });
      const c = countingIngest(ctx);
      assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), { ...NOTHING, imported: 2 });
      assert.deepEqual(await storedHashes(ctx), hashesOf(msgs));
      assert.deepEqual(await dc.messageFiles('del'), [], 'DELE + QUIT removed both');
      assert.deepEqual([...(await seenUidls(ctx.db, s.account))].sort(), [dovecotUidl(1, uidv), dovecotUidl(2, uidv)].sort());
      const receipts = await ctx.db.select().from(receipt).orderBy(asc(receipt.id));
      assert.deepEqual(
        receipts.map((r) => [r.sourceKind, (r.source as { uidl: string; account: string }).uidl, (r.source as { account: string }).account]),
        [
          ['pop3', dovecotUidl(1, uidv), s.account],
          ['pop3', dovecotUidl(2, uidv), s.account],
        ],
      );
      assert.deepEqual(await counts(ctx), { messages: 2, tasks: 2 });
      assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 2);
    }));

  test('one message of a batch cannot be stored: the others are committed and deleted, it is recorded, left on the server and imported on the next poll', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'badone'), mail(2, 'badone'), mail(3, 'badone')];
      for (const m of msgs) await dc.deliver('badone', m);
      const s = settings({ username: 'badone' });
      const uidv = await dc.uidValidity('badone');
      const second = failingFor(ctx, (src) => src.kind === 'pop3' && src.uidl === dovecotUidl(2, uidv));
      assert.deepEqual(await pop3Adapter.poll(s, deps(second)), { ...NOTHING, imported: 2, failed: 1 });
      assert.deepEqual(await storedHashes(ctx), hashesOf([msgs[0]!, msgs[2]!]));
      const failures = await listFailures(ctx.db, s.account);
      assert.deepEqual(failures.map((f) => [f.itemKey, f.permanent]), [[dovecotUidl(2, uidv), false]]);
      assert.match(failures[0]!.reason, /could not be stored: the spooled bytes cannot be read/);
      assert.deepEqual([...(await seenUidls(ctx.db, s.account))].sort(), [dovecotUidl(1, uidv), dovecotUidl(3, uidv)].sort(), 'only the stored ones are recorded');
      assert.equal((await dc.messageFiles('badone')).length, 1, 'the two stored were deleted, the other left');

      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 1 });
      assert.deepEqual(await storedHashes(ctx), hashesOf(msgs));
      assert.deepEqual(await counts(ctx), { messages: 3, tasks: 3 });
      assert.deepEqual(await listFailures(ctx.db, s.account), []);
      assert.deepEqual(await dc.messageFiles('badone'), []);
    }));

  test('keep over STARTTLS: left on the server, never read again; a new message is imported', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'keep'), mail(2, 'keep')];
      for (const m of msgs) await dc.deliver('keep', m);
      const s = settings({ username: 'keep', port: dc.ports.pop3, security: 'starttls', afterImport: 'keep' });
      const c = countingIngest(ctx);
      assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), { ...NOTHING, imported: 2 });
      assert.equal((await dc.messageFiles('keep')).length, 2);
      assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 2, 'no RETR of a known UIDL');
      const third = mail(3, 'keep');
      await dc.deliver('keep', third);
      assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), { ...NOTHING, imported: 1 });
      assert.equal(c.calls(), 3);
      assert.deepEqual(await storedHashes(ctx), hashesOf([...msgs, third]));
      assert.equal((await dc.messageFiles('keep')).length, 3);
    }));

  test('delete after a lost DELE: a message imported before is deleted without being read again', () =>
    withCtx(async (ctx) => {
      // a poll with keep records the UIDLs and leaves the mail, as a poll whose QUIT never came would
      const msgs = [mail(1, 'lost'), mail(2, 'lost')];
      for (const m of msgs) await dc.deliver('lost', m);
      const c = countingIngest(ctx);
      assert.deepEqual(await pop3Adapter.poll(settings({ username: 'lost', afterImport: 'keep' }), deps(c.ctx)), { ...NOTHING, imported: 2 });
      assert.equal((await dc.messageFiles('lost')).length, 2);
      assert.deepEqual(await pop3Adapter.poll(settings({ username: 'lost', afterImport: 'delete' }), deps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 2, 'not read again');
      assert.deepEqual(await dc.messageFiles('lost'), []);
      assert.deepEqual(await storedHashes(ctx), hashesOf(msgs));
    }));

  test('plain connection and a domain login: "AGENCY\\scan" and a password ending in a space are sent as given', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'domain');
      await dc.deliver('AGENCY\\scan', m);
      const s = settings({ username: 'AGENCY\\scan', port: dc.ports.pop3, security: 'none' });
      const steps = await pop3Adapter.test(s, deps(ctx));
      assert.deepEqual(
        steps.map((x) => [x.step, x.ok]),
        [
          ['connect', true],
          ['tls', true],
          ['login', true],
          ['folder', true],
          ['fetch', true],
        ],
      );
      assert.match(steps[1]!.detail, /no TLS/);
      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 1 });
      assert.deepEqual(await storedHashes(ctx), [sha256(m)]);
      assert.deepEqual(await dc.messageFiles('AGENCY\\scan'), []);
    }));

  test('bytes stay bytes: a raw Latin-1 header and thousands of lines starting with "." arrive byte for byte', () =>
    withCtx(async (ctx) => {
      const lines: string[] = [];
      const dotted = ['.', '..', '...', '.hidden line', '. leading dot and space', '.\t', '.=2E', '.\u00e4 latin-1 after a dot'];
      for (let i = 0; i < 6000; i++) lines.push(`${i % 3 === 2 ? 'plain line' : dotted[i % dotted.length]} ${i} ${'-'.repeat(i % 70)}`);
      lines.push('.'); // the last line of the message is a lone dot: on the wire ".." then "."
      const header =
        'From: =?ISO-8859-1?Q?J=FCrgen?= <scanner-2og@agency.example>\r\nTo: scan@agency.example\r\n' +
        // unencoded 8-bit ISO-8859-1 bytes in the header, as old scanners send them
        'Subject: Gr\u00fc\u00dfe aus M\u00fcnchen \u00e4\u00f6\u00fc \u00c4\u00d6\u00dc\r\n' +
        `Date: Tue, 03 Nov 2026 10:00:00 +0100\r\nMessage-ID: <bytes-${process.pid}@agency.example>\r\n` +
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n';
      const raw = Buffer.from(header + lines.join('\r\n') + '\r\n', 'latin1');
      // independent checks of the test data itself
      assert.ok(raw.includes(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65])), 'Gr\\xfc\\xdfe as single bytes');
      assert.ok(raw.length > 256 * 1024, 'larger than the in-memory spool limit');
      assert.ok(lines.filter((l) => l.startsWith('.')).length >= 4000);

      await dc.deliver('bytes', raw);
      const s = settings({ username: 'bytes' });
      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 1 });
      const [row] = await ctx.db.select().from(message);
      assert.ok(row);
      assert.equal(row.size, raw.length);
      assert.equal(row.rawSha256, sha256(raw));
      const stored = await readBlobBuffer(ctx.db, row.rawSha256);
      assert.ok(stored);
      assert.ok(stored.equals(raw), 'stored bytes equal the delivered bytes');
    }));

  test('test(): connect, TLS, login, folder and fetch succeed and change nothing on the server', () =>
    withCtx(async (ctx) => {
      await dc.deliver('probe', mail(1, 'probe'));
      await dc.deliver('probe', mail(2, 'probe'));
      for (const [security, port] of [
        ['tls', dc.ports.pop3s],
        ['starttls', dc.ports.pop3],
      ] as const) {
        const steps = await pop3Adapter.test(settings({ username: 'probe', security, port }), deps(ctx));
        assert.deepEqual(
          steps.map((x) => [x.step, x.ok]),
          [
            ['connect', true],
            ['tls', true],
            ['login', true],
            ['folder', true],
            ['fetch', true],
          ],
          JSON.stringify(steps),
        );
        assert.match(steps[1]!.detail, /TLSv1\.[23]/);
        assert.match(steps[3]!.detail, /^2 message/);
        assert.match(steps[4]!.detail, /UIDL lists 2/);
      }
      const files = await dc.messageFiles('probe');
      assert.equal(files.length, 2);
      for (const f of files) assert.doesNotMatch(f, /:2,[A-Z]*S/, 'TOP does not mark a message as read');
      assert.deepEqual(await counts(ctx), { messages: 0, tasks: 0 });
    }));

  test('wrong password: test() stops at login with "login failed"; poll throws the same', () =>
    withCtx(async (ctx) => {
      const s = settings({ username: 'wrongpw', password: 'not-the-password' });
      const steps = await pop3Adapter.test(s, deps(ctx));
      assert.deepEqual(
        steps.map((x) => [x.step, x.ok]),
        [
          ['connect', true],
          ['tls', true],
          ['login', false],
        ],
      );
      assert.match(steps[2]!.detail, /^login failed/);
      assert.doesNotMatch(JSON.stringify(steps), /not-the-password/);
      await assert.rejects(pop3Adapter.poll(s, deps(ctx)), (err: unknown) => err instanceof MailboxError && err.step === 'login' && /login failed/.test(err.message));
    }));

  test('untrusted certificate (no CA file): step tls, over implicit TLS and STARTTLS, before any password is sent', () =>
    withCtx(async (ctx) => {
      for (const [security, port] of [
        ['tls', dc.ports.pop3s],
        ['starttls', dc.ports.pop3],
      ] as const) {
        const s = settings({ username: 'untrusted', security, port, ca: null });
        const steps = await pop3Adapter.test(s, deps(ctx));
        assert.deepEqual(
          steps.map((x) => [x.step, x.ok]),
          [
            ['connect', true],
            ['tls', false],
          ],
          security,
        );
        assert.match(steps[1]!.detail, /certificate is not trusted/);
        await assert.rejects(pop3Adapter.poll(s, deps(ctx)), (err: unknown) => err instanceof MailboxError && err.step === 'tls');
      }
      assert.doesNotMatch(readFileSync(dc.logFile, 'utf8'), /user=<untrusted>/, 'the user name never reached the server');
    }));

  test('connection refused: step connect in plain words', () =>
    withCtx(async (ctx) => {
      const port = await freePort();
      const steps = await pop3Adapter.test(settings({ username: 'probe', port }), deps(ctx));
      assert.deepEqual(steps, [{ step: 'connect', ok: false, detail: 'connection refused: nothing listens on that host and port' }]);
    }));

  test('size limit: recorded as too large with its size, left on the server, never downloaded; a raised limit imports it', () =>
    withCtx(async (ctx) => {
      const big = mail(1, 'large', '', `${'x'.repeat(70)}\r\n`.repeat(400)); // 400 lines of 72 bytes + header
      const small = mail(2, 'large');
      await dc.deliver('large', big);
      await dc.deliver('large', small);
      const limit = 10_000;
      assert.ok(big.length > limit && small.length < limit);
      const s = settings({ username: 'large' });
      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx, limit)), { ...NOTHING, imported: 1, tooLarge: 1 });
      const uidv = await dc.uidValidity('large');
      const failures = await listFailures(ctx.db, s.account);
      assert.deepEqual(
        failures.map((f) => [f.itemKey, f.reason, f.permanent, f.attempts]),
        [[dovecotUidl(1, uidv), `too large: ${big.length} bytes, limit ${limit}`, true, 1]],
      );
      assert.deepEqual(await storedHashes(ctx), [sha256(small)]);
      assert.equal((await dc.messageFiles('large')).length, 1, 'the large one stays');
      // Dovecot logs per session how many messages were RETRieved and the bytes it sent for them
      // (message, status line, stuffing): one, and fewer bytes than the large one has
      const retr = /pop3\(large\)[^\n]*retr=(\d+)\/(\d+),/.exec(readFileSync(dc.logFile, 'utf8'));
      assert.ok(retr, 'the session is logged');
      assert.equal(Number(retr[1]), 1);
      assert.ok(Number(retr[2]) >= small.length && Number(retr[2]) < big.length, 'only the small one was downloaded');

      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx, limit)), { ...NOTHING, tooLarge: 1 });
      assert.equal((await listFailures(ctx.db, s.account))[0]!.attempts, 1, 'not recorded again');
      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx, 100_000)), { ...NOTHING, imported: 1 });
      assert.deepEqual(await listFailures(ctx.db, s.account), []);
      assert.deepEqual(await storedHashes(ctx), hashesOf([big, small]));
      assert.deepEqual(await dc.messageFiles('large'), []);
    }));

  test('importSince: older mail (topmost Received, else Date) is skipped and left; newer mail is imported', () =>
    withCtx(async (ctx) => {
      const oldByReceived = mail(1, 'since', 'Received: from mfp.agency.example by mx.agency.example; Thu, 01 Mar 2001 08:00:00 +0100\r\n');
      const oldByDate = Buffer.from(mail(2, 'since').toString('latin1').replace(/^Date: .*$/m, 'Date: Fri, 01 Feb 2002 09:00:00 +0000'), 'latin1');
      const fresh = mail(3, 'since');
      for (const m of [oldByReceived, oldByDate, fresh]) await dc.deliver('since', m);
      const s = settings({ username: 'since', importSince: new Date('2020-01-01T00:00:00Z') });
      assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 1, skipped: 2 });
      assert.deepEqual(await storedHashes(ctx), [sha256(fresh)]);
      assert.equal((await dc.messageFiles('since')).length, 2);
    }));

  test('killed between commit and DELE: the re-poll stores nothing twice and then deletes', async () => {
    // The poller runs in a child process on a database both processes open in turn, and is
    // killed with SIGKILL right after its first batch committed: one message more than a batch
    // holds, so that one is left for the re-poll.
    const tmp = tempDir();
    const pg = driver === 'postgres' ? await freshPostgresDatabase() : null;
    const env: Record<string, string> = pg ? { DATABASE_URL: pg.url } : {};
    try {
      const msgs = Array.from({ length: BATCH_MESSAGES + 1 }, (_, i) => mail(i + 1, 'crash'));
      for (const m of msgs) await dc.deliver('crash', m);
      const s = settings({ username: 'crash' });
      const child = await run(process.execPath, ['--import', 'tsx', path.join(HERE, 'pop3-crash-child.ts'), JSON.stringify({ dataDir: tmp.dir, databaseUrl: pg?.url, settings: s })]).then(
        () => ({ signal: null as string | null, stdout: 'exited normally' }),
        (err: { signal?: string; stdout?: string }) => ({ signal: err.signal ?? null, stdout: err.stdout ?? '' }),
      );
      assert.equal(child.signal, 'SIGKILL', `child output: ${child.stdout}`);
      assert.equal(child.stdout, 'committed\n');

      const { ctx, close } = await openContext(testConfig(tmp.dir, env), createLogger('silent'), { lock: false });
      try {
        assert.deepEqual(await storedHashes(ctx), hashesOf(msgs.slice(0, BATCH_MESSAGES)), 'the first batch was committed, the last message not');
        // the UIDLs are marked imported in the batch's transaction (issue 13): committed with it
        const uidv = await dc.uidValidity('crash');
        assert.deepEqual(
          [...(await seenUidls(ctx.db, s.account))].sort(),
          Array.from({ length: BATCH_MESSAGES }, (_, i) => dovecotUidl(i + 1, uidv)).sort(),
          'their UIDLs were recorded with the commit',
        );
        assert.equal((await dc.messageFiles('crash')).length, BATCH_MESSAGES + 1, 'nothing deleted: no QUIT');
        const c = countingIngest(ctx);
        // the first batch is deleted without being read again, the last message imported
        assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), { ...NOTHING, imported: 1 });
        assert.equal(c.calls(), 1);
        assert.deepEqual(await counts(ctx), { messages: BATCH_MESSAGES + 1, tasks: BATCH_MESSAGES + 1 });
        assert.deepEqual(await storedHashes(ctx), hashesOf(msgs));
        assert.deepEqual(await dc.messageFiles('crash'), []);
        assert.deepEqual(await pop3Adapter.poll(s, deps(c.ctx)), NOTHING);
      } finally {
        await close();
      }
    } finally {
      await pg?.drop();
      tmp.cleanup();
    }
  });

  test('ingest resolves, then the poll fails before DELE: recorded, left, stored once, deleted on the re-poll', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'throw');
      await dc.deliver('throw', m);
      const s = settings({ username: 'throw' });
      const broken = countingIngest(ctx, () => {
        throw new Error('simulated crash after commit');
      });
      assert.deepEqual(await pop3Adapter.poll(s, deps(broken.ctx)), { ...NOTHING, failed: 1 });
      const uidv = await dc.uidValidity('throw');
      assert.deepEqual(
        (await listFailures(ctx.db, s.account)).map((f) => [f.itemKey, f.reason, f.permanent]),
        [[dovecotUidl(1, uidv), 'could not be stored: simulated crash after commit', false]],
      );
      assert.equal((await dc.messageFiles('throw')).length, 1);
      // its UIDL committed with it: the re-poll deletes it without reading it again
      const again = countingIngest(ctx);
      assert.deepEqual(await pop3Adapter.poll(s, deps(again.ctx)), NOTHING);
      assert.equal(again.calls(), 0, 'not read again');
      assert.deepEqual(await counts(ctx), { messages: 1, tasks: 1 });
      assert.deepEqual(await listFailures(ctx.db, s.account), []);
      assert.deepEqual(await dc.messageFiles('throw'), []);
    }));
});

describe('POP3 against a scripted server', () => {
  async function withServer(opts: ScriptedOptions, fn: (port: number, server: Awaited<ReturnType<typeof startScriptedPop3>>) => Promise<void>) {
    const server = await startScriptedPop3(opts);
    try {
      await fn(server.port, server);
    } finally {
      await server.close();
    }
  }
  const plain = (port: number, o: Partial<MailboxSettings> = {}) => settings({ username: 'user', password: 'secret', port, security: 'none', ...o });

  test('the final CRLF "." CRLF split across TCP writes at every position, and a split status line', () =>
    withCtx(async (ctx) => {
      const terminatorSplits = [1, 2, 3, 4]; // bytes of "\r\n.\r\n" in the first write
      for (const k of terminatorSplits) {
        const m = mail(k, 'split');
        await withServer(
          {
            messages: [m],
            writeRetr: (socket, wire) => writeInParts(socket, [wire.subarray(0, wire.length - 5 + k), wire.subarray(wire.length - 5 + k)]),
          },
          async (port, server) => {
            assert.deepEqual(await pop3Adapter.poll(plain(port), deps(ctx)), { ...NOTHING, imported: 1 }, `split after ${k} terminator bytes`);
            assert.deepEqual(server.deleted, [1]);
          },
        );
      }
      const statusSplit = mail(9, 'split');
      await withServer(
        { messages: [statusSplit], writeRetr: (socket, wire) => writeInParts(socket, [wire.subarray(0, 2), wire.subarray(2, 7), wire.subarray(7)]) },
        async (port) => assert.deepEqual(await pop3Adapter.poll(plain(port), deps(ctx)), { ...NOTHING, imported: 1 }),
      );
      const expected = [...terminatorSplits.map((k) => mail(k, 'split')), statusSplit];
      assert.deepEqual(await storedHashes(ctx), hashesOf(expected));
    }));

  test('a "." alone in one write (stuffing dot, terminator dot) and ".\\r\\n" that is content', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'dots', '', 'first\r\n.\r\n.x\r\n.hidden\r\nlast\r\n');
      // RFC 1939 §3 on the wire: "first" "..", "..x", "..hidden", "last", then "."
      const body = Buffer.from('first\r\n..\r\n..x\r\n..hidden\r\nlast\r\n.\r\n', 'latin1');
      await withServer(
        {
          messages: [m],
          writeRetr: async (socket, wire) => {
            assert.ok(wire.subarray(wire.length - body.length).equals(body), 'the scripted server stuffs as RFC 1939 says');
            const head = wire.subarray(0, wire.length - body.length + 'first\r\n'.length);
            const parts = ['.', '.\r\n', '.', '.x\r\n', '.', '.hidden\r\nlast\r\n', '.', '\r\n'].map((p) => Buffer.from(p));
            await writeInParts(socket, [head, ...parts]);
          },
        },
        async (port) => assert.deepEqual(await pop3Adapter.poll(plain(port), deps(ctx)), { ...NOTHING, imported: 1 }),
      );
      const [row] = await ctx.db.select().from(message);
      assert.ok(row);
      assert.ok((await readBlobBuffer(ctx.db, row.rawSha256))!.equals(m));
    }));

  test('a server without UIDL: every message is read each poll and ingest() recognises those stored before', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'nouidl'), mail(2, 'nouidl')];
      await withServer({ messages: msgs, uidl: false }, async (port, server) => {
        const s = plain(port, { afterImport: 'keep' });
        assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 2 });
        assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, duplicates: 2 });
        assert.deepEqual(await counts(ctx), { messages: 2, tasks: 2 });
        assert.deepEqual(await storedHashes(ctx), hashesOf(msgs));
        assert.deepEqual([...(await seenUidls(ctx.db, s.account))], []);
        assert.deepEqual(server.deleted, []);
        assert.equal(server.commands.filter((c) => c.startsWith('RETR')).length, 4);
        assert.equal(server.commands.filter((c) => c.startsWith('DELE')).length, 0);
      });
      await withServer({ messages: msgs, uidl: false }, async (port, server) => {
        assert.deepEqual(await pop3Adapter.poll(plain(port), deps(ctx)), { ...NOTHING, duplicates: 2 });
        assert.deepEqual(server.deleted, [1, 2], 'delete: removed once stored');
      });
    }));

  test('a RETR refused for one message: recorded, the poll goes on, retried on the next poll', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'retrerr'), mail(2, 'retrerr')];
      const retrErrors = [1];
      await withServer({ messages: msgs, retrErrors }, async (port, server) => {
        const s = plain(port);
        assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 1, failed: 1 });
        assert.deepEqual(server.deleted, [2]);
        const failures = await listFailures(ctx.db, s.account);
        assert.deepEqual(
          failures.map((f) => [f.itemKey, f.permanent]),
          [['scripted-1', false]],
        );
        assert.match(failures[0]!.reason, /cannot read that message/);
        retrErrors.length = 0;
        assert.deepEqual(await pop3Adapter.poll(s, deps(ctx)), { ...NOTHING, imported: 1 });
        assert.deepEqual(server.deleted, [2, 1]);
        assert.deepEqual(await listFailures(ctx.db, s.account), []);
        assert.deepEqual(await storedHashes(ctx), hashesOf(msgs));
      });
    }));

  test('the connection drops in the middle of a RETR: the poll fails in plain words, nothing is stored, the message is recorded', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'drop', '', `${'y'.repeat(70)}\r\n`.repeat(100));
      await withServer(
        {
          messages: [m],
          writeRetr: async (socket, wire) => {
            await writeInParts(socket, [wire.subarray(0, 3000)]);
            socket.destroy();
          },
        },
        async (port, server) => {
          const s = plain(port);
          await assert.rejects(pop3Adapter.poll(s, deps(ctx)), (err: unknown) => err instanceof MailboxError && err.step === 'fetch' && /closed the connection/.test(err.message));
          assert.deepEqual(await counts(ctx), { messages: 0, tasks: 0 });
          assert.deepEqual((await listFailures(ctx.db, s.account)).map((f) => [f.itemKey, f.permanent]), [['scripted-1', false]]);
          assert.deepEqual(server.deleted, []);
        },
      );
    }));

  test('a TLS 1.0-only server: refused by default (step tls), read with tlsLegacy', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'tls10');
      const tls10 = {
        key: readFileSync(dc.keyFile),
        cert: readFileSync(dc.certFile),
        minVersion: 'TLSv1' as const,
        maxVersion: 'TLSv1' as const,
        ciphers: 'DEFAULT@SECLEVEL=0',
      };
      await withServer({ messages: [m], tls: tls10 }, async (port, server) => {
        const s = settings({ username: 'user', password: 'secret', port, security: 'tls' });
        const steps = await pop3Adapter.test(s, deps(ctx));
        assert.deepEqual(
          steps.map((x) => [x.step, x.ok]),
          [
            ['connect', true],
            ['tls', false],
          ],
        );
        assert.match(steps[1]!.detail, /TLS/);
        await assert.rejects(pop3Adapter.poll(s, deps(ctx)), (err: unknown) => err instanceof MailboxError && err.step === 'tls');
        assert.deepEqual(server.commands, [], 'nothing was sent over the refused connection');

        const legacy = { ...s, tlsLegacy: true };
        const ok = await pop3Adapter.test(legacy, deps(ctx));
        assert.deepEqual(
          ok.map((x) => x.ok),
          [true, true, true, true, true],
        );
        assert.match(ok[1]!.detail, /TLSv1\)/);
        assert.match(ok[4]!.detail, /TOP/, 'the scripted server has no TOP (it is optional): said, not a failure');
        assert.deepEqual(await pop3Adapter.poll(legacy, deps(ctx)), { ...NOTHING, imported: 1 });
        assert.deepEqual(await storedHashes(ctx), [sha256(m)]);
      });
    }));
});

describe('DotUnstuffer (RFC 1939 §3)', () => {
  test('random messages split into random chunks come out unchanged, the trailer after the terminator is returned', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['.', '..', '.\r', 'a', ' ', '\r', '\n', 'x.y', '\u00e4', '\r\n'];
    for (let round = 0; round < 300; round++) {
      const lines: string[] = [];
      for (let l = rand(20); l >= 0; l--) {
        let line = '';
        for (let p = rand(6); p > 0; p--) line += pieces[rand(pieces.length)];
        lines.push(line.replace(/\r\n/g, '\r'));
      }
      const msg = Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
      const trailer = Buffer.from(round % 2 ? '+OK next' : '', 'latin1');
      const wire = Buffer.concat([stuffForWire(msg), trailer]);
      const u = new DotUnstuffer();
      const out: Buffer[] = [];
      let rest: Buffer | null = null;
      for (let pos = 0; pos < wire.length && rest === null; ) {
        const len = 1 + rand(round % 3 === 0 ? 3 : 40);
        const r = u.feed(wire.subarray(pos, pos + len));
        out.push(...r.out);
        if (r.rest !== null) rest = Buffer.concat([r.rest, wire.subarray(pos + len)]);
        pos += len;
      }
      assert.ok(Buffer.concat(out).equals(msg), `round ${round}: ${JSON.stringify(msg.toString('latin1'))}`);
      assert.ok(rest !== null && rest.equals(trailer), `round ${round}: terminator found, trailer kept`);
    }
  });

  test('an empty body is "." alone; ".\\r" without LF is content', () => {
    const u = new DotUnstuffer();
    const r = u.feed(Buffer.from('.\r\n'));
    assert.deepEqual([Buffer.concat(r.out).toString(), r.rest?.toString()], ['', '']);
    const v = new DotUnstuffer();
    const out = [...v.feed(Buffer.from('.\rx\r\n')).out, ...v.feed(Buffer.from('.\r\n')).out];
    assert.equal(Buffer.concat(out).toString('latin1'), '\rx\r\n');
  });

  test('arrivalDate: topmost Received, else Date; comments ignored', () => {
    const h = (s: string) => Buffer.from(`${s}\r\n\r\nbody`, 'latin1');
    assert.equal(
      arrivalDate(h('Received: from a by b;\r\n Thu, 01 Mar 2001 08:00:00 +0100 (CET)\r\nReceived: from c by a; Wed, 28 Feb 2001 08:00:00 +0100\r\nDate: Fri, 01 Feb 2002 09:00:00 +0000'))?.toISOString(),
      '2001-03-01T07:00:00.000Z',
    );
    assert.equal(arrivalDate(h('Subject: x\r\nDate: Fri, 01 Feb 2002 09:00:00 +0000'))?.toISOString(), '2002-02-01T09:00:00.000Z');
    assert.equal(arrivalDate(h('Subject: no date')), null);
  });
});
