// Issue 7 item 2: the claim rules of the outbox, on the suite's database. A claimed message is
// not claimed again while its lease runs; a message left in `sending` is taken over once when its
// lease ran out (MAX_RECOVERIES = 1: one resend with the same Message-ID), and a second time it
// is failed with an explanation instead of being sent a third time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimNext, getOutbox, markSent } from '../../src/db/repositories/outbox.js';
import { MAX_RECOVERIES } from '../../src/outbound/outbox.js';
import { enqueueMessage } from '../../src/services/outbox.js';
import { setSmtpAccount } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { testContext } from '../helpers/env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('lease, one take-over after a crash, then failed; a sent message is never claimed again', async () => {
  const env = await testContext();
  try {
    assert.equal(MAX_RECOVERIES, 1);
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: 25, security: 'none', fromAddress: 'poststelle@agency.example' });
    const queued = await enqueueMessage(env.ctx, OPERATOR, { to: 'buerger@example.org', subject: 'Bescheid', text: 'x' });

    const a = await claimNext(env.ctx.db, 'gateway-a', 1, MAX_RECOVERIES, 'gave up');
    assert.equal(a?.kind, 'send');
    assert.equal(a.kind === 'send' && a.recovered, false);
    assert.equal(await claimNext(env.ctx.db, 'gateway-b', 1, MAX_RECOVERIES, 'gave up'), null, 'leased: nobody else claims it');

    await sleep(1300); // gateway-a "crashed": its lease runs out
    const b = await claimNext(env.ctx.db, 'gateway-b', 1, MAX_RECOVERIES, 'gave up');
    assert.equal(b?.kind, 'send');
    assert.equal(b.kind === 'send' && b.recovered, true);
    assert.equal(b.row.messageIdHeader, queued.messageId, 'the same Message-ID on the resend');
    assert.equal(b.row.attempts, 2);

    await sleep(1300); // gateway-b "crashed" too
    const c = await claimNext(env.ctx.db, 'gateway-c', 1, MAX_RECOVERIES, 'outcome unknown');
    assert.equal(c?.kind, 'gave-up');
    const row = (await getOutbox(env.ctx.db, queued.id))!;
    assert.equal(row.state, 'failed');
    assert.equal(row.lastReply, 'outcome unknown');
    assert.equal(row.recoveries, 1);

    const second = await enqueueMessage(env.ctx, OPERATOR, { to: 'buerger@example.org', subject: 'Zweiter', text: 'x' });
    const claim = await claimNext(env.ctx.db, 'gateway-a', 1, MAX_RECOVERIES, 'gave up');
    assert.equal(claim?.row.id, second.id);
    await markSent(env.ctx.db, second.id, '250 2.0.0 Ok: queued as X');
    await sleep(1300);
    assert.equal(await claimNext(env.ctx.db, 'gateway-b', 1, MAX_RECOVERIES, 'gave up'), null, 'sent is final');
  } finally {
    await env.close();
  }
});
