/**
 * IMAP polling against a real Dovecot (test/helpers/dovecot.ts): exactly once with each
 * after-import action, IDLE notices, a killed poller, a UIDVALIDITY reset, a 2,000-message
 * mailbox, the size limit, importSince, and the plain-words errors of a connection test.
 * Expected values come from what the test delivered (bytes, counts) and from RFC 3501
 * (UIDVALIDITY/UID rules, \Seen, modified UTF-7 folder names), read on the server's disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openContext } from '../../src/gateway.js';
import { getCheckpoint, listFailures } from '../../src/db/repositories/mailboxes.js';
import { imapAdapter } from '../../src/inbound/imap/adapter.js';
import { BATCH_MESSAGES } from '../../src/inbound/mailbox/batch.js';
import { watchMailbox } from '../../src/inbound/imap/idle.js';
import { MailboxError, type PollReport } from '../../src/inbound/mailbox/types.js';
import { createLogger } from '../../src/log.js';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver, freshPostgresDatabase, tempDir, testConfig, testContext } from '../helpers/env.js';
import { counts, countingIngest, failingFor, imapSettings, mail, pollDeps, sha256, startProxy, storedHashes, waitFor } from './imap-lib.js';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const NAMES = ['badone', 'seen', 'move', 'delete', 'keep', 'idle', 'idlere', 'dead', 'crash', 'throw', 'uidv', 'big', 'auth', 'starttls', 'since', 'large'];
const USERS = NAMES.map((user) => ({ user, password: `pw-${user}-Ä1` }));
const pw = (user: string) => USERS.find((u) => u.user === user)!.password;
const NOTHING: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
/** Maildir info suffix with the S (seen) flag: "<name>:2,<flags in ASCII order>" */
const SEEN = /:2,[A-Z]*S[a-z]*$/;

let dc: DovecotServer;
before(async () => {
  dc = await startDovecot({ users: USERS });
});
after(async () => {
  await dc?.stop();
});

async function withCtx(fn: (ctx: Awaited<ReturnType<typeof testContext>>['ctx']) => Promise<void>): Promise<void> {
  const { ctx, close } = await testContext();
  try {
    await fn(ctx);
  } finally {
    await close();
  }
}

/** Settings for a harness user over implicit TLS, trusting the harness CA. */
const tlsSettings = (user: string, extra: Parameters<typeof imapSettings>[0] extends infer T ? Partial<T> : never = {}) =>
  imapSettings({ port: dc.ports.imaps, user, password: pw(user), security: 'tls', ca: dc.ca, ...extra });

/** Contents of the message files of a Maildir folder directory (new/ and cur/). */
function filesIn(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const sub of ['new', 'cur']) {
    const d = path.join(dir, sub);
    if (existsSync(d)) for (const f of readdirSync(d)) out.push(readFileSync(path.join(d, f)));
  }
  return out;
}

/** Contents of the messages of a Maildir folder directory without the S (seen) flag. */
function unseenBodies(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const sub of ['new', 'cur']) {
    const d = path.join(dir, sub);
    if (existsSync(d)) for (const f of readdirSync(d)) if (!SEEN.test(f)) out.push(readFileSync(path.join(d, f)));
  }
  return out;
}

