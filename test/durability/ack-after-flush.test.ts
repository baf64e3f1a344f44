// Issue 13, item 1: every acknowledgement follows a flush of the data it acknowledges. The real
// gateway runs under `strace -f`; a message carrying a unique marker is delivered over SMTP, and
// polled over IMAP (\Seen) and POP3 (DELE) from a real Dovecot. The trace must show the marker
// written to a file (PGlite's WAL in the gateway process, or PostgreSQL's WAL in the server's
// processes, traced as well), then a flush (fsync/fdatasync) of that file, and only then the
// acknowledgement written to the socket. On PGlite before issue 13 this failed: PGlite flushed
// nothing at all.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver, freshPostgresDatabase, tempDir } from '../helpers/env.js';
import { childrenOf, serve, stop, type Served } from '../helpers/serve.js';
import { dataPayload, describeRun, expectReply, runCli, Smtp, waitFor } from '../smtp-dialogues/lib.js';
import { attachStrace, flushedBefore, isFlush, isSocket, parseRenames, parseTrace, socketWrite, straceArgs, type Rename, type Syscall } from './strace.js';

const CALLS = ['write', 'pwrite64', 'writev', 'sendto', 'sendmsg', 'fsync', 'fdatasync', 'rename', 'renameat', 'renameat2'];
const SCAN = 'scan@agency.example';

/** A small message (no TOAST compression on PostgreSQL: the marker reaches the WAL literally). */
function markedMessage(marker: string): Buffer {
  return Buffer.from(
    `From: MFP <scanner@agency.example>\r\nTo: ${SCAN}\r\nSubject: Scan ${marker}\r\n` +
      `Message-ID: <${marker}@mfp.agency.example>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0100\r\n\r\nBody ${marker}\r\n`,
  );
}

/** PostgreSQL's postmaster and its current children (the test machine's local server). */
async function postgresPids(url: string): Promise<number[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const status = readFileSync(`/proc/${row!.pid}/status`, 'utf8');
    const postmaster = Number(/^PPid:\s+(\d+)/m.exec(status)![1]);
    // this query's own backend ends with the connection: not traced
    const children = childrenOf(postmaster).filter((pid) => pid !== row!.pid);
    return [postmaster, ...children];
  } finally {
    await sql.end();
  }
}

