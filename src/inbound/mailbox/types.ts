import type { Logger } from 'pino';
import type { AppContext } from '../../context.js';
import type { Channel, MailboxProtocol, MailboxSecurity } from '../../db/schema.js';

/** A channel's mailbox as the pollers see it, password decrypted. Never logged as a whole. */
export interface MailboxSettings {
  channel: Channel;
  protocol: MailboxProtocol;
  host: string;
  port: number;
  security: MailboxSecurity;
  /** passed to the server exactly as given (`AGENCY\scan`, UPN) */
  username: string;
  password: string;
  /** IMAP folder */
  folder: string;
  /** IMAP: `seen` | `move:<folder>` | `delete` | `keep`; POP3: `delete` | `keep` */
  afterImport: string;
  /** PEM text of an extra CA to trust (read from the configured CA file), or null */
  ca: string | null;
  tlsLegacy: boolean;
  /** import only messages received after this moment */
  importSince: Date | null;
  /** Key for checkpoints, UIDL sets and failures: `<protocol>://<username>@<host>:<port>` */
  account: string;
}

export interface PollDeps {
  ctx: AppContext;
  log: Logger;
  /** messages larger than this (bytes) are not downloaded: recorded as too large and left alone */
  maxBytes: number;
  /**
   * When aborted (shutdown, changed settings) the poll stops between two batches: the batch
   * being imported is finished (committed and its after-import action applied), the rest waits
   * for the next poll. The report then covers what was done.
   */
  signal?: AbortSignal;
}

/** What one poll did. */
export interface PollReport {
  /** new messages stored */
  imported: number;
  /** messages ingest() recognised as stored already (re-read after a crash, a UIDVALIDITY reset…) */
  duplicates: number;
  /** messages that failed this time; left on the server and retried on the next poll */
  failed: number;
  /** messages over the size limit, left alone */
  tooLarge: number;
  /** messages older than `importSince`, left alone */
  skipped: number;
}

/** One step of a connection test, in the order they run. */
export interface TestStep {
  step: 'connect' | 'tls' | 'login' | 'folder' | 'fetch';
  ok: boolean;
  /** plain words: what happened, or why it failed */
  detail: string;
}

/** A protocol adapter: translates between the server and ingest(); holds no state of its own. */
export interface MailboxAdapter {
  /**
   * Fetches new messages and hands them in batches to `deps.ctx.ingestBatch` (source kind
   * `imap`/`pop3`; one transaction per batch); applies the after-import action only to messages
   * whose batch committed; records checkpoints/UIDLs and per-message failures in the database
   * (repositories/mailboxes.ts).
   * @throws MailboxError (with a plain-words `step`) when the mailbox cannot be read at all
   */
  poll(settings: MailboxSettings, deps: PollDeps): Promise<PollReport>;
  /** Runs connect → TLS → login → folder → fetch and stops at the first failing step. Never throws. */
  test(settings: MailboxSettings, deps: PollDeps): Promise<TestStep[]>;
}

/** A mailbox could not be read; `message` is plain words for the admin. */
export class MailboxError extends Error {
  constructor(
    readonly step: TestStep['step'],
    message: string,
  ) {
    super(message);
    this.name = 'MailboxError';
  }
}
