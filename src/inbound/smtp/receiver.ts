import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { addressInNetworks, ConfigError, type Config } from '../../config.js';
import type { Channel } from '../../db/schema.js';
import { SizeLimitError } from '../../ingest/raw.js';
import type { SmtpSource } from '../../ingest/source.js';
import { installSmtpServerCompat, type CloseReason, type CompatOptions } from './smtp-server-compat.js';
import { channelForRecipient } from './recipients.js';
import { AuthFailureTally, noAuthThrottle, type SmtpAuthThrottle } from './auth-guard.js';
import { allowedParameters, unknownParameters } from './esmtp-parameters.js';
import { RefusalLog, type RefusalReason } from './connection-refusals.js';
import { tlsPolicy, type TlsMaterial } from './tls.js';
import { describeError } from '../../db/errors.js';

export type ReceiverConfig = Pick<
  Config,
  | 'SMTP_ALLOWED_NETWORKS'
  | 'SMTP_MAX_MESSAGE_BYTES'
  | 'SMTP_TLS_LEGACY'
  | 'SMTP_AUTH'
  | 'SMTP_AUTH_ALLOW_CLEARTEXT'
  | 'SMTP_MAX_CONNECTIONS'
  | 'SMTP_MAX_CONNECTIONS_PER_IP'
  | 'SMTP_MAX_RECIPIENTS'
  | 'SMTP_COMMAND_TIMEOUT_SECONDS'
  | 'SMTP_DATA_TIMEOUT_SECONDS'
  | 'SMTP_COMMAND_DEADLINE_SECONDS'
  | 'SMTP_DATA_DEADLINE_SECONDS'
  | 'SMTP_DATA_MIN_BYTES_PER_SECOND'
  | 'SMTP_AUTH_MAX_FAILURES'
  | 'SMTP_SESSION_IDLE_SECONDS'
  | 'SMTP_MAX_JUNK_COMMANDS'
>;

/**
 * A device's successful AUTH (services/devices.ts DeviceAuthorization), kept with the session:
 * asked again at each `MAIL FROM`, so that an account disabled, removed or given a new password
 * meanwhile sends nothing more on a connection that authenticated before.
 */
export interface DeviceGrant {
  /** the device's name as stored */
  name: string;
  /** whether the authorization still holds (one indexed query). @throws database errors (answered `451 4.3.0`) */
  stillAuthorized(): Promise<boolean>;
}

export interface ReceiverDeps {
  config: ReceiverConfig;
  /** Certificate for STARTTLS and the implicit-TLS port; null → no TLS offered. */
  tls: TlsMaterial | null;
  log: Logger;
  /** Channel bound to a lower-cased inbound address, or null. */
  lookupRecipient(address: string): Promise<Channel | null>;
  /**
   * Whether a lower-cased domain is the domain of an inbound address (recipients.ts
   * isInboundDomain), for `postmaster@<domain>` (RFC 5321 §4.5.1); absent → only the bare
   * `postmaster` and postmaster addresses configured as inbound addresses are accepted.
   */
  isInboundDomain?(domain: string): Promise<boolean>;
  /** Checks device credentials; resolves to the device's authorization, or null when they are wrong. */
  authenticate(user: string, password: string): Promise<DeviceGrant | null>;
  /** HOOK (issue 14): the per-address AUTH back-off stored in the database (auth-guard.ts); default: none. */
  authThrottle?: SmtpAuthThrottle;
  /**
   * The inbound queue (ingest/queue.ts): resolves with the queue id once the message is on disk.
   * @throws SizeLimitError past `maxBytes`; the stream's error when the client went away
   */
  accept(stream: Readable, source: SmtpSource, maxBytes: number): Promise<string>;
}

