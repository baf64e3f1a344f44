import { randomUUID } from 'node:crypto';
import addressparser, { type MailboxAddress } from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { ValidationError } from '../services/errors.js';
import { normaliseAddress } from '../services/validate.js';

/** CR, LF or NUL: never allowed into a header field (RFC 5322 §2.2: a field body has no CR or LF of its own). */
export const LINE_BREAK = /[\r\n\0\u2028\u2029\u0085]/;

/**
 * A value that goes into a header field on one line.
 * @throws ValidationError naming `field` when it holds a line break (header injection)
 */
export function oneLine(value: string, field: string): string {
  if (LINE_BREAK.test(value)) throw new ValidationError(field, 'must not contain a line break (CR or LF)');
  return value;
}

/** Something in a display name that reads as an address: `x@y.z`. */
const LOOKS_LIKE_ADDRESS = /[^\s<>"@]+@[^\s<>"@]+\.[^\s<>"@]+/;

/**
 * Parses an address field as RFC 5322 §3.4 writes it (`Name <a@b>, c@d`), or a list of such
 * values, with nodemailer's addressparser. What the parser would read differently from what a
 * person meant is refused rather than guessed: a group (`Name: a@b;`, RFC 5322 §3.4 — the words
 * before a colon would silently vanish, e.g. `a@b Bcc: c@d` leaves only c@d), and an unquoted
 * display name that is itself an address (`a@b <c@d>` or `a@b c@d`: two addresses without a comma).
 * @param required at least one address is needed
 * @returns the mailboxes with their display names, addresses as given (trimmed)
 * @throws ValidationError naming `field`: a line break anywhere, a group, an address in a display
 *   name, an entry without a valid address
 */
export function parseAddresses(value: string | string[] | undefined | null, field: string, required = false): MailboxAddress[] {
  const parts = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
  const out: MailboxAddress[] = [];
  for (const part of parts) {
    if (typeof part !== 'string') throw new ValidationError(field, 'expected addresses as text');
    oneLine(part, field);
    for (const entry of addressparser(part)) {
      if ('group' in entry && Array.isArray(entry.group)) {
        throw new ValidationError(field, `"${entry.name}:" makes a group of the addresses after it (RFC 5322 group syntax), which is not accepted; separate addresses with commas`);
      }
      if (LOOKS_LIKE_ADDRESS.test(entry.name) && !part.includes(`"${entry.name}"`)) {
        throw new ValidationError(field, `"${entry.name}" stands where a name belongs (before <${(entry as MailboxAddress).address}>); separate addresses with commas, or put the name in quotes`);
      }
      const address = ((entry as MailboxAddress).address ?? '').trim();
      if (!address) throw new ValidationError(field, `"${entry.name || part}" has no e-mail address`);
      normaliseAddress(address, field);
      out.push({ name: entry.name.trim(), address });
    }
  }
  if (required && out.length === 0) throw new ValidationError(field, 'at least one address is required');
  return out;
}

/** A new RFC 5322 §3.6.4 Message-ID (`<uuid@domain>`) under the sender's domain. */
export function newMessageId(fromAddress: string): string {
  const domain = fromAddress.slice(fromAddress.lastIndexOf('@') + 1).toLowerCase() || 'localhost';
  return `<${randomUUID()}@${domain}>`;
}

export interface ComposeInput {
  from: MailboxAddress;
  to: MailboxAddress[];
  cc: MailboxAddress[];
  subject: string;
  text: string;
  html?: string | null;
  attachments: { filename: string; contentType: string; content: Buffer }[];
  messageId: string;
  /** the Message-ID this message answers, with angle brackets */
  inReplyTo?: string | null;
  /** Message-IDs of the thread, oldest first (RFC 5322 §3.6.4) */
  references?: string[];
  /** extra header fields, e.g. `Auto-Submitted` (RFC 3834) */
  headers?: Record<string, string>;
}

/**
 * Builds the complete RFC 5322 / MIME message with nodemailer's MailComposer (encoded words for
 * non-ASCII subjects and names, RFC 2231 file names). Bcc recipients never appear in it: they
 * are only in the envelope. File and URL access are off: content comes from the caller only.
 * @returns the message bytes, CRLF line ends
 */
export function composeMessage(input: ComposeInput): Promise<Buffer> {
  const composer = new MailComposer({
    from: input.from,
    to: input.to,
    cc: input.cc.length ? input.cc : undefined,
    subject: input.subject,
    text: input.text,
    html: input.html ?? undefined,
    attachments: input.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
    messageId: input.messageId,
    inReplyTo: input.inReplyTo ?? undefined,
    references: input.references?.length ? input.references.join(' ') : undefined,
    headers: input.headers,
    date: new Date(),
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return new Promise((resolve, reject) => composer.compile().build((err, message) => (err ? reject(err) : resolve(message))));
}
