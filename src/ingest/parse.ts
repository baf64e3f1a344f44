import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromBuffer } from 'file-type';
import { type AddressObject, type AttachmentStream, type MessageText } from 'mailparser';
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';
import { safeFilename } from './filename.js';
import { decodeUuencoded, unpackTnef } from './containers.js';
import { CompatMailParser, headerBytesToUtf8, LOST_BODY_LIMIT } from './mail-parser-compat.js';
import { ParserInput } from './parse-input.js';
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
  /** redelivery key of the raw bytes (fingerprint.ts); null when the parse did not read them all */
  fingerprint: string | null;
  /** what the parse adapted or lost (ParseIssueCode) */
  issues: ParseIssue[];
  /** `text`/`html` came out of an attachment (a TNEF container), not from the MIME structure itself */
  bodyFromContainer: boolean;
}

/** What the parse found and adapted; stored with the message (`message.parse_issues`) and shown with it. */
export type ParseIssueCode =
  /** characters the database cannot hold (NUL, a lone UTF-16 half) were removed from `params.fields` */
  | 'text-characters-removed'
  /** a multipart whose boundary never appears: its body is kept as text */
  | 'multipart-without-parts'
  /** a multipart's closing delimiter is missing: its parts are kept */
  | 'multipart-unclosed'
  /** raw 8-bit bytes in a header field were read as Windows-1252 */
  | 'header-charset-fallback'
  /** a UTF-7 encoded-word was decoded */
  | 'utf7-decoded'
  /** a part of a multipart/digest without Content-Type was taken as message/rfc822 (RFC 2046 §5.1.5) */
  | 'digest-part-typed'
  /** bare CR line endings were read as line ends */
  | 'cr-line-ends'
  /** a byte order mark / blank lines before the header were skipped */
  | 'bom-skipped'
  | 'leading-blank-lines'
  /** a uuencoded part was decoded; `-invalid`: it could not be, it is kept as application/octet-stream */
  | 'uuencode-decoded'
  | 'uuencode-invalid'
  /** an Outlook winmail.dat (TNEF) was unpacked; `-unreadable`: it could not be, it is kept as it is */
  | 'tnef-unpacked'
  | 'tnef-unreadable'
  /** mailparser refused the MIME structure (`params.reason`, e.g. too many parts): only the header was read */
  | 'mime-structure-unreadable'
  /** the sender's display name held an address inside an encoded-word (`params.address`: the one routed by) */
  | 'sender-name-holds-address'
  /** the Date header names a time outside years 1–9999: the time of receipt is used */
  | 'date-out-of-range'
  /** the body kept from a broken structure was cut at `params.bytes` (the raw message holds it all) */
  | 'body-truncated';

export interface ParseIssue {
  code: ParseIssueCode;
  params?: Record<string, string | number | string[]>;
}

/** The codes that mean the parsed copy lost or could not interpret something: the message is flagged. */
export const LOSSY_ISSUES: ReadonlySet<ParseIssueCode> = new Set<ParseIssueCode>([
  'text-characters-removed',
  'multipart-without-parts',
  'multipart-unclosed',
  'uuencode-invalid',
  'tnef-unreadable',
  'body-truncated',
  'mime-structure-unreadable',
]);

