import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

interface ConnectionInternals {
  remoteAddress: string;
  secure: boolean;
  name: string;
  session: SessionExtras & { user?: unknown };
  hostNameAppearsAs: string | false;
  _closing: boolean;
  _closed: boolean;
  _ready: boolean;
  _upgrading: boolean;
  _nextHandler: unknown;
  _handlerPending: boolean;
  _dataStream: unknown;
  _server: {
    options: CompatOptions & { authMethods: string[]; maxClients?: number };
    connections: Set<unknown>;
  };
  _setListeners(ready: () => void): void;
  _parseAddressCommand(name: string, command: Buffer): { args: Record<string, unknown> | false } | false;
  connectionReady(): void;
  send(code: number, text: string | string[], final?: boolean | string): void;
}

/** The options this module adds to smtp-server's (each acts only when set). */
export interface CompatOptions {
  /** HELO/EHLO without a usable host name are accepted (installSmtpServerCompat) */
  lenientHelo?: boolean;
  /** EHLO on an unencrypted connection does not offer AUTH */
  hideAuthWithoutTls?: boolean;
  /** the greeting is not delayed (installImmediateGreeting) */
  immediateGreeting?: boolean;
  /** a command line must be complete within this many ms (installCommandLineDeadline) */
  commandLineDeadlineMs?: number;
  /** a message transaction must complete within this many ms of the greeting or of the last one (installSessionLimits) */
  sessionIdleMs?: number;
  /** junk commands allowed between two completed transactions (installSessionLimits) */
  maxJunkCommands?: number;
  /**
   * Looks at the ESMTP parameters of `MAIL FROM` / `RCPT TO` before smtp-server does
   * (installParameterCheck).
   * @param command which command
   * @param args the parsed parameters (upper-case names), false when none
   * @param session the session; `advertisedExtensions` holds what this session was offered
   * @returns an error with `responseCode` (and its text, enhanced code included) to refuse the command, or null
   */
  esmtpParameterCheck?(command: 'MAIL FROM' | 'RCPT TO', args: Record<string, unknown> | false, session: SessionExtras): (Error & { responseCode: number }) | null;
}

/** What this module records in smtp-server's session object. */
export interface SessionExtras {
  closeReason?: CloseReason;
  /**
   * The EHLO keywords (upper case) of the last successful HELO/EHLO of this session: the
   * extensions it was offered (RFC 5321 §4.1.1.1, RFC 1869). An empty set after HELO; null
   * before any, and again after STARTTLS until the next EHLO (RFC 3207 §4.2).
   */
  advertisedExtensions?: ReadonlySet<string> | null;
}

/** smtp-server's command parser (lib/smtp-stream.js): the part of its state the deadline reads. */
interface ParserInternals {
  _dataMode: boolean;
  /** the bytes of an unfinished command line (latin1), '' when none */
  _remainder: string;
  isClosed: boolean;
  oncommand(command: Buffer, callback?: () => void): void;
  _write(chunk: Buffer, encoding: string, next: (err?: Error | null) => void): void;
}

/**
 * Why smtp-server closed a connection on its own, recorded in `session.closeReason` so that the
 * receiver logs it without reading reply texts:
 * - `idle-timeout`: no byte from the client for `socketTimeout` (RFC 5321 §4.5.3.2.7);
 * - `command-deadline`: a command line was not finished within `commandLineDeadlineMs`;
 * - `session-idle`: no message transaction completed within `sessionIdleMs` of the greeting or
 *   of the last one;
 * - `junk-commands`: more than `maxJunkCommands` junk commands (NOOP, RSET, …) between two messages.
 */
export type CloseReason = 'idle-timeout' | 'command-deadline' | 'session-idle' | 'junk-commands';
type Handler = (this: ConnectionInternals, command: Buffer, callback: () => void) => void;

let installed = false;

