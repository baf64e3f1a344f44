import type { MailboxAdapters } from '../../services/mailboxes.js';
import { imapAdapter } from '../imap/adapter.js';
import { watchMailbox } from '../imap/idle.js';
import { pop3Adapter } from '../pop3/adapter.js';
import type { Watch } from '../scheduler.js';

/** The protocol adapters, by protocol. */
export const mailboxAdapters: MailboxAdapters = { imap: imapAdapter, pop3: pop3Adapter };

/** IMAP IDLE watch with production timing. */
export const imapWatch: Watch = (settings, deps, onNewMail, onLoginFailed) => watchMailbox(settings, deps, onNewMail, { onLoginFailed });
