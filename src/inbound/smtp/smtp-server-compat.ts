import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

interface ConnectionInternals {
  remoteAddress: string;
  secure: boolean;
  name: string;
  session: { closeReason?: CloseReason };
  _closing: boolean;
  _closed: boolean;
  _server: {
    options: { lenientHelo?: boolean; hideAuthWithoutTls?: boolean; immediateGreeting?: boolean; commandLineDeadlineMs?: number; authMethods: string[]; maxClients?: number };
    connections: Set<unknown>;
  };
  _setListeners(ready: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, final?: boolean | string): void;
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
 * - `command-deadline`: a command line was not finished within `commandLineDeadlineMs`.
 */
export type CloseReason = 'idle-timeout' | 'command-deadline';
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
 */
export function installSmtpServerCompat(): void {
  if (installed) return;
  installed = true;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, Handler> }).prototype;
  installImmediateGreeting(proto as unknown as Record<string, unknown>);
  installCommandLineDeadline(proto as unknown as Record<string, unknown>);
  installIdleTimeoutReason(proto as unknown as Record<string, unknown>);
  for (const name of ['handler_HELO', 'handler_EHLO']) {
    const original = proto[name];
    if (typeof original !== 'function') throw new Error(`smtp-server has no ${name}: the lenient HELO wrapper needs updating`);
    proto[name] = function (this: ConnectionInternals, command: Buffer, callback: () => void) {
      if (this._server.options.lenientHelo) {
        const parts = command.toString('latin1').trim().split(/\s+/);
        const host = parts[1] ?? '';
        if (parts.length !== 2 || /[\x00-\x1f\x7f]/.test(host) || host.length > 255) {
          const ip = this.remoteAddress.replace(/^::ffff:/, '');
          command = Buffer.from(`${parts[0]} [${ip.includes(':') ? `IPv6:${ip}` : ip}]`, 'latin1');
        }
      }
      const options = this._server.options;
      if (options.hideAuthWithoutTls && !this.secure && name === 'handler_EHLO') {
        // handler_EHLO builds its reply synchronously, so the swap cannot leak to another connection
        const methods = options.authMethods;
        options.authMethods = [];
        try {
          return original.call(this, command, callback);
        } finally {
          options.authMethods = methods;
        }
      }
      return original.call(this, command, callback);
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