/**
 * Makes smtp-server accept `HELO`/`EHLO` without a usable host name (`HELO` alone, `HELO ` with a
 * trailing space, or several words), as many scanners send it: the client's IP address literal
 * (`[192.0.2.7]`, `[IPv6:2001:db8::7]`, RFC 5321 §4.1.3) stands in for the name and is recorded as its identity.
 * smtp-server answers 501 there and offers no option, so its two handlers are wrapped; the
 * wrapper acts only for servers created with the option `lenientHelo: true`. Idempotent.
 *
 * With the option `hideAuthWithoutTls: true`, EHLO on an unencrypted connection does not offer
 * AUTH (it is offered again after STARTTLS, RFC 3207 §4.2): a device that sees AUTH tends to send
 * its password before it learns that AUTH needs TLS (`538`).
 *
 * With the option `immediateGreeting: true`, the greeting is not delayed (installImmediateGreeting).
 *
 * With the option `commandLineDeadlineMs`, a command line must be complete within that time
 * (installCommandLineDeadline); an idle timeout is recorded as `session.closeReason` (CloseReason).
 *
 * With the options `sessionIdleMs` / `maxJunkCommands`, a session must deliver a message now and
 * then and may not fill the time with junk commands (installSessionLimits).
 *
 * Always: `session.advertisedExtensions` records what the last HELO/EHLO reply offered, and with
 * the option `esmtpParameterCheck` the parameters of `MAIL FROM`/`RCPT TO` are checked against it
 * before smtp-server reads their values (installParameterCheck).
 */
export function installSmtpServerCompat(): void {
  if (installed) return;
  installed = true;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, Handler> }).prototype;
  const raw = proto as unknown as Record<string, unknown>;
  installImmediateGreeting(raw);
  installCommandLineDeadline(raw);
  installIdleTimeoutReason(raw);
  installSessionLimits(raw);
  installParameterCheck(raw);
  for (const name of ['handler_HELO', 'handler_EHLO']) {
    const original = proto[name];
    if (typeof original !== 'function') throw new Error(`smtp-server has no ${name}: the lenient HELO wrapper needs updating`);
    const opening = name === 'handler_EHLO' ? 'EHLO' : 'HELO';
    proto[name] = function (this: ConnectionInternals & Capturing, command: Buffer, callback: () => void) {
      if (this._server.options.lenientHelo) {
        const parts = command.toString('latin1').trim().split(/\s+/);
        const host = parts[1] ?? '';
        if (parts.length !== 2 || /[\x00-\x1f\x7f]/.test(host) || host.length > 255) {
          const ip = this.remoteAddress.replace(/^::ffff:/, '');
          command = Buffer.from(`${parts[0]} [${ip.includes(':') ? `IPv6:${ip}` : ip}]`, 'latin1');
        }
      }
      const options = this._server.options;
      // both handlers write their reply synchronously: the send wrapper records its keywords
      this[CAPTURE] = opening;
      const methods = options.authMethods;
      // handler_EHLO builds its reply synchronously, so the swap cannot leak to another connection
      if (options.hideAuthWithoutTls && !this.secure && opening === 'EHLO') options.authMethods = [];
      try {
        return original.call(this, command, callback);
      } finally {
        options.authMethods = methods;
        this[CAPTURE] = undefined;
      }
    };
  }
}

/** Set on a connection while its HELO/EHLO handler runs: its 250 reply is the offer to record. */
const CAPTURE = Symbol('posteingang.heloCapture');
interface Capturing {
  [CAPTURE]?: 'HELO' | 'EHLO';
}

/**
 * Records in `session.advertisedExtensions` what the session was offered (SessionExtras), from
 * the 250 reply its HELO/EHLO handler actually wrote: the first word of each line after the
 * first, upper-cased; none after HELO (RFC 5321 §4.1.1.1: HELO enables no extension). A HELO/EHLO
 * refused with 501 leaves the earlier offer. Cleared whenever smtp-server forgets the client's
 * greeting (a new session, and after STARTTLS, RFC 3207 §4.2).
 *
 * With the option `esmtpParameterCheck`, `MAIL FROM` and `RCPT TO` are handed to it with their
 * parsed parameters before smtp-server looks at them (its value checks answer 501/552/530 for
 * SIZE, BODY, REQUIRETLS …, which must not come first for a parameter this session was not
 * offered); a refusal is sent as given (`555 5.5.4`, RFC 5321 §4.1.1.11) and the command ends there.
 */
