/**
 * How the SMTP receiver refuses and fails (RFC 5321 §4.2): 554 at connect for a client it does
 * not serve, 552 past the size limit (RFC 1870), and 451 4.3.0 (RFC 3463: "other or undefined
 * mail system status", temporary) whenever it cannot take the message in (the recipient cannot be
 * looked up), so that the client retries and the retry leads to exactly one stored message. Once
 * the message is in the inbound queue on disk the answer is 250, and the queue retries the
 * database until the message is stored, once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listTasks } from '../../src/services/tasks.js';
import { freshPostgresDatabase, testGateway } from '../helpers/env.js';
import { waitFor } from '../smtp-dialogues/lib.js';
import {
  fixture,
  rawTransaction,
  SCAN,
  SCANNER_SENDER,
  sendRaw,
  setupOffice,
  sha256,
  simpleMessage,
  sleep,
  SmtpDialogue,
  snapshot,
  startProxy,
  STAFF_LOGIN,
  type SendOutcome,
} from './lib.js';

const PG_SERVER = { host: '127.0.0.1', port: 5432 };

describe('a client outside SMTP_ALLOWED_NETWORKS', () => {
  it('is refused with 554 at connect, and nothing is stored', async () => {
    // 127.0.0.1 lies outside 10.0.0.0/8
    const g = await testGateway({ SMTP_ALLOWED_NETWORKS: '10.0.0.0/8' });
    try {
      await setupOffice(g.gateway.ctx.db);
      const port = g.gateway.smtp.port;

      const { smtp, greeting } = await SmtpDialogue.open(port);
      smtp.destroy();
      assert.equal(greeting.code, 554, greeting.text);
      assert.match(greeting.text, /^554 /);

      const sent = await sendRaw(port, { from: SCANNER_SENDER, to: [SCAN] }, fixture('scanner-basic.eml'));
      assert.equal(sent.ok, false);
      assert.equal(sent.code, 554, sent.response);

      const s = await snapshot(g.gateway.ctx.db);
      assert.deepEqual([s.messages.length, s.tasks.length, s.receipts.length], [0, 0, 0]);
    } finally {
      await g.close();
    }
  });
});

describe('a client on an IPv6 (dual-stack) listener', () => {
  it('is judged by its IPv4 address (IPv4-mapped ::ffff:127.0.0.1)', async () => {
    for (const [networks, expected] of [
      ['127.0.0.0/8', 220],
      ['10.0.0.0/8', 554],
      ['::1/128', 554],
    ] as const) {
      const g = await testGateway({ SMTP_HOST: '::ffff:127.0.0.1', SMTP_ALLOWED_NETWORKS: networks });
      try {
        await setupOffice(g.gateway.ctx.db);
        assert.equal(g.gateway.smtp.family, 'IPv6');
        const { smtp, greeting } = await SmtpDialogue.open(g.gateway.smtp.port, '127.0.0.1');
        smtp.destroy();
        assert.equal(greeting.code, expected, `${networks}: ${greeting.text}`);
        const sent = await sendRaw(g.gateway.smtp.port, { from: SCANNER_SENDER, to: [SCAN] }, simpleMessage());
        assert.equal(sent.code, expected === 220 ? 250 : 554, sent.response);
        const s = await snapshot(g.gateway.ctx.db);
        assert.equal(s.messages.length, expected === 220 ? 1 : 0);
      } finally {
        await g.close();
      }
    }
  });
});

/** A message of exactly `size` bytes, ending with CRLF. */
function messageOfSize(size: number): Buffer {
  const head = simpleMessage({ body: '' }); // ends with the empty body line: "...\r\n\r\n"
  const lines: string[] = [];
  let remaining = size - head.length;
  assert.ok(remaining >= 3, 'size too small');
  while (remaining > 0) {
    const len = Math.min(78, remaining - 2); // text + CRLF
    if (len < 1) {
      // cannot make a 1-byte line with CRLF: lengthen the previous one
      lines[lines.length - 1] += 'y';
      remaining -= 1;
      continue;
    }
    lines.push('x'.repeat(len));
    remaining -= len + 2;
  }
  const out = Buffer.concat([head, Buffer.from(lines.map((l) => `${l}\r\n`).join(''))]);
  assert.equal(out.length, size);
  return out;
}

