// Issue 7: plain acceptance by a server that is not ours — Postfix's smtp-sink (Debian package
// `postfix`). Every queued message is delivered once (one dump file per transaction, holding its
// Message-ID once) and recorded as sent with smtp-sink's 250 reply; `smtp test` passes each step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getOutbox } from '../../src/db/repositories/outbox.js';
import { startOutboxWorker } from '../../src/outbound/outbox.js';
import { enqueueMessage } from '../../src/services/outbox.js';
import { setSmtpAccount, testSmtpAccount } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { tempDir, testContext } from '../helpers/env.js';
import { smtpSink, waitFor } from './lib.js';

test('smtp-sink accepts what the outbox sends, each message once', async () => {
  const tmp = tempDir();
  const env = await testContext({ OUTBOX_POLL_SECONDS: '1' });
  const sink = await smtpSink(tmp.dir);
  const worker = await startOutboxWorker(env.ctx);
  try {
    await setSmtpAccount(env.ctx, { host: '127.0.0.1', port: sink.port, security: 'none', auth: 'none', fromAddress: 'poststelle@agency.example' });
    const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
    assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', true], ['tls', true], ['login', true], ['send', true]]);
    const queued = [];
    for (const n of [1, 2, 3]) queued.push(await enqueueMessage(env.ctx, OPERATOR, { to: `empfaenger${n}@example.org`, cc: 'akte@agency.example', subject: `Nachricht ${n}`, text: `Text ${n}` }));
    for (const q of queued) await waitFor(async () => (await getOutbox(env.ctx.db, q.id))!.state === 'sent', 60_000, `outbox ${q.id} sent`);
    await waitFor(() => sink.files().length === 4, 20_000, 'four dump files (test message + 3)');
    const dumps = sink.files().map((f) => sink.read(f));
    for (const q of queued) {
      const holding = dumps.filter((d) => d.includes(`Message-ID: ${q.messageId}`));
      assert.equal(holding.length, 1, `${q.messageId} delivered once`);
      // both recipients in the one transaction (smtp-sink records each RCPT TO)
      assert.match(holding[0]!, /X-Rcpt-Args: <empfaenger\d@example\.org>/);
      assert.match(holding[0]!, /X-Rcpt-Args: <akte@agency\.example>/);
      const row = (await getOutbox(env.ctx.db, q.id))!;
      assert.equal(row.attempts, 1);
      assert.match(row.lastReply!, /^250\b/);
    }
  } finally {
    await worker.stop();
    await sink.close();
    await env.close();
    tmp.cleanup();
  }
});