export interface Receiver {
  /** Starts the plain listener (STARTTLS when TLS is available). */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Starts the implicit-TLS listener (RFC 8314 "submissions" style). @throws when no TLS material */
  listenTls(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

type ReplyError = Error & { responseCode: number };
function reply(code: number, text: string): ReplyError {
  return Object.assign(new Error(text), { responseCode: code });
}

const TEMPORARY = '4.3.0 Temporary failure, please try again later';

/** What a refused connection's log line says, per reason. */
const REFUSAL_TEXT: Record<RefusalReason, string> = {
  'address-not-allowed': 'client outside SMTP_ALLOWED_NETWORKS',
  'per-address-limit': 'too many connections from this address (SMTP_MAX_CONNECTIONS_PER_IP)',
  'connection-limit': 'too many connections (SMTP_MAX_CONNECTIONS)',
};

/** The offer of a session before any HELO/EHLO: nothing. */
const NOTHING_ADVERTISED: ReadonlySet<string> = new Set();

/** The reply to a DATA phase that missed its deadline (RFC 5321 §3.8; RFC 3463 X.4.2 "bad connection"). */
const DATA_DEADLINE = '4.4.2 DATA too slow: below the minimum transfer rate, closing connection';

/** What checking AUTH credentials came to. */
type AuthOutcome = { kind: 'ok'; device: DeviceGrant } | { kind: 'wrong' } | { kind: 'throttled'; retryAfterSeconds: number; logWorthy: boolean };

/**
 * The SMTP receiver (RFC 5321) that scanners deliver to. Thin: it translates between the wire
 * and the core, and keeps the gateway safe:
 * - clients only from `SMTP_ALLOWED_NETWORKS` (`554` at connect), at most
 *   `SMTP_MAX_CONNECTIONS` overall and `SMTP_MAX_CONNECTIONS_PER_IP` per address (`421`);
 * - recipients only the configured inbound addresses (`550 5.1.1`), at most
 *   `SMTP_MAX_RECIPIENTS` (`452 4.5.3`); never an open relay;
 * - SIZE advertised, `552` past it; idle limits for commands (`421`) and inside DATA (`451`,
 *   naming bare line feeds when the client sent them: only CRLF.CRLF ends DATA, RFC 5321 §4.1.1.4);
 * - deadlines a trickling client cannot stretch: a command line must be complete within
 *   SMTP_COMMAND_DEADLINE_SECONDS, the DATA phase within max(SMTP_DATA_DEADLINE_SECONDS, bytes /
 *   SMTP_DATA_MIN_BYTES_PER_SECOND) (`421 4.4.2` and close);
 * - no slot held without mail: a message must be delivered within SMTP_SESSION_IDLE_SECONDS of
 *   connecting or of the last one, whatever NOOP/RSET … come between (`421 4.4.2` and close), and
 *   more than SMTP_MAX_JUNK_COMMANDS junk commands between two messages end the session (`421
 *   4.7.0`); refused connections are logged summed up per address and minute (connection-refusals.ts);
 * - `MAIL FROM`/`RCPT TO` parameters of extensions not offered in this session → `555 5.5.4`
 *   (RFC 5321 §4.1.1.11; after HELO none, after EHLO what its reply listed);
 * - `postmaster` and `postmaster@<a domain of an inbound address>` accepted into the general
 *   channel (RFC 5321 §4.5.1);
 * - STARTTLS and an implicit-TLS port with TLS 1.2+ (1.0/1.1 only with SMTP_TLS_LEGACY);
 * - AUTH PLAIN/LOGIN for device accounts (RFC 4954), refused without TLS (`538`) unless
 *   SMTP_AUTH_ALLOW_CLEARTEXT; required when SMTP_AUTH=required (`530`); the
 *   SMTP_AUTH_MAX_FAILURES-th failure on a connection is answered `421 4.7.0` and closes it, and
 *   one log line per connection sums its failures up (never a password); a device whose account
 *   was disabled, removed or given a new password since its AUTH gets `530 5.7.0` at its next
 *   `MAIL FROM` and the connection is closed (RFC 4954 §6);
 * - sloppy but harmless device dialogues accepted: HELO without a name, `MAIL FROM:<dev.@x>`;
 * - `250` only once the message is on disk in the inbound queue (`451 4.3.0` when it could not
 *   be written); ingest follows from there. A connection that drops during DATA stores nothing.
 *   No reverse-DNS lookups.
 */
export function createReceiver(deps: ReceiverDeps): Receiver {
  installSmtpServerCompat();
  const { log, config } = deps;
  const maxBytes = config.SMTP_MAX_MESSAGE_BYTES;
  const perIp = new Map<string, number>();
  const counted = new Set<string>();
  /** Negotiated TLS protocol per session ('TLSv1.3', 'TLSv1'): smtp-server keeps only the cipher, whose `version` is its minimum protocol. */
  const tlsProtocols = new Map<string, string>();
  /** Channel of each recipient accepted in a session, found at RCPT TO: DATA needs no second lookup. */
  const recipientChannels = new Map<string, Map<string, Channel>>();
  /** Failed AUTH attempts per session, summed up in one log line when the connection closes. */
  const authFailures = new Map<string, AuthFailureTally>();
  /** The device authorization of each authenticated session, asked again at every MAIL FROM. */
  const deviceGrants = new Map<string, DeviceGrant>();
  /** Refused connections, one log line per address and reason at first, then one a minute with the count. */
  const refusals = new RefusalLog((r) => {
    const limit = r.reason === 'per-address-limit' ? config.SMTP_MAX_CONNECTIONS_PER_IP : r.reason === 'connection-limit' ? config.SMTP_MAX_CONNECTIONS : undefined;
    log.warn(
      { peer: r.peer ?? 'other addresses', reason: r.reason, refused: r.refused, seconds: r.first ? undefined : r.seconds, limit },
      r.first ? `connection refused: ${REFUSAL_TEXT[r.reason]} (further refusals from this address are counted and logged once a minute)` : `connections refused: ${REFUSAL_TEXT[r.reason]} (count since the last line)`,
    );
  });
  const authThrottle = deps.authThrottle ?? noAuthThrottle;
  const servers: SMTPServer[] = [];
  if (config.SMTP_MAX_CONNECTIONS_PER_IP * 2 > config.SMTP_MAX_CONNECTIONS) {
    log.warn(
      { perAddress: config.SMTP_MAX_CONNECTIONS_PER_IP, overall: config.SMTP_MAX_CONNECTIONS },
      'SMTP_MAX_CONNECTIONS_PER_IP is more than half of SMTP_MAX_CONNECTIONS: slow or stuck clients from two addresses can take every connection',
    );
  }

  function release(session: SMTPServerSession) {
    if (!counted.delete(session.id)) return;
    const n = (perIp.get(session.remoteAddress) ?? 1) - 1;
    if (n <= 0) perIp.delete(session.remoteAddress);
    else perIp.set(session.remoteAddress, n);
  }

  const disabled: string[] = [];
  if (!deps.tls) disabled.push('STARTTLS');
  // Without TLS, AUTH is offered only where cleartext AUTH is allowed: a device that sees AUTH
  // advertised would otherwise send its password in clear before being told 538.
  const authUsable = Boolean(deps.tls) || config.SMTP_AUTH_ALLOW_CLEARTEXT;
  if (config.SMTP_AUTH === 'required' && !authUsable) {
    throw new ConfigError('SMTP_AUTH', 'is required but there is no TLS (no certificate, SMTP_TLS_SELF_SIGNED=false) and SMTP_AUTH_ALLOW_CLEARTEXT is off');
  }
  if (config.SMTP_AUTH === 'off' || !authUsable) disabled.push('AUTH');

  const options: SMTPServerOptions & CompatOptions = {
    name: hostname(),
    banner: 'Posteingang',
    size: maxBytes,
    lenientHelo: true,
    immediateGreeting: true,
    commandLineDeadlineMs: config.SMTP_COMMAND_DEADLINE_SECONDS * 1000,
    sessionIdleMs: config.SMTP_SESSION_IDLE_SECONDS * 1000,
    maxJunkCommands: config.SMTP_MAX_JUNK_COMMANDS,
    esmtpParameterCheck(command, args, session) {
      // what this session's last HELO/EHLO offered; nothing before one (smtp-server answers 503 then)
      const allowed = allowedParameters(session.advertisedExtensions ?? NOTHING_ADVERTISED);
      const unknown = unknownParameters(args, command === 'MAIL FROM' ? allowed.mail : allowed.rcpt);
      return unknown.length ? refuseParameters(command, unknown, session as SMTPServerSession) : null;
    },
    hideAuthWithoutTls: !config.SMTP_AUTH_ALLOW_CLEARTEXT,
    lenientAddressParsing: true,
    disableReverseLookup: true,
    logger: false,
    disabledCommands: disabled,
    hideSTARTTLS: !deps.tls,
    // smtp-server's defaults, spelled out because the accepted MAIL/RCPT parameters follow them:
    // no DSN (the gateway sends no delivery notifications), no REQUIRETLS
    hideDSN: true,
    hideREQUIRETLS: true,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: config.SMTP_AUTH !== 'required',
    allowInsecureAuth: config.SMTP_AUTH_ALLOW_CLEARTEXT,
    // the limit itself is checked in onConnect, over both listeners and with a log line; this is
    // smtp-server's own backstop per listener (it also bounds pending TLS handshakes)
    maxClients: config.SMTP_MAX_CONNECTIONS + 1,
    socketTimeout: config.SMTP_COMMAND_TIMEOUT_SECONDS * 1000,
    ...(deps.tls ? { key: deps.tls.key, cert: deps.tls.cert } : {}),
    ...tlsPolicy(config.SMTP_TLS_LEGACY),

    onConnect(session, callback) {
      const refuse = (reason: RefusalReason, code: number, text: string) => {
        refusals.refused(session.remoteAddress, reason);
        callback(reply(code, text));
      };
      if (!addressInNetworks(session.remoteAddress, config.SMTP_ALLOWED_NETWORKS)) {
        return refuse('address-not-allowed', 554, '5.7.1 Your address is not allowed to send mail here');
      }
      const n = perIp.get(session.remoteAddress) ?? 0;
      if (n >= config.SMTP_MAX_CONNECTIONS_PER_IP) {
        return refuse('per-address-limit', 421, '4.7.0 Too many connections from your address, try again later');
      }
      if (counted.size >= config.SMTP_MAX_CONNECTIONS) {
        return refuse('connection-limit', 421, '4.7.0 Too many connections, try again later');
      }
      perIp.set(session.remoteAddress, n + 1);
      counted.add(session.id);
      callback();
    },
    onClose(session) {
      release(session);
      tlsProtocols.delete(session.id);
      recipientChannels.delete(session.id);
      deviceGrants.delete(session.id);
      const auth = authFailures.get(session.id)?.summary();
      authFailures.delete(session.id);
      if (auth) {
        // one line per connection, however many guesses it made (RFC 4954 §14)
        log.warn(
          { session: session.id, peer: session.remoteAddress, reason: 'auth-failures', authFailures: auth.failures, logins: auth.logins, otherLogins: auth.otherLogins, closedAtLimit: auth.closedAtLimit, limit: config.SMTP_AUTH_MAX_FAILURES },
          'failed AUTH attempts on this connection',
        );
      }
      // smtp-server closes an idle or trickling client itself; the compat layer records which
      const reason = (session as { closeReason?: CloseReason }).closeReason;
      if (reason === 'idle-timeout') {
        log.info({ session: session.id, peer: session.remoteAddress, reason, seconds: config.SMTP_COMMAND_TIMEOUT_SECONDS }, 'connection closed: idle longer than SMTP_COMMAND_TIMEOUT_SECONDS');
      } else if (reason === 'command-deadline') {
        log.warn({ session: session.id, peer: session.remoteAddress, reason, seconds: config.SMTP_COMMAND_DEADLINE_SECONDS }, 'connection closed: a command line took longer than SMTP_COMMAND_DEADLINE_SECONDS');
      } else if (reason === 'session-idle') {
        log.info({ session: session.id, peer: session.remoteAddress, reason, seconds: config.SMTP_SESSION_IDLE_SECONDS }, 'connection closed: no message delivered within SMTP_SESSION_IDLE_SECONDS');
      } else if (reason === 'junk-commands') {
        log.warn({ session: session.id, peer: session.remoteAddress, reason, limit: config.SMTP_MAX_JUNK_COMMANDS }, 'connection closed: more than SMTP_MAX_JUNK_COMMANDS commands (NOOP, RSET …) without a message');
      }
    },
    onSecure(socket, session, callback) {
      if ('getProtocol' in socket) tlsProtocols.set(session.id, socket.getProtocol() ?? '');
      callback();
    },
    onAuth(auth, session, callback) {
      if (!session.secure && !config.SMTP_AUTH_ALLOW_CLEARTEXT) {
        log.warn({ session: session.id, peer: session.remoteAddress }, 'AUTH refused: not encrypted (SMTP_AUTH_ALLOW_CLEARTEXT is off)');
        return callback(reply(538, '5.7.11 Encryption required for requested authentication mechanism'));
      }
      checkCredentials(auth.username ?? '', auth.password ?? '', session).then(
        (outcome) => {
          if (outcome.kind === 'ok') {
            log.info({ session: session.id, device: outcome.device.name, method: auth.method }, 'device authenticated');
            deviceGrants.set(session.id, outcome.device);
            return callback(null, { user: outcome.device.name });
          }
          if (outcome.kind === 'throttled') {
            if (outcome.logWorthy) {
              log.warn({ session: session.id, peer: session.remoteAddress, reason: 'auth-throttled', retryAfterSeconds: outcome.retryAfterSeconds }, 'AUTH refused unchecked: too many failed attempts (per-address back-off); closing the connection');
            }
            return callback(reply(421, `4.7.0 Too many failed authentication attempts, try again in ${outcome.retryAfterSeconds} seconds`));
          }
          let tally = authFailures.get(session.id);
          if (!tally) authFailures.set(session.id, (tally = new AuthFailureTally(config.SMTP_AUTH_MAX_FAILURES)));
          // the failure is logged once per connection, at its close (onClose)
          if (tally.fail(auth.username ?? '')) {
            return callback(reply(421, '4.7.0 Too many failed authentication attempts, closing connection'));
          }
          callback(reply(535, '5.7.8 Authentication credentials invalid'));
        },
        (err: Error) => {
          log.error({ session: session.id, err: describeError(err) }, 'AUTH check failed');
          callback(reply(454, '4.7.0 Temporary authentication failure'));
        },
      );
    },
    // the parameters of MAIL FROM and RCPT TO were checked before (esmtpParameterCheck)
    onMailFrom(_address, session, callback) {
      // RFC 3207 §4.2: STARTTLS forgets an earlier AUTH (session.user), and with it the grant
      const grant = session.user ? deviceGrants.get(session.id) : undefined;
      if (!grant) return callback();
      grant.stillAuthorized().then(
        (authorized) => {
          if (authorized) return callback();
          log.warn(
            { session: session.id, peer: session.remoteAddress, device: grant.name, reason: 'auth-withdrawn' },
            'MAIL refused: the device account was disabled, removed or given a new password after this connection authenticated; closing the connection',
          );
          deviceGrants.delete(session.id);
          // RFC 4954 §6: 530 5.7.0 "authentication required" — the authentication in force is no
          // longer valid. The connection is closed after the reply (RFC 5321 §7.8): a device that
          // is no longer allowed gets no further command
          callback(reply(530, '5.7.0 Authentication required: the authorization of this connection was withdrawn'));
          closeConnection(session.id);
        },
        (err: Error) => {
          log.error({ session: session.id, err: describeError(err) }, 'checking the device authorization failed');
          callback(reply(451, TEMPORARY));
        },
      );
    },
    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= config.SMTP_MAX_RECIPIENTS) {
        log.info({ session: session.id, limit: config.SMTP_MAX_RECIPIENTS }, 'recipient refused: too many recipients (SMTP_MAX_RECIPIENTS)');
        return callback(reply(452, '4.5.3 Too many recipients'));
      }
      channelForRecipient(address.address, deps.lookupRecipient, deps.isInboundDomain).then(
        (channel) => {
          if (channel) {
            let accepted = recipientChannels.get(session.id);
            if (!accepted) recipientChannels.set(session.id, (accepted = new Map()));
            accepted.set(address.address, channel);
            return callback();
          }
          log.info({ session: session.id, rcpt: address.address }, 'recipient refused: not an inbound address');
          callback(reply(550, `5.1.1 <${address.address}>: no such inbound address here`));
        },
        (err: Error) => {
          log.error({ session: session.id, err: describeError(err) }, 'recipient lookup failed');
          callback(reply(451, TEMPORARY));
        },
      );
    },
    onData(stream, session, callback) {
      receive(stream, session).then(
        (text) => callback(null, text),
        (err: ReplyError) => callback(err),
      );
    },
  };