/** The message could not be read as RFC 5322; it is still stored raw. */
export class ParseError extends Error {
  /** the redelivery key of the raw bytes when the parse read them all, else null */
  fingerprint: string | null = null;
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

const SNIFF_BYTES = 4100;
const GENERIC_TYPES = new Set(['application/octet-stream', 'application/binary', 'application/x-download']);

/**
 * Parses a raw message with mailparser (adapted: mail-parser-compat.ts), streaming attachments
 * into spools (memory up to 256 KiB, else files under `spoolDir`). The fingerprint (the
 * redelivery key, fingerprint.ts) is computed in the same pass. Text and HTML bodies are kept in
 * memory; attachment bytes never are.
 * RFC 5322 (fields; §4 obsolete syntax accepted), RFC 2045–2049 (MIME), RFC 2047/2231 (encoded
 * words and parameters).
 * @param input the raw bytes as a stream (read once)
 * @param options `bodiesOnly`: attachments are read past, not spooled, and containers not
 *   unpacked (a message shown whose bodies were not stored: services/messages.ts); `attachments`
 *   is then empty and `text`/`html` are those of the MIME structure
 * @returns the parsed fields; sender lower-cased; attachment names made safe; when a part says
 *   `application/octet-stream`, its content type is sniffed from the first 4100 bytes; `issues`
 *   lists what was adapted or lost in the parsed copy
 * @throws ParseError when the input has no header section or mailparser fails (with the
 *   fingerprint when the whole input was read)
 */
export async function parseMessage(input: Readable, spoolDir: string, options: { bodiesOnly?: boolean } = {}): Promise<ParsedMessage> {
  const parser = new CompatMailParser({ checksumAlgo: false, skipImageLinks: true, skipTextToHtml: true });
  const front = new ParserInput();
  const attachments: ParsedAttachment[] = [];
  const issues: ParseIssue[] = [];
  let headerLines: { key: string; line: string }[] = [];
  let text: string | null = null;
  let html: string | null = null;
  const pending: Promise<void>[] = [];
  /** attachment streams still being read: ended by force when the parse fails, else their readers wait for ever */
  const streams = new Set<Readable>();

  parser.on('headerLines', (lines: { key: string; line: string }[]) => {
    headerLines = lines;
  });
  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'attachment' && options.bodiesOnly) {
      const content = data.content as unknown as Readable;
      content.once('end', () => data.release?.());
      content.resume();
    } else if (data.type === 'attachment') {
      const content = data.content as unknown as Readable;
      streams.add(content);
      content.once('close', () => streams.delete(content));
      content.once('end', () => streams.delete(content));
      pending.push(storeAttachment(data, pending.length + 1, spoolDir, attachments, issues));
    } else {
      text = data.text ?? null;
      html = typeof data.html === 'string' ? data.html : null;
    }
  });

  try {
    await pipeline(input, front, parser);
    await Promise.all(pending);
  } catch (err) {
    // mailparser stops feeding the attachment streams open at that moment (e.g. "Max allowed
    // child nodes exceeded"): end them, so that their spools are removed and nothing hangs
    for (const st of streams) st.destroy(err instanceof Error ? err : new Error(String(err)));
    await Promise.allSettled(pending);
    await discardParsed({ attachments });
    if (err instanceof ParseError) throw err;
    const reason = (err as Error).message || String(err);
    // mailparser gave up on the structure after a readable header (e.g. more MIME parts than it
    // allows): keep sender, subject and routing from the header, flagged; the raw has the rest
    const header = front.headerSection();
    const headerOnly = header ? await parseHeaderOnly(header, reason).catch(() => null) : null;
    if (headerOnly) return headerOnly;
    throw new ParseError(reason);
  }
  const fromTnef = await unpackTnefAttachments(attachments, spoolDir, issues).catch(async (err: unknown) => {
    await discardParsed({ attachments });
    throw err;
  });
  const bodyFromContainer = (text === null && fromTnef.text !== null) || (html === null && fromTnef.html !== null);
  text ??= fromTnef.text;
  html ??= fromTnef.html;
  const found = front.findings();
  if (found.empty || found.notAMessage) {
    await discardParsed({ attachments });
    const e = new ParseError(found.empty ? 'empty message' : 'no header section: the data does not begin with a header field');
    e.fingerprint = found.fingerprint;
    throw e;
  }
  if (found.crLineEnds) issues.push({ code: 'cr-line-ends' });
  if (found.bomSkipped) issues.push({ code: 'bom-skipped' });
  if (found.leadingBlankLines) issues.push({ code: 'leading-blank-lines' });
  const lost = parser.lostMultipartBody();
  if (lost && lost.length > 0 && text === null && html === null) {
    // the boundary never appears: what mailparser took for a preamble is the whole body
    text = Buffer.from(headerBytesToUtf8(lost.toString('latin1')).value, 'latin1').toString('utf8').replace(/\r\n?/g, '\n');
    if (lost.length >= LOST_BODY_LIMIT) issues.push({ code: 'body-truncated', params: { bytes: LOST_BODY_LIMIT } });
  }
  for (const f of parser.findings) issues.push({ code: f });

  attachments.sort((a, b) => a.position - b.position);
  return {
    ...headerFields(parser, headerLines, issues),
    text,
    html,
    headerLines,
    attachments,
    fingerprint: found.fingerprint,
    issues,
    bodyFromContainer,
  };
}