describe(`IMAP adapter against Dovecot (${driver})`, () => {
  test('seen: new mail imported once, byte for byte, \\Seen set on the server; the next poll imports nothing', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'seen'), mail(2, 'seen')];
      for (const m of msgs) await dc.deliver('seen', m);
      const settings = tlsSettings('seen', { afterImport: 'seen' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 2 });
      assert.deepEqual(await counts(ctx), { messages: 2, tasks: 2, failures: 0 });
      assert.deepEqual(await storedHashes(ctx), msgs.map(sha256).sort());
      const files = await dc.messageFiles('seen');
      assert.equal(files.length, 2);
      for (const f of files) assert.match(f, SEEN, `${f} carries the S flag`);

      const c = countingIngest(ctx);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 0);
      assert.deepEqual(await counts(ctx), { messages: 2, tasks: 2, failures: 0 });
    }));

  test('move: the target "Erledigt/Gelöschte Elemente" is created (modified UTF-7 on disk) and holds the messages', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'move'), mail(2, 'move')];
      for (const m of msgs) await dc.deliver('move', m);
      // RFC 3501 §5.1.3: "ö" U+00F6 → UTF-16BE 00 F6 → modified BASE64 "APY" → "&APY-";
      // Dovecot's Maildir++ layout stores the folder as ".<level>.<level>"
      const target = path.join(dc.maildir('move'), '.Erledigt.Gel&APY-schte Elemente');
      assert.equal(existsSync(target), false, 'target folder does not exist before');
      const settings = tlsSettings('move', { afterImport: 'move:Erledigt/Gelöschte Elemente' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 2 });
      assert.deepEqual(await dc.messageFiles('move'), [], 'INBOX is empty');
      assert.deepEqual(filesIn(target).map(sha256).sort(), msgs.map(sha256).sort(), 'moved bytes unchanged');
      assert.deepEqual(await storedHashes(ctx), msgs.map(sha256).sort());
      // a second message moves into the now existing folder
      const third = mail(3, 'move');
      await dc.deliver('move', third);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 1 });
      assert.equal(filesIn(target).length, 3);
      assert.deepEqual(await counts(ctx), { messages: 3, tasks: 3, failures: 0 });
    }));

  test('delete: imported messages are gone from the server', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'delete'), mail(2, 'delete'), mail(3, 'delete')];
      for (const m of msgs) await dc.deliver('delete', m);
      const settings = tlsSettings('delete', { afterImport: 'delete' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 3 });
      assert.deepEqual(await dc.messageFiles('delete'), []);
      assert.deepEqual(await storedHashes(ctx), msgs.map(sha256).sort());
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), NOTHING);
    }));

  test('keep: messages stay untouched (no \\Seen) and are not imported twice; a later one is imported alone', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'keep'), mail(2, 'keep')];
      for (const m of msgs) await dc.deliver('keep', m);
      const settings = tlsSettings('keep', { afterImport: 'keep' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 2 });
      const files = await dc.messageFiles('keep');
      assert.equal(files.length, 2);
      for (const f of files) assert.doesNotMatch(f, SEEN);
      const c = countingIngest(ctx);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 0);
      const third = mail(3, 'keep');
      await dc.deliver('keep', third);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), { ...NOTHING, imported: 1 });
      assert.equal(c.calls(), 1);
      assert.deepEqual(await storedHashes(ctx), [...msgs, third].map(sha256).sort());
      assert.equal((await dc.messageFiles('keep')).length, 3);
    }));

  test('IDLE: a message delivered into the Maildir triggers onNewMail within 5 s', () =>
    withCtx(async (ctx) => {
      let connected = 0;
      let notices = 0;
      const watch = watchMailbox(tlsSettings('idle'), pollDeps(ctx), () => notices++, { onConnected: () => connected++ });
      try {
        await waitFor(() => connected === 1, 10_000, 'the watch to connect');
        await dc.deliver('idle', mail(1, 'idle'));
        await waitFor(() => notices >= 1, 5_000, 'onNewMail after the delivery');
        const seen = notices;
        await dc.deliver('idle', mail(2, 'idle'));
        await waitFor(() => notices > seen, 5_000, 'onNewMail after the second delivery');
        assert.equal(connected, 1, 'one connection throughout');
      } finally {
        await watch.stop();
      }
      assert.deepEqual(await counts(ctx), { messages: 0, tasks: 0, failures: 0 }, 'the watch itself imports nothing');
    }));

  test('IDLE is ended and re-issued every maxIdleMs (RFC 2177 §3: DONE, then IDLE again)', () =>
    withCtx(async (ctx) => {
      // cleartext through a recording proxy so that the commands can be read
      const proxy = await startProxy(dc.ports.imap);
      let connected = 0;
      let notices = 0;
      const settings = imapSettings({ port: proxy.port, user: 'idlere', password: pw('idlere'), security: 'none' });
      const watch = watchMailbox(settings, pollDeps(ctx), () => notices++, { maxIdleMs: 700, keepaliveMs: 60_000, onConnected: () => connected++ });
      try {
        await waitFor(() => connected === 1, 10_000, 'the watch to connect');
        const idles = () => (proxy.clientText().match(/^\S+ IDLE\r$/gm) ?? []).length;
        const dones = () => (proxy.clientText().match(/^DONE\r$/gm) ?? []).length;
        await waitFor(() => idles() >= 3 && dones() >= 2, 10_000, 'three IDLE commands and two DONE');
        await dc.deliver('idlere', mail(1, 'idlere'));
        await waitFor(() => notices >= 1, 5_000, 'onNewMail after re-issued IDLE');
        assert.equal(proxy.connections(), 1);
      } finally {
        await watch.stop();
        await proxy.close();
      }
    }));

  test('IDLE: a silently dead connection is found by the NOOP keepalive and replaced; a closed one too', () =>
    withCtx(async (ctx) => {
      const proxy = await startProxy(dc.ports.imaps);
      let connected = 0;
      let notices = 0;
      const settings = imapSettings({ port: proxy.port, user: 'dead', password: pw('dead'), security: 'tls', ca: dc.ca });
      const watch = watchMailbox(settings, pollDeps(ctx), () => notices++, {
        keepaliveMs: 300,
        noopTimeoutMs: 800,
        backoffInitialMs: 100,
        backoffMaxMs: 500,
        onConnected: () => connected++,
      });
      try {
        await waitFor(() => connected === 1, 10_000, 'the watch to connect');
        proxy.freeze(); // no byte passes any more, no FIN, no RST: a dead NAT entry
        await waitFor(() => connected === 2, 10_000, 'a reconnect after the dead connection');
        assert.equal(proxy.connections(), 2);
        assert.ok(notices >= 1, 'a reconnect is reported as possible new mail');
        proxy.dropAll(); // the server side closes
        await waitFor(() => connected === 3, 10_000, 'a reconnect after the close');
        const before = notices;
        await dc.deliver('dead', mail(1, 'dead'));
        await waitFor(() => notices > before, 5_000, 'onNewMail on the new connection');
      } finally {
        await watch.stop();
        await proxy.close();
      }
    }));

  test('killed between commit and \\Seen: the re-poll stores nothing twice and then marks the message', async () => {
    // The poller runs in a child process on a database both processes open in turn, and is
    // killed with SIGKILL right after its first batch committed: one message more than a batch
    // holds, so that one is left for the re-poll.
    const tmp = tempDir();
    const pg = driver === 'postgres' ? await freshPostgresDatabase() : null;
    const env: Record<string, string> = pg ? { DATABASE_URL: pg.url } : {};
    try {
      const msgs = Array.from({ length: BATCH_MESSAGES + 1 }, (_, i) => mail(i + 1, 'crash'));
      for (const m of msgs) await dc.deliver('crash', m);
      const settings = tlsSettings('crash', { afterImport: 'seen' });
      const child = await run(process.execPath, ['--import', 'tsx', path.join(HERE, 'imap-crash-child.ts'), JSON.stringify({ dataDir: tmp.dir, databaseUrl: pg?.url, settings })]).then(
        () => ({ signal: null as string | null, stdout: 'exited normally' }),
        (err: { signal?: string; stdout?: string }) => ({ signal: err.signal ?? null, stdout: err.stdout ?? '' }),
      );
      assert.equal(child.signal, 'SIGKILL', `child output: ${child.stdout}`);
      assert.equal(child.stdout, 'committed\n');

      const { ctx, close } = await openContext(testConfig(tmp.dir, env), createLogger('silent'), { lock: false });
      try {
        assert.deepEqual(await storedHashes(ctx), msgs.slice(0, BATCH_MESSAGES).map(sha256).sort(), 'the first batch was committed, the last message not');
        for (const f of await dc.messageFiles('crash')) assert.doesNotMatch(f, SEEN, 'nothing marked before the crash');
        const c = countingIngest(ctx);
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), { ...NOTHING, imported: 1, duplicates: BATCH_MESSAGES });
        assert.equal(c.calls(), BATCH_MESSAGES + 1);
        assert.deepEqual(await counts(ctx), { messages: BATCH_MESSAGES + 1, tasks: BATCH_MESSAGES + 1, failures: 0 });
        assert.deepEqual(await storedHashes(ctx), msgs.map(sha256).sort());
        const files = await dc.messageFiles('crash');
        assert.equal(files.length, BATCH_MESSAGES + 1);
        for (const f of files) assert.match(f, SEEN);
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      } finally {
        await close();
      }
    } finally {
      await pg?.drop();
      tmp.cleanup();
    }
  });

  test('ingest resolves, then the poll fails before \\Seen: recorded, retried, stored once, marked on the re-poll', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'throw');
      await dc.deliver('throw', m);
      const settings = tlsSettings('throw', { afterImport: 'seen' });
      const broken = countingIngest(ctx, () => {
        throw new Error('simulated crash after commit');
      });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(broken.ctx)), { ...NOTHING, failed: 1 });
      assert.equal(broken.calls(), 1);
      assert.deepEqual(await counts(ctx), { messages: 1, tasks: 1, failures: 1 });
      for (const f of await dc.messageFiles('throw')) assert.doesNotMatch(f, SEEN);

      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, duplicates: 1 });
      assert.deepEqual(await counts(ctx), { messages: 1, tasks: 1, failures: 0 });
      const files = await dc.messageFiles('throw');
      assert.equal(files.length, 1);
      assert.match(files[0]!, SEEN);
    }));

  test('one message of a batch cannot be stored: the others are committed and marked, it is recorded, left unmarked and imported on the next poll', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'badone'), mail(2, 'badone'), mail(3, 'badone')];
      for (const m of msgs) await dc.deliver('badone', m);
      const settings = tlsSettings('badone', { afterImport: 'seen' });
      const uidv = await dc.uidValidity('badone');
      const second = failingFor(ctx, (s) => s.kind === 'imap' && s.uid === 2);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(second)), { ...NOTHING, imported: 2, failed: 1 });
      assert.deepEqual(await storedHashes(ctx), [msgs[0]!, msgs[2]!].map(sha256).sort());
      const failures = await listFailures(ctx.db, settings.account);
      assert.deepEqual(failures.map((f) => [f.itemKey, f.permanent]), [[`${uidv}:2`, false]]);
      assert.match(failures[0]!.reason, /could not be stored: the spooled bytes cannot be read/);
      assert.equal(filesIn(dc.maildir('badone')).length, 3, 'nothing removed');
      assert.deepEqual(unseenBodies(dc.maildir('badone')).map(sha256), [sha256(msgs[1]!)], 'the two stored have \\Seen, the one not stored is left unmarked');

      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 1 });
      assert.deepEqual(await storedHashes(ctx), msgs.map(sha256).sort());
      assert.deepEqual(await counts(ctx), { messages: 3, tasks: 3, failures: 0 });
      assert.deepEqual(unseenBodies(dc.maildir('badone')), []);
    }));

  test('UIDVALIDITY reset: full re-scan, nothing stored twice, checkpoint on the new UIDVALIDITY', () =>
    withCtx(async (ctx) => {
      const msgs = [mail(1, 'uidv'), mail(2, 'uidv'), mail(3, 'uidv')];
      for (const m of msgs) await dc.deliver('uidv', m);
      const settings = tlsSettings('uidv', { afterImport: 'keep' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 3 });
      const oldValidity = await dc.uidValidity('uidv');
      assert.deepEqual(await getCheckpoint(ctx.db, settings.account, 'INBOX').then((c) => [c?.uidValidity, c?.lastUid]), [String(oldValidity), 3]);
      // Dovecot derives a new UIDVALIDITY from the clock (seconds): let one pass
      await new Promise((r) => setTimeout(r, 1_100));
      await dc.resetUidValidity('uidv');
      const fourth = mail(4, 'uidv');
      await dc.deliver('uidv', fourth);
      const newValidity = await dc.uidValidity('uidv');
      assert.notEqual(newValidity, oldValidity);
      const c = countingIngest(ctx);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), { ...NOTHING, imported: 1, duplicates: 3 });
      assert.equal(c.calls(), 4, 're-scan reads every message');
      assert.deepEqual(await counts(ctx), { messages: 4, tasks: 4, failures: 0 });
      assert.deepEqual(await storedHashes(ctx), [...msgs, fourth].map(sha256).sort());
      // RFC 3501 §2.3.1.1: after the reset the 4 messages are numbered 1..4 again
      assert.deepEqual(await getCheckpoint(ctx.db, settings.account, 'INBOX').then((cp) => [cp?.uidValidity, cp?.lastUid]), [String(newValidity), 4]);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      assert.equal(c.calls(), 4);
    }));

  test('2,000-message mailbox: imported once; the next poll downloads nothing', { timeout: 600_000 }, () =>
    withCtx(async (ctx) => {
      const N = 2000;
      const hashes: string[] = [];
      for (let i = 1; i <= N; i++) {
        const m = mail(i, 'big');
        hashes.push(sha256(m));
        await dc.deliver('big', m);
      }
      const proxy = await startProxy(dc.ports.imap);
      try {
        const settings = imapSettings({ port: proxy.port, user: 'big', password: pw('big'), security: 'none', afterImport: 'keep' });
        /** UID FETCH commands that download sources */
        const downloads = () => (proxy.clientText().match(/BODY\.PEEK\[\]/g) ?? []).length;
        const c = countingIngest(ctx);
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), { ...NOTHING, imported: N });
        assert.equal(c.calls(), N);
        assert.equal(downloads(), Math.ceil(N / BATCH_MESSAGES), 'one UID FETCH of sources per batch');
        assert.deepEqual(await counts(ctx), { messages: N, tasks: N, failures: 0 });
        assert.deepEqual(await storedHashes(ctx), hashes.sort());
        proxy.reset();
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
        assert.equal(c.calls(), N, 'no ingest on the second poll');
        assert.equal(downloads(), 0, 'no message source fetched on the second poll');
      } finally {
        await proxy.close();
      }
    }));

  test('too large: recorded as a permanent failure, not downloaded, left unmarked; the rest is imported', () =>
    withCtx(async (ctx) => {
      const small = mail(1, 'large');
      const big = mail(2, 'large', ` ${'x'.repeat(4000)}`);
      await dc.deliver('large', small);
      await dc.deliver('large', big);
      const limit = 2000;
      assert.ok(small.length <= limit && big.length > limit);
      const proxy = await startProxy(dc.ports.imap);
      try {
        const settings = imapSettings({ port: proxy.port, user: 'large', password: pw('large'), security: 'none', afterImport: 'seen' });
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx, limit)), { ...NOTHING, imported: 1, tooLarge: 1 });
        assert.equal((proxy.clientText().match(/BODY\.PEEK\[\]/g) ?? []).length, 1, 'only the small one was downloaded');
        assert.deepEqual(await storedHashes(ctx), [sha256(small)]);
        const failures = await listFailures(ctx.db, settings.account);
        assert.equal(failures.length, 1);
        assert.equal(failures[0]!.permanent, true);
        assert.match(failures[0]!.reason, new RegExp(`too large: ${big.length} bytes`));
        const flagged = (await dc.messageFiles('large')).filter((f) => SEEN.test(f));
        assert.equal(flagged.length, 1, 'only the imported one carries \\Seen');
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx, limit)), NOTHING, 'not tried again');
        // the admin raises the limit above the message's size: it is imported now, once
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx, big.length)), { ...NOTHING, imported: 1 });
        assert.deepEqual((await storedHashes(ctx)).sort(), [sha256(small), sha256(big)].sort());
        assert.equal((await listFailures(ctx.db, settings.account)).length, 0);
      } finally {
        await proxy.close();
      }
    }));

  test('importSince: a message received before the date (INTERNALDATE) is skipped and left alone', () =>
    withCtx(async (ctx) => {
      const old = mail(1, 'since');
      const recent = mail(2, 'since');
      await dc.deliver('since', old);
      // Dovecot takes a Maildir message's INTERNALDATE from the file's mtime
      const [oldFile] = await dc.messageFiles('since');
      const when = new Date('2020-05-04T10:00:00Z');
      utimesSync(path.join(dc.maildir('since'), 'new', oldFile!), when, when);
      await dc.deliver('since', recent);
      const settings = tlsSettings('since', { afterImport: 'seen', importSince: new Date('2024-01-01T00:00:00Z') });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 1, skipped: 1 });
      assert.deepEqual(await storedHashes(ctx), [sha256(recent)]);
      const flagged = (await dc.messageFiles('since')).filter((f) => SEEN.test(f));
      assert.equal(flagged.length, 1);
    }));

  test('wrong password: the test stops at step login with "login failed"; poll throws MailboxError(login)', () =>
    withCtx(async (ctx) => {
      const settings = tlsSettings('auth', { password: 'wrong' });
      const steps = await imapAdapter.test(settings, pollDeps(ctx));
      assert.deepEqual(
        steps.map((s) => [s.step, s.ok]),
        [
          ['connect', true],
          ['tls', true],
          ['login', false],
        ],
      );
      assert.match(steps.at(-1)!.detail, /login failed/);
      await assert.rejects(imapAdapter.poll(settings, pollDeps(ctx)), (err: unknown) => err instanceof MailboxError && err.step === 'login');
      const good = await imapAdapter.test(tlsSettings('auth'), pollDeps(ctx));
      assert.deepEqual(
        good.map((s) => [s.step, s.ok]),
        ['connect', 'tls', 'login', 'folder', 'fetch'].map((s) => [s, true]),
      );
    }));

  test('untrusted certificate (no CA given): step tls fails, over implicit TLS and STARTTLS', () =>
    withCtx(async (ctx) => {
      for (const [security, port] of [
        ['tls', dc.ports.imaps],
        ['starttls', dc.ports.imap],
      ] as const) {
        const steps = await imapAdapter.test(imapSettings({ port, user: 'auth', password: pw('auth'), security, ca: null }), pollDeps(ctx));
        assert.deepEqual(steps.at(-1)!.step, 'tls', security);
        assert.equal(steps.at(-1)!.ok, false);
        assert.match(steps.at(-1)!.detail, /not trusted/);
      }
      await assert.rejects(
        imapAdapter.poll(imapSettings({ port: dc.ports.imaps, user: 'auth', password: pw('auth'), ca: null }), pollDeps(ctx)),
        (err: unknown) => err instanceof MailboxError && err.step === 'tls',
      );
      const missing = await imapAdapter.test(tlsSettings('auth', { folder: 'Does/Not/Exist' }), pollDeps(ctx));
      assert.deepEqual(missing.at(-1)!.step, 'folder');
      assert.equal(missing.at(-1)!.ok, false);
    }));

  test('STARTTLS with the CA file: imports; the password and the LOGIN never cross the wire in cleartext', () =>
    withCtx(async (ctx) => {
      const m = mail(1, 'starttls');
      await dc.deliver('starttls', m);
      const proxy = await startProxy(dc.ports.imap);
      try {
        const settings = imapSettings({ port: proxy.port, user: 'starttls', password: pw('starttls'), security: 'starttls', ca: dc.ca });
        assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 1 });
        assert.deepEqual(await storedHashes(ctx), [sha256(m)]);
        const wire = proxy.clientText();
        assert.match(wire, /^\S+ STARTTLS\r$/m);
        assert.equal(wire.includes(pw('starttls')), false);
        assert.equal(Buffer.from(wire, 'latin1').includes(Buffer.from(pw('starttls'))), false);
        assert.doesNotMatch(wire, /LOGIN|AUTHENTICATE/);
        const steps = await imapAdapter.test(settings, pollDeps(ctx));
        assert.deepEqual(
          steps.map((s) => [s.step, s.ok]),
          ['connect', 'tls', 'login', 'folder', 'fetch'].map((s) => [s, true]),
        );
      } finally {
        await proxy.close();
      }
    }));
});
