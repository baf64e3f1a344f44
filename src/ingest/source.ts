import type { Channel } from '../db/schema.js';

/** Where a message came from; recorded with each delivery (architecture.md, "One write path"). */
export type Source = SmtpSource | ImapSource | Pop3Source | FileSource;

export interface SmtpSource {
  kind: 'smtp';
  /** Channels of the accepted `RCPT TO` addresses (each gets one task). */
  channels: Channel[];
  sessionId: string;
  peer: { address: string; port: number };
  /** Name given in HELO/EHLO; the client's IP address when it gave none. */
  helo: string;
  /** RFC 5321 envelope: `MAIL FROM` (empty string for the null sender) and the accepted `RCPT TO`. */
  envelope: { mailFrom: string; rcptTo: string[] };
  tls: { protocol: string; cipher: string } | null;
  authUser: string | null;
  /** Id of the message in the inbound queue (DATA_DIR/queue), named in the `250` reply; absent on receipts from before the queue. */
  queueId?: string;
}

export interface ImapSource {
  kind: 'imap';
  channels: Channel[];
  account: string;
  mailbox: string;
  uidValidity: string;
  uid: number;
}

export interface Pop3Source {
  kind: 'pop3';
  channels: Channel[];
  account: string;
  uidl: string;
}

export interface FileSource {
  kind: 'file';
  channels: Channel[];
  path: string;
}
