// Issue 7 item 2: the outbox against a real smtp-server scripted to answer 250, then 451 then
// 250, then 550 — retries with exponential backoff (OUTBOX_RETRY_BASE_SECONDS=1: the second attempt
// comes at least 1 s after the first, the third at least 2 s after the second), a permanent 5xx
// fails at once keeping the server's reply, and the Message-ID is the one fixed at enqueue.
// Reply codes per RFC 5321 §4.2.1 (4yz transient, 5yz permanent).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getOutbox } from '../../src/db/repositories/outbox.js';
import { startOutboxWorker, type OutboxWorker } from '../../src/outbound/outbox.js';
import { enqueueMessage, retryOutbox } from '../../src/services/outbox.js';
import { setSmtpAccount } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import type { AppContext } from '../../src/context.js';
import { testContext } from '../helpers/env.js';
import { scriptedServer, waitFor } from './lib.js';

const ENV = {
  OUTBOX_RETRY_BASE_SECONDS: '1',
  OUTBOX_RETRY_MAX_SECONDS: '2',
  OUTBOX_MAX_ATTEMPTS: '3',
  OUTBOX_POLL_SECONDS: '1',
  SMTP_SEND_TIMEOUT_SECONDS: '5',
};

type OutboxRow = NonNullable<Awaited<ReturnType<typeof getOutbox>>>;

/**
 * Waits until one read of outbox message `id` satisfies `check`, and returns that row: the
 * conditions are judged on one snapshot (two reads could straddle the worker's claim).
 */
async function waitRow(ctx: AppContext, id: number, check: (row: OutboxRow) => boolean, what: string, ms = 60_000): Promise<OutboxRow> {
  let seen: OutboxRow | undefined;
  await waitFor(
    async () => {
      const row = await getOutbox(ctx.db, id);
      if (row && check(row)) seen = row;
      return seen !== undefined;
    },
    ms,
    what,
  );
  return seen!;
}

const waitState = (ctx: AppContext, id: number, state: string, ms = 60_000) => waitRow(ctx, id, (r) => r.state === state, `outbox ${id} to be ${state}`, ms);

const mail = (n: string) => ({ to: `Empfänger ${n} <empfaenger${n}@example.org>`, subject: `Bescheid ${n}`, text: `Text ${n}\n` });

describe('outbox: 250, then 451 then 250, then 550', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let server: Awaited<ReturnType<typeof scriptedServer>>;
  let worker: OutboxWorker;

  before(async () => {
    env = await testContext(ENV);
    server = await scriptedServer({
      script: ['accept', { code: 451, text: '4.3.0 Mailbox busy, try again later' }, 'accept', { code: 550, text: '5.1.1 <empfaenger3@example.org>: User unknown' }],
    });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', auth: 'none', fromAddress: 'poststelle@agency.example', fromName: 'Poststelle Jugendamt' });
    worker = await startOutboxWorker(env.ctx);
  });
  after(async () => {
    await worker.stop();
    await server.close();
    await env.close();
  });

  test('250: sent once, acceptance recorded with the server reply, Message-ID as generated', async () => {
    const queued = await enqueueMessage(env.ctx, OPERATOR, mail('1'));
    assert.equal(queued.state, 'queued');
    assert.match(queued.messageId, /^<[0-9a-f-]{36}@agency\.example>$/);
    const row = await waitState(env.ctx, queued.id, 'sent');
    assert.equal(server.accepted.length, 1);
    assert.equal(server.accepted[0]!.messageId, queued.messageId);
    assert.deepEqual(server.accepted[0]!.to, ['empfaenger1@example.org']);
    assert.equal(server.accepted[0]!.from, 'poststelle@agency.example');
    assert.match(server.accepted[0]!.raw.toString(), /^From: Poststelle Jugendamt <poststelle@agency\.example>\r$/m);
    assert.match(row.lastReply!, /^250 .*Ok: queued as Q1/);
    assert.equal(row.attempts, 1);
    assert.ok(row.sentAt);
  });

  test('451 then 250: deferred, retried after the backoff, delivered once with the same Message-ID', async () => {
    const queued = await enqueueMessage(env.ctx, OPERATOR, mail('2'));
    const deferred = await waitRow(env.ctx, queued.id, (r) => r.attempts === 1 && r.state === 'queued', 'first attempt deferred');
    assert.match(deferred.lastReply!, /451 4\.3\.0 Mailbox busy/);
    // first retry after base · 2^0 = 1 s
    assert.ok(deferred.nextAttemptAt.getTime() - deferred.lastAttemptAt!.getTime() >= 900, 'next attempt at least 1 s later');
    const firstAttemptAt = deferred.lastAttemptAt!.getTime();
    const sent = await waitState(env.ctx, queued.id, 'sent');
    assert.equal(sent.attempts, 2);
    assert.ok(sent.lastAttemptAt!.getTime() - firstAttemptAt >= 900, 'the second attempt waited for the backoff');
    const copies = server.accepted.filter((m) => m.messageId === queued.messageId);
    assert.equal(copies.length, 1, 'accepted exactly once');
  });

  test('550: failed at once, the server reply kept, never tried again', async () => {
    const queued = await enqueueMessage(env.ctx, OPERATOR, mail('3'));
    const failed = await waitState(env.ctx, queued.id, 'failed');
    assert.equal(failed.attempts, 1);
    assert.match(failed.lastReply!, /550 5\.1\.1 <empfaenger3@example\.org>: User unknown/);
    const dataCount = server.state.dataCount;
    await new Promise((r) => setTimeout(r, 2500)); // longer than any backoff in this configuration
    assert.equal(server.state.dataCount, dataCount, 'no further attempt');
    assert.equal((await getOutbox(env.ctx.db, queued.id))!.state, 'failed');
  });

  test('retry of a failed message: queued again, same Message-ID, then sent (script used up: 250)', async () => {
    const failed = (await getOutbox(env.ctx.db, 3))!;
    assert.equal(failed.state, 'failed');
    const again = await retryOutbox(env.ctx, failed.id);
    assert.equal(again.state, 'queued');
    assert.equal(again.messageId, failed.messageIdHeader);
    await waitState(env.ctx, failed.id, 'sent');
    assert.equal(server.accepted.at(-1)!.messageId, failed.messageIdHeader);
    await assert.rejects(retryOutbox(env.ctx, failed.id), (e: Error & { field?: string }) => e.field === 'state');
  });
});

