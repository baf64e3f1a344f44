import net from 'node:net';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { SmtpAuthMethod, SmtpSecurity } from '../db/schema.js';

/** What a delivery needs of the SMTP account, password decrypted and CA file read (services/smtp-account.ts). */
export interface SmtpSettings {
  host: string;
  port: number;
  security: SmtpSecurity;
  auth: SmtpAuthMethod;
  username: string | null;
  password: string | null;
  /** PEM text of an extra CA, or null */
  ca: string | null;
  tlsLegacy: boolean;
  /** connection, greeting and inactivity timeout, milliseconds */
  timeoutMs: number;
}

/** The steps of a delivery, in order (the same for `smtp test` and the outbox). */
export const DELIVERY_STEPS = ['connect', 'tls', 'login', 'send'] as const;
export type DeliveryStep = (typeof DELIVERY_STEPS)[number];

export interface StepReport {
  step: DeliveryStep;
  ok: boolean;
  /** plain words: what happened, or why it failed */
  detail: string;
}

/**
 * A delivery that did not end with the server's acceptance.
 * `temporary`: worth trying again later (RFC 5321 §4.2.1 4yz replies, connection problems,
 * timeouts, and problems of the account rather than the message: TLS and login);
 * otherwise the server refused the message for good (5yz) and `response` holds its reply.
 */
