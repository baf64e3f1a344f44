import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database, Db } from './db/client.js';
import type { Events } from './events.js';
import { ingest, ingestBatch, type AlsoForBatch, type AlsoInTransaction, type BatchItem, type IngestResult } from './ingest/ingest.js';
import type { RawMessage } from './ingest/raw.js';
import type { Source } from './ingest/source.js';
import type { InboundQueue } from './ingest/queue.js';
import type { Channel } from './db/schema.js';
import type { PollReport, TestStep } from './inbound/mailbox/types.js';
import { createSecretBox, loadSecretKey, type SecretBox } from './secrets.js';

/** Poll or test a channel's mailbox: through the gateway's scheduler, or directly in the CLI. */
export interface MailboxOperations {
  poll(channel: Channel): Promise<PollReport>;
  test(channel: Channel): Promise<TestStep[]>;
}

/** What services, adapters and the web layer share: built once in main.ts, or by a test. */
export interface AppContext {
  config: Config;
  database: Database;
  db: Db;
  events: Events;
  log: Logger;
  /** Temporary files (spooled messages, decoded attachments) under DATA_DIR. */
  spoolDir: string;
  /** Identifies this process in leases: `<host>:<pid>:<random>`. */
  instanceId: string;
  /** Secrets at rest (mailbox and SMTP passwords). */
  secrets: SecretBox;
  /** Mailbox polling and connection tests; set by whoever owns the adapters (gateway or CLI). */
  mailboxes: MailboxOperations;
  /** The SMTP listeners, once the gateway started them (absent in the CLI and in tests without a gateway). */
  listeners?: { smtp: AddressInfo | null; smtpTls: AddressInfo | null };
  /** The inbound queue SMTP acknowledges into (gateway only): depth and `250`→task latency for the dashboard and /healthz. */
  queue?: InboundQueue;
  /** `ingest()` bound to this context: the only way any adapter stores a message. */
  ingest(raw: RawMessage, source: Source, also?: AlsoInTransaction): Promise<IngestResult>;
  /** `ingestBatch()` bound to this context: several messages, one transaction (the inbound queue's backlog, a poll's batch). */
  ingestBatch(items: BatchItem[], also?: AlsoForBatch): Promise<(IngestResult | Error)[]>;
  /** `ingestBatch()` as the SMTP inbound queue runs it: the batch parsed before its transaction (IngestDeps.parseFirst). */
  queueIngestBatch(items: BatchItem[]): Promise<(IngestResult | Error)[]>;
}

export function createContext(config: Config, database: Database, events: Events, log: Logger): AppContext {
  const spoolDir = path.join(config.dataDir, 'spool');
  const deps = { db: database.db, spoolDir, events, log: log.child({ component: 'ingest' }) };
  return {
    config,
    database,
    db: database.db,
    events,
    log,
    spoolDir,
    instanceId: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    secrets: createSecretBox(loadSecretKey(config)),
    ingest: (raw, source, also) => ingest(deps, raw, source, also),
    ingestBatch: (items, also) => ingestBatch(deps, items, also),
    queueIngestBatch: (items) => ingestBatch({ ...deps, parseFirst: true }, items),
    mailboxes: {
      poll: () => Promise.reject(new Error('mailbox polling is not available in this process')),
      test: () => Promise.reject(new Error('mailbox tests are not available in this process')),
    },
  };
}
