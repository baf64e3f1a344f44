import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

interface ConnectionInternals {
  remoteAddress: string;
  secure: boolean;
  name: string;
  _server: { options: { lenientHelo?: boolean; hideAuthWithoutTls?: boolean; immediateGreeting?: boolean; authMethods: string[]; maxClients?: number }; connections: Set<unknown> };
  _setListeners(ready: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, final?: boolean): void;
}
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
 */
export function installSmtpServerCompat(): void {
  if (installed) return;
  installed = true;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, Handler> }).prototype;
  installImmediateGreeting(proto as unknown as Record<string, unknown>);
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