export class DeliveryError extends Error {
  constructor(
    readonly step: DeliveryStep,
    message: string,
    readonly temporary: boolean,
    /** the server's reply line(s), when it sent one */
    readonly response: string | null,
    readonly responseCode: number | null,
    /** recipients refused at RCPT TO, when every one was (RFC 5321 §3.3) */
    readonly refused: RefusedRecipient[] = [],
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** A recipient the server refused at `RCPT TO`, with its reply (4yz: try again later; 5yz: never). */
export interface RefusedRecipient {
  address: string;
  /** the reply code, e.g. 451 or 550; null when the server's reply had none */
  code: number | null;
  /** the server's reply line */
  reply: string;
}

/** The refused recipients nodemailer collected in `rejectedErrors`. */
function refusedOf(errors: unknown): RefusedRecipient[] {
  if (!Array.isArray(errors)) return [];
  return errors.map((e: { recipient?: string; responseCode?: number; response?: string; message?: string }) => ({
    address: String(e.recipient ?? ''),
    code: typeof e.responseCode === 'number' ? e.responseCode : null,
    reply: String(e.response ?? e.message ?? '').trim(),
  }));
}

export interface Accepted {
  /** the server's final reply to the end of DATA, e.g. `250 2.0.0 Ok: queued as 4Xyz` */
  response: string;
  accepted: string[];
  /** recipients refused at RCPT TO while the others were accepted */
  refused: RefusedRecipient[];
  steps: StepReport[];
}

/** TLS options: certificates verified, TLS 1.2 minimum unless the account opted down to TLS 1.0 (OpenSSL security level 0). */
export function tlsOptions(settings: Pick<SmtpSettings, 'host' | 'ca' | 'tlsLegacy'>): ConnectionOptions {
  const opts: ConnectionOptions = { rejectUnauthorized: true, minVersion: settings.tlsLegacy ? 'TLSv1' : 'TLSv1.2' };
  if (settings.tlsLegacy) opts.ciphers = 'DEFAULT@SECLEVEL=0';
  if (settings.ca) opts.ca = [settings.ca];
  if (!net.isIP(settings.host)) opts.servername = settings.host;
  return opts;
}

/**
 * nodemailer SMTPConnection options for the account: implicit TLS (`secure`) for `tls`,
 * STARTTLS required (RFC 3207) for `starttls`, never STARTTLS for `none`.
 */
export function connectionOptions(settings: SmtpSettings): SMTPConnection.Options {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    tls: tlsOptions(settings),
    name: hostname(),
    connectionTimeout: settings.timeoutMs,
    greetingTimeout: settings.timeoutMs,
    socketTimeout: settings.timeoutMs,
    logger: false,
  };
}

type SmtpError = Error & { code?: string; originalCode?: string; response?: string; responseCode?: number };

/** Plain words for a TLS failure (certificate not trusted, wrong name, protocol too old). */
function tlsWords(err: SmtpError): string {
  const text = `${err.originalCode ?? ''} ${err.message}`;
  if (/SELF_SIGNED|self[- ]signed|UNABLE_TO_GET_ISSUER|unable to (get|verify)/i.test(text)) {
    return 'the server certificate is not signed by a trusted CA (set the CA file of the intranet CA)';
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|altnames|Hostname\/IP does not match/i.test(text)) return 'the server certificate is for another host name';
  if (/CERT_HAS_EXPIRED|expired/i.test(text)) return 'the server certificate has expired';
  if (/wrong version number|packet length too long|unknown protocol|http request/i.test(text)) {
    // the bytes that came back were no TLS at all: a plain-text port (587 and 25 start without TLS)
    return 'the server did not answer in TLS: this port speaks plain SMTP; choose STARTTLS (port 587) or the implicit-TLS port (465)';
  }
  if (/protocol|version|handshake failure/i.test(text)) {
    return 'no common TLS version or cipher (an old server may need TLS legacy mode)';
  }
  if (/STARTTLS/i.test(text)) return 'the server does not offer STARTTLS';
  return err.message;
}

/** Maps a nodemailer error of step `step` to a DeliveryError with plain words. */
function describe(err: SmtpError, step: DeliveryStep, settings: SmtpSettings): DeliveryError {
  const response = typeof err.response === 'string' ? err.response.trim() : null;
  const code = typeof err.responseCode === 'number' ? err.responseCode : null;
  const where = `${settings.host}:${settings.port}`;
  if (err.code === 'ETIMEDOUT' || /timed? ?out/i.test(err.message)) {
    // no greeting on a STARTTLS/plain connection: the port most likely waits for a TLS handshake first
    // connected (any timeout but nodemailer's CONNECT_TIMEOUT), but no greeting came before the greeting or socket timeout
    const timeoutType = (err as { timeoutType?: string }).timeoutType;
    const noGreeting = timeoutType === 'GREETING_TIMEOUT' || timeoutType === 'SOCKET_TIMEOUT' || /greeting/i.test(err.message);
    const hint = step === 'connect' && settings.security !== 'tls' && noGreeting ? '; the server sent no greeting: if this is an implicit-TLS port (465), choose security TLS' : '';
    return new DeliveryError(step, `no answer from ${where} in time (${step})${hint}`, true, response, code);
  }
  switch (step) {
    case 'connect': {
      const sys = err.originalCode ?? err.code;
      const why =
        sys === 'ECONNREFUSED' ? 'connection refused' : sys === 'ENOTFOUND' || sys === 'EDNS' ? 'host name not found' : sys === 'EHOSTUNREACH' ? 'host unreachable' : response ?? err.message;
      return new DeliveryError('connect', `cannot connect to ${where}: ${why}`, code === null || code < 500, response, code);
    }
    case 'tls':
      return new DeliveryError('tls', `TLS with ${where} failed: ${tlsWords(err)}`, true, response, code);
    case 'login':
      // a refused login is a problem of the account, not of the message: kept queued until fixed
      return new DeliveryError('login', `the server refused the login${response ? `: ${response}` : ` (${err.message})`}`, true, response, code);
    case 'send': {
      const refused = refusedOf((err as { rejectedErrors?: unknown }).rejectedErrors);
      if (code !== null) {
        const temporary = code < 500;
        return new DeliveryError('send', `the server ${temporary ? 'deferred' : 'refused'} the message: ${response}`, temporary, response, code, refused);
      }
      // no reply: the connection broke, or nodemailer refused the envelope before sending it
      const temporary = err.code !== 'EENVELOPE' && err.code !== 'EMESSAGE';
      return new DeliveryError('send', `sending failed: ${err.message}`, temporary, response, code);
    }
  }
}

/** Opens a TCP connection (the `connect` step of implicit TLS, so that a TLS failure is told apart). */
function openSocket(settings: SmtpSettings): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: settings.host, port: settings.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' }));
    }, settings.timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(Object.assign(err, { originalCode: err.code }));
    });
  });
}

/** A delivery in progress that can be aborted (gateway shutdown). */
export interface DeliveryHandle {
  abort(): void;
}

/**
 * Delivers one message through the account, step by step (connect → TLS → login → send), on a
 * connection of its own that is closed afterwards. RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 8314
 * (implicit TLS), RFC 4954 (AUTH PLAIN/LOGIN).
 * @param envelope MAIL FROM and RCPT TO addresses
 * @param message the complete RFC 5322 message, sent as it is
 * @param opts.onStep called as each step ends; `opts.handle` receives an abort function
 * @returns the server's acceptance (its reply to the end of DATA), with the steps
 * @throws DeliveryError naming the failed step, whether it is temporary, and the server's reply
 */
