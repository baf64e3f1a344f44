// Issue 7 item 2, the crash case: the real gateway (`posteingang serve`, a child process) is killed
// with SIGKILL while it sends a message — the scripted server has the data and stalls before its
// reply to the end of DATA, so it never accepted the message (RFC 5321 §4.1.1.4: the transaction
// completes only with the 250 reply). After a restart the message is taken over and delivered:
// the server accepts exactly one copy, with the Message-ID fixed at enqueue, and the outbox
// records it as sent after 2 attempts and 1 recovery.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { getOutbox } from '../../src/db/repositories/outbox.js';
import { openContext } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { enqueueMessage } from '../../src/services/outbox.js';
import { setSmtpAccount } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { ROOT } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir, testConfig } from '../helpers/env.js';
import { scriptedServer, waitFor } from './lib.js';

test('SIGKILL while sending, restart: delivered exactly once with the same Message-ID', { timeout: 480_000 }, async () => {
  const tmp = tempDir();
  const fresh = driver === 'postgres' ? await freshPostgresDatabase() : null;
  const dbEnv: Record<string, string> = fresh ? { DATABASE_URL: fresh.url } : {};
  const server = await scriptedServer({ script: ['stall'] });
  const children: ChildProcess[] = [];
  const gatewayEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...dbEnv,
    DATA_DIR: tmp.dir,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
    OUTBOX_LEASE_SECONDS: '3',
    OUTBOX_POLL_SECONDS: '1',
  };
  if (!fresh) delete gatewayEnv.DATABASE_URL;
  const startGateway = () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/posteingang.js'), 'serve'], { env: gatewayEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.resume();
    children.push(child);
    return child;
  };
  /** Opens the database as a separate process would (the gateway is not running then). */
  const withDb = async <T>(fn: (ctx: Awaited<ReturnType<typeof openContext>>['ctx']) => Promise<T>): Promise<T> => {
    const opened = await openContext(testConfig(tmp.dir, dbEnv), createLogger('silent'), { lock: !fresh });
    try {
      return await fn(opened.ctx);
    } finally {
      await opened.close();
    }
  };
  try {
    const queued = await withDb(async (ctx) => {
      await setSmtpAccount(ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
      return enqueueMessage(ctx, OPERATOR, { to: 'buerger@example.org', subject: 'Bescheid', text: 'Ihr Bescheid.\n' });
    });

    const first = startGateway();
    const [stalledRaw] = (await Promise.race([
      once(server.events, 'stalled'),
      once(first, 'exit').then(() => {
        throw new Error('the gateway exited before sending');
      }),
    ])) as [Buffer];
    first.kill('SIGKILL');
    await once(first, 'exit');
    assert.equal(server.accepted.length, 0, 'the server never accepted the first transmission');
    assert.match(stalledRaw.toString(), new RegExp(`^Message-ID: ${queued.messageId.replace(/[.]/g, '\\.')}\r$`, 'm'));
    const during = await withDb((ctx) => getOutbox(ctx.db, queued.id));
    assert.equal(during!.state, 'sending', 'left in sending by the crash');

    const second = startGateway();
    await server.waitAccepted(1, 60_000);
    await new Promise((r) => setTimeout(r, 3000)); // more than a lease and a poll interval: no second copy comes
    second.kill('SIGTERM');
    await once(second, 'exit');

    assert.equal(server.accepted.length, 1, 'exactly one copy accepted');
    assert.equal(server.accepted[0]!.messageId, queued.messageId, 'the Message-ID fixed at enqueue');
    assert.equal(server.state.dataCount, 2, 'two transmissions: the interrupted one and the accepted one');
    const row = await withDb((ctx) => getOutbox(ctx.db, queued.id));
    assert.equal(row!.state, 'sent');
    assert.equal(row!.attempts, 2);
    assert.equal(row!.recoveries, 1);
    assert.match(row!.lastReply!, /^250 .*queued as Q1/);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server.close();
    await fresh?.drop();
    tmp.cleanup();
  }
});

test('claims with FOR UPDATE SKIP LOCKED: two workers on one database send each message once', { skip: driver !== 'postgres' && 'needs two processes on PostgreSQL' }, async () => {
  const fresh = await freshPostgresDatabase();
  const tmpA = tempDir();
  const tmpB = tempDir();
  const server = await scriptedServer({});
  const { startOutboxWorker } = await import('../../src/outbound/outbox.js');
  const a = await openContext(testConfig(tmpA.dir, { DATABASE_URL: fresh.url, SECRET_KEY: 'a'.repeat(64), OUTBOX_POLL_SECONDS: '1' }), createLogger('silent'), { lock: false });
  const b = await openContext(testConfig(tmpB.dir, { DATABASE_URL: fresh.url, SECRET_KEY: 'a'.repeat(64), OUTBOX_POLL_SECONDS: '1' }), createLogger('silent'), { lock: false });
  try {
    await setSmtpAccount(a.ctx, { host: '127.0.0.1', port: server.port, security: 'none', fromAddress: 'poststelle@agency.example' });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await enqueueMessage(a.ctx, OPERATOR, { to: `b${i}@example.org`, subject: `Nr. ${i}`, text: 'x' })).messageId);
    const workers = [await startOutboxWorker(a.ctx), await startOutboxWorker(b.ctx)];
    await server.waitAccepted(30, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    await Promise.all(workers.map((w) => w.stop()));
    assert.equal(server.accepted.length, 30);
    assert.deepEqual(server.accepted.map((m) => m.messageId).sort(), [...ids].sort(), 'each message once');
  } finally {
    await a.close();
    await b.close();
    await server.close();
    await fresh.drop();
    tmpA.cleanup();
    tmpB.cleanup();
  }
});
