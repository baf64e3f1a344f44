/**
 * The scheduler against a real Dovecot: what a trial admin ran into — a wrong password fixed
 * later, a lockout-prone retry rate, switching protocols, auto-import off, shutdown mid-poll, a
 * lease left by a crash — and the mailbox settings that must be refused.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { startGateway } from '../../src/gateway.js';
import { bridgeEvents } from '../../src/events.js';
import { getHealth, takeLease } from '../../src/db/repositories/mailboxes.js';
import { mailboxAdapters } from '../../src/inbound/mailbox/adapters.js';
import { BATCH_MESSAGES } from '../../src/inbound/mailbox/batch.js';
import { watchMailbox } from '../../src/inbound/imap/idle.js';
import { nextPollDelay, startScheduler, type Watch } from '../../src/inbound/scheduler.js';
import { createLogger } from '../../src/log.js';
import { ValidationError } from '../../src/services/errors.js';
import { setMailbox, showMailbox } from '../../src/services/mailboxes.js';
import { setImportSettings } from '../../src/services/settings.js';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver, tempDir, testConfig, testContext } from '../helpers/env.js';
import { counts, mail } from './imap-lib.js';

const PASSWORD = 'richtig-geheim';

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scheduler policy (real Dovecot)', () => {
  let dovecot: DovecotServer;
  before(async () => {
    dovecot = await startDovecot({ users: ['wrongpw', 'switch', 'manual', 'many', 'crash', 'during'].map((user) => ({ user, password: PASSWORD })) });
  });
  after(() => dovecot?.stop());

  /** Failed logins of `user` in Dovecot's log: one line per refused connection ("auth failed"). */
  async function failedLogins(user: string): Promise<number> {
    const log = await readFile(dovecot.logFile, 'utf8');
    return log.split('\n').filter((l) => /auth failed/.test(l) && l.includes(`user=<${user}>`)).length;
  }

  /** A scheduler with the real adapters and a real IDLE watch (fast reconnects), recording the watch's life. */
  async function scheduled(ctx: Awaited<ReturnType<typeof testContext>>['ctx']) {
    const events: string[] = [];
    const watch: Watch = (settings, deps, onNewMail, onLoginFailed) => {
      events.push(`start ${settings.protocol} ${settings.password === PASSWORD ? 'right' : 'wrong'} password`);
      const h = watchMailbox(settings, deps, onNewMail, {
        onLoginFailed: (reason) => {
          events.push('login failed');
          onLoginFailed?.(reason);
        },
        onConnected: () => events.push('connected'),
        // reconnects this fast would hammer the server if the watch kept trying a wrong password
        backoffInitialMs: 50,
        backoffMaxMs: 200,
      });
      return {
        async stop() {
          events.push('stop');
          await h.stop();
        },
      };
    };
    const stopBridge = await bridgeEvents(ctx.database, ctx.events);
    const scheduler = startScheduler(ctx, mailboxAdapters, watch);
    return {
      scheduler,
      events,
      async stop() {
        await scheduler.stop();
        await stopBridge();
      },
    };
  }

  const imap = (user: string, password: string) => ({
    protocol: 'imap',
    host: '127.0.0.1',
    port: dovecot.ports.imap,
    security: 'starttls',
    caFile: dovecot.caFile,
    username: user,
    password,
  });

  test('a wrong password is tried once (no IDLE retries); fixing it restarts IDLE with the new password', async () => {
    const env = await testContext();
    const { ctx } = env;
    await setImportSettings(ctx, 'scanner', { autoImport: true, pollIntervalMinutes: 15 });
    await setMailbox(ctx, 'scanner', imap('wrongpw', 'falsch'));
    const s = await scheduled(ctx);
    try {
      await until('the failed poll', async () => ((await getHealth(ctx.db, 'scanner'))?.consecutiveFailures ?? 0) >= 1);
      assert.match((await getHealth(ctx.db, 'scanner'))!.lastError!, /^login:/);
      await pause(3_000); // the old scheduler started IDLE here and it retried every few hundred ms
      assert.equal(await failedLogins('wrongpw'), 1, 'one refused login: the poll; no IDLE attempts');
      assert.deepEqual(s.events, [], 'no IDLE watch while the login fails');

      await setMailbox(ctx, 'scanner', { password: PASSWORD });
      await until('IDLE connected with the new password', async () => s.events.includes('connected'));
      assert.deepEqual(s.events.slice(0, 2), ['start imap right password', 'connected']);
      const before = await counts(ctx);
      await dovecot.deliver('wrongpw', mail(1, 'idle-after-fix'));
      // the poll interval is 15 minutes: only IDLE can bring it in this fast
      await until('the message imported through IDLE', async () => (await counts(ctx)).messages === before.messages + 1, 15_000);
      assert.equal(await failedLogins('wrongpw'), 1);
    } finally {
      await s.stop();
      await env.close();
    }
  });

  test('a retry after a refused login waits at least 15 minutes and backs off to 4 hours; other failures from 30 s up to the interval', () => {
    const min = 60_000;
    assert.equal(nextPollDelay(0, null, 15 * min), 15 * min);
    assert.equal(nextPollDelay(1, 'login: login failed: user name or password wrong', 1 * min), 15 * min);
    assert.equal(nextPollDelay(2, 'login: login failed', 1 * min), 30 * min);
    assert.equal(nextPollDelay(1, 'login: login failed', 60 * min), 60 * min);
    assert.equal(nextPollDelay(9, 'login: login failed', 15 * min), 240 * min);
    assert.equal(nextPollDelay(1, 'connect: connection refused', 15 * min), 30_000);
    assert.equal(nextPollDelay(3, 'connect: connection refused', 15 * min), 120_000);
    assert.equal(nextPollDelay(10, 'connect: connection refused', 15 * min), 15 * min);
  });

  test('switching the mailbox from IMAP to POP3 ends the IDLE session', async () => {
    const env = await testContext();
    const { ctx } = env;
    await setImportSettings(ctx, 'scanner', { autoImport: true, pollIntervalMinutes: 15 });
    await setMailbox(ctx, 'scanner', imap('switch', PASSWORD));
    const s = await scheduled(ctx);
    try {
      await until('IDLE connected', async () => s.events.includes('connected'));
      const successBefore = (await getHealth(ctx.db, 'scanner'))!.lastSuccessAt!.getTime();
      await setMailbox(ctx, 'scanner', { protocol: 'pop3', port: dovecot.ports.pop3 });
      await until('the POP3 poll', async () => ((await getHealth(ctx.db, 'scanner'))?.lastSuccessAt?.getTime() ?? 0) > successBefore);
      await until('the watch stopped', async () => s.events.at(-1) === 'stop');
      assert.equal(s.events.filter((e) => e.startsWith('start')).length, 1, 'no watch started for POP3');
    } finally {
      await s.stop();
      await env.close();
    }
  });

  test('with auto-import off, changing the mailbox does not poll; asking does', async () => {
    const env = await testContext();
    const { ctx } = env;
    await setImportSettings(ctx, 'scanner', { autoImport: false });
    await dovecot.deliver('manual', mail(1, 'manual'));
    const s = await scheduled(ctx);
    try {
      await setMailbox(ctx, 'scanner', { ...imap('manual', PASSWORD), protocol: 'pop3', port: dovecot.ports.pop3 });
      await setMailbox(ctx, 'scanner', { afterImport: 'delete' });
      await pause(2_500);
      assert.equal((await counts(ctx)).messages, 0, 'not polled on a settings change');
      assert.equal((await dovecot.messageFiles('manual')).length, 1, 'POP3 delete did not empty the mailbox');
      const report = await s.scheduler.pollNow('scanner');
      assert.equal(report.imported, 1);
      assert.equal((await dovecot.messageFiles('manual')).length, 0);
      assert.deepEqual(s.events, [], 'no IDLE watch: POP3, and auto-import off');
    } finally {
      await s.stop();
      await env.close();
    }
  });

  test('stopping the gateway mid-poll stops between batches; every import is counted; the next poll takes the rest once', async () => {
    // the stop waits for the batch being imported, which may have begun just then: at most two
    // batches in before the stop, so three and a half make sure the poll is cut short
    const total = 3 * BATCH_MESSAGES + 50;
    for (let n = 1; n <= total; n++) await dovecot.deliver('many', mail(n, 'many'));
    const env = await testContext();
    const { ctx } = env;
    await setImportSettings(ctx, 'scanner', { autoImport: false });
    await setMailbox(ctx, 'scanner', imap('many', PASSWORD));
    const first = startScheduler(ctx, mailboxAdapters); // polls at start
    try {
      await until('the first batch', async () => (await counts(ctx)).messages >= 1);
      const t0 = Date.now();
      await first.stop();
      const stoppedAfter = Date.now() - t0;
      const imported = (await counts(ctx)).messages;
      assert.ok(imported < total, `stopped before the end (${imported} of ${total})`);
      assert.ok(stoppedAfter < 5_000, `stop waited ${stoppedAfter} ms`);
      assert.equal((await getHealth(ctx.db, 'scanner'))!.importedTotal, imported, 'importedTotal counts the imports of the stopped poll');

      const second = startScheduler(ctx, mailboxAdapters);
      try {
        await until('the rest imported', async () => (await counts(ctx)).messages === total, 60_000);
        await pause(300);
        const c = await counts(ctx);
        assert.equal(c.messages, total, 'each message once');
        assert.equal(c.tasks, total);
        assert.equal((await getHealth(ctx.db, 'scanner'))!.importedTotal, total);
      } finally {
        await second.stop();
      }
    } finally {
      await env.close();
    }
  });

  test('poll now while a poll runs: waits for it, polls once more, and answers what both stored', async () => {
    const total = 4 * BATCH_MESSAGES;
    for (let n = 1; n <= total; n++) await dovecot.deliver('during', mail(n, 'during'));
    const env = await testContext();
    const { ctx } = env;
    await setImportSettings(ctx, 'scanner', { autoImport: false });
    await setMailbox(ctx, 'scanner', imap('during', PASSWORD));
    const scheduler = startScheduler(ctx, mailboxAdapters); // polls at start
    try {
      await until('the first batch of the start poll', async () => (await counts(ctx)).messages >= 1);
      assert.ok((await counts(ctx)).messages < total, 'asked while the start poll still runs');
      const report = await scheduler.pollNow('scanner');
      assert.equal(report.imported, total, 'the running poll imported every message; the one after it none');
      assert.equal(report.duplicates, 0);
      assert.deepEqual(await counts(ctx), { messages: total, tasks: total, failures: 0 });
    } finally {
      await scheduler.stop();
      await env.close();
    }
  });

  test('embedded PGlite: a poll lease left by a crash does not block polling after the restart', { skip: driver === 'postgres' ? 'several processes share PostgreSQL: there a crashed lease expires (90 s)' : false }, async () => {
    const tmp = tempDir();
    try {
      const config = testConfig(tmp.dir);
      const first = await startGateway(config, createLogger('silent'));
      await setImportSettings(first.ctx, 'scanner', { autoImport: false });
      await setMailbox(first.ctx, 'scanner', imap('crash', PASSWORD));
      // what a process killed mid-poll leaves behind
      assert.equal(await takeLease(first.ctx.db, 'scanner', 'crashed-instance', 600), true);
      await first.stop();
      await dovecot.deliver('crash', mail(1, 'after-crash'));
      const second = await startGateway(config, createLogger('silent'));
      try {
        await until('the message imported by the start poll', async () => (await counts(second.ctx)).messages === 1, 15_000);
      } finally {
        await second.stop();
      }
    } finally {
      tmp.cleanup();
    }
  });
});