describe('outbox: temporary failures until OUTBOX_MAX_ATTEMPTS', () => {
  test('451 three times: three attempts 1 s then 2 s apart, then failed with the last reply', async () => {
    const env = await testContext(ENV);
    const server = await scriptedServer({ script: [1, 2, 3].map((n) => ({ code: 451, text: `4.7.1 Greylisted, attempt ${n}` })) });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
    const worker = await startOutboxWorker(env.ctx);
    try {
      const queued = await enqueueMessage(env.ctx, OPERATOR, mail('4'));
      const failed = await waitState(env.ctx, queued.id, 'failed', 60_000);
      // when each DATA began, taken by the server (sampling from here missed the last one when
      // the failure was recorded within the sampling interval)
      const times = server.state.dataTimes;
      assert.equal(failed.attempts, 3);
      assert.match(failed.lastReply!, /451 4\.7\.1 Greylisted, attempt 3/);
      assert.equal(server.state.dataCount, 3);
      assert.equal(times.length, 3);
      // backoff base 1 s doubling, capped at 2 s: gaps of ≥ 1 s and ≥ 2 s
      assert.ok(times[1]! - times[0]! >= 900, `first gap ${times[1]! - times[0]!} ms`);
      assert.ok(times[2]! - times[1]! >= 1900, `second gap ${times[2]! - times[1]!} ms`);
    } finally {
      await worker.stop();
      await server.close();
      await env.close();
    }
  });

  test('a server that stops answering in DATA: timeout is temporary, the next attempt is accepted once', async () => {
    const env = await testContext({ ...ENV, SMTP_SEND_TIMEOUT_SECONDS: '2' });
    const server = await scriptedServer({ script: ['stall'] });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
    const worker = await startOutboxWorker(env.ctx);
    try {
      const queued = await enqueueMessage(env.ctx, OPERATOR, mail('6'));
      const timedOut = await waitRow(env.ctx, queued.id, (r) => r.state === 'queued' && r.attempts === 1, 'the first attempt to time out');
      assert.match(timedOut.lastReply!, /^send: no answer from 127\.0\.0\.1:\d+ in time/);
      const sent = await waitState(env.ctx, queued.id, 'sent', 60_000);
      assert.equal(sent.attempts, 2);
      assert.equal(server.state.dataCount, 2);
      assert.equal(server.accepted.length, 1);
      assert.equal(server.accepted[0]!.messageId, queued.messageId);
    } finally {
      await worker.stop();
      await server.close();
      await env.close();
    }
  });

  test('one recipient refused at RCPT TO: sent to the others, the refused one named with the reply', async () => {
    const env = await testContext(ENV);
    const server = await scriptedServer({ refuse: ['unbekannt@example.org'] });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
    const worker = await startOutboxWorker(env.ctx);
    try {
      const queued = await enqueueMessage(env.ctx, OPERATOR, { to: 'bekannt@example.org, unbekannt@example.org', subject: 'Rundschreiben', text: 'x' });
      const sent = await waitState(env.ctx, queued.id, 'sent');
      assert.deepEqual(server.accepted[0]!.to, ['bekannt@example.org']);
      // the server's own reply to RCPT TO is kept with the address
      assert.match(sent.lastReply!, /^250 .*; refused: unbekannt@example\.org \(550 5\.1\.1 <unbekannt@example\.org>: Recipient address rejected\)$/);
    } finally {
      await worker.stop();
      await server.close();
      await env.close();
    }
  });

  test('recipients refused for now (451 at RCPT TO) get the message on a later attempt, alone; one refused for good is named; the others get it once', async () => {
    const env = await testContext(ENV);
    const server = await scriptedServer({ refuse: ['unbekannt@example.org'], defer: { 'voll@example.org': 1 } });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
    const worker = await startOutboxWorker(env.ctx);
    try {
      const queued = await enqueueMessage(env.ctx, OPERATOR, { to: 'bekannt@example.org, unbekannt@example.org', cc: 'voll@example.org', subject: 'Rundschreiben', text: 'x' });
      await server.waitAccepted(1);
      await waitFor(async () => (await getOutbox(env.ctx.db, queued.id))!.state === 'queued', 30_000, 'the first attempt to be recorded');
      const between = (await getOutbox(env.ctx.db, queued.id))!;
      assert.equal(
        between.lastReply,
        `sent to bekannt@example.org: 250 Ok: queued as Q1; refused: unbekannt@example.org (550 5.1.1 <unbekannt@example.org>: Recipient address rejected); refused for now: voll@example.org (451 4.2.0 <voll@example.org>: Mailbox busy)`,
      );
      const sent = await waitState(env.ctx, queued.id, 'sent', 30_000);
      assert.equal(sent.attempts, 2);
      assert.deepEqual(server.accepted.map((m) => m.to), [['bekannt@example.org'], ['voll@example.org']]);
      assert.equal(server.accepted[1]!.messageId, server.accepted[0]!.messageId, 'the same message, the same Message-ID');
      // the final reply keeps who got it earlier and who was refused for good
      assert.equal(
        sent.lastReply,
        `250 Ok: queued as Q2; before that: sent to bekannt@example.org: 250 Ok: queued as Q1; refused: unbekannt@example.org (550 5.1.1 <unbekannt@example.org>: Recipient address rejected); refused for now: voll@example.org (451 4.2.0 <voll@example.org>: Mailbox busy)`,
      );
    } finally {
      await worker.stop();
      await server.close();
      await env.close();
    }
  });

  test('stopping the gateway while the server stalls after DATA ends within seconds; the message is queued again, then sent once', { timeout: 90_000 }, async () => {
    // a send timeout longer than the stop's grace: the stop itself must end the delivery
    const env = await testContext({ ...ENV, SMTP_SEND_TIMEOUT_SECONDS: '120' });
    const server = await scriptedServer({ script: ['stall'] });
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
    let worker = await startOutboxWorker(env.ctx);
    try {
      const stalled = new Promise((resolve) => server.events.once('stalled', resolve));
      const queued = await enqueueMessage(env.ctx, OPERATOR, mail('stall-stop'));
      await stalled;
      const t0 = Date.now();
      await worker.stop();
      const took = Date.now() - t0;
      // the outbox's grace for a delivery in progress is 5 s, then it is interrupted
      assert.ok(took >= 4500 && took < 15_000, `stop took ${took} ms (it hung before the fix)`);
      const row = (await getOutbox(env.ctx.db, queued.id))!;
      assert.equal(row.state, 'queued');
      assert.equal(row.lastReply, 'send: sending was interrupted (gateway stopping)');
      worker = await startOutboxWorker(env.ctx);
      await waitState(env.ctx, queued.id, 'sent', 30_000);
      assert.equal(server.accepted.length, 1);
      assert.equal(server.accepted[0]!.messageId, queued.messageId);
    } finally {
      await worker.stop();
      await server.close();
      await env.close();
    }
  });

  test('connection refused is temporary: queued again with the reason in plain words', async () => {
    const env = await testContext(ENV);
    const server = await scriptedServer({});
    const port = server.port;
    await server.close(); // nothing listens there now
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port, security: 'none', fromAddress: 'poststelle@agency.example' });
    const worker = await startOutboxWorker(env.ctx);
    try {
      const queued = await enqueueMessage(env.ctx, OPERATOR, mail('5'));
      const row = await waitRow(env.ctx, queued.id, (r) => r.attempts >= 1 && r.state !== 'sending', 'first attempt');
      assert.equal(row.state, 'queued');
      assert.match(row.lastReply!, /^connect: cannot connect to 127\.0\.0\.1:\d+: connection refused$/);
    } finally {
      await worker.stop();
      await env.close();
    }
  });
});