function installParameterCheck(proto: Record<string, unknown>): void {
  const send = proto.send as (this: ConnectionInternals & Capturing, code: number, data: string | string[], context?: boolean | string) => void;
  const resetSession = proto._resetSession as (this: ConnectionInternals) => void;
  if (typeof send !== 'function' || typeof resetSession !== 'function' || typeof proto._parseAddressCommand !== 'function') {
    throw new Error('smtp-server has no send/_resetSession/_parseAddressCommand: the ESMTP parameter check needs updating');
  }
  proto.send = function (this: ConnectionInternals & Capturing, code: number, data: string | string[], context?: boolean | string) {
    if (this[CAPTURE] && code === 250) {
      this.session.advertisedExtensions = new Set(Array.isArray(data) ? data.slice(1).map((line) => String(line).split(' ')[0]!.toUpperCase()) : []);
    }
    return send.call(this, code, data, context);
  };
  proto._resetSession = function (this: ConnectionInternals) {
    resetSession.call(this);
    // no greeting known (a new connection, or STARTTLS discarded it): nothing offered yet
    if (!this.hostNameAppearsAs) this.session.advertisedExtensions = null;
  };
  for (const [name, command] of [['handler_MAIL', 'MAIL FROM'], ['handler_RCPT', 'RCPT TO']] as const) {
    const original = proto[name] as Handler;
    if (typeof original !== 'function') throw new Error(`smtp-server has no ${name}: the ESMTP parameter check needs updating`);
    proto[name] = function (this: ConnectionInternals, line: Buffer, callback: () => void) {
      const check = this._server.options.esmtpParameterCheck;
      // an unparsable command is left to smtp-server (501)
      const parsed = check ? this._parseAddressCommand(command.toLowerCase(), line) : false;
      const refusal = parsed && parsed.args ? check!(command, parsed.args, this.session) : null;
      if (refusal) {
        this.send(refusal.responseCode, refusal.message, false);
        return callback();
      }
      return original.call(this, line, callback);
    };
  }
}

/**
 * With the option `immediateGreeting: true`, the greeting is sent as soon as the connection is
 * set up instead of after smtp-server's fixed 100 ms pause (its early-talker check), which alone
 * capped one message per connection at ~184 msg/s with 20 sessions (issue 13). The greeting
 * goes out on the next turn of the event loop (setImmediate); data read before that is still
 * answered `421 You talk too soon`, but the window is no longer 100 ms, so the early-talker check
 * (a spam-bot heuristic of Internet MXs) now catches little. Acceptable here: the receiver admits
 * only SMTP_ALLOWED_NETWORKS (RFC 5321 §3.1: the client waits for the greeting).
 */
function installImmediateGreeting(proto: Record<string, unknown>): void {
  const original = proto.init as (this: ConnectionInternals) => void;
  if (typeof original !== 'function' || typeof proto.connectionReady !== 'function' || typeof proto._setListeners !== 'function') {
    throw new Error('smtp-server has no init/connectionReady/_setListeners: the immediate greeting needs updating');
  }
  proto.init = function (this: ConnectionInternals) {
    if (!this._server.options.immediateGreeting) return original.call(this);
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      setImmediate(() => this.connectionReady());
    });
  };
}

/**
 * With the option `commandLineDeadlineMs: n`, every command line (commands and AUTH continuation
 * lines alike, RFC 5321 §2.3.8 / §4.1.1) must be complete — its CRLF received — within `n` ms of
 * the moment the parser first holds a part of it. smtp-server only has an idle timeout, which any
 * byte restarts, so a client trickling a byte every few seconds could hold a connection for ever.
 * Past the deadline the client gets `421 4.4.2` (RFC 5321 §3.8 / §4.2.3, RFC 3463 X.4.2) and the
 * connection is closed; `session.closeReason` becomes `command-deadline`.
 * The clock does not run inside DATA (the receiver's own deadline applies there), nor while the
 * server works on a command: input pipelined behind it is only looked at once the reply is out.
 * Built on the parser smtp-server creates per connection (and again after STARTTLS), not on a
 * parser of our own: each parser's `_write` (bytes in) and `oncommand` (a line complete) are wrapped.
 */
function installCommandLineDeadline(proto: Record<string, unknown>): void {
  const original = proto._createParser as (this: ConnectionInternals) => ParserInternals;
  if (typeof original !== 'function') throw new Error('smtp-server has no _createParser: the command line deadline needs updating');
  proto._createParser = function (this: ConnectionInternals) {
    const parser = original.call(this);
    const ms = this._server.options.commandLineDeadlineMs;
    if (!ms) return parser;
    if (typeof parser._write !== 'function' || typeof parser.oncommand !== 'function' || !('_remainder' in parser) || !('_dataMode' in parser)) {
      throw new Error('smtp-server parser has no _write/oncommand/_remainder/_dataMode: the command line deadline needs updating');
    }
    const connection = this;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    const expire = () => {
      timer = undefined;
      if (parser.isClosed || parser._dataMode || !parser._remainder || connection._closing || connection._closed) return;
      connection.session.closeReason = 'command-deadline';
      connection.send(421, `4.4.2 ${connection.name} Command line not completed within ${Math.ceil(ms / 1000)} seconds, closing connection`, false);
    };
    const oncommand = parser.oncommand;
    parser.oncommand = function (command, callback) {
      stop(); // a line is complete
      return oncommand.call(this, command, callback);
    };
    const write = parser._write;
    parser._write = function (chunk, encoding, next) {
      return write.call(this, chunk, encoding, (err) => {
        // the chunk is consumed: what is left in _remainder is the start of a line still owed
        if (parser.isClosed || parser._dataMode || !parser._remainder) stop();
        else if (!timer) timer = setTimeout(expire, ms).unref();
        next(err);
      });
    };
    return parser;
  };
}

