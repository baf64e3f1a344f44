import { chmod, mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import type { Logger } from 'pino';
import { adminSocketPath, serveAdminSocket } from './cli/socket.js';
import { ConfigError, type Config } from './config.js';
import { createContext, type AppContext } from './context.js';
import { assertDurable, openDatabase, type Database } from './db/client.js';
import { bridgeEvents, createEvents } from './events.js';
import { createReceiver, type Receiver } from './inbound/smtp/receiver.js';
import { cachedRecipientLookup } from './inbound/smtp/recipient-cache.js';
import { isInboundDomain } from './inbound/smtp/recipients.js';
import { attemptSucceeded, beginAttempt, type Attempt } from './services/auth-throttle.js';
import { openInboundQueue, type InboundQueue } from './ingest/queue.js';
import { queueIdsStored } from './db/repositories/messages.js';
import path from 'node:path';
import { loadTlsMaterial, type TlsMaterial } from './inbound/smtp/tls.js';
import { authenticateDevice } from './services/devices.js';
import { imapWatch, mailboxAdapters } from './inbound/mailbox/adapters.js';
import { clearAllLeases } from './db/repositories/mailboxes.js';
import { startScheduler, type Scheduler } from './inbound/scheduler.js';
import { pollMailbox, testMailbox } from './services/mailboxes.js';
import { lockDataDir } from './lock.js';
import { startOutboxWorker, type OutboxWorker } from './outbound/outbox.js';
import { channelOfInboundAddress, ensureSeed } from './services/settings.js';
import { createApp } from './web/app.js';

export interface Gateway {
  ctx: AppContext;
  smtp: AddressInfo;
  /** The implicit-TLS listener, when SMTP_TLS_PORT is set. */
  smtpTls: AddressInfo | null;
  tls: TlsMaterial | null;
  http: AddressInfo;
  /** Sends queued mail through the central SMTP account (issue 7). */
  outbox: OutboxWorker;
  /** Stops accepting, finishes what is in flight, closes the database, releases the lock. */
  stop(): Promise<void>;
}

/**
 * Opens the database (locking DATA_DIR on the embedded default), applies migrations and seeds,
 * and starts the SMTP receiver, the HTTP server and the local admin socket.
 * @throws DataDirLockedError when another gateway holds DATA_DIR; database errors as they come
 */
export async function openContext(config: Config, log: Logger, opts: { lock: boolean }) {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // the embedded database, spool files and keys hold mail and secrets: this user only
  await chmod(config.dataDir, 0o700);
  const release = !config.DATABASE_URL && opts.lock ? await lockDataDir(config.dataDir, (err) => log.fatal({ err: err.message }, 'data-directory lock lost')) : null;
  let database: Database | undefined;
  try {
    database = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir });
    await assertDurable(database);
    await database.migrate();
    await ensureSeed(database.db);
  } catch (err) {
    await database?.close().catch(() => {});
    await release?.();
    throw err;
  }
  const ctx = createContext(config, database, createEvents(), log);
  ctx.mailboxes = {
    poll: (channel) => pollMailbox(ctx, mailboxAdapters, channel),
    test: (channel) => testMailbox(ctx, mailboxAdapters, channel),
  };
  return {
    ctx,
    async close() {
      await database.close();
      await release?.();
    },
  };
}

/** Names the configuration variables when a listener cannot start (port in use, unknown host). */
async function listening<T>(variables: string, started: Promise<T>): Promise<T> {
  try {
    return await started;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'the port needs privileges' : e.code === 'ENOTFOUND' || e.code === 'EADDRNOTAVAIL' ? 'the address is not one of this machine' : e.message;
    throw new ConfigError(variables, `cannot be used: ${why}`);
  }
}