/** The header fields of a parse: sender (address lower-cased, checked against the raw field), subject, date, Message-ID. */
function headerFields(parser: CompatMailParser, headerLines: { key: string; line: string }[], issues: ParseIssue[]) {
  const parserFields = parser as unknown as {
    from?: AddressObject;
    subject?: string;
    date?: Date;
    messageId?: string;
  };
  const from = parserFields.from?.value?.[0];
  let address = from?.address?.trim().toLowerCase() || null;
  let senderName = from?.name?.trim() || null;
  const smuggled = address ? addressOutsideEncodedWords(headerLines, address) : null;
  if (smuggled !== null) {
    // the address mailparser found stands only inside an encoded-word of the display name
    // (`=?utf-8?Q?MFP_<scanner@agency>?= <attacker@evil>`): route by the real one, drop the name
    issues.push({ code: 'sender-name-holds-address', params: { address: smuggled } });
    address = smuggled;
    senderName = null;
  }
  // mailparser substitutes the current time for a Date it cannot parse: check the header itself
  const dateLine = headerLines.find((h) => h.key === 'date');
  const dateHeaderValid =
    dateLine !== undefined && !Number.isNaN(Date.parse(dateLine.line.slice(dateLine.line.indexOf(':') + 1).replace(/\s+/g, ' ').trim()));
  const date =
    dateHeaderValid && parserFields.date instanceof Date && !Number.isNaN(parserFields.date.getTime()) && inTimestampRange(parserFields.date) ? parserFields.date : null;
  if (dateHeaderValid && date === null) issues.push({ code: 'date-out-of-range' });
  return {
    senderAddress: address,
    senderName,
    // mailparser drops an empty Subject; a Subject field that is present but empty is ''
    subject: typeof parserFields.subject === 'string' ? parserFields.subject : headerLines.some((h) => h.key === 'subject') ? '' : null,
    date,
    messageIdHeader: parserFields.messageId?.trim() || null,
  };
}

/**
 * The fields of a message whose MIME structure mailparser refused, from its header section alone
 * (as ParserInput handed it on). No text or attachments; the issue `mime-structure-unreadable`
 * with mailparser's reason flags it; the fingerprint needs a read of its own (null).
 * @throws what mailparser throws when the header itself cannot be read
 */
async function parseHeaderOnly(header: Buffer, reason: string): Promise<ParsedMessage> {
  const parser = new CompatMailParser({ checksumAlgo: false, skipImageLinks: true, skipTextToHtml: true });
  let headerLines: { key: string; line: string }[] = [];
  parser.on('headerLines', (lines: { key: string; line: string }[]) => {
    headerLines = lines;
  });
  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'attachment') data.release?.();
  });
  await pipeline(Readable.from([header]), parser);
  const issues: ParseIssue[] = [{ code: 'mime-structure-unreadable', params: { reason } }];
  const fields = headerFields(parser, headerLines, issues);
  for (const f of parser.findings) issues.push({ code: f });
  return { ...fields, text: null, html: null, headerLines, attachments: [], fingerprint: null, issues, bodyFromContainer: false };
}

async function storeAttachment(
  data: AttachmentStream,
  position: number,
  spoolDir: string,
  out: ParsedAttachment[],
  issues: ParseIssue[],
): Promise<void> {
  let head: Buffer = Buffer.alloc(0);
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
  // without a Content-Type only a digest's part has a type (message/rfc822, mail-parser-compat.ts);
  // one that mailparser guesses from the sender's file name is not trusted
  const declared =
    headerValue(declaredHeader)?.toLowerCase() || (data.contentType === 'message/rfc822' ? 'message/rfc822' : 'application/octet-stream');
  let contentType = declared;
  let extension: string | undefined = declared === 'message/rfc822' ? 'eml' : undefined;
  let filename = data.filename;
  const transferEncoding = headerValue(data.headers?.get('content-transfer-encoding') as string | undefined)?.toLowerCase().trim();
  if (transferEncoding && UUENCODINGS.has(transferEncoding)) {
    // mailparser passes a transfer encoding it does not know through undecoded
    const uu = await decodeUuencoded(content, spoolDir);
    if (uu) {
      await content.discard();
      content = uu.content;
      head = await headOf(content);
      filename ??= uu.filename ?? undefined;
      issues.push({ code: 'uuencode-decoded', params: { position } });
    } else {
      // the bytes are not what the part says they are: never label them so
      contentType = 'application/octet-stream';
      issues.push({ code: 'uuencode-invalid', params: { position } });
    }
  }
  if (GENERIC_TYPES.has(contentType)) ({ contentType, extension } = await typeFromBytes(head, contentType));
  out.push({
    position,
    filename: safeFilename(filename, position, extension),
    contentType,
    declaredContentType: declared,
    size: content.size,
    sha256: content.sha256,
    contentId: data.cid ?? null,
    inline: data.contentDisposition === 'inline' || Boolean(data.related),
    content,
  });
}

/** An RFC 2047 encoded-word; its encoded text may hold characters (`<`, `@`) that are not address syntax there. */
const ENCODED_WORD = /=\?[^?\s]+\?[QqBb]\?[^?]*\?=/g;

/**
 * Checks mailparser's sender against the raw `From` field read with every encoded-word as the
 * atom it is (RFC 2047 §5: an encoded-word is never part of an address). mailparser decodes the
 * words first, so a `<…@…>` written inside one could become the address.
 * @param parsed mailparser's (lower-cased) sender address
 * @returns the address of the raw field (lower-cased) when `parsed` occurs only inside an
 *   encoded-word there, else null (mailparser's reading stands)
 */