describe('SMTP_MAX_MESSAGE_BYTES', () => {
  const LIMIT = 2048;
  let g: Awaited<ReturnType<typeof testGateway>>;
  before(async () => {
    g = await testGateway({ SMTP_MAX_MESSAGE_BYTES: String(LIMIT) });
    await setupOffice(g.gateway.ctx.db);
  });
  after(async () => {
    await g.close();
  });

  it('is advertised in EHLO, refused with 552 past it, and a message within it still goes through', async () => {
    const port = g.gateway.smtp.port;
    const big = messageOfSize(10 * 1024);

    // EHLO says SIZE 2048 (RFC 1870)
    {
      const { smtp } = await SmtpDialogue.open(port);
      const ehlo = await smtp.command('EHLO scanner-eg');
      await smtp.quit();
      assert.match(ehlo.text, new RegExp(`^250[- ]SIZE ${LIMIT}$`, 'm'));
    }

    // nodemailer sends the 10 KB message without a SIZE parameter: refused after DATA
    const sent = await sendRaw(port, { from: SCANNER_SENDER, to: [SCAN] }, big);
    assert.equal(sent.ok, false);
    assert.equal(sent.code, 552, sent.response);

    // a client that declares the size is refused at MAIL FROM already
    {
      const { smtp } = await SmtpDialogue.open(port);
      await smtp.command('EHLO scanner-eg');
      const mail = await smtp.command(`MAIL FROM:<${SCANNER_SENDER}> SIZE=${big.length}`);
      await smtp.quit();
      assert.equal(mail.code, 552, mail.text);
    }

    // over the limit by one byte: refused; the same connection then delivers a small message
    const oneOver = messageOfSize(LIMIT + 1);
    const small = simpleMessage({ subject: 'klein' });
    {
      const { smtp } = await SmtpDialogue.open(port);
      try {
        await smtp.command('EHLO scanner-eg');
        assert.equal((await smtp.command(`MAIL FROM:<${SCANNER_SENDER}>`)).code, 250);
        assert.equal((await smtp.command(`RCPT TO:<${SCAN}>`)).code, 250);
        assert.equal((await smtp.command('DATA')).code, 354);
        const refused = await smtp.message(oneOver);
        assert.equal(refused.code, 552, refused.text);

        let s = await snapshot(g.gateway.ctx.db);
        assert.deepEqual([s.messages.length, s.tasks.length, s.receipts.length, s.attachments.length], [0, 0, 0, 0], 'nothing stored');

        assert.equal((await smtp.command(`MAIL FROM:<${SCANNER_SENDER}>`)).code, 250);
        assert.equal((await smtp.command(`RCPT TO:<${SCAN}>`)).code, 250);
        assert.equal((await smtp.command('DATA')).code, 354);
        const ok = await smtp.message(small);
        assert.equal(ok.code, 250, ok.text);

        s = await snapshot(g.gateway.ctx.db);
        assert.deepEqual(
          s.messages.map((m) => m.rawSha256),
          [sha256(small)],
        );
      } finally {
        await smtp.quit();
      }
    }

    // exactly at the limit is within it (RFC 1870: the maximum size the server accepts)
    const atLimit = messageOfSize(LIMIT);
    const fits = await sendRaw(port, { from: SCANNER_SENDER, to: [SCAN] }, atLimit);
    assert.equal(fits.code, 250, fits.response);

    const s = await snapshot(g.gateway.ctx.db);
    assert.deepEqual(
      s.messages.map((m) => [m.rawSha256, m.size]),
      [
        [sha256(small), small.length],
        [sha256(atLimit), LIMIT],
      ],
    );
    assert.equal(s.tasks.length, 2);
  });
});

/**
 * A gateway on a fresh database of the real PostgreSQL server, reached through a proxy that the
 * test can cut. Used whatever the suite's driver is: PGlite cannot become unreachable.
 */
async function gatewayBehindProxy() {
  const fresh = await freshPostgresDatabase(`postgres://postgres@${PG_SERVER.host}:${PG_SERVER.port}/postgres`);
  const proxy = await startProxy(PG_SERVER.host, PG_SERVER.port);
  const url = new URL(fresh.url);
  url.host = `127.0.0.1:${proxy.port}`;
  let g: Awaited<ReturnType<typeof testGateway>>;
  try {
    g = await testGateway({ DATABASE_URL: url.toString() });
  } catch (err) {
    await proxy.close();
    await fresh.drop();
    throw err;
  }
  await setupOffice(g.gateway.ctx.db);
  return {
    port: g.gateway.smtp.port,
    db: g.gateway.ctx.db,
    queue: g.gateway.ctx.queue!,
    proxy,
    async close() {
      proxy.restore();
      try {
        await g.close();
      } finally {
        await proxy.close();
        await fresh.drop();
      }
    },
  };
}

/**
 * Sends like a real client: on a temporary failure (4xx) waits a little and tries again, up to
 * `attempts` times; a permanent failure (5xx) ends it.
 * @returns every attempt's outcome, the last one first-class
 */
async function sendWithRetries(port: number, envelope: { from: string; to: string[] }, raw: Buffer, attempts = 10) {
  const outcomes: SendOutcome[] = [];
  for (let i = 0; i < attempts; i++) {
    const o = await sendRaw(port, envelope, raw);
    outcomes.push(o);
    if (o.ok || (o.code !== undefined && o.code >= 500)) break;
    await sleep(250 * (i + 1));
  }
  return outcomes;
}

function assertTemporary(o: SendOutcome) {
  assert.equal(o.ok, false);
  assert.equal(o.code, 451, o.response);
  assert.match(o.response, /^451 4\.3\.0 /);
}

