import type { ConnectionOptions } from 'node:tls';
import { MailboxError, type MailboxSettings, type TestStep } from './types.js';

/**
 * Node TLS options for a mailbox server: certificates verified (plus the configured CA),
 * SNI from the host name, TLS 1.2 minimum; with `tlsLegacy`, TLS 1.0/1.1 admitted, which OpenSSL 3
 * only allows at security level 0 (`DEFAULT@SECLEVEL=0`).
 */
export function mailboxTlsOptions(settings: Pick<MailboxSettings, 'host' | 'ca' | 'tlsLegacy'>): ConnectionOptions {
  return {
    rejectUnauthorized: true,
    servername: /^[\d.]+$|:/.test(settings.host) ? undefined : settings.host,
    ...(settings.ca ? { ca: settings.ca } : {}),
    ...(settings.tlsLegacy ? { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } : { minVersion: 'TLSv1.2' }),
  };
}

/**
 * Turns a library or socket error into plain words for the admin, and the step it belongs to.
 * @param during the step that was running when it happened
 */
export function describeMailboxError(err: unknown, during: TestStep['step']): MailboxError {
  if (err instanceof MailboxError) return err;
  const e = err as NodeJS.ErrnoException & { authenticationFailed?: boolean; responseText?: string; serverResponseCode?: string };
  const text = `${e?.message ?? String(err)} ${e?.responseText ?? ''}`;
  const code = e?.code ?? '';
  if (code === 'ECONNREFUSED') return new MailboxError('connect', 'connection refused: nothing listens on that host and port');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new MailboxError('connect', 'host name not found (DNS)');
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new MailboxError('connect', 'host unreachable');
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(text)) return new MailboxError(during === 'login' || during === 'folder' ? during : 'connect', 'timeout: the server did not answer in time');
  if (/self[- ]signed|unable to verify|certificate|CERT_|DEPTH_ZERO|UNABLE_TO_GET_ISSUER/i.test(`${code} ${text}`)) {
    return new MailboxError('tls', `TLS: the server's certificate is not trusted (${code || e?.message}); give the CA file of your intranet CA`);
  }
  if (/wrong version number|unsupported protocol|protocol version|ssl3_|tlsv1 alert|SSL routines/i.test(text)) {
    return new MailboxError('tls', `TLS handshake failed (${e?.message?.split('\n')[0]}); check the port and security mode, or allow TLS 1.0/1.1 for an old server`);
  }
  if (e?.authenticationFailed || /AUTHENTICATIONFAILED|authentication failed|invalid credentials|\[AUTH\]|LOGIN failed|-ERR.*(auth|pass|login)/i.test(text)) {
    return new MailboxError('login', 'login failed: user name or password wrong');
  }
  if (/NONEXISTENT|does not exist|Mailbox doesn't exist|no such (mailbox|folder)/i.test(text)) {
    return new MailboxError('folder', 'folder missing on the server');
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up|close|Connection not available/i.test(text)) {
    return new MailboxError(during, 'the server closed the connection');
  }
  return new MailboxError(during, e?.message?.split('\n')[0] || 'unknown error');
}