function addressOutsideEncodedWords(headerLines: { key: string; line: string }[], parsed: string): string | null {
  const line = headerLines.find((h) => h.key === 'from')?.line;
  if (!line) return null;
  const value = Buffer.from(headerBytesToUtf8(line.slice(line.indexOf(':') + 1)).value, 'latin1').toString('utf8').replace(/\r?\n(?=[ \t])/g, '');
  const atoms = value.replace(ENCODED_WORD, '"w"');
  if (atoms.toLowerCase().includes(parsed)) return null;
  const inWords = (value.match(ENCODED_WORD) ?? []).some((w) => libmime.decodeWords(w).toLowerCase().includes(parsed));
  if (!inWords) return null;
  const first = addressparser(atoms, { flatten: true })[0]?.address?.trim().toLowerCase();
  return first && first !== parsed ? first : null;
}

/**
 * Whether a date can be stored as it is: years 1–9999, the range both drivers write as ISO 8601
 * (a year of five digits comes out as `+010000-…`, which PostgreSQL refuses with 22009).
 */
function inTimestampRange(d: Date): boolean {
  const y = d.getUTCFullYear();
  return y >= 1 && y <= 9999;
}

/** Transfer encodings of uuencoded parts (not MIME's own, RFC 2045 §6.1, but widely sent). */
const UUENCODINGS = new Set(['x-uuencode', 'uuencode', 'x-uue', 'uue']);
const TNEF_TYPES = new Set(['application/ms-tnef', 'application/vnd.ms-tnef']);

/** A structured header value as mailparser gives it: a string, or `{ value, params }`. */
function headerValue(h: { value?: string } | string | undefined): string | undefined {
  return typeof h === 'string' ? h : h?.value;
}

/**
 * The content type of bytes whose part names only a generic one: only the bytes decide; a type
 * guessed from the sender's file name (mailparser does that) is not trusted.
 * @param head the first SNIFF_BYTES; @param fallback the type when the bytes are of no known kind
 * @returns the type and a file extension for it (undefined when unknown)
 */
async function typeFromBytes(head: Buffer, fallback: string): Promise<{ contentType: string; extension: string | undefined }> {
  const sniffed = await fileTypeFromBuffer(head);
  return { contentType: sniffed?.mime ?? fallback, extension: sniffed?.ext };
}

/** The first SNIFF_BYTES of a spooled content, for type sniffing. */
async function headOf(content: RawMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  const stream = content.open();
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    parts.push(chunk);
    length += chunk.length;
    if (length >= SNIFF_BYTES) break;
  }
  stream.destroy();
  return Buffer.concat(parts, length).subarray(0, SNIFF_BYTES);
}

/**
 * Outlook's winmail.dat (TNEF, MS-OXTNEF): the files inside become attachments of their own after
 * the others (the winmail.dat itself is kept); its body fills an empty text or HTML body.
 * @returns the body texts found (null when none)
 */
async function unpackTnefAttachments(attachments: ParsedAttachment[], spoolDir: string, issues: ParseIssue[]): Promise<{ text: string | null; html: string | null }> {
  let text: string | null = null;
  let html: string | null = null;
  let next = attachments.reduce((max, a) => Math.max(max, a.position), 0) + 1;
  for (const a of [...attachments]) {
    if (!TNEF_TYPES.has(a.contentType) && !TNEF_TYPES.has(a.declaredContentType) && a.filename.toLowerCase() !== 'winmail.dat') continue;
    const unpacked = await unpackTnef(a.content, spoolDir);
    if (!unpacked) {
      issues.push({ code: 'tnef-unreadable', params: { position: a.position } });
      continue;
    }
    for (const f of unpacked.files) {
      const position = next++;
      const typed = await typeFromBytes(await headOf(f.content), 'application/octet-stream');
      attachments.push({
        position,
        filename: safeFilename(f.filename || undefined, position, typed.extension),
        contentType: typed.contentType,
        declaredContentType: 'application/octet-stream',
        size: f.content.size,
        sha256: f.content.sha256,
        contentId: null,
        inline: false,
        content: f.content,
      });
    }
    text ??= unpacked.bodyText;
    html ??= unpacked.bodyHtml;
    issues.push({ code: 'tnef-unpacked', params: { position: a.position, files: unpacked.files.length } });
  }
  return { text, html };
}

/** Removes the attachment spool files of a parse result. */
export async function discardParsed(parsed: Pick<ParsedMessage, 'attachments'>): Promise<void> {
  await Promise.all(parsed.attachments.map((a) => a.content.discard()));
}
