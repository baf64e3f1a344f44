import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createContext } from '../../src/context.js';
import { takeLease, releaseLease } from '../../src/db/repositories/mailboxes.js';
import { createEvents } from '../../src/events.js';
import type { MailboxAdapter, PollReport } from '../../src/inbound/mailbox/types.js';
import { createLogger } from '../../src/log.js';
import { LeaseHeldError, pollMailbox, setMailbox, type MailboxAdapters } from '../../src/services/mailboxes.js';
import { testContext } from '../helpers/env.js';

let env: Awaited<ReturnType<typeof testContext>>;
before(async () => {
  env = await testContext();
});
after(() => env.close());

/** A second gateway instance on the same database (same key for secrets, its own instance id). */
function secondInstance() {
  const ctx = createContext(env.ctx.config, env.ctx.database, createEvents(), createLogger('silent'));
  assert.notEqual(ctx.instanceId, env.ctx.instanceId);
  return ctx;
}

test('a lease is held by one instance at a time, and free again once released or expired', async () => {
  const { db } = env.ctx;
  assert.equal(await takeLease(db, 'general', 'instance-a', 60), true);
  assert.equal(await takeLease(db, 'general', 'instance-b', 60), false, 'b must wait while a holds it');
  assert.equal(await takeLease(db, 'general', 'instance-a', 60), true, 'a renews its own lease');
  await releaseLease(db, 'general', 'instance-a');
  assert.equal(await takeLease(db, 'general', 'instance-b', 0), true, 'b takes it after release');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await takeLease(db, 'general', 'instance-a', 60), true, "a takes it once b's lease (0 s) expired");
  await releaseLease(db, 'general', 'instance-a');
});

test('two instances polling the same mailbox at once: one polls, the other is told the lease is held', async () => {
  await setMailbox(env.ctx, 'scanner', { protocol: 'imap', host: '127.0.0.1', port: 1993, username: 'scan', password: 'irrelevant' });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let polls = 0;
  let started!: () => void;
  const polling = new Promise<void>((r) => (started = r));
  const slow: MailboxAdapter = {
    async poll(): Promise<PollReport> {
      polls++;
      started();
      await gate;
      return { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
    },
    test: async () => [],
  };
  const adapters: MailboxAdapters = { imap: slow, pop3: slow };
  const first = pollMailbox(env.ctx, adapters, 'scanner');
  await polling; // the first has taken the lease and is polling
  await assert.rejects(pollMailbox(secondInstance(), adapters, 'scanner'), LeaseHeldError);
  release();
  await first;
  assert.equal(polls, 1, 'only one instance polled');
  // the lease is released after the poll: the other instance may poll now
  await pollMailbox(secondInstance(), adapters, 'scanner');
  assert.equal(polls, 2);
});

test('a CA file that disappeared fails the poll and the test in plain words, recorded in health; nothing throws out of the scheduler', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { generate } = await import('selfsigned');
  const { testMailbox } = await import('../../src/services/mailboxes.js');
  const { getHealth } = await import('../../src/db/repositories/mailboxes.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'pe-ca-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, (await generate([{ name: 'commonName', value: 'Intranet CA' }])).cert);
  await setMailbox(env.ctx, 'general', { protocol: 'imap', host: '127.0.0.1', port: 1993, username: 'u', password: 'p', caFile });
  rmSync(dir, { recursive: true, force: true });
  const never: MailboxAdapter = { poll: async () => assert.fail('no poll without settings'), test: async () => assert.fail('no test without settings') };
  const adapters: MailboxAdapters = { imap: never, pop3: never };
  await assert.rejects(pollMailbox(env.ctx, adapters, 'general'), /CA file .*ca\.pem cannot be read \(ENOENT\)/);
  const steps = await testMailbox(env.ctx, adapters, 'general');
  assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['tls', false]]);
  const health = await getHealth(env.ctx.db, 'general');
  assert.match(health!.lastError!, /^tls: the CA file/);
});