describe('mailbox settings that must be refused', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
  });
  after(() => env.close());
  const base = { protocol: 'imap', host: 'imap.agency.example', username: 'scan', password: 'x', security: 'tls' };

  function refused(field: string) {
    return (err: unknown) => err instanceof ValidationError && err.field === field;
  }

  test('moving imported mail into the folder being polled would re-import it forever', async () => {
    await assert.rejects(setMailbox(env.ctx, 'scanner', { ...base, folder: 'Scans', afterImport: 'move:Scans' }), refused('afterImport'));
    // INBOX is case-insensitive (RFC 3501 §5.1)
    await assert.rejects(setMailbox(env.ctx, 'scanner', { ...base, folder: 'INBOX', afterImport: 'move:inbox' }), refused('afterImport'));
    // a trailing hierarchy separator names the same folder (Dovecot resolves INBOX/ to INBOX)
    await assert.rejects(setMailbox(env.ctx, 'scanner', { ...base, folder: 'INBOX', afterImport: 'move:INBOX/' }), refused('afterImport'));
    await assert.rejects(setMailbox(env.ctx, 'scanner', { ...base, folder: 'Scans', afterImport: 'move:Scans/' }), refused('afterImport'));
    await setMailbox(env.ctx, 'scanner', { ...base, folder: 'Scans', afterImport: 'move:Scans/Erledigt' });
    // changing only the folder onto the move target is refused too
    await assert.rejects(setMailbox(env.ctx, 'scanner', { folder: 'Scans/Erledigt' }), refused('afterImport'));
    assert.equal((await showMailbox(env.ctx, 'scanner'))!.folder, 'Scans');
  });

  test('POP3 has no folders: a folder is refused and none is shown', async () => {
    await assert.rejects(setMailbox(env.ctx, 'general', { ...base, protocol: 'pop3', folder: 'Scans' }), refused('folder'));
    await setMailbox(env.ctx, 'general', { ...base, protocol: 'pop3' });
    assert.equal((await showMailbox(env.ctx, 'general'))!.folder, null);
  });

  test('an empty port means the default port for protocol and security (RFC 8314 §7: 993/995, else 143/110)', async () => {
    await setMailbox(env.ctx, 'general', { ...base, port: 10143, security: 'starttls' });
    assert.equal((await showMailbox(env.ctx, 'general'))!.port, 10143);
    await setMailbox(env.ctx, 'general', { port: '' });
    assert.equal((await showMailbox(env.ctx, 'general'))!.port, 143);
    await assert.rejects(setMailbox(env.ctx, 'general', { port: '99x' }), refused('port'));
    await assert.rejects(setMailbox(env.ctx, 'general', { port: '70000' }), refused('port'));
  });
});

