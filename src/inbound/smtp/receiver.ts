import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { addressInNetworks, type Config } from '../../config.js';
import type { Channel } from '../../db/schema.js';
import type { IngestResult } from '../../ingest/ingest.js';
import { spool, SizeLimitError, type RawMessage } from '../../ingest/raw.js';
import type { SmtpSource } from '../../ingest/source.js';
import { channelForRecipient } from './recipients.js';

export interface ReceiverDeps {
  config: Pick<Config, 'SMTP_ALLOWED_NETWORKS' | 'SMTP_MAX_MESSAGE_BYTES'>;
  spoolDir: string;
  log: Logger;
  /** Channel bound to a lower-cased inbound address, or null. */
  lookupRecipient(address: string): Promise<Channel | null>;
  /** The ingest pipeline; resolves after the commit. */
  ingest(raw: RawMessage, source: SmtpSource): Promise<IngestResult>;
}

export interface Receiver {
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

type ReplyError = Error & { responseCode: number };
function reply(code: number, text: string): ReplyError {
  return Object.assign(new Error(text), { responseCode: code });
}

/**
 * The SMTP receiver (RFC 5321) that scanners deliver to. Thin: it translates between the wire
 * and the core. Accepts clients from `SMTP_ALLOWED_NETWORKS` only (`554` at connect), recipients
 * that are configured inbound addresses only (`550 5.1.1`), advertises SIZE and answers `552`
 * past it, and answers `250` only after `ingest()` committed (`451 4.3.0` when it could not).
 * No reverse-DNS lookup is made.
 */
export function createReceiver(deps: ReceiverDeps): Receiver {
  const { log } = deps;
  const maxBytes = deps.config.SMTP_MAX_MESSAGE_BYTES;
  const server = new SMTPServer({
    name: hostname(),
    banner: 'Posteingang',
    size: maxBytes,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onConnect(session, callback) {
      if (!addressInNetworks(session.remoteAddress, deps.config.SMTP_ALLOWED_NETWORKS)) {
        log.warn({ peer: session.remoteAddress }, 'connection refused: client outside SMTP_ALLOWED_NETWORKS');
        return callback(reply(554, '5.7.1 Your address is not allowed to send mail here'));
      }
      callback();
    },
    onRcptTo(address, session, callback) {
      channelForRecipient(address.address, deps.lookupRecipient).then(
        (channel) => {
          if (channel) return callback();
          log.info({ session: session.id, rcpt: address.address }, 'recipient refused: not an inbound address');
          callback(reply(550, `5.1.1 <${address.address}>: no such inbound address here`));
        },
        (err: Error) => {
          log.error({ session: session.id, err: err.message }, 'recipient lookup failed');
          callback(reply(451, '4.3.0 Temporary failure, please try again later'));
        },
      );
    },
    onData(stream, session, callback) {
      receive(stream, session).then(
        (text) => callback(null, text),
        (err: ReplyError) => callback(err),
      );
    },
  });
  server.on('error', (err) => log.error({ err: err.message }, 'SMTP server error'));

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    let raw: RawMessage;
    try {
      raw = await spool(stream, deps.spoolDir, maxBytes);
    } catch (err) {
      if (err instanceof SizeLimitError || stream.sizeExceeded) {
        log.info({ session: session.id, limit: maxBytes }, 'message refused: over the size limit');
        throw reply(552, `5.3.4 Message exceeds the size limit of ${maxBytes} bytes`);
      }
      log.error({ session: session.id, err: (err as Error).message }, 'spooling failed');
      throw reply(451, '4.3.0 Temporary failure, please try again later');
    }
    try {
      const rcptTo = session.envelope.rcptTo.map((r) => r.address);
      const channels: Channel[] = [];
      for (const r of rcptTo) {
        const c = await channelForRecipient(r, deps.lookupRecipient);
        if (c && !channels.includes(c)) channels.push(c);
      }
      const source: SmtpSource = {
        kind: 'smtp',
        channels,
        sessionId: session.id,
        peer: { address: session.remoteAddress, port: session.remotePort },
        helo: session.hostNameAppearsAs || session.remoteAddress,
        envelope: { mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcptTo },
        tls: session.tlsOptions ? { protocol: session.tlsOptions.version ?? '', cipher: session.tlsOptions.name } : null,
        authUser: typeof session.user === 'string' ? session.user : null,
      };
      const result = await deps.ingest(raw, source);
      return `2.0.0 Ok: ${result.duplicate ? 'already stored as' : 'stored as'} message ${result.messageId}`;
    } catch (err) {
      log.error({ session: session.id, err: (err as Error).message }, 'ingest failed; answering 451 so that the client retries');
      throw reply(451, '4.3.0 Temporary failure, please try again later');
    } finally {
      await raw.discard();
    }
  }

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(port, host, () => {
          server.server.off('error', reject);
          resolve(server.server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