async function assertStoredOnce(db: Parameters<typeof snapshot>[0], raw: Buffer) {
  const s = await snapshot(db);
  assert.equal(s.messages.length, 1, 'exactly one message');
  assert.equal(s.messages[0]!.rawSha256, sha256(raw));
  assert.equal(s.tasks.length, 1, 'exactly one task');
  assert.equal(s.tasks[0]!.messageId, s.messages[0]!.id);
  const tasks = await listTasks(db);
  assert.deepEqual(
    tasks.map((t) => [t.channel, t.candidates.map((c) => c.login)]),
    [['scanner', [STAFF_LOGIN]]],
  );
  return s;
}

describe('while the database is unreachable (real PostgreSQL behind a proxy)', () => {
  const raw = fixture('scanner-basic.eml');
  const envelope = { from: SCANNER_SENDER, to: [SCAN] };

  it('answers 451 4.3.0, and the retry after the database is back stores exactly one message', async () => {
    const gw = await gatewayBehindProxy();
    try {
      gw.proxy.cut();
      const refused = await sendRaw(gw.port, envelope, raw);
      assertTemporary(refused);
      assert.equal(refused.error?.permanent, false);

      gw.proxy.restore();
      const outcomes = await sendWithRetries(gw.port, envelope, raw);
      const last = outcomes.at(-1)!;
      assert.equal(last.ok, true, last.response);
      assert.equal(last.code, 250);
      outcomes.slice(0, -1).forEach(assertTemporary);

      const s = await assertStoredOnce(gw.db, raw);
      assert.equal(s.receipts.length, 1);
    } finally {
      await gw.close();
    }
  });

  // From here on the message is on disk in the inbound queue when the client gets its `250`
  // (ingest/queue.ts): the database failing after that is the queue's problem, not the client's.
  // The client's reply waits for the queue to drain (test clients do that), so each test restores
  // the database while the reply is still outstanding, once the queue reports a failed attempt.

  it('accepts (250, queued) when the database goes away between RCPT and the end of DATA, and stores the message once it is back', async () => {
    const gw = await gatewayBehindProxy();
    try {
      const { smtp } = await SmtpDialogue.open(gw.port);
      try {
        await smtp.command('EHLO scanner-eg');
        assert.equal((await smtp.command(`MAIL FROM:<${SCANNER_SENDER}>`)).code, 250);
        assert.equal((await smtp.command(`RCPT TO:<${SCAN}>`)).code, 250, 'recipient checked while the database is up');
        gw.proxy.cut();
        assert.equal((await smtp.command('DATA')).code, 354);
        const replied = smtp.message(raw);
        await waitFor(() => gw.queue.stats().retrying === 1, 20_000, 'a failed ingest attempt');
        assert.equal(gw.queue.stats().depth, 1, 'the message waits in the queue');
        gw.proxy.restore();
        const reply = await replied;
        assert.equal(reply.code, 250, reply.text);
        assert.match(reply.lines[0]!, /^2\.0\.0 Ok: queued as [0-9a-z]+$/);
      } finally {
        await smtp.quit();
      }
      const s = await assertStoredOnce(gw.db, raw);
      assert.equal(s.receipts.length, 1);
      assert.equal(gw.queue.stats().retrying, 0);
    } finally {
      await gw.close();
    }
  });

  it('retries when the connection is lost in the middle of the ingest transaction; nothing half-stored', async () => {
    const gw = await gatewayBehindProxy();
    try {
      // the statement that creates the task never reaches PostgreSQL: the message row before it must go too
      const cutDone = gw.proxy.cutOn('insert into "task"', 'toServer');
      const sent = sendRaw(gw.port, envelope, raw);
      await cutDone;
      await waitFor(() => gw.queue.stats().retrying === 1, 20_000, 'a failed ingest attempt');
      gw.proxy.restore();
      const outcome = await sent;
      assert.equal(outcome.code, 250, outcome.response);
      const s = await assertStoredOnce(gw.db, raw);
      assert.equal(s.receipts.length, 1);
      assert.equal(s.attachments.length, 1);
    } finally {
      await gw.close();
    }
  });

  it('still ends with one message and one receipt when PostgreSQL committed but its answer was lost', async () => {
    const gw = await gatewayBehindProxy();
    try {
      // PostgreSQL executes COMMIT; its CommandComplete ("COMMIT") never reaches the gateway
      const cutDone = gw.proxy.cutOn('COMMIT\0', 'toClient');
      const sent = sendRaw(gw.port, envelope, raw);
      await cutDone;
      await waitFor(() => gw.queue.stats().retrying === 1, 20_000, 'a failed ingest attempt');
      gw.proxy.restore();
      const outcome = await sent;
      assert.equal(outcome.code, 250, outcome.response);
      const s = await assertStoredOnce(gw.db, raw);
      // the retry found the commit by the queue id: the same delivery, not a redelivery
      assert.deepEqual(
        s.receipts.map((r) => r.duplicate),
        [false],
      );
    } finally {
      await gw.close();
    }
  });
});