export async function deliver(
  settings: SmtpSettings,
  envelope: { from: string; to: string[] },
  message: Buffer | Readable,
  opts: { onStep?: (s: StepReport) => void; handle?: (h: DeliveryHandle) => void } = {},
): Promise<Accepted> {
  const steps: StepReport[] = [];
  const report = (s: StepReport) => {
    steps.push(s);
    opts.onStep?.(s);
  };
  const fail = (err: DeliveryError): never => {
    report({ step: err.step, ok: false, detail: err.message });
    throw err;
  };
  const options = connectionOptions(settings);
  let socket: net.Socket | undefined;
  if (settings.security === 'tls') {
    try {
      socket = await openSocket(settings);
    } catch (err) {
      fail(describe(err as SmtpError, 'connect', settings));
    }
    report({ step: 'connect', ok: true, detail: `connected to ${settings.host}:${settings.port}` });
    options.connection = socket;
  }
  const conn = new SMTPConnection(options);
  // a connection problem arrives as an 'error' event, a close without a reply as 'end' (both may
  // leave a callback uncalled), an abort comes from the gateway's shutdown: every step waits for
  // its callback or one of those, whichever comes first
  let broken: Error | null = null;
  const waiters = new Set<(err: Error) => void>();
  const breakSteps = (err: Error) => {
    broken ??= err;
    for (const w of waiters) w(err);
  };
  conn.on('error', breakSteps);
  conn.on('end', () => breakSteps(Object.assign(new Error('the server closed the connection'), { code: 'ECONNECTION' })));
  let aborted = false;
  opts.handle?.({
    abort() {
      aborted = true;
      breakSteps(new Error('interrupted'));
      conn.close();
    },
  });
  const step = <T>(run: (done: (err: Error | null | undefined, value?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => {
      if (broken) return reject(broken);
      const onError = (err: Error) => reject(err);
      waiters.add(onError);
      run((err, value) => {
        waiters.delete(onError);
        if (err) reject(err);
        else resolve(value as T);
      });
    });
  try {
    try {
      await step<void>((done) => conn.connect((err?: Error) => done(err)));
    } catch (err) {
      const e = err as SmtpError;
      // nodemailer marks a STARTTLS handshake in progress with `upgrading`; a handshake error then arrives as ESOCKET
      const upgrading = (conn as unknown as { upgrading?: boolean }).upgrading === true;
      // (for implicit TLS too: the handshake runs over the socket opened above)
      const tlsFailed = e.code === 'ETLS' || upgrading;
      if (settings.security !== 'tls') {
        if (tlsFailed) report({ step: 'connect', ok: true, detail: `connected to ${settings.host}:${settings.port}` });
      }
      fail(describe(e, tlsFailed ? 'tls' : 'connect', settings));
    }
    if (settings.security !== 'tls') report({ step: 'connect', ok: true, detail: `connected to ${settings.host}:${settings.port}` });
    if (settings.security === 'none') report({ step: 'tls', ok: true, detail: 'skipped: security none (unencrypted)' });
    else {
      const tlsSocket = (conn as unknown as { _socket?: { getProtocol?(): string | null } })._socket;
      report({ step: 'tls', ok: true, detail: `${settings.security === 'tls' ? 'implicit TLS' : 'STARTTLS'}, ${tlsSocket?.getProtocol?.() ?? 'TLS'}` });
    }
    if (settings.auth === 'none') report({ step: 'login', ok: true, detail: 'skipped: no authentication' });
    else {
      try {
        await step<void>((done) => conn.login({ credentials: { user: settings.username ?? '', pass: settings.password ?? '' }, method: settings.auth.toUpperCase() }, (err) => done(err)));
      } catch (err) {
        fail(describe(err as SmtpError, 'login', settings));
      }
      report({ step: 'login', ok: true, detail: `logged in as ${settings.username} (${settings.auth.toUpperCase()})` });
    }
    let info: SMTPConnection.SentMessageInfo;
    try {
      info = await step<SMTPConnection.SentMessageInfo>((done) => conn.send(envelope, message, (err, i) => done(err, i)));
    } catch (err) {
      if (aborted) fail(new DeliveryError('send', 'sending was interrupted (gateway stopping)', true, null, null));
      fail(describe(err as SmtpError, 'send', settings));
    }
    const response = String(info!.response ?? '').trim();
    report({ step: 'send', ok: true, detail: `accepted: ${response}` });
    conn.quit();
    return { response, accepted: (info!.accepted ?? []).map(String), refused: refusedOf((info! as { rejectedErrors?: unknown }).rejectedErrors), steps };
  } finally {
    setTimeout(() => conn.close(), 1000).unref();
  }
}
