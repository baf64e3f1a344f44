import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';

/**
 * Header fields that mail systems add or rewrite on the way (RFC 5321 §4.4 and RFC 5322 §3.6.7
 * trace fields, and what relays, filters and mail stores write: delivery addresses, spam and
 * virus verdicts, authentication results, mbox/IMAP bookkeeping). They are left out of the
 * fingerprint, so that a redelivery of the same message has the same fingerprint. Everything
 * else, every field the originator wrote, counts.
 */
const TRACE_FIELDS = new Set([
  'received',
  'return-path',
  'delivered-to',
  'x-original-to',
  'envelope-to',
  'x-envelope-from',
  'x-envelope-to',
  'authentication-results',
  'received-spf',
  'x-received',
  'status',
  'x-status',
  'x-keywords',
  'x-uid',
  'x-imapbase',
  'content-length',
  'lines',
]);
const TRACE_PREFIXES = ['arc-', 'x-spam', 'x-virus', 'x-ms-exchange-', 'x-microsoft-antispam', 'x-forefront-', 'x-gm-', 'x-google-', 'x-mozilla-', 'x-rspamd', 'x-amavis', 'x-ham-report'];

/**
 * Whether a header field is one that transport or storage adds (see TRACE_FIELDS); such fields
 * do not make two deliveries different messages.
 * @param name the field name as written (any case, surrounding white space ignored)
 */
export function isTraceField(name: string): boolean {
  const key = name.trim().toLowerCase();
  return TRACE_FIELDS.has(key) || TRACE_PREFIXES.some((p) => key.startsWith(p));
}

/** The header section is read up to this many bytes; whatever follows counts as body. */
export const FINGERPRINT_HEADER_LIMIT = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** A header field name as RFC 5322 §2.2 allows it, with the white space before the colon of the obsolete syntax (§4.5). */
export const FIELD_START = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;
/** An mbox separator line (RFC 4155): `From ` and the envelope sender, not the obsolete `From :` field. */
export const MBOX_FROM = /^From (?![ \t]*:)/;
/** The UTF-8 byte order mark some files carry before the header: an artefact of the file, not part of the message. */
export const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The bytes read while the header section was open, and the offset where it ends (the body begins). */
export interface HeaderSection {
  bytes: Buffer;
  end: number;
}

/**
 * The redelivery key of a message, computed incrementally over its raw bytes (one pass, any
 * chunking). Two byte sequences get the same key exactly when they differ at most in
 *   - line endings (CRLF, bare LF and bare CR are all one line end) and trailing line breaks,
 *     blank lines before the header, and an mbox `From ` separator line (RFC 4155);
 *   - trace fields (isTraceField), wherever they stand in the header section;
 *   - folding of header fields (a line break with the white space around it is one space) and
 *     white space at the end of a field.
 * Every other byte counts: every header field of the originator (Message-ID, Subject, MIME
 * fields, X- fields of the sender) and the whole body, which holds every MIME part's header
 * fields and content. Input without a header section (not a message) is keyed by all its bytes
 * the same way, so an unreadable message delivered twice is still recognised.
 * Form: `v2:` + 64 lower-case hex digits (SHA-256).
 */
export class Fingerprinter {
  private readonly hash: Hash = createHash('sha256');
  /** header phase: bytes of the header section read so far */
  private head: Buffer[] = [];
  private headLength = 0;
  private inBody = false;
  /** body phase: the previous byte was a CR (a following LF belongs to it) */
  private lastWasCr = false;
  /** body phase: line ends held back until more content follows (trailing line breaks are ignored) */
  private pendingLf = 0;

  /**
   * Feeds the next bytes of the raw message.
   * @returns the header section once, with the chunk that completes it (an empty line, or
   *   FINGERPRINT_HEADER_LIMIT bytes), so that a reader of the same bytes need not look for it
   *   again (ParserInput); else null
   */
  update(chunk: Buffer): HeaderSection | null {
    if (this.inBody) {
      this.body(chunk);
      return null;
    }
    this.head.push(chunk);
    this.headLength += chunk.length;
    const all = this.head.length === 1 ? chunk : Buffer.concat(this.head, this.headLength);
    this.head = [all];
    const end = headerEnd(all);
    if (end >= 0) return this.finishHead(all, end);
    if (this.headLength > FINGERPRINT_HEADER_LIMIT) return this.finishHead(all, FINGERPRINT_HEADER_LIMIT);
    return null;
  }

