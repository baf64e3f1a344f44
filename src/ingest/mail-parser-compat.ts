import iconv from 'iconv-lite';
import libmime from 'libmime';
import { MailParser, type MailParserOptions } from 'mailparser';

/**
 * mailparser, adapted where it loses content that a peer parser keeps. Every adaptation goes
 * through mailparser's own steps (its header processing, its splitter's nodes), so the MIME
 * work stays mailparser's:
 *   - raw 8-bit bytes in a header field that are not UTF-8 are read as Windows-1252 (the
 *     superset of Latin-1 that such senders use), inside a `Q` encoded-word as the bytes they
 *     are (`=?iso-8859-1?Q?Fr<F6>sche?=` is "Frösche");
 *   - UTF-7 encoded-words, which libmime refuses (a filter-evasion trick in HTML; our pages
 *     escape every mail-derived string), are decoded (RFC 2152);
 *   - a part of a `multipart/digest` without Content-Type is `message/rfc822` (RFC 2046 §5.1.5);
 *   - a multipart whose boundary never appears keeps its body (`lostMultipartBody`) and is
 *     reported; one whose closing delimiter is missing is reported (its parts are kept).
 */

/** A finding about the structure, as a code (see ParseIssueCode in parse.ts). */
export type StructureFinding = 'header-charset-fallback' | 'utf7-decoded' | 'multipart-without-parts' | 'multipart-unclosed' | 'digest-part-typed';

/** mailsplit's node, the parts of it read here (not in mailparser's types). */
interface SplitterNode {
  parentNode: SplitterNode | false;
  multipart: string | false;
  contentType: string | false;
  rfc822: boolean;
  root?: boolean;
  headers: { get(key: string): string[] };
  parseHeaders(): void;
}
interface Splitter {
  node: SplitterNode;
  delimiterOwner: SplitterNode | false;
  newNode(parent: SplitterNode | false): void;
  checkBoundary(line: Buffer): number | false;
}
interface HeaderLine {
  key: string;
  line: string;
}

/** Body bytes kept for a multipart without parts, at most (the raw message holds the rest). */
export const LOST_BODY_LIMIT = 4 * 1024 * 1024;

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads header bytes (a latin1 "binary" string, as mailsplit holds them) as UTF-8 where they are
 * UTF-8 and as Windows-1252 byte by byte where they are not.
 * @returns the UTF-8 bytes as a binary string (what mailparser expects), and whether a byte was
 *   read as Windows-1252
 */
export function headerBytesToUtf8(binary: string): { value: string; fallback: boolean } {
  const bytes = Buffer.from(binary, 'latin1');
  if (!bytes.some((b) => b >= 0x80)) return { value: binary, fallback: false };
  try {
    utf8Fatal.decode(bytes);
    return { value: binary, fallback: false };
  } catch {
    // mixed: keep every valid UTF-8 sequence, read the other bytes as Windows-1252
  }
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const len = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b <= 0xdf ? 2 : 0;
    if (len > 0 && i + len <= bytes.length) {
      try {
        out += utf8Fatal.decode(bytes.subarray(i, i + len));
        i += len;
        continue;
      } catch {
        // not a UTF-8 sequence: fall through
      }
    }
    out += iconv.decode(bytes.subarray(i, i + 1), 'windows-1252');
    i++;
  }
  return { value: Buffer.from(out, 'utf8').toString('latin1'), fallback: true };
}

const ENCODED_WORD = /=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=/g;
const UTF7 = /^(?:utf-?7|unicode-1-1-utf-7|x-unicode-2-0-utf-7)(?:\*.*)?$/i;

/**
 * Rewrites one raw header line so that libmime decodes it as a peer parser would (see the module
 * comment). @returns the line and which findings applied
 */
