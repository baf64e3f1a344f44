import type { ImapFlow } from 'imapflow';
import type { MailboxSettings, PollDeps } from '../mailbox/types.js';
import { closeImapClient, createImapClient, describeImapError } from './client.js';
import { describeError } from '../../db/errors.js';

/** Timing of a watch, all in milliseconds; the defaults suit production, tests shorten them. */
export interface WatchOptions {
  /** IDLE is ended and re-issued after this long (RFC 2177 §3: before 29 minutes). Default 25 min. */
  maxIdleMs?: number;
  /** A NOOP is sent after this long to prove the connection alive. Default 4 min. */
  keepaliveMs?: number;
  /** A NOOP not answered within this long means a dead connection: dropped and reconnected. Default 30 s. */
  noopTimeoutMs?: number;
  /** First reconnect delay; doubled per failed attempt. Default 1 s. */
  backoffInitialMs?: number;
  /** Longest reconnect delay. Default 5 min. */
  backoffMaxMs?: number;
  /** Called each time the watch is connected with the folder selected (IDLE follows at once); for tests and status. */
  onConnected?: () => void;
  /**
   * Called when the server refuses the login. The watch then gives up instead of reconnecting:
   * every reconnect would be another failed login, and directory servers lock accounts after a
   * few (Active Directory's lockout threshold). The scheduler restarts the watch after a poll
   * logged in successfully.
   */
  onLoginFailed?: (reason: string) => void;
}

const DEFAULTS: Required<Omit<WatchOptions, 'onConnected' | 'onLoginFailed'>> = {
  maxIdleMs: 25 * 60_000,
  keepaliveMs: 4 * 60_000,
  noopTimeoutMs: 30_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5 * 60_000,
};

/**
 * Keeps one IMAP connection selected on `settings.folder` and in IDLE (RFC 2177), and calls
 * `onNewMail` when the server reports more messages (untagged EXISTS, RFC 3501 §7.3.1), and after
 * every reconnect (mail may have arrived meanwhile). IDLE is re-issued every `maxIdleMs`; a NOOP
 * every `keepaliveMs` with an answer expected within `noopTimeoutMs` detects a silently dead
 * connection; on 'error', 'close' or a dead NOOP the watch reconnects with exponential backoff
 * (`backoffInitialMs` doubling up to `backoffMaxMs`). Connection problems are logged in plain words,
 * never thrown. `onNewMail` should only schedule a poll (the watch does not read messages).
 * @returns `stop()`, which ends the watch and logs out (resolves when closed)
 */
export function watchMailbox(
  settings: MailboxSettings,
  deps: PollDeps,
  onNewMail: () => void,
  options: WatchOptions = {},
): { stop(): Promise<void> } {
  const opts = { ...DEFAULTS, ...options };
  const log = deps.log;
  let stopped = false;
  let current: ImapFlow | null = null;
  let attempt = 0;
  let everConnected = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let keepaliveTimer: NodeJS.Timeout | undefined;
  let connecting: Promise<void> | null = null;

  const notify = () => {
    try {
      onNewMail();
    } catch (err) {
      log.warn({ err: describeError(err) }, 'IDLE: new-mail handler failed');
    }
  };

  const drop = (client: ImapFlow, why: string) => {
    if (client !== current) return;
    current = null;
    clearTimeout(keepaliveTimer);
    if (!client.isClosed) client.close();
    if (stopped) return;
    log.warn({ reason: why }, 'IDLE connection lost; reconnecting');
    scheduleReconnect();
  };

  const scheduleReconnect = () => {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    const base = Math.min(opts.backoffMaxMs, opts.backoffInitialMs * 2 ** Math.min(attempt, 30));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    attempt++;
    reconnectTimer = setTimeout(() => {
      connecting = connect().finally(() => {
        connecting = null;
      });
    }, delay);
  };

  const armKeepalive = (client: ImapFlow) => {
    clearTimeout(keepaliveTimer);
    keepaliveTimer = setTimeout(async () => {
      if (client !== current || stopped) return;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          client.noop(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer to NOOP within ${opts.noopTimeoutMs} ms`)), opts.noopTimeoutMs);
          }),
        ]);
        if (client === current && !stopped) armKeepalive(client);
      } catch (err) {
        drop(client, (err as Error).message);
      } finally {
        clearTimeout(timer);
      }
    }, opts.keepaliveMs);
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    const client = createImapClient(settings, log, {
      maxIdleTime: opts.maxIdleMs,
      // IDLE as soon as the connection is quiet: this connection runs nothing but NOOPs
      autoIdleDelay: 200,
      missingIdleCommand: 'NOOP',
    });
    current = client;
    client.on('error', (err: Error) => {
      log.warn({ err: describeImapError(err, 'fetch').message }, 'IDLE connection error');
      drop(client, err.message);
    });
    client.on('close', () => drop(client, 'closed'));
    client.on('exists', (ev: { count: number; prevCount: number }) => {
      if (client === current && ev.count > ev.prevCount) notify();
    });
    try {
      await client.connect();
      await client.mailboxOpen(settings.folder);
    } catch (err) {
      const e = describeImapError(err, 'connect');
      log.warn({ step: e.step, err: e.message }, 'IDLE: cannot watch the mailbox');
      if (client === current) {
        current = null;
        client.close();
        if (e.step === 'login') {
          stopped = true;
          log.warn('IDLE watch stopped: the login was refused; it starts again after a successful poll');
          try {
            opts.onLoginFailed?.(e.message);
          } catch {
            // a status callback must not break the watch
          }
          return;
        }
        scheduleReconnect();
      } else {
        client.close();
      }
      return;
    }
    if (stopped || client !== current) {
      await closeImapClient(client);
      return;
    }
    attempt = 0;
    armKeepalive(client);
    try {
      opts.onConnected?.();
    } catch {
      // a status callback must not break the watch
    }
    if (everConnected) notify();
    everConnected = true;
    log.debug({ folder: settings.folder }, 'IDLE watch connected');
  }

  connecting = connect().finally(() => {
    connecting = null;
  });

  return {
    async stop() {
      stopped = true;
      clearTimeout(reconnectTimer);
      clearTimeout(keepaliveTimer);
      const client = current;
      current = null;
      if (client && connecting) client.close(); // still connecting: drop the socket at once
      await connecting?.catch(() => {});
      if (client) await closeImapClient(client, 2_000);
    },
  };
}