  /**
   * Checks AUTH credentials, asking the per-address back-off (auth-guard.ts, the issue-14 hook)
   * first, so that a refused attempt costs no password check.
   * @param user the login name as given; `password` is never logged
   * @returns ok with the device name, wrong credentials, or throttled with the wait in seconds
   * @throws database errors of the throttle or the check (the caller answers `454 4.7.0`)
   */
  async function checkCredentials(user: string, password: string, session: SMTPServerSession): Promise<AuthOutcome> {
    const gate = await authThrottle.begin({ login: user, address: session.remoteAddress });
    if (!gate.allowed) return { kind: 'throttled', retryAfterSeconds: gate.retryAfterSeconds, logWorthy: gate.logWorthy ?? true };
    const device = await deps.authenticate(user, password);
    if (!device) return { kind: 'wrong' };
    await authThrottle.succeeded(gate.attempt).catch((err: unknown) => log.error({ session: session.id, err: describeError(err) }, 'AUTH throttle: recording the success failed'));
    return { kind: 'ok', device };
  }

  /**
   * The reply to `MAIL FROM`/`RCPT TO` parameters of no advertised extension: `555 5.5.4`
   * (RFC 5321 §4.1.1.11, RFC 3463 X.5.4), with a log line naming them.
   * @param names the unknown parameter names as given
   */
  function refuseParameters(command: 'MAIL FROM' | 'RCPT TO', names: string[], session: SMTPServerSession): ReplyError {
    const shown = names.slice(0, 5).map((n) => n.slice(0, 32));
    log.info({ session: session.id, peer: session.remoteAddress, reason: 'unknown-parameter', command, parameters: shown }, 'command refused: parameter not recognized');
    return reply(555, `5.5.4 ${command} parameter${names.length > 1 ? 's' : ''} not recognized: ${shown.join(' ')}`);
  }