export function repairHeaderLine(line: string): { line: string; findings: StructureFinding[] } {
  const findings = new Set<StructureFinding>();
  // raw 8-bit bytes inside a Q encoded-word are the encoded bytes themselves: write them as =XX
  let out = line.replace(ENCODED_WORD, (word, charset: string, enc: string, text: string) => {
    let t = text;
    if (enc.toUpperCase() === 'Q' && /[\x80-\xff]/.test(t)) {
      t = t.replace(/[\x80-\xff]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
      findings.add('header-charset-fallback');
    }
    if (UTF7.test(charset)) {
      // the word's bytes (libmime reads them as Latin-1 unchanged), decoded as UTF-7, written as UTF-8
      const bytes = Buffer.from(libmime.decodeWord('iso-8859-1', enc, t), 'latin1');
      findings.add('utf7-decoded');
      return libmime.encodeWord(iconv.decode(bytes, 'utf7'), 'B', 0);
    }
    return t === text ? word : `=?${charset}?${enc}?${t}?=`;
  });
  const converted = headerBytesToUtf8(out);
  if (converted.fallback) findings.add('header-charset-fallback');
  out = converted.value;
  return { line: out, findings: [...findings] };
}

/**
 * A MailParser with the adaptations above. After the parse, `findings` lists what applied and
 * `lostMultipartBody` holds the body of the message's top-level multipart when no part of it
 * could be found (null otherwise).
 */
export class CompatMailParser extends MailParser {
  readonly findings = new Set<StructureFinding>();
  /** body bytes of multiparts that have no parts (yet), by node */
  private readonly preamble = new Map<SplitterNode, { chunks: Buffer[]; length: number }>();
  private readonly withChildren = new Set<SplitterNode>();
  private readonly closedMultiparts = new Set<SplitterNode>();
  private readonly multiparts: SplitterNode[] = [];

  constructor(options: MailParserOptions) {
    super(options);
    const splitter = (this as unknown as { splitter: Splitter }).splitter;
    const newNode = splitter.newNode.bind(splitter);
    splitter.newNode = (parent) => {
      newNode(parent);
      const node = splitter.node;
      if (parent) this.withChildren.add(parent);
      const parseHeaders = node.parseHeaders.bind(node);
      node.parseHeaders = () => {
        parseHeaders();
        if (node.parentNode && node.parentNode.multipart === 'digest' && node.headers.get('Content-Type').length === 0) {
          // RFC 2046 §5.1.5: the default type of a digest's part is message/rfc822
          node.contentType = 'message/rfc822';
          node.rfc822 = true;
          this.findings.add('digest-part-typed');
        }
      };
    };
    const checkBoundary = splitter.checkBoundary.bind(splitter);
    splitter.checkBoundary = (line) => {
      const r = checkBoundary(line);
      if (r === 4 && splitter.delimiterOwner) this.closedMultiparts.add(splitter.delimiterOwner);
      if (r === 2) this.closedMultiparts.add(splitter.node);
      return r;
    };
  }

  /** @internal mailparser's per-node header step, given repaired lines */
  processHeaders(lines: HeaderLine[]): unknown {
    const repaired = (lines ?? []).map((h) => {
      const r = repairHeaderLine(h.line);
      for (const f of r.findings) this.findings.add(f);
      return r.line === h.line ? h : { key: h.key, line: r.line };
    });
    return (MailParser.prototype as unknown as { processHeaders(l: HeaderLine[]): unknown }).processHeaders.call(this, repaired);
  }

  /** @internal mailparser's per-chunk step; keeps what a multipart without parts would drop */
  processChunk(data: { type: string; node?: SplitterNode; value?: Buffer; multipart?: string | false }, done: (err?: Error) => void): void {
    if (data.type === 'node' && data.multipart) this.multiparts.push(data as unknown as SplitterNode);
    if (data.type === 'data' && data.node && data.node.multipart && !this.withChildren.has(data.node) && data.value) {
      let kept = this.preamble.get(data.node);
      if (!kept) this.preamble.set(data.node, (kept = { chunks: [], length: 0 }));
      if (kept.length < LOST_BODY_LIMIT) {
        const piece = data.value.subarray(0, LOST_BODY_LIMIT - kept.length);
        kept.chunks.push(piece);
        kept.length += piece.length;
      }
    }
    (MailParser.prototype as unknown as { processChunk(d: unknown, cb: (err?: Error) => void): void }).processChunk.call(this, data, done);
  }

  /**
   * Call after the parse: records the multipart findings.
   * @returns the body bytes of the top-level multipart when it has no parts, else null
   */
  lostMultipartBody(): Buffer | null {
    let lost: Buffer | null = null;
    for (const node of this.multiparts) {
      if (!this.withChildren.has(node)) {
        this.findings.add('multipart-without-parts');
        const kept = this.preamble.get(node);
        if (!node.parentNode && kept) lost = Buffer.concat(kept.chunks, kept.length);
        else if (!node.parentNode) lost = Buffer.alloc(0);
      } else if (!this.closedMultiparts.has(node)) this.findings.add('multipart-unclosed');
    }
    return lost;
  }
}
