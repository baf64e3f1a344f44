import { mkdir } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromBuffer } from 'file-type';
import { MailParser, type AddressObject, type AttachmentStream, type MessageText } from 'mailparser';
import { safeFilename } from './filename.js';
import { spool, type RawMessage } from './raw.js';

/** A decoded attachment, spooled like a raw message: in memory when small, else a file (removed by `discardParsed`). */
export interface ParsedAttachment {
  position: number;
  filename: string;
  contentType: string;
  declaredContentType: string;
  /** decoded size in bytes */
  size: number;
  sha256: string;
  contentId: string | null;
  inline: boolean;
  content: RawMessage;
}

export interface ParsedMessage {
  senderAddress: string | null;
  senderName: string | null;
  subject: string | null;
  /** null when `Date` is missing or invalid */
  date: Date | null;
  messageIdHeader: string | null;
  text: string | null;
  html: string | null;
  /** Top-level header fields as received: lower-case key and the whole (folded) line. */
  headerLines: { key: string; line: string }[];
  attachments: ParsedAttachment[];
}

/** The message could not be read as RFC 5322; it is still stored raw. */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

const SNIFF_BYTES = 4100;
const GENERIC_TYPES = new Set(['application/octet-stream', 'application/binary', 'application/x-download']);

/** A header field name as RFC 5322 §2.2 allows it: printable US-ASCII except colon. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+:/;

/**
 * Parses a raw message with mailparser, streaming attachments into spools (memory up to
 * 256 KiB, else files under `spoolDir`).
 * Text and HTML bodies are kept in memory; attachment bytes never are.
 * RFC 5322 (fields), RFC 2045–2049 (MIME), RFC 2047/2231 (encoded words and parameters).
 * @param input the raw bytes as a stream (read once)
 * @returns the parsed fields; sender lower-cased; attachment names made safe; when a part says
 *   `application/octet-stream`, its content type is sniffed from the first 4100 bytes
 * @throws ParseError when the input has no header section or mailparser fails
 */
export async function parseMessage(input: Readable, spoolDir: string): Promise<ParsedMessage> {
  await mkdir(spoolDir, { recursive: true });
  const parser = new MailParser({ checksumAlgo: false, skipImageLinks: true, skipTextToHtml: true });
  const attachments: ParsedAttachment[] = [];
  let headerLines: { key: string; line: string }[] = [];
  let text: string | null = null;
  let html: string | null = null;
  let firstChunk = true;
  const pending: Promise<void>[] = [];

  parser.on('headerLines', (lines: { key: string; line: string }[]) => {
    headerLines = lines;
  });
  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'attachment') {
      pending.push(storeAttachment(data, pending.length + 1, spoolDir, attachments));
    } else {
      text = data.text ?? null;
      html = typeof data.html === 'string' ? data.html : null;
    }
  });

  // A message must begin with a header field (RFC 5322 §2.1); anything else is not a message.
  const guard = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (firstChunk) {
        firstChunk = false;
        let head = chunk.subarray(0, 1000).toString('latin1');
        // A file saved from an mbox starts with its "From " separator line (RFC 4155): skip that line.
        if (head.startsWith('From ')) {
          const eol = chunk.indexOf(0x0a);
          if (eol >= 0) {
            chunk = chunk.subarray(eol + 1);
            head = chunk.subarray(0, 1000).toString('latin1');
          }
        }
        if (!FIELD_NAME.test(head)) return done(new ParseError('no header section: the data does not begin with a header field'));
      }
      done(null, chunk);
    },
  });

  try {
    await pipeline(input, guard, parser);
    await Promise.all(pending);
  } catch (err) {
    await Promise.allSettled(pending);
    await discardParsed({ attachments });
    if (err instanceof ParseError) throw err;
    throw new ParseError((err as Error).message || String(err));
  }
  if (firstChunk) throw new ParseError('empty message');

  const parserFields = parser as unknown as {
    from?: AddressObject;
    subject?: string;
    date?: Date;
    messageId?: string;
  };
  const from = parserFields.from?.value?.[0];
  const address = from?.address?.trim().toLowerCase() || null;
  // mailparser substitutes the current time for a Date it cannot parse: check the header itself
  const dateLine = headerLines.find((h) => h.key === 'date');
  const dateHeaderValid =
    dateLine !== undefined && !Number.isNaN(Date.parse(dateLine.line.slice(dateLine.line.indexOf(':') + 1).replace(/\s+/g, ' ').trim()));
  const date =
    dateHeaderValid && parserFields.date instanceof Date && !Number.isNaN(parserFields.date.getTime()) ? parserFields.date : null;
  attachments.sort((a, b) => a.position - b.position);
  return {
    senderAddress: address,
    senderName: from?.name?.trim() || null,
    // mailparser drops an empty Subject; a Subject field that is present but empty is ''
    subject: typeof parserFields.subject === 'string' ? parserFields.subject : headerLines.some((h) => h.key === 'subject') ? '' : null,
    date,
    messageIdHeader: parserFields.messageId?.trim() || null,
    text,
    html,
    headerLines,
    attachments,
  };
}

async function storeAttachment(
  data: AttachmentStream,
  position: number,
  spoolDir: string,
  out: ParsedAttachment[],
): Promise<void> {
  let head = Buffer.alloc(0);
  const sniff = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
      done(null, chunk);
    },
  });
  let content: RawMessage;
  try {
    data.content.on('error', (err) => sniff.destroy(err));
    content = await spool(data.content.pipe(sniff), spoolDir);
  } finally {
    data.release?.();
  }
  const declaredHeader = data.headers?.get('content-type') as { value?: string } | string | undefined;
  const declared =
    (typeof declaredHeader === 'string' ? declaredHeader : declaredHeader?.value)?.toLowerCase() || 'application/octet-stream';
  let contentType = declared;
  let extension: string | undefined;
  if (GENERIC_TYPES.has(declared)) {
    const sniffed = await fileTypeFromBuffer(head);
    // Only the bytes decide; a type guessed from the sender's file name (mailparser does that) is not trusted.
    contentType = sniffed?.mime ?? declared;
    extension = sniffed?.ext;
  }
  out.push({
    position,
    filename: safeFilename(data.filename, position, extension),
    contentType,
    declaredContentType: declared,
    size: content.size,
    sha256: content.sha256,
    contentId: data.cid ?? null,
    inline: data.contentDisposition === 'inline' || Boolean(data.related),
    content,
  });
}

/** Removes the attachment spool files of a parse result. */
export async function discardParsed(parsed: Pick<ParsedMessage, 'attachments'>): Promise<void> {
  await Promise.all(parsed.attachments.map((a) => a.content.discard()));
}