  /** Call at the end of the input: @returns the header section when no `update` returned it (the input ended inside it), else null. */
  end(): HeaderSection | null {
    if (this.inBody) return null;
    const all = Buffer.concat(this.head, this.headLength);
    return this.finishHead(all, all.length);
  }

  /** @returns the key; call once, after the last `update`. */
  digest(): string {
    this.end();
    return `v2:${this.hash.digest('hex')}`;
  }

  private finishHead(all: Buffer, end: number): HeaderSection {
    this.inBody = true;
    this.head = [];
    const section = all.subarray(all.subarray(0, BOM.length).equals(BOM) ? BOM.length : 0, end).toString('latin1');
    const lines = section.split(/\r\n|\r|\n/);
    let i = 0;
    while (i < lines.length && lines[i] === '') i++;
    if (i < lines.length && MBOX_FROM.test(lines[i]!)) i++;
    if (i < lines.length && FIELD_START.test(lines[i]!)) {
      // a header section: its fields without trace fields, unfolded
      let field: string | null = null;
      const emit = () => {
        if (field === null) return;
        const name = FIELD_START.exec(field)?.[1];
        if (name === undefined || !isTraceField(name)) this.hash.update(`${field.replace(/[ \t]+$/, '')}\n`, 'latin1');
        field = null;
      };
      for (; i < lines.length; i++) {
        const line = lines[i]!;
        if (line === '') continue; // the empty line that ends the section
        if ((line[0] === ' ' || line[0] === '\t') && field !== null) field = `${field.replace(/[ \t]+$/, '')} ${line.replace(/^[ \t]+/, '')}`;
        else {
          emit();
          field = line;
        }
      }
      emit();
      this.hash.update('\n');
      this.body(all.subarray(end));
    } else {
      // not a message: every byte counts, line ends normalised
      this.hash.update('\u0000raw\n');
      this.body(all);
    }
    return { bytes: all, end };
  }

  private body(chunk: Buffer): void {
    let runStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== CR && b !== LF) continue;
      if (i > runStart) this.content(chunk.subarray(runStart, i));
      if (b === LF && this.lastWasCr) {
        // the LF of a CRLF: already counted with its CR
      } else this.pendingLf++;
      this.lastWasCr = b === CR;
      runStart = i + 1;
    }
    if (runStart < chunk.length) this.content(chunk.subarray(runStart));
  }

  private content(bytes: Buffer): void {
    if (this.pendingLf) this.hash.update(Buffer.alloc(this.pendingLf, LF));
    this.pendingLf = 0;
    this.lastWasCr = false;
    this.hash.update(bytes);
  }
}

/**
 * The offset just after the empty line that ends the header section (any line-end style; blank
 * lines before the first field do not end it), or -1 when the buffer holds none yet.
 */
function headerEnd(buf: Buffer): number {
  let i = 0;
  // blank lines before the header
  while (i < buf.length && (buf[i] === CR || buf[i] === LF)) i++;
  let lineEnds = 0;
  for (; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === CR) {
      if (i + 1 >= buf.length) return -1; // CR or CRLF? wait for the next byte
      if (buf[i + 1] === LF) i++;
      if (++lineEnds === 2) return i + 1;
    } else if (b === LF) {
      if (++lineEnds === 2) return i + 1;
    } else lineEnds = 0;
  }
  return -1;
}

/**
 * The fingerprint of a whole stream (see Fingerprinter); used when the parse pass was cut short.
 * @param raw a fresh stream of the raw message
 * @returns `v2:` + lower-case hex
 */
export async function fingerprint(raw: Readable): Promise<string> {
  const f = new Fingerprinter();
  for await (const chunk of raw as AsyncIterable<Buffer>) f.update(chunk);
  return f.digest();
}