/** Records `session.closeReason = 'idle-timeout'` when smtp-server's idle timeout closes a connection. */
function installIdleTimeoutReason(proto: Record<string, unknown>): void {
  const original = proto._onTimeout as (this: ConnectionInternals) => void;
  if (typeof original !== 'function') throw new Error('smtp-server has no _onTimeout: the idle timeout reason needs updating');
  proto._onTimeout = function (this: ConnectionInternals) {
    const wasClosing = this._closing;
    original.call(this);
    // it either re-armed (the client waits for us) or answered 421 and closed
    if (!wasClosing && this._closing) this.session.closeReason ??= 'idle-timeout';
  };
}

/** The commands that count as junk (Postfix's smtpd_junk_command_limit counts NOOP, VRFY, ETRN, RSET): they move no message forward. */
const JUNK_COMMANDS = new Set(['NOOP', 'RSET', 'VRFY', 'EXPN', 'HELP', 'HELO', 'EHLO']);

/** Per-connection state of installSessionLimits, under a symbol on the connection. */
const LIMITS = Symbol('posteingang.sessionLimits');
/** Where the observed fields (`_handlerPending`, `_dataStream`) keep their values. */
const HANDLER_PENDING = Symbol('posteingang._handlerPending');
const DATA_STREAM = Symbol('posteingang._dataStream');

interface Limited {
  [LIMITS]?: { clock: SessionClock | null; junk: number };
  [HANDLER_PENDING]?: boolean;
  [DATA_STREAM]?: unknown;
}

/**
 * A clock that counts only while it runs: `run`/`pause` switch it, `reset` starts its count
 * again, and `expire` is called once it has run `limitMs` in total since the last reset. One
 * timer, re-armed lazily: pausing and resuming (twice per command) touch no timer.
 */
class SessionClock {
  private usedMs = 0;
  private runningSince: number | null = null;
  private timer: NodeJS.Timeout | undefined;

  /** @param limitMs running time allowed, ms; @param expire called once when it is used up while running */
  constructor(
    private readonly limitMs: number,
    private readonly expire: () => void,
  ) {}

  run(): void {
    if (this.runningSince !== null) return;
    this.runningSince = performance.now();
    if (!this.timer) this.arm();
  }

  pause(): void {
    if (this.runningSince === null) return;
    this.usedMs += performance.now() - this.runningSince;
    this.runningSince = null;
  }

  reset(): void {
    this.usedMs = 0;
    if (this.runningSince !== null) this.runningSince = performance.now();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.runningSince = null;
  }

  private used(): number {
    return this.usedMs + (this.runningSince === null ? 0 : performance.now() - this.runningSince);
  }

  private arm(): void {
    // the count grows no faster than the wall clock: the timer never fires after the limit
    this.timer = setTimeout(this.check, Math.max(1, Math.ceil(this.limitMs - this.used()))).unref();
  }

  private readonly check = () => {
    this.timer = undefined;
    if (this.runningSince === null) return; // paused: run() arms again
    if (this.used() >= this.limitMs) return this.expire();
    this.arm();
  };
}

/**
 * Limits on a session that delivers nothing (RFC 5321 §7.8 "resistance to attacks"): smtp-server
 * only has an idle timeout, which every command restarts, so a client sending NOOP now and then
 * could hold a connection slot for ever.
 *
 * - `sessionIdleMs`: a message transaction must complete (the `250` after DATA) within that
 *   time of the greeting or of the last completed one; past it the client gets `421 4.4.2` (RFC
 *   3463 X.4.2) and the connection is closed (`session.closeReason = 'session-idle'`). No
 *   command restarts this clock. It runs only while the client owes us input: not during DATA
 *   (the receiver's DATA deadline bounds that) nor while a command is being handled (the
 *   gateway's own time, e.g. a database look-up). These are exactly the states in which
 *   smtp-server's own idle timeout waits (`_handlerPending`, `_dataStream`); both fields are
 *   observed through accessors on the prototype, so the clock follows every change of them.
 * - `maxJunkCommands`: NOOP, RSET, VRFY, EXPN, HELP, HELO and EHLO (not AUTH continuation lines)
 *   count between two completed transactions; the one past the limit is answered `421 4.7.0`
 *   instead and the connection closed (`session.closeReason = 'junk-commands'`), like Postfix's
 *   smtpd_junk_command_limit.
 */