export async function startGateway(config: Config, log: Logger): Promise<Gateway> {
  const opened = await openContext(config, log, { lock: true });
  const { ctx } = opened;
  let receiver: Receiver | undefined;
  let queue: InboundQueue | undefined;
  let httpServer: ServerType | undefined;
  let socket: http.Server | undefined;
  let scheduler: Scheduler | undefined;
  let outbox: OutboxWorker | undefined;
  let stopBridge: (() => Promise<void>) | undefined;
  try {
    const tls = await loadTlsMaterial(config);
    if (tls) {
      log.info({ fingerprint256: tls.fingerprint256, subject: tls.subject, validTo: tls.validTo, selfSigned: tls.selfSigned }, 'SMTP TLS certificate');
    } else {
      log.warn('SMTP TLS is off: no certificate configured and SMTP_TLS_SELF_SIGNED=false');
    }
    const inbound = await openInboundQueue({
      dir: path.join(config.dataDir, 'queue'),
      log: log.child({ component: 'queue' }),
      ingest: ctx.ingest,
      ingestBatch: ctx.queueIngestBatch,
      alreadyStored: (ids) => queueIdsStored(ctx.db, ids),
      // PostgreSQL: ingests wait mostly for round trips and the WAL flush, so several overlap
      // (measured: 1000 × 100 KB, 2 → 59, 4 → 86, 8 → 135 tasks/s; the pool has 10 connections).
      // PGlite runs one transaction at a time, in its own thread (db/pglite-remote.ts): two let
      // the next batch be parsed here while the one before is stored there (600 × 100 KB through
      // ingestBatch: 1 → 125, 2 → 142, 3 → 138 msg/s).
      concurrency: ctx.database.kind === 'postgres' ? 8 : 2,
    });
    queue = ctx.queue = inbound;
    receiver = createReceiver({
      config,
      tls,
      log: log.child({ component: 'smtp' }),
      lookupRecipient: cachedRecipientLookup((address) => channelOfInboundAddress(ctx.db, address)),
      isInboundDomain: (domain) => isInboundDomain(ctx.db, domain),
      authenticate: (user, password) => authenticateDevice(ctx.db, user, password),
      // the per-address AUTH back-off (issue 14), the receiver's auth-guard.ts hook
      authThrottle: {
        begin: (subject) => beginAttempt(ctx.db, 'smtp', subject),
        succeeded: (attempt) => attemptSucceeded(ctx.db, attempt as Attempt),
      },
      accept: (stream, source, maxBytes) => inbound.accept(stream, source, maxBytes),
    });
    const smtp = await listening('SMTP_HOST/SMTP_PORT', receiver.listen(config.SMTP_PORT, config.SMTP_HOST));
    const smtpTls =
      config.SMTP_TLS_PORT !== undefined ? await listening('SMTP_HOST/SMTP_TLS_PORT', receiver.listenTls(config.SMTP_TLS_PORT, config.SMTP_HOST)) : null;
    ctx.listeners = { smtp, smtpTls };
    const app = createApp(ctx);
    const httpAddress = await listening('HTTP_HOST/HTTP_PORT', new Promise<AddressInfo>((resolve, reject) => {
      httpServer = serve({ fetch: app.fetch, port: config.HTTP_PORT, hostname: config.HTTP_HOST }, (info) => resolve(info));
      httpServer.once('error', reject);
    }));
    if (!config.DATABASE_URL) socket = await serveAdminSocket(ctx);
    stopBridge = await bridgeEvents(ctx.database, ctx.events);
    // embedded PGlite: this process is the database's only user (DATA_DIR is locked), so a poll
    // lease found now was left by a crash and must not block polling for its remaining time
    if (!config.DATABASE_URL) await clearAllLeases(ctx.db);
    scheduler = startScheduler(ctx, mailboxAdapters, imapWatch);
    ctx.mailboxes.poll = scheduler.pollNow;
    outbox = await startOutboxWorker(ctx);
    log.info(
      {
        allowedNetworks: config.SMTP_ALLOWED_NETWORKS.map(([ip, bits]) => `${ip.toString()}/${bits}`).join(','),
        smtp: `${smtp.address}:${smtp.port}`, smtpTls: smtpTls ? `${smtpTls.address}:${smtpTls.port}` : undefined, http: `${httpAddress.address}:${httpAddress.port}`, database: ctx.database.kind, dataDir: config.dataDir },
      'Posteingang gateway started',
    );
    return {
      ctx,
      smtp,
      smtpTls,
      tls,
      http: httpAddress,
      outbox,
      async stop() {
        log.info('stopping');
        await stopBridge?.();
        await scheduler?.stop();
        await outbox?.stop();
        await Promise.all([
          receiver!.close(),
          new Promise<void>((r) => (httpServer ? httpServer.close(() => r()) : r())),
          new Promise<void>((r) => (socket ? socket.close(() => r()) : r())),
        ]);
        // ingests in flight finish; what is still queued stays on disk for the next start
        await queue!.close();
        await opened.close();
        log.info('stopped');
      },
    };
  } catch (err) {
    await stopBridge?.().catch(() => {});
    await scheduler?.stop().catch(() => {});
    await outbox?.stop().catch(() => {});
    await receiver?.close().catch(() => {});
    await queue?.close().catch(() => {});
    httpServer?.close();
    socket?.close();
    await opened.close();
    throw err;
  }
}

export { adminSocketPath };