  /**
   * Watches the DATA stream: remembers whether bare line feeds came; ends the stream when
   * nothing arrives for SMTP_DATA_TIMEOUT_SECONDS, so that the client gets `451` instead of a hang;
   * and closes the connection with `421 4.4.2` when the phase outlasts its deadline
   * max(SMTP_DATA_DEADLINE_SECONDS, bytes / SMTP_DATA_MIN_BYTES_PER_SECOND) — bytes counted up to
   * the size limit, so a client streaming past it cannot stretch the deadline.
   * Time in which the queue does not read (the parser waits for us to drain the stream) does not
   * count against the client: the clock restarts once the stream drains.
   */
  function watchData(stream: SMTPServerDataStream, session: SMTPServerSession) {
    const state = { bareLf: false, timedOut: false, deadlineMissed: false, previous: 0, bytes: 0 };
    const baseMs = config.SMTP_DATA_DEADLINE_SECONDS * 1000;
    const rate = config.SMTP_DATA_MIN_BYTES_PER_SECOND;
    let clock = { start: Date.now(), bytes: 0 };
    let deadline: NodeJS.Timeout | undefined;
    const checkDeadline = () => {
      const counted = Math.min(state.bytes, maxBytes);
      const elapsed = Date.now() - clock.start;
      const allowed = Math.max(baseMs, ((counted - clock.bytes) / rate) * 1000);
      if (elapsed < allowed) {
        deadline = setTimeout(checkDeadline, Math.ceil(allowed - elapsed));
        return;
      }
      if (stream.writableNeedDrain) {
        // the client waits for us, not we for it
        stream.once('drain', () => {
          clock = { start: Date.now(), bytes: Math.min(state.bytes, maxBytes) };
          checkDeadline();
        });
        return;
      }
      state.deadlineMissed = true;
      log.warn(
        { session: session.id, peer: session.remoteAddress, reason: 'data-deadline', bytes: state.bytes, seconds: Math.round(elapsed / 1000), minBytesPerSecond: rate, baseSeconds: config.SMTP_DATA_DEADLINE_SECONDS },
        'DATA too slow: below SMTP_DATA_MIN_BYTES_PER_SECOND after SMTP_DATA_DEADLINE_SECONDS; closing the connection',
      );
      closeConnection(session.id, 421, DATA_DEADLINE);
      stream.destroy(Object.assign(new Error('DATA deadline'), { code: 'EDATADEADLINE' }));
    };
    deadline = setTimeout(checkDeadline, baseMs);
    const stopDeadline = () => clearTimeout(deadline);
    // once the client's CRLF.CRLF is in (finish) it owes nothing more: the reply is ours to give
    stream.once('finish', stopDeadline);
    stream.once('close', stopDeadline);
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.timedOut = true;
        log.warn(
          { session: session.id, peer: session.remoteAddress, seconds: config.SMTP_DATA_TIMEOUT_SECONDS },
          state.bareLf
            ? 'DATA timed out: the client sent bare line feeds (LF without CR) and probably ended its message with LF.LF, which does not end DATA (RFC 5321 §4.1.1.4 requires CRLF.CRLF)'
            : 'DATA timed out: no data from the client',
        );
        stream.destroy(Object.assign(new Error('DATA timeout'), { code: 'EDATATIMEOUT' }));
      }, config.SMTP_DATA_TIMEOUT_SECONDS * 1000);
    };
    const observed = stream as Readable;
    observed.on('data', (chunk: Buffer) => {
      arm();
      state.bytes += chunk.length;
      if (!state.bareLf) {
        // from line feed to line feed with the native search (a byte loop in JS cost ~0.2 ms per 100 KB)
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
          if ((i === 0 ? state.previous : chunk[i - 1]) !== 0x0d) {
            state.bareLf = true;
            break;
          }
        }
        state.previous = chunk[chunk.length - 1] ?? state.previous;
      }
    });
    observed.once('close', () => clearTimeout(timer));
    arm();
    return state;
  }

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const watch = watchData(stream, session);
    let source: SmtpSource;
    try {
      const rcptTo = session.envelope.rcptTo.map((r) => r.address);
      const channels: Channel[] = [];
      const accepted = recipientChannels.get(session.id);
      for (const r of rcptTo) {
        const c = accepted?.get(r) ?? (await channelForRecipient(r, deps.lookupRecipient, deps.isInboundDomain));
        if (c && !channels.includes(c)) channels.push(c);
      }
      source = {
        kind: 'smtp',
        channels,
        sessionId: session.id,
        peer: { address: session.remoteAddress, port: session.remotePort },
        helo: session.hostNameAppearsAs || `[${session.remoteAddress}]`,
        envelope: { mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcptTo },
        tls: session.tlsOptions ? { protocol: tlsProtocols.get(session.id) || (session.tlsOptions.version ?? ''), cipher: session.tlsOptions.name } : null,
        authUser: typeof session.user === 'string' ? session.user : null,
      };
    } catch (err) {
      (stream as Readable).resume();
      log.error({ session: session.id, err: describeError(err) }, 'recipient lookup failed; answering 451 so that the client retries');
      throw reply(451, TEMPORARY);
    }
    try {
      const queueId = await deps.accept(stream, source, maxBytes);
      return `2.0.0 Ok: queued as ${queueId}`;
    } catch (err) {
      // the connection is closed already (watchData); this reply is not sent again
      if (watch.deadlineMissed) throw reply(421, DATA_DEADLINE);
      if (err instanceof SizeLimitError || stream.sizeExceeded) {
        log.info({ session: session.id, limit: maxBytes }, 'message refused: over the size limit');
        throw reply(552, `5.3.4 Message exceeds the size limit of ${maxBytes} bytes`);
      }
      if (watch.timedOut) {
        closeConnection(session.id, 451, `4.4.2 Timeout waiting for data${watch.bareLf ? '; end DATA with CRLF.CRLF, not bare LF' : ''}`);
        throw reply(451, '4.4.2 Timeout waiting for data');
      }
      if (typeof (err as NodeJS.ErrnoException).syscall === 'string') {
        // a file-system error (disk full, permissions): the message is not kept, the client retries
        log.error({ session: session.id, err: describeError(err) }, 'the message could not be written to the inbound queue; answering 451 so that the client retries');
      } else {
        // the connection dropped during DATA: nothing is stored, the device will send again
        log.info({ session: session.id, peer: session.remoteAddress }, 'connection lost during DATA; nothing stored');
      }
      throw reply(451, TEMPORARY);
    }
  }

  /**
   * Closes a connection, after answering it with `code`/`text` when given: one whose DATA phase
   * cannot finish (the parser still waits for CRLF.CRLF), or one whose reply was just sent.
   * smtp-server offers no API for that; its connection objects are reached through
   * `server.connections`. Replies written before are sent before the connection ends.
   */
  function closeConnection(sessionId: string, code?: number, text?: string) {
    for (const server of servers) {
      const connections = (server as unknown as { connections: Set<{ id: string; send(code: number, text: string): void; close(): void }> }).connections;
      for (const conn of connections) {
        if (conn.id !== sessionId) continue;
        if (code !== undefined) conn.send(code, text ?? '');
        conn.close();
        return;
      }
    }
  }

  function start(secure: boolean, port: number, host: string): Promise<AddressInfo> {
    const server = new SMTPServer({ ...options, secure } as SMTPServerOptions);
    server.on('error', (err: NodeJS.ErrnoException) => {
      // a client's failed TLS handshake or a reset connection is the client's problem, not ours
      if (/SSL routines|ECONNRESET|EPIPE|socket hang up/i.test(err.message) || err.code === 'ECONNRESET') {
        const legacyHint = /unsupported protocol|version too low|protocol version/i.test(err.message) && !config.SMTP_TLS_LEGACY;
        log.warn(
          { err: err.message.split('\n')[0] },
          legacyHint
            ? 'TLS handshake failed: the client offers only TLS 1.0/1.1 (an old scanner?); SMTP_TLS_LEGACY=true admits it'
            : 'connection error from a client',
        );
        return;
      }
      log.error({ err: describeError(err) }, 'SMTP server error');
    });
    servers.push(server);
    return new Promise((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, host, () => {
        server.server.off('error', reject);
        resolve(server.server.address() as AddressInfo);
      });
    });
  }

  return {
    listen: (port, host) => start(false, port, host),
    listenTls(port, host) {
      if (!deps.tls) throw new Error('the implicit-TLS port needs a certificate (SMTP_TLS_CERT_FILE/SMTP_TLS_KEY_FILE or SMTP_TLS_SELF_SIGNED)');
      return start(true, port, host);
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      refusals.flush();
    },
  };
}
