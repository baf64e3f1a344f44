import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { Logger } from 'pino';
import { describeMailboxError, mailboxTlsOptions } from '../mailbox/connection.js';
import { MailboxError, type MailboxSettings, type TestStep } from '../mailbox/types.js';

/**
 * imapflow's logger interface fed into pino at debug level, reduced to the message text and an
 * error message: imapflow's entries can carry protocol lines, which stay out of the logs (no
 * credentials, no message data). The adapters log failures themselves, in plain words.
 */
function imapLogger(log: Logger): NonNullable<ImapFlowOptions['logger']> {
  const forward = (obj: unknown) => {
    if (!log.isLevelEnabled('debug')) return;
    const o = (obj ?? {}) as { src?: unknown; msg?: unknown; err?: { message?: unknown } };
    if (o.src) return; // a protocol line (client or server)
    log.debug({ err: typeof o.err?.message === 'string' ? o.err.message : undefined }, `imapflow: ${typeof o.msg === 'string' ? o.msg : '(entry)'}`);
  };
  const noop = () => {};
  return { trace: noop, debug: forward, info: forward, warn: forward, error: forward, fatal: forward };
}

/**
 * An unconnected imapflow client for a mailbox (RFC 3501 / RFC 9051):
 * - security `tls`: implicit TLS (RFC 8314); `starttls`: cleartext, then STARTTLS required — the
 *   client refuses to log in when the server does not offer it (RFC 3501 §6.2.1); `none`: cleartext.
 * - certificates verified with mailboxTlsOptions (extra CA, TLS 1.2 minimum unless `tlsLegacy`).
 * - the user name goes to LOGIN/AUTHENTICATE exactly as given.
 * @param extra imapflow options of the caller (IDLE timing, socket timeout…)
 */
export function createImapClient(settings: MailboxSettings, log: Logger, extra: Partial<ImapFlowOptions> = {}): ImapFlow {
  const tls = mailboxTlsOptions(settings);
  return new ImapFlow({
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    doSTARTTLS: settings.security === 'starttls' ? true : settings.security === 'none' ? false : undefined,
    servername: tls.servername,
    tls,
    auth: { user: settings.username, pass: settings.password },
    logger: imapLogger(log),
    clientInfo: { name: 'Posteingang' },
    connectionTimeout: 30_000,
    greetingTimeout: 16_000,
    ...extra,
  });
}

/**
 * Plain words for an error of imapflow, with the step it belongs to: describeMailboxError plus
 * what imapflow says in its own words (STARTTLS missing, LOGINDISABLED).
 * @param during the step that was running
 */
export function describeImapError(err: unknown, during: TestStep['step']): MailboxError {
  if (err instanceof MailboxError) return err;
  const e = err as { message?: string; tlsFailed?: boolean; code?: string };
  const message = e?.message ?? '';
  if (/does not support STARTTLS|STARTTLS is not possible|can not start TLS/i.test(message)) {
    return new MailboxError('tls', 'the server does not offer STARTTLS: refusing to send the password in cleartext; use security tls, or none only inside a trusted network');
  }
  if (e?.code === 'STARTTLS_INJECTION') return new MailboxError('tls', 'STARTTLS failed: the server sent data before the TLS handshake (possible attack)');
  if (/Login is disabled/i.test(message)) {
    return new MailboxError('login', 'the server refuses logins over this connection (LOGINDISABLED): use security tls or starttls');
  }
  return describeMailboxError(err, during);
}

/** Closes a client politely (LOGOUT, bounded to `ms`), else drops the socket. Never throws. */
export async function closeImapClient(client: ImapFlow, ms = 5_000): Promise<void> {
  if (client.isClosed) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.logout(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('logout timeout')), ms);
      }),
    ]);
  } catch {
    // the connection is dropped below
  } finally {
    clearTimeout(timer);
    if (!client.isClosed) client.close();
  }
}