function installSessionLimits(proto: Record<string, unknown>): void {
  const sendGreeting = proto._sendGreeting as (this: ConnectionInternals & Limited) => void;
  const send = proto.send as (this: ConnectionInternals & Limited, code: number, data: string | string[], context?: boolean | string) => void;
  const onCommand = proto._onCommand as (this: ConnectionInternals & Limited, command: Buffer, callback?: () => void) => void;
  const onClose = proto._onClose as (this: ConnectionInternals & Limited) => void;
  for (const [name, fn] of Object.entries({ _sendGreeting: sendGreeting, send, _onCommand: onCommand, _onClose: onClose })) {
    if (typeof fn !== 'function') throw new Error(`smtp-server has no ${name}: the session limits need updating`);
  }
  for (const field of ['_handlerPending', '_dataStream']) {
    if (Object.getOwnPropertyDescriptor(proto, field)) throw new Error(`smtp-server's connection prototype defines ${field}: the session clock needs updating`);
  }

  /** The clock runs while the client owes input: no command being handled, no DATA phase. */
  const follow = (connection: ConnectionInternals & Limited) => {
    const clock = connection[LIMITS]?.clock;
    if (!clock) return;
    if (connection[HANDLER_PENDING] || connection[DATA_STREAM]) clock.pause();
    else clock.run();
  };
  Object.defineProperty(proto, '_handlerPending', {
    configurable: true,
    get(this: Limited) {
      return this[HANDLER_PENDING] ?? false;
    },
    set(this: ConnectionInternals & Limited, value: boolean) {
      this[HANDLER_PENDING] = value;
      follow(this);
    },
  });
  Object.defineProperty(proto, '_dataStream', {
    configurable: true,
    get(this: Limited) {
      return this[DATA_STREAM];
    },
    set(this: ConnectionInternals & Limited, value: unknown) {
      this[DATA_STREAM] = value;
      follow(this);
    },
  });

  proto._sendGreeting = function (this: ConnectionInternals & Limited) {
    const { sessionIdleMs, maxJunkCommands } = this._server.options;
    if ((sessionIdleMs || maxJunkCommands) && !this[LIMITS]) {
      if (Object.prototype.hasOwnProperty.call(this, '_handlerPending') || Object.prototype.hasOwnProperty.call(this, '_dataStream')) {
        // smtp-server made them own fields (class fields): the accessors would see nothing
        throw new Error('smtp-server connections hold _handlerPending/_dataStream as own fields: the session clock needs updating');
      }
      const clock = sessionIdleMs
        ? new SessionClock(sessionIdleMs, () => {
            if (this._closing || this._closed) return;
            this.session.closeReason = 'session-idle';
            this.send(421, `4.4.2 ${this.name} No message delivered within ${Math.ceil(sessionIdleMs / 1000)} seconds, closing connection`, false);
          })
        : null;
      this[LIMITS] = { clock, junk: 0 };
      follow(this);
    }
    return sendGreeting.call(this);
  };

  proto.send = function (this: ConnectionInternals & Limited, code: number, data: string | string[], context?: boolean | string) {
    // smtp-server's success reply after DATA (context DATA_OK): a transaction completed
    const limits = this[LIMITS];
    if (limits && code === 250 && context === 'DATA_OK') {
      limits.clock?.reset();
      limits.junk = 0;
    }
    return send.call(this, code, data, context);
  };

  proto._onCommand = function (this: ConnectionInternals & Limited, command: Buffer, callback?: () => void) {
    const limits = this[LIMITS];
    const max = this._server.options.maxJunkCommands;
    if (limits && max && this._ready && !this._upgrading && !this._nextHandler && !this._closing && command) {
      // the command name as smtp-server takes it: up to the first space; every junk name has 4 letters
      const space = command.indexOf(0x20);
      const end = space < 0 ? command.length : space;
      if (end === 4 && JUNK_COMMANDS.has(command.toString('latin1', 0, 4).toUpperCase()) && ++limits.junk > max) {
        this.session.closeReason = 'junk-commands';
        return this.send(421, `4.7.0 ${this.name} Too many commands without a message, closing connection`, false);
      }
    }
    return onCommand.call(this, command, callback);
  };

  proto._onClose = function (this: ConnectionInternals & Limited) {
    this[LIMITS]?.clock?.stop();
    return onClose.call(this);
  };
}