describe(`acknowledgements follow a flush to disk (${driver}, strace)`, () => {
  const tmp = tempDir('pe-fsync-');
  const env: Record<string, string> = { DATA_DIR: path.join(tmp.dir, 'data') };
  const gatewayTrace = path.join(tmp.dir, 'gateway.trace');
  const serverTrace = path.join(tmp.dir, 'postgres.trace');
  let gateway: Served | undefined;
  let serverStrace: { stop(): Promise<void> } | undefined;
  let dovecot: DovecotServer;
  let drop = async () => {};
  const marker = (what: string) => `durable-${what}-${randomBytes(6).toString('hex')}`;
  const markers = { smtp: marker('smtp'), imap: marker('imap'), pop3: marker('pop3') };
  let calls: Syscall[] = [];
  let renames: Rename[] = [];

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: 'imapuser', password: 'pw-imap' }, { user: 'popuser', password: 'pw-pop' }] });
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
      serverStrace = await attachStrace(await postgresPids(fresh.url), serverTrace, CALLS);
    }
    gateway = await serve(env, straceArgs(gatewayTrace, CALLS));
    const r = await runCli(['address', 'add', SCAN, '--channel', 'scanner'], env);
    assert.equal(r.code, 0, describeRun(r));

    // SMTP: one message, then the gateway is stopped below and the traces read
    const smtp = await Smtp.connect(gateway.smtpPort);
    expectReply(await smtp.command('EHLO scanner'), 250);
    expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 250);
    expectReply(await smtp.command(`RCPT TO:<${SCAN}>`), 250);
    expectReply(await smtp.command('DATA'), 354);
    smtp.write(dataPayload(markedMessage(markers.smtp)));
    expectReply(await smtp.next(), 250, {}, 'end of DATA');
    await smtp.quit();

    // IMAP (after import: \Seen) and POP3 (after import: DELE), each polled once by the gateway
    await dovecot.deliver('imapuser', markedMessage(markers.imap));
    await dovecot.deliver('popuser', markedMessage(markers.pop3));
    for (const [channel, protocol, port, user, password] of [
      ['scanner', 'imap', dovecot.ports.imap, 'imapuser', 'pw-imap'],
      ['general', 'pop3', dovecot.ports.pop3, 'popuser', 'pw-pop'],
    ] as const) {
      const set = await runCli(
        ['mailbox', 'set', channel, '--protocol', protocol, '--host', '127.0.0.1', '--port', String(port), '--security', 'none', '--user', user, '--password-stdin'],
        env,
        `${password}\n`,
      );
      assert.equal(set.code, 0, describeRun(set));
    }
    const subjects = async () => {
      const r = await runCli(['tasks', 'list', '--json'], env);
      return r.code === 0 ? (JSON.parse(r.stdout) as { subject: string }[]).map((t) => t.subject) : [];
    };
    await waitFor(async () => {
      const s = await subjects();
      return s.includes(`Scan ${markers.imap}`) && s.includes(`Scan ${markers.pop3}`);
    }, 60_000, 'both polled messages imported');
    // the acknowledgements come after the import: wait until Dovecot shows them
    await waitFor(async () => (await dovecot.messageFiles('popuser')).length === 0, 30_000, 'POP3 DELE done');
    await waitFor(async () => (await dovecot.messageFiles('imapuser')).some((f) => /:2,[A-Z]*S/.test(f)), 30_000, 'IMAP \\Seen stored');
    await stop(gateway);
    await serverStrace?.stop();
    calls = parseTrace(gatewayTrace);
    renames = parseRenames(gatewayTrace);
    if (driver === 'postgres') calls = [...calls, ...parseTrace(serverTrace)].sort((a, b) => a.start - b.start);
  });
  after(async () => {
    if (gateway) await stop(gateway);
    await serverStrace?.stop();
    await dovecot?.stop();
    await drop();
    tmp.cleanup();
  });

  test('SMTP: the message is flushed before 250 is written to the client', () => {
    const data = socketWrite(calls, '354 ');
    assert.ok(data, 'the 354 reply is in the trace');
    const ack = socketWrite(calls, '250 2.0.0', data.start);
    assert.ok(ack, 'the 250 reply is in the trace');
    assert.equal(flushedBefore(calls, markers.smtp, ack), null);
  });

  test('SMTP: the flushed file is renamed into queue/new, and that directory is flushed, before 250', () => {
    const data = socketWrite(calls, '354 ')!;
    const ack = socketWrite(calls, '250 2.0.0', data.start)!;
    // the reply names the queue id, which is the file's name (ingest/queue-files.ts)
    const id = /queued as ([0-9a-z]+)/.exec(ack.args)?.[1];
    assert.ok(id, `the 250 names the queue id: ${ack.args.slice(0, 120)}`);
    const write = calls.filter((c) => !isSocket(c) && c.args.includes(markers.smtp) && c.start < ack.start).at(-1);
    assert.ok(write, 'the marker is written to a file');
    assert.ok(write.target.endsWith(`/queue/tmp/${id}`), `written to queue/tmp/${id}, not ${write.target}`);
    const rename = renames.find((r) => r.from.endsWith(`/queue/tmp/${id}`) && r.to.endsWith(`/queue/new/${id}`));
    assert.ok(rename, 'the file is renamed from queue/tmp into queue/new');
    assert.ok(rename.start >= write.end && rename.end <= ack.start, 'the rename comes after the write and before the 250');
    const dirFlush = calls.find((c) => isFlush(c) && /\/queue\/new$/.test(c.target) && c.start >= rename.end && c.end <= ack.start);
    assert.ok(dirFlush, 'queue/new is flushed after the rename and before the 250 (the directory entry is on disk)');
  });

  test('IMAP: the message is flushed before \\Seen is stored on the server', () => {
    const ack = calls.find((c) => /\\\\Seen/.test(c.args) && /STORE/i.test(c.args) && isSocket(c));
    assert.ok(ack, 'a STORE \\Seen command is in the trace');
    assert.equal(flushedBefore(calls, markers.imap, ack), null);
  });

  test('POP3: the message is flushed before DELE is sent', () => {
    const ack = socketWrite(calls, 'DELE ');
    assert.ok(ack, 'a DELE command is in the trace');
    assert.equal(flushedBefore(calls, markers.pop3, ack), null);
  });
});
