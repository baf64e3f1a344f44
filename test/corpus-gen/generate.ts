/**
 * A deterministic generator of a varied mail corpus for the ingest pipeline (issue 12, "Every
 * message stored, none merged"). The same seed gives the same bytes: all variety comes from a
 * seeded PRNG (mulberry32), dates are fixed, nodemailer gets fixed Message-IDs, dates and
 * boundaries.
 *
 * Well-formed messages are built with nodemailer's MailComposer (MimeNode where MailComposer has
 * no shape for it: deeper nesting, multipart/digest, multipart/report); an 8bit text part is handed
 * to nodemailer as a prepared ("raw") part, because nodemailer re-encodes 8-bit text as QP or
 * base64. The broken messages are built by hand, since being broken is their point.
 *
 * Every file carries a token of its own (Message-ID and body, or its bytes for input without a
 * header), so no two files are the same message, except the deliberate `sameAs` groups: copies of
 * one message with other line endings, with trace fields (Received, Return-Path, …) prepended, or
 * with a final line break added.
 *
 * Each file's `expect` is worked out from how it was built (the Unicode strings that went in),
 * never from running the program:
 * - `subject`: the decoded subject; NUL characters removed where the subject carried them
 * - `sender` (lower-case address) and `senderName` (display name) where there is a From
 * - `flagged: true` where the parsed copy loses content (NUL removed, a multipart whose boundary
 *   never appears)
 * - `unreadable: true` only for input that has no header at all
 * - `attachmentSha256`: decoded attachment contents that must be among the stored attachments
 *
 * Script: `node --import tsx test/corpus-gen/generate.ts OUTDIR [SEED]` writes the .eml files and
 * manifest.json into OUTDIR.
 */
import { createHash } from 'node:crypto';
import { uuencode } from '../helpers/uuencode.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer';
import MimeNode from 'nodemailer/lib/mime-node';

export type Charset = 'utf-8' | 'iso-8859-1' | 'windows-1252' | 'iso-8859-15';
export type TransferEncoding = '7bit' | '8bit' | 'quoted-printable' | 'base64';
export type LineEnding = 'crlf' | 'lf' | 'cr';

export const CHARSETS: readonly Charset[] = ['utf-8', 'iso-8859-1', 'windows-1252', 'iso-8859-15'];
export const TRANSFER_ENCODINGS: readonly TransferEncoding[] = ['7bit', '8bit', 'quoted-printable', 'base64'];
export const LINE_ENDINGS: readonly LineEnding[] = ['crlf', 'lf', 'cr'];

/** What a file must become once ingested; absent keys are not asserted. */
export interface CorpusExpect {
  /** decoded subject (the Unicode string that was encoded) */
  subject?: string;
  /** From address, lower-case */
  sender?: string;
  /** decoded display name of From */
  senderName?: string;
  /** content is lost in the parsed copy (NUL removed, missing boundary): the message is flagged */
  flagged?: true;
  /** the input has no header at all */
  unreadable?: true;
  /** files with the same id are one message (line endings, trace fields, final line break aside) */
  sameAs?: string;
  /** SHA-256 (hex) of decoded attachment contents that must be among the stored attachments */
  attachmentSha256?: string[];
}

export interface CorpusTraits {
  charset?: Charset;
  transferEncoding?: TransferEncoding;
  lineEnding: LineEnding | 'mixed' | 'binary';
  /** multipart nesting levels, or message/rfc822 levels for forwards and digests */
  depth?: number;
  /** what sets this file apart inside its class */
  variant?: string;
}

export interface CorpusFile {
  name: string;
  bytes: Buffer;
  class: string;
  traits: CorpusTraits;
  expect: CorpusExpect;
}

// ---------------------------------------------------------------------------------------------
// PRNG

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32: uniform in [0, 1) */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += this.int(256).toString(16).padStart(2, '0');
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

// ---------------------------------------------------------------------------------------------
// Charsets (own tables, so that the corpus does not depend on the decoder under test)

/** Windows-1252 0x80–0x9F (the bytes where it differs from ISO-8859-1). */
const CP1252_HIGH = new Map<number, number>([
  [0x20ac, 0x80], [0x201a, 0x82], [0x0192, 0x83], [0x201e, 0x84], [0x2026, 0x85], [0x2020, 0x86], [0x2021, 0x87],
  [0x02c6, 0x88], [0x2030, 0x89], [0x0160, 0x8a], [0x2039, 0x8b], [0x0152, 0x8c], [0x017d, 0x8e], [0x2018, 0x91],
  [0x2019, 0x92], [0x201c, 0x93], [0x201d, 0x94], [0x2022, 0x95], [0x2013, 0x96], [0x2014, 0x97], [0x02dc, 0x98],
  [0x2122, 0x99], [0x0161, 0x9a], [0x203a, 0x9b], [0x0153, 0x9c], [0x017e, 0x9e], [0x0178, 0x9f],
]);
/** ISO-8859-15: the eight positions where it differs from ISO-8859-1. */
const LATIN9 = new Map<number, number>([
  [0x20ac, 0xa4], [0x0160, 0xa6], [0x0161, 0xa8], [0x017d, 0xb4], [0x017e, 0xb8], [0x0152, 0xbc], [0x0153, 0xbd], [0x0178, 0xbe],
]);
const LATIN9_REPLACED = new Set([0xa4, 0xa6, 0xa8, 0xb4, 0xb8, 0xbc, 0xbd, 0xbe]);

/** Encodes text in a charset; throws when a character has no byte there (a mistake in the corpus). */
export function encodeCharset(text: string, charset: Charset): Buffer {
  if (charset === 'utf-8') return Buffer.from(text, 'utf8');
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    let byte: number | undefined;
    if (cp < 0x80) byte = cp;
    else if (charset === 'iso-8859-1') byte = cp >= 0xa0 && cp <= 0xff ? cp : undefined;
    else if (charset === 'windows-1252') byte = cp >= 0xa0 && cp <= 0xff ? cp : CP1252_HIGH.get(cp);
    else byte = cp >= 0xa0 && cp <= 0xff && !LATIN9_REPLACED.has(cp) ? cp : LATIN9.get(cp);
    if (byte === undefined) throw new Error(`corpus: ${JSON.stringify(ch)} is not in ${charset} (in ${JSON.stringify(text)})`);
    out.push(byte);
  }
  return Buffer.from(out);
}

function representable(text: string, charset: Charset): boolean {
  try {
    encodeCharset(text, charset);
    return true;
  } catch {
    return false;
  }
}

function isValidUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoders (RFC 2045 QP and base64, RFC 2047 encoded words, RFC 2152 UTF-7, uuencode)

/** Base64, lines of 76 characters, CRLF. */
function base64Lines(b: Buffer, width = 76): string {
  const s = b.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += width) lines.push(s.slice(i, i + width));
  return lines.join('\r\n');
}

/** Quoted-printable of text bytes whose lines are separated by LF or CRLF; soft breaks at 76. */
function quotedPrintable(b: Buffer): string {
  const text = b.toString('latin1').replace(/\r\n/g, '\n');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const tokens: string[] = [];
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      const last = i === line.length - 1;
      if ((c === 0x20 || c === 0x09) && !last) tokens.push(line[i]!);
      else if (c >= 33 && c <= 126 && c !== 61) tokens.push(line[i]!);
      else tokens.push(`=${c.toString(16).toUpperCase().padStart(2, '0')}`);
    }
    let current = '';
    for (const t of tokens) {
      if (current.length + t.length > 75) {
        out.push(`${current}=`);
        current = '';
      }
      current += t;
    }
    out.push(current);
  }
  return out.join('\r\n');
}

/** Body bytes in a transfer encoding (text: lines separated by CRLF). */
function transferEncode(body: Buffer, cte: TransferEncoding): Buffer {
  if (cte === 'base64') return Buffer.from(base64Lines(body), 'latin1');
  if (cte === 'quoted-printable') return Buffer.from(quotedPrintable(body), 'latin1');
  return body;
}

/**
 * RFC 2047 encoded words for a phrase or unstructured text, split on character boundaries so that
 * each word stays within 75 characters; words are folded with CRLF SP.
 */
export function encodedWords(text: string, charset: Charset, enc: 'Q' | 'B'): string {
  const prefix = `=?${charset}?${enc}?`;
  const room = 75 - prefix.length - 2;
  const words: string[] = [];
  let bytes: Buffer[] = [];
  const encoded = (parts: Buffer[]) => {
    const b = Buffer.concat(parts);
    if (enc === 'B') return b.toString('base64');
    let s = '';
    for (const byte of b) {
      if (byte === 0x20) s += '_';
      else if ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || '!*+-/'.includes(String.fromCharCode(byte))) {
        s += String.fromCharCode(byte);
      } else s += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    return s;
  };
  for (const ch of Array.from(text)) {
    const b = encodeCharset(ch, charset);
    if (bytes.length && encoded([...bytes, b]).length > room) {
      words.push(`${prefix}${encoded(bytes)}?=`);
      bytes = [];
    }
    bytes.push(b);
  }
  if (bytes.length) words.push(`${prefix}${encoded(bytes)}?=`);
  return words.join('\r\n ');
}

/** RFC 2152 UTF-7: directly encoded characters stay, every other run becomes +base64(UTF-16BE)-. */
export function utf7(text: string): string {
  const direct = /[A-Za-z0-9'(),\-./:? ]/;
  let out = '';
  let run = '';
  const flush = () => {
    if (!run) return;
    const units = Buffer.alloc(run.length * 2);
    for (let i = 0; i < run.length; i++) units.writeUInt16BE(run.charCodeAt(i), i * 2);
    out += `+${units.toString('base64').replace(/=+$/, '')}-`;
    run = '';
  };
  for (const ch of text) {
    if (direct.test(ch)) {
      flush();
      out += ch;
    } else run += ch;
  }
  flush();
  return out;
}

/** Q encoding (RFC 2047 §4.2) of ASCII text (for the UTF-7 words). */
function qEncodeAscii(s: string): string {
  return s.replace(/[^A-Za-z0-9!*+\-/ ]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).replace(/ /g, '_');
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Bytes from ASCII strings (NUL and other controls allowed) and prepared buffers. */
function bin(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      if (Buffer.isBuffer(p)) return p;
      if (/[^\x00-\x7f]/.test(p)) throw new Error(`corpus: non-ASCII in a raw string: ${JSON.stringify(p)}`);
      return Buffer.from(p, 'latin1');
    }),
  );
}

/** A message from header lines and a body (CRLF). */
function message(fields: (string | Buffer)[], body: string | Buffer): Buffer {
  const head: (string | Buffer)[] = [];
  for (const f of fields) head.push(f, '\r\n');
  return bin(...head, '\r\n', body);
}

/** Converts the CRLF line ends of a message to another style (lone CR or LF stay as they are). */
function withLineEnding(b: Buffer, eol: LineEnding): Buffer {
  if (eol === 'crlf') return b;
  return Buffer.from(b.toString('latin1').replace(/\r\n/g, eol === 'lf' ? '\n' : '\r'), 'latin1');
}

const EOL_BYTES: Record<LineEnding, string> = { crlf: '\r\n', lf: '\n', cr: '\r' };

function rfc5322Date(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

interface Person {
  name: string;
  address: string;
}

const PEOPLE: Person[] = [
  { name: 'Anna Berger', address: 'Anna.Berger@agency.example' },
  { name: 'Jürgen Weiß', address: 'juergen.weiss@agency.example' },
  { name: 'Müller, Hans', address: 'H.Mueller@buerger-mail.example' },
  { name: 'Zoë Šťastná', address: 'zoe.stastna@example.cz' },
  { name: 'MFP 2. OG', address: 'Scanner-2OG@agency.example' },
  { name: 'Ömer Yıldız', address: 'oemer.yildiz@example.org' },
  { name: "O'Brien, Siobhán", address: 'SIOBHAN.OBRIEN@example.ie' },
  { name: 'Stadtwerke Süd - Kundenservice', address: 'kundenservice@stadtwerke-sued.example' },
  { name: 'Œuvre Šimon', address: 'simon@oeuvre.example' },
  { name: 'Françoise Dupré', address: 'F.Dupre@mairie.example' },
];

const RECIPIENTS = ['Poststelle <poststelle@agency.example>', 'scan@agency.example', 'Bürgerbüro <buergerbuero@agency.example>'];
/** For hand-built headers (ASCII). */
const RECIPIENTS_ASCII = ['Poststelle <poststelle@agency.example>', 'scan@agency.example', '"Buergerbuero, Zentrale" <buergerbuero@agency.example>'];

const SUBJECTS: Record<Charset, string[]> = {
  'utf-8': ['Grüße aus Köln – Antrag № 17 ✓', 'Ihr Bescheid vom 3. März: Widerspruch', 'Ελληνικά und 日本語 im Betreff', 'Zoë’s Anfrage zum Führerschein 🚗'],
  'iso-8859-1': ['Rückfrage zu Ihrem Schreiben vom 3. März', 'Größe: ½ DIN A4, 20 °C', 'Ça va? Déjà vu im Bürgerbüro', 'Übergabe der Schlüssel'],
  'windows-1252': ['„Bescheid“ – Gebühr 20 €', 'Rückmeldung … bis Freitag', 'Šimon’s Liste – Œuvre', 'Preis: 5 € • Menge: 3'],
  'iso-8859-15': ['Gebühr 20 € für Šárka Žitná', 'Œuvre complète: Übersicht', 'Frist bis März, 15 €', 'Ÿvonne fragt nach Žofie'],
};

const TEXT_LINES: Record<Charset, string[]> = {
  'utf-8': ['anbei die Unterlagen – vollständig und unterschrieben.', 'Zoë schreibt: „Die Frist läuft am 31. März ab.“', 'Ελληνικά: καλημέρα; 日本語: こんにちは.', 'Kosten: 20 € (zwanzig Euro) ✓'],
  'iso-8859-1': ['anbei die Unterlagen, vollständig und unterschrieben.', 'Die Frist läuft am 31. März ab; Größe ½ Seite.', 'Bitte geben Sie das Aktenzeichen an (§ 5 Abs. 2).', 'Ça va très bien, merci à tous.'],
  'windows-1252': ['anbei die Unterlagen – vollständig und unterschrieben.', '„Die Frist läuft am 31. März ab“ … schreibt er.', 'Kosten: 20 € • Bearbeitung: 5 €', 'Œuvre von Šimon, bitte prüfen™.'],
  'iso-8859-15': ['anbei die Unterlagen, vollständig und unterschrieben.', 'Kosten: 20 € für Šárka und Žofie.', 'Œuvre complète, Übergabe im März.', 'Die Frist läuft am 31. März ab.'],
};

const ASCII_LINES = [
  'anbei erhalten Sie die angeforderten Unterlagen.',
  'Bitte geben Sie bei Rueckfragen das Aktenzeichen an.',
  'Die Frist laeuft am 31. Maerz ab.',
  'Das Dokument wurde am Multifunktionsgeraet eingescannt.',
  'Mit der Bitte um Kenntnisnahme und weitere Veranlassung.',
];

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---------------------------------------------------------------------------------------------
// The generator

interface Base {
  class: string;
  traits: CorpusTraits;
  bytes: Buffer;
  expect: Omit<CorpusExpect, 'sameAs'>;
  /** the token that makes this message distinct (null: the empty file) */
  token: string | null;
  /** may be the base of a sameAs group, and which variants make sense */
  group?: 'full' | 'line-endings';
}

interface Attachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

class Gen {
  readonly rng: Rng;
  private serial = 0;
  readonly bases: Base[] = [];
  constructor(readonly seed: number) {
    this.rng = new Rng(seed);
  }

  token(prefix: string): string {
    this.serial++;
    return `${prefix}-${String(this.serial).padStart(3, '0')}-${this.rng.hex(4)}`;
  }

  date(): Date {
    return new Date(Date.UTC(2021, 2, 1, 8, 0, 0) + this.serial * 61_000);
  }

  messageId(token: string, host = 'gen.agency.example'): string {
    return `<${token}@${host}>`;
  }

  person(charset: Charset = 'utf-8'): Person {
    return this.rng.pick(PEOPLE.filter((p) => representable(p.name, charset)));
  }

  subject(charset: Charset, token: string): string {
    return `${this.rng.pick(SUBJECTS[charset])} (${token})`;
  }

  /** Body text with line breaks CRLF; ASCII only when `ascii`. */
  text(charset: Charset, token: string, ascii: boolean, lines = this.rng.range(1, 3)): string {
    const pool = ascii ? ASCII_LINES : TEXT_LINES[charset];
    const body: string[] = ['Sehr geehrte Damen und Herren,', ''];
    for (let i = 0; i < lines; i++) body.push(this.rng.pick(pool));
    body.push('', `Referenz: ${token}`, '', ascii ? 'Mit freundlichen Gruessen' : 'Mit freundlichen Grüßen');
    return body.join('\r\n');
  }

  html(text: string): string {
    return `<html><body>\r\n${text
      .split('\r\n')
      .map((l) => `<p>${escapeHtml(l)}</p>`)
      .join('\r\n')}\r\n</body></html>`;
  }

  pdf(token: string): Buffer {
    return Buffer.concat([
      Buffer.from('%PDF-1.4\n%', 'latin1'),
      Buffer.from([0xe2, 0xe3, 0xcf, 0xd3, 0x0a]),
      Buffer.from(`1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Title (${token}) >>\nendobj\nstream\n`, 'latin1'),
      this.rng.bytes(this.rng.range(64, 600)),
      Buffer.from([0x00, 0x00, 0xff, 0xfe, 0x0d, 0x0a]),
      Buffer.from('\nendstream\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n', 'latin1'),
    ]);
  }

  png(token: string): Buffer {
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(`\0\0\0\x0dIHDR${token}`, 'latin1'), this.rng.bytes(this.rng.range(32, 300))]);
  }

  zip(token: string): Buffer {
    return Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00]), Buffer.from(`word/document.xml${token}`, 'latin1'), this.rng.bytes(this.rng.range(32, 300))]);
  }

  attachment(token: string, charset: Charset): Attachment {
    switch (this.rng.int(6)) {
      case 0:
        return { filename: 'Scan_2021-03-01.pdf', contentType: 'application/pdf', content: this.pdf(token) };
      case 1:
        return { filename: 'Bescheid Müller März.pdf', contentType: 'application/pdf', content: this.pdf(token) };
      case 2:
        return { filename: 'Foto 1.png', contentType: 'image/png', content: this.png(token) };
      case 3:
        return { filename: 'Antrag.docx', contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', content: this.zip(token) };
      case 4:
        return { filename: 'scan', contentType: 'application/octet-stream', content: this.pdf(token) };
      default:
        return {
          filename: 'Übersicht.csv',
          contentType: `text/csv; charset=${charset}`,
          content: encodeCharset(`Aktenzeichen;Betrag\r\n${token};${this.rng.range(1, 999)} €\r\n`.replace('€', representable('€', charset) ? '€' : 'EUR'), charset),
        };
    }
  }

  add(base: Base): void {
    this.bases.push(base);
  }

  /** Builds with MailComposer: fixed Message-ID, date and boundary. */
  async compose(opts: Mail.Options): Promise<Buffer> {
    const composer = new MailComposer({
      ...opts,
      baseBoundary: this.rng.hex(6),
      disableFileAccess: true,
      disableUrlAccess: true,
    } as Mail.Options & { baseBoundary: string });
    return composer.compile().build();
  }

  /** A MimeNode root with fixed boundary; the caller sets the headers. */
  root(contentType: string): MimeNode {
    return new MimeNode(contentType, { baseBoundary: this.rng.hex(6), disableFileAccess: true, disableUrlAccess: true });
  }
}

/** A text part for MailComposer (`alternatives`), in a charset and transfer encoding. */
function textPart(subtype: 'plain' | 'html', text: string, charset: Charset, cte: TransferEncoding): Mail.Attachment {
  const contentType = `text/${subtype}; charset=${charset}`;
  if (cte === '8bit') {
    return { raw: bin(`Content-Type: ${contentType}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`, encodeCharset(text, charset)) };
  }
  if (cte === '7bit') {
    if (/[^\x00-\x7f]/.test(text)) throw new Error('corpus: 7bit text must be ASCII');
    return { contentType, content: text, contentTransferEncoding: '7bit' };
  }
  return { contentType, content: charset === 'utf-8' ? text : encodeCharset(text, charset), contentTransferEncoding: cte };
}

/** The same for a MimeNode child. */
function textLeaf(parent: MimeNode, subtype: 'plain' | 'html', text: string, charset: Charset, cte: TransferEncoding): void {
  const part = textPart(subtype, text, charset, cte);
  const node = parent.createChild(part.contentType ?? 'text/plain');
  if (part.raw) node.setRaw(part.raw as Buffer);
  else {
    node.setHeader('Content-Transfer-Encoding', part.contentTransferEncoding as string);
    node.setContent(part.content as string | Buffer);
  }
}

/** From on a MimeNode: as an address object, so that nodemailer encodes the name itself. */
function setFrom(node: MimeNode, p: Person): void {
  node.setHeader('From', { name: p.name, address: p.address } as unknown as string);
}

function attachmentLeaf(parent: MimeNode, a: Attachment): void {
  const node = parent.createChild(a.contentType, { filename: a.filename });
  node.setHeader('Content-Transfer-Encoding', 'base64');
  node.setContent(a.content);
}

/** A hand-built single text body: the Content-* fields and the encoded bytes. */
function handBody(text: string, charset: Charset, cte: TransferEncoding, subtype = 'plain'): { fields: string[]; body: Buffer } {
  const bytes = encodeCharset(text, charset);
  if (cte === '7bit' && /[^\x00-\x7f]/.test(text)) throw new Error('corpus: 7bit text must be ASCII');
  return {
    fields: [`Content-Type: text/${subtype}; charset=${charset}`, `Content-Transfer-Encoding: ${cte}`],
    body: transferEncode(bytes, cte),
  };
}

/** A From field value: plain, quoted, or encoded words in `charset` when the name needs them. */
function fromValue(p: Person, charset: Charset, enc: 'Q' | 'B' = 'Q'): string {
  if (/[^\x20-\x7e]/.test(p.name)) return `${encodedWords(p.name, representable(p.name, charset) ? charset : 'utf-8', enc)} <${p.address}>`;
  if (/[(),.:;<>@[\]\\"]/.test(p.name)) return `"${p.name.replace(/["\\]/g, '\\$&')}" <${p.address}>`;
  return `${p.name} <${p.address}>`;
}

function senderExpect(p: Person): { sender: string; senderName: string } {
  return { sender: p.address.toLowerCase(), senderName: p.name };
}

/** Header lines a hand-built message starts with. */
function standardFields(g: Gen, o: { from?: string | Buffer; subject: string | Buffer; token: string; mime?: boolean }): (string | Buffer)[] {
  const fields: (string | Buffer)[] = [];
  if (o.from !== undefined) fields.push(Buffer.isBuffer(o.from) ? bin('From: ', o.from) : `From: ${o.from}`);
  fields.push(`To: ${g.rng.pick(RECIPIENTS_ASCII)}`);
  fields.push(Buffer.isBuffer(o.subject) ? bin('Subject: ', o.subject) : `Subject: ${o.subject}`);
  fields.push(`Date: ${rfc5322Date(g.date())}`, `Message-ID: ${g.messageId(o.token)}`);
  if (o.mime !== false) fields.push('MIME-Version: 1.0');
  return fields;
}

/** Subject as a field value: encoded words (utf-8 or the charset), or plain when ASCII. */
function subjectValue(g: Gen, subject: string, charset: Charset): string {
  if (!/[^\x20-\x7e]/.test(subject)) return subject;
  return encodedWords(subject, representable(subject, charset) ? charset : 'utf-8', g.rng.pick(['Q', 'B'] as const));
}

function cycle<T>(items: readonly T[], i: number): T {
  return items[i % items.length]!;
}

const CTE_SHORT: Record<TransferEncoding, string> = { '7bit': '7bit', '8bit': '8bit', 'quoted-printable': 'qp', base64: 'b64' };

/**
 * A single-part text message: MailComposer, except for 8bit (nodemailer re-encodes 8-bit text),
 * which is built by hand. The subject is encoded in `charset` (UTF-8 by nodemailer for utf-8).
 */
async function simpleMessage(
  g: Gen,
  o: { person: Person; subject: string; token: string; charset: Charset; cte: TransferEncoding; text: string; messageIdHost?: string },
): Promise<Buffer> {
  if (o.cte === '8bit') {
    const b = handBody(o.text, o.charset, o.cte);
    const fields = standardFields(g, { from: fromValue(o.person, o.charset), subject: subjectValue(g, o.subject, o.charset), token: o.token });
    if (o.messageIdHost) fields.splice(fields.findIndex((f) => typeof f === 'string' && f.startsWith('Message-ID:')), 1, `Message-ID: ${g.messageId(o.token, o.messageIdHost)}`);
    return message([...fields, ...b.fields], b.body);
  }
  return g.compose({
    from: { name: o.person.name, address: o.person.address },
    to: g.rng.pick(RECIPIENTS),
    ...(o.charset === 'utf-8' ? { subject: o.subject } : { headers: { Subject: { prepared: true, value: subjectValue(g, o.subject, o.charset) } } }),
    date: g.date(),
    messageId: g.messageId(o.token, o.messageIdHost),
    alternatives: [textPart('plain', o.text, o.charset, o.cte)],
  });
}

// ---------------------------------------------------------------------------------------------
// Classes

async function plain(g: Gen): Promise<void> {
  for (const charset of CHARSETS) {
    for (const cte of TRANSFER_ENCODINGS) {
      for (const eol of LINE_ENDINGS) {
        const token = g.token('plain');
        const person = g.person(charset);
        const subject = g.subject(charset, token);
        const text = g.text(charset, token, cte === '7bit');
        const bytes = await simpleMessage(g, { person, subject, token, charset, cte, text });
        g.add({
          class: 'plain',
          traits: { charset, transferEncoding: cte, lineEnding: eol, depth: 0 },
          bytes: withLineEnding(bytes, eol),
          expect: { subject, ...senderExpect(person) },
          token,
          group: eol === 'crlf' && g.rng.int(3) === 0 ? 'full' : undefined,
        });
      }
    }
  }
}

async function mixed(g: Gen): Promise<void> {
  let i = 0;
  for (const charset of CHARSETS) {
    for (const cte of TRANSFER_ENCODINGS) {
      const eol = cycle(LINE_ENDINGS, i++);
      const token = g.token('mixed');
      const person = g.person();
      const subject = g.subject(charset, token);
      const attachments = Array.from({ length: g.rng.range(1, 3) }, () => g.attachment(token, charset));
      const bytes = await g.compose({
        from: { name: person.name, address: person.address },
        to: g.rng.pick(RECIPIENTS),
        cc: g.rng.int(2) ? 'Registratur <registratur@agency.example>' : undefined,
        subject,
        date: g.date(),
        messageId: g.messageId(token),
        alternatives: [textPart('plain', g.text(charset, token, cte === '7bit'), charset, cte)],
        attachments: attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
      });
      g.add({
        class: 'multipart-mixed',
        traits: { charset, transferEncoding: cte, lineEnding: eol, depth: 1, variant: `${attachments.length} attachment(s)` },
        bytes: withLineEnding(bytes, eol),
        expect: { subject, ...senderExpect(person), attachmentSha256: attachments.map((a) => sha256(a.content)) },
        token,
        group: eol === 'crlf' ? 'full' : undefined,
      });
    }
  }
}

async function alternative(g: Gen): Promise<void> {
  let i = 0;
  for (const charset of CHARSETS) {
    for (const cte of TRANSFER_ENCODINGS) {
      const eol = cycle(LINE_ENDINGS, i++ + 1);
      const token = g.token('alt');
      const person = g.person();
      const subject = g.subject(charset, token);
      const text = g.text(charset, token, cte === '7bit');
      const bytes = await g.compose({
        from: { name: person.name, address: person.address },
        to: g.rng.pick(RECIPIENTS),
        subject,
        date: g.date(),
        messageId: g.messageId(token),
        alternatives: [textPart('plain', text, charset, cte), textPart('html', g.html(text), charset, cte)],
      });
      g.add({
        class: 'multipart-alternative',
        traits: { charset, transferEncoding: cte, lineEnding: eol, depth: 1 },
        bytes: withLineEnding(bytes, eol),
        expect: { subject, ...senderExpect(person) },
        token,
        group: eol === 'crlf' ? 'full' : undefined,
      });
    }
  }
}

/** multipart/mixed around multipart/mixed … around multipart/alternative, an attachment per level. */
async function nested(g: Gen): Promise<void> {
  let i = 0;
  for (let depth = 1; depth <= 4; depth++) {
    for (const charset of CHARSETS) {
      const eol = cycle(LINE_ENDINGS, i++);
      const cte = g.rng.pick(TRANSFER_ENCODINGS);
      const token = g.token('nested');
      const person = g.person();
      const subject = g.subject(charset, token);
      const text = g.text(charset, token, cte === '7bit');
      const attachments: Attachment[] = [];
      const root = g.root(depth === 1 ? 'multipart/alternative' : 'multipart/mixed');
      let node = root;
      for (let level = depth; level > 1; level--) {
        const inner = node.createChild(level === 2 ? 'multipart/alternative' : g.rng.pick(['multipart/mixed', 'multipart/related']));
        const a = g.attachment(token, charset);
        attachments.push(a);
        attachmentLeaf(node, a);
        node = inner;
      }
      textLeaf(node, 'plain', text, charset, cte);
      textLeaf(node, 'html', g.html(text), charset, cte);
      setFrom(root, person);
      root.setHeader('To', g.rng.pick(RECIPIENTS));
      root.setHeader('Subject', subject);
      root.setHeader('Date', rfc5322Date(g.date()));
      root.setHeader('Message-ID', g.messageId(token));
      const bytes = await root.build();
      g.add({
        class: 'nested-multipart',
        traits: { charset, transferEncoding: cte, lineEnding: eol, depth },
        bytes: withLineEnding(bytes, eol),
        expect: { subject, ...senderExpect(person), attachmentSha256: attachments.map((a) => sha256(a.content)) },
        token,
        group: eol === 'crlf' && depth >= 3 ? 'full' : undefined,
      });
    }
  }
}

/** A forward (message/rfc822), forwards of forwards up to depth 3. */
async function forwarded(g: Gen): Promise<void> {
  let i = 0;
  for (let depth = 1; depth <= 3; depth++) {
    for (const charset of CHARSETS) {
      const eol = cycle(LINE_ENDINGS, i++ + 2);
      const cte = g.rng.pick(TRANSFER_ENCODINGS);
      const token = g.token('fwd');
      // the innermost original
      const original = g.person();
      let innerSubject = g.subject(charset, `${token}-orig`);
      let inner = await simpleMessage(g, { person: original, subject: innerSubject, token: `${token}-orig`, charset, cte, text: g.text(charset, `${token}-orig`, cte === '7bit'), messageIdHost: 'elsewhere.example' });
      let outer: Person = original;
      for (let level = 1; level <= depth; level++) {
        outer = g.person();
        const subject = `WG: ${innerSubject}`;
        const id = level === depth ? token : `${token}-fwd${level}`;
        inner = await g.compose({
          from: { name: outer.name, address: outer.address },
          to: g.rng.pick(RECIPIENTS),
          subject,
          date: g.date(),
          messageId: g.messageId(id),
          alternatives: [textPart('plain', `Zur Kenntnis, siehe unten.\r\n\r\nReferenz: ${id}`, 'utf-8', '7bit')],
          attachments: [
            g.rng.int(2)
              ? { contentType: 'message/rfc822', content: inner }
              : { contentType: 'message/rfc822', content: inner, filename: 'Weitergeleitete Nachricht.eml', contentDisposition: 'attachment' },
          ],
        });
        innerSubject = subject;
      }
      g.add({
        class: 'forwarded-rfc822',
        traits: { charset, transferEncoding: cte, lineEnding: eol, depth },
        bytes: withLineEnding(inner, eol),
        expect: { subject: innerSubject, ...senderExpect(outer) },
        token,
        group: eol === 'crlf' && depth >= 2 ? 'full' : undefined,
      });
    }
  }
}

/** A small message for a digest. */
function digestEntry(g: Gen, token: string, n: number): { bytes: Buffer } {
  const charset = g.rng.pick(CHARSETS);
  const p = g.person(charset);
  const cte = g.rng.pick(['7bit', 'quoted-printable', 'base64', '8bit'] as const);
  const b = handBody(g.text(charset, `${token}-${n}`, cte === '7bit', 1), charset, cte);
  return {
    bytes: message([...standardFields(g, { from: fromValue(p, charset), subject: subjectValue(g, g.subject(charset, `${token}-${n}`), charset), token: `${token}-${n}` }), ...b.fields], b.body),
  };
}

async function digest(g: Gen): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const typed = i < 6;
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token(typed ? 'digest' : 'digest-untyped');
    const person: Person = { name: 'Verteiler Bauamt', address: 'Bauamt-Liste@lists.agency.example' };
    const subject = `Bauamt-Liste Digest, Band ${i + 1} (${token})`;
    const entries = Array.from({ length: g.rng.range(2, 4) }, (_, n) => digestEntry(g, token, n + 1));
    let bytes: Buffer;
    if (typed) {
      const root = g.root('multipart/digest');
      for (const e of entries) root.createChild('message/rfc822').setContent(e.bytes);
      setFrom(root, person);
      root.setHeader('To', 'bauamt-liste@lists.agency.example');
      root.setHeader('Subject', subject);
      root.setHeader('Date', rfc5322Date(g.date()));
      root.setHeader('Message-ID', g.messageId(token, 'lists.agency.example'));
      bytes = await root.build();
    } else {
      // RFC 2046 §5.1.5: in a digest, a part without Content-Type is message/rfc822
      const boundary = `digest-${g.rng.hex(6)}`;
      const parts: (string | Buffer)[] = [];
      const intro = i % 2 === 0;
      if (intro) parts.push(`--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nInhalt dieser Ausgabe: ${entries.length} Nachrichten. Referenz: ${token}\r\n`);
      entries.forEach((e, n) => {
        // some typed explicitly, most not: a mixed digest
        parts.push(`--${boundary}\r\n`, n === 1 && i % 3 === 0 ? 'Content-Type: message/rfc822\r\n' : '', '\r\n', e.bytes, '\r\n');
      });
      parts.push(`--${boundary}--\r\n`);
      bytes = message(
        [...standardFields(g, { from: fromValue(person, 'utf-8'), subject, token }), `Content-Type: multipart/digest; boundary="${boundary}"`],
        bin(...parts),
      );
    }
    g.add({
      class: typed ? 'digest-typed' : 'digest-untyped',
      traits: { lineEnding: eol, depth: 1, variant: `${entries.length} entries` },
      bytes: withLineEnding(bytes, eol),
      expect: { subject, ...senderExpect(person) },
      token,
      group: eol === 'crlf' && i % 3 === 0 ? 'full' : undefined,
    });
  }
}

async function dsn(g: Gen): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const eol = cycle(LINE_ENDINGS, i + 1);
    const token = g.token('dsn');
    const daemon: Person = i % 2 ? { name: 'Mail Delivery System', address: 'MAILER-DAEMON@mail.agency.example' } : { name: 'Microsoft Outlook', address: 'postmaster@Exchange.Agency.Example' };
    const rcpt = `nobody-${token}@example.org`;
    const origSubject = g.subject('utf-8', `${token}-orig`);
    const subject = i % 2 ? `Undelivered Mail Returned to Sender (${token})` : `Unzustellbar: ${origSubject}`;
    const root = g.root('multipart/report; report-type=delivery-status');
    const human = root.createChild('text/plain; charset=utf-8');
    human.setHeader('Content-Description', 'Notification');
    human.setContent(
      `This is the mail system at host mail.agency.example.\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n<${rcpt}>: host mx.example.org said: 550 5.1.1 User unknown\r\n\r\nZustellung fehlgeschlagen – Referenz: ${token}\r\n`,
    );
    human.setHeader('Content-Transfer-Encoding', g.rng.pick(['quoted-printable', 'base64']));
    const status = root.createChild('message/delivery-status');
    status.setHeader('Content-Description', 'Delivery report');
    status.setContent(
      [
        'Reporting-MTA: dns; mail.agency.example',
        `X-Postfix-Queue-ID: ${g.rng.hex(5).toUpperCase()}`,
        `Arrival-Date: ${rfc5322Date(g.date())}`,
        '',
        `Final-Recipient: rfc822; ${rcpt}`,
        `Original-Recipient: rfc822;${rcpt}`,
        'Action: failed',
        'Status: 5.1.1',
        'Remote-MTA: dns; mx.example.org',
        `Diagnostic-Code: smtp; 550 5.1.1 <${rcpt}>: Recipient address rejected: User unknown`,
        '',
      ].join('\r\n'),
    );
    const original = await g.compose({
      from: 'Poststelle <poststelle@agency.example>',
      to: rcpt,
      subject: origSubject,
      date: g.date(),
      messageId: g.messageId(`${token}-orig`),
      text: `Guten Tag,\r\n\r\nbitte bestätigen Sie den Eingang.\r\n\r\nReferenz: ${token}-orig\r\n`,
    });
    if (i % 3 === 2) {
      const headersOnly = original.subarray(0, original.indexOf('\r\n\r\n') + 2);
      root.createChild('text/rfc822-headers').setContent(headersOnly.toString('latin1'));
    } else root.createChild('message/rfc822').setContent(original);
    setFrom(root, daemon);
    root.setHeader('To', 'Poststelle <poststelle@agency.example>');
    root.setHeader('Subject', subject);
    root.setHeader('Date', rfc5322Date(g.date()));
    root.setHeader('Message-ID', g.messageId(token, 'mail.agency.example'));
    root.setHeader('Auto-Submitted', 'auto-replied');
    const bytes = await root.build();
    g.add({
      class: 'dsn-report',
      traits: { lineEnding: eol, depth: 2, variant: i % 3 === 2 ? 'text/rfc822-headers' : 'message/rfc822' },
      bytes: withLineEnding(bytes, eol),
      expect: { subject, ...senderExpect(daemon) },
      token,
      group: eol === 'crlf' ? 'full' : undefined,
    });
  }
}

/** A multipart whose boundary never appears in the body: the body stays text, flagged. */
function missingBoundary(g: Gen): void {
  const variants = ['declared-never-used', 'no-boundary-parameter', 'other-boundary-used', 'empty-boundary-parameter'] as const;
  for (let i = 0; i < 12; i++) {
    const variant = cycle(variants, i);
    const eol = cycle(LINE_ENDINGS, Math.floor(i / 4));
    const charset = g.rng.pick(CHARSETS);
    const token = g.token('noboundary');
    const person = g.person(charset);
    const subject = g.subject(charset, token);
    const sub = g.rng.pick(['mixed', 'alternative', 'related']);
    const text = g.text(charset, token, false);
    let contentType: string;
    let body: Buffer;
    if (variant === 'declared-never-used') {
      contentType = `multipart/${sub}; boundary="----=_Part_${g.rng.hex(6)}"`;
      body = encodeCharset(`${text}\r\n`, charset);
    } else if (variant === 'no-boundary-parameter') {
      contentType = `multipart/${sub}`;
      body = encodeCharset(`${text}\r\n`, charset);
    } else if (variant === 'empty-boundary-parameter') {
      contentType = `multipart/${sub}; boundary=""`;
      body = encodeCharset(`${text}\r\n`, charset);
    } else {
      const used = `used-${g.rng.hex(4)}`;
      contentType = `multipart/${sub}; boundary="declared-${g.rng.hex(4)}"`;
      body = bin(`--${used}\r\nContent-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`, encodeCharset(text, charset), `\r\n--${used}--\r\n`);
    }
    g.add({
      class: 'missing-boundary',
      traits: { charset, transferEncoding: '8bit', lineEnding: eol, depth: 1, variant },
      bytes: withLineEnding(message([...standardFields(g, { from: fromValue(person, charset), subject: subjectValue(g, subject, charset), token }), `Content-Type: ${contentType}`], body), eol),
      expect: { subject, ...senderExpect(person), flagged: true },
      token,
      group: eol === 'crlf' && i % 2 === 0 ? 'full' : undefined,
    });
  }
}

/** Parts are there, the closing delimiter is not. */
function unclosedBoundary(g: Gen): void {
  for (let i = 0; i < 10; i++) {
    const eol = cycle(LINE_ENDINGS, i);
    const charset = g.rng.pick(CHARSETS);
    const cte = g.rng.pick(TRANSFER_ENCODINGS);
    const token = g.token('unclosed');
    const person = g.person(charset);
    const subject = g.subject(charset, token);
    const outer = `outer-${g.rng.hex(6)}`;
    const text = handBody(g.text(charset, token, cte === '7bit'), charset, cte);
    const pdf = g.pdf(token);
    const attachmentPart = bin(
      'Content-Type: application/pdf; name="Bescheid.pdf"\r\nContent-Disposition: attachment; filename="Bescheid.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n',
      base64Lines(pdf),
      '\r\n',
    );
    const variant = cycle(['last-part-text', 'last-part-attachment', 'inner-unclosed-outer-closed', 'both-unclosed'] as const, i);
    let body: Buffer;
    let depth = 1;
    if (variant === 'last-part-text') {
      body = bin(`--${outer}\r\n`, attachmentPart, `--${outer}\r\n`, text.fields.join('\r\n'), '\r\n\r\n', text.body, '\r\n');
    } else if (variant === 'last-part-attachment') {
      body = bin(`--${outer}\r\n`, text.fields.join('\r\n'), '\r\n\r\n', text.body, `\r\n--${outer}\r\n`, attachmentPart);
    } else {
      depth = 2;
      const inner = `inner-${g.rng.hex(6)}`;
      body = bin(
        `--${outer}\r\nContent-Type: multipart/alternative; boundary="${inner}"\r\n\r\n--${inner}\r\n`,
        text.fields.join('\r\n'),
        '\r\n\r\n',
        text.body,
        `\r\n--${outer}\r\n`,
        attachmentPart,
        variant === 'inner-unclosed-outer-closed' ? `--${outer}--\r\n` : '',
      );
    }
    g.add({
      class: 'unclosed-boundary',
      traits: { charset, transferEncoding: cte, lineEnding: eol, depth, variant },
      bytes: withLineEnding(
        message([...standardFields(g, { from: fromValue(person, charset), subject: subjectValue(g, subject, charset), token }), `Content-Type: multipart/mixed; boundary="${outer}"`], body),
        eol,
      ),
      expect: { subject, ...senderExpect(person), attachmentSha256: [sha256(pdf)] },
      token,
      group: eol === 'crlf' && i % 2 === 0 ? 'full' : undefined,
    });
  }
}

/** NUL characters in the subject: raw, in a Q word, in a B word, next to raw 8-bit. */
function nulSubject(g: Gen): void {
  const variants = ['raw', 'q-word', 'b-word', 'raw-with-latin1', 'several', 'q-word-latin1'] as const;
  for (let i = 0; i < 9; i++) {
    const variant = cycle(variants, i);
    const eol = cycle(LINE_ENDINGS, Math.floor(i / 3));
    const token = g.token('nul-subject');
    const person = g.person();
    let field: string | Buffer;
    let subject: string;
    switch (variant) {
      case 'raw':
        field = `Antr\0ag Nr. 4711 (${token})`;
        subject = `Antrag Nr. 4711 (${token})`;
        break;
      case 'q-word':
        field = encodedWords(`Grü\0ße aus Köln (${token})`, 'utf-8', 'Q');
        subject = `Grüße aus Köln (${token})`;
        break;
      case 'b-word':
        field = encodedWords(`Bescheid\0 – Gebühr (${token})`, 'utf-8', 'B');
        subject = `Bescheid – Gebühr (${token})`;
        break;
      case 'raw-with-latin1':
        field = Buffer.concat([encodeCharset('Rückfrage', 'iso-8859-1'), Buffer.from(`\0 zum Antrag (${token})`, 'latin1')]);
        subject = `Rückfrage zum Antrag (${token})`;
        break;
      case 'several':
        field = `\0Sc\0an\0 (${token})\0`;
        subject = `Scan (${token})`;
        break;
      default:
        field = encodedWords(`Übergabe\0 (${token})`, 'iso-8859-1', 'Q');
        subject = `Übergabe (${token})`;
    }
    const cte = g.rng.pick(TRANSFER_ENCODINGS.filter((c) => c !== '7bit'));
    const b = handBody(g.text('utf-8', token, false), 'utf-8', cte);
    g.add({
      class: 'nul-subject',
      traits: { charset: 'utf-8', transferEncoding: cte, lineEnding: eol, variant },
      bytes: withLineEnding(message([...standardFields(g, { from: fromValue(person, 'utf-8'), subject: field, token }), ...b.fields], b.body), eol),
      expect: { subject, ...senderExpect(person), flagged: true },
      token,
      group: i === 0 ? 'full' : undefined,
    });
  }
}

function nulDisplayName(g: Gen): void {
  const variants = ['quoted', 'q-word', 'b-word', 'quoted-latin1-raw'] as const;
  for (let i = 0; i < 8; i++) {
    const variant = cycle(variants, i);
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('nul-name');
    const address = g.rng.pick(['Anna.Berger@agency.example', 'J.Weiss@Agency.Example', 'buergerin@example.org']);
    let from: string | Buffer;
    let name: string;
    if (variant === 'quoted') {
      from = `"Ann\0a Berger" <${address}>`;
      name = 'Anna Berger';
    } else if (variant === 'q-word') {
      from = `${encodedWords('Jürg\0en Weiß', 'utf-8', 'Q')} <${address}>`;
      name = 'Jürgen Weiß';
    } else if (variant === 'b-word') {
      from = `${encodedWords('Zoë\0 Šťastná', 'utf-8', 'B')} <${address}>`;
      name = 'Zoë Šťastná';
    } else {
      from = Buffer.concat([Buffer.from('"M', 'latin1'), encodeCharset('ü', 'iso-8859-1'), Buffer.from(`ll\0er, Hans" <${address}>`, 'latin1')]);
      name = 'Müller, Hans';
    }
    const subject = `Anfrage Bürgerbüro (${token})`;
    const b = handBody(g.text('utf-8', token, false), 'utf-8', 'quoted-printable');
    g.add({
      class: 'nul-display-name',
      traits: { charset: 'utf-8', transferEncoding: 'quoted-printable', lineEnding: eol, variant },
      bytes: withLineEnding(message([...standardFields(g, { from, subject: subjectValue(g, subject, 'utf-8'), token }), ...b.fields], b.body), eol),
      // mailparser's address parser drops a NUL inside a quoted display name itself: nothing reaches the database to clean
      expect: { subject, sender: address.toLowerCase(), senderName: name, ...(variant === 'quoted' ? {} : { flagged: true as const }) },
      token,
    });
  }
}

function nulMessageId(g: Gen): void {
  for (let i = 0; i < 6; i++) {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('nul-msgid');
    const person = g.person();
    const subject = `Nachricht mit kaputter Kennung (${token})`;
    const ids = [`<${token}\0@gen.agency.example>`, `<\0${token}@gen.agency.example>`, `<${token}@gen.agency.\0example>`];
    const b = handBody(g.text('iso-8859-1', token, false), 'iso-8859-1', g.rng.pick(TRANSFER_ENCODINGS.filter((c) => c !== '7bit')));
    const fields = standardFields(g, { from: fromValue(person, 'utf-8'), subject, token }).map((f) =>
      typeof f === 'string' && f.startsWith('Message-ID:') ? `Message-ID: ${cycle(ids, i)}` : f,
    );
    if (i >= 3) fields.push(`References: <a-${token}@gen.agency.example> <b\0-${token}@gen.agency.example>`);
    g.add({
      class: 'nul-message-id',
      traits: { charset: 'iso-8859-1', lineEnding: eol, variant: i >= 3 ? 'message-id and references' : 'message-id' },
      bytes: withLineEnding(message([...fields, ...b.fields], b.body), eol),
      expect: { subject, ...senderExpect(person), flagged: true },
      token,
      group: i === 0 ? 'full' : undefined,
    });
  }
}

function nulPartContentType(g: Gen): void {
  const types = [
    'text/pl\0ain; charset=utf-8',
    'text/plain; charset="utf-8\0"',
    'application/pdf; name="Sc\0an.pdf"',
    'application/p\0df; name="Scan.pdf"',
    'image/png\0; name="Foto.png"',
    'text/html; charset=utf-8; format=\0flowed',
  ];
  types.forEach((type, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('nul-ctype');
    const person = g.person();
    const subject = `Anlage mit seltsamem Typ (${token})`;
    const boundary = `b-${g.rng.hex(6)}`;
    const isText = type.startsWith('text/');
    const content = isText ? Buffer.from(`Inhalt des Teils, Referenz ${token}\r\n`, 'latin1') : type.startsWith('image') ? g.png(token) : g.pdf(token);
    const body = bin(
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
      encodeCharset(g.text('utf-8', token, false), 'utf-8'),
      `\r\n--${boundary}\r\nContent-Type: ${type}\r\n`,
      isText ? 'Content-Transfer-Encoding: 7bit\r\n\r\n' : 'Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n',
      isText ? content : base64Lines(content),
      `\r\n--${boundary}--\r\n`,
    );
    g.add({
      class: 'nul-part-content-type',
      traits: { lineEnding: eol, depth: 1, variant: type.replace('\0', '<NUL>') },
      bytes: withLineEnding(message([...standardFields(g, { from: fromValue(person, 'utf-8'), subject, token }), `Content-Type: multipart/mixed; boundary="${boundary}"`], body), eol),
      // a NUL in the charset parameter only picks the decoder; nothing of it is stored, so nothing is flagged
      expect: { subject, ...senderExpect(person), ...(type.includes('charset="utf-8\0"') ? {} : { flagged: true as const }) },
      token,
    });
  });
}

/** NUL in the text body: QP =00, base64, raw 8bit; in several charsets. */
function nulText(g: Gen): void {
  const ctes = ['quoted-printable', 'quoted-printable', 'base64', '8bit'] as const;
  for (let i = 0; i < 8; i++) {
    const charset = cycle(CHARSETS, i);
    const cte = cycle(ctes, i);
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('nul-text');
    const person = g.person(charset);
    const subject = g.subject(charset, token);
    const lines = g.text(charset, token, false).split('\r\n');
    lines.splice(2, 0, `Spalte A\0Spalte B\0\0Ende`);
    const b = handBody(lines.join('\r\n'), charset, cte);
    const multipart = i % 2 === 1;
    let bytes: Buffer;
    const fields = standardFields(g, { from: fromValue(person, charset), subject: subjectValue(g, subject, charset), token });
    if (multipart) {
      const boundary = `nt-${g.rng.hex(6)}`;
      const pdf = g.pdf(token);
      bytes = message(
        [...fields, `Content-Type: multipart/mixed; boundary="${boundary}"`],
        bin(`--${boundary}\r\n`, b.fields.join('\r\n'), '\r\n\r\n', b.body, `\r\n--${boundary}\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n`, base64Lines(pdf), `\r\n--${boundary}--\r\n`),
      );
    } else bytes = message([...fields, ...b.fields], b.body);
    g.add({
      class: 'nul-text-body',
      traits: { charset, transferEncoding: cte, lineEnding: eol, depth: multipart ? 1 : 0 },
      bytes: withLineEnding(bytes, eol),
      expect: { subject, ...senderExpect(person), flagged: true },
      token,
      group: i === 0 || i === 4 ? 'full' : undefined,
    });
  }
}

function nulHtml(g: Gen): void {
  const ctes = ['quoted-printable', '8bit', 'base64'] as const;
  for (let i = 0; i < 6; i++) {
    const cte = cycle(ctes, i);
    const charset = cycle(CHARSETS, i + 1);
    const eol = cycle(LINE_ENDINGS, i + 1);
    const token = g.token('nul-html');
    const person = g.person(charset);
    const subject = g.subject(charset, token);
    const text = g.text(charset, token, false);
    const html = g.html(text).replace('<body>', '<body>\0<div>\0</div>');
    const h = handBody(html, charset, cte, 'html');
    const fields = standardFields(g, { from: fromValue(person, charset), subject: subjectValue(g, subject, charset), token });
    let bytes: Buffer;
    if (i % 2 === 0) {
      const boundary = `alt-${g.rng.hex(6)}`;
      const t = handBody(text, charset, 'quoted-printable');
      bytes = message(
        [...fields, `Content-Type: multipart/alternative; boundary="${boundary}"`],
        bin(`--${boundary}\r\n`, t.fields.join('\r\n'), '\r\n\r\n', t.body, `\r\n--${boundary}\r\n`, h.fields.join('\r\n'), '\r\n\r\n', h.body, `\r\n--${boundary}--\r\n`),
      );
    } else bytes = message([...fields, ...h.fields], h.body);
    g.add({
      class: 'nul-html',
      traits: { charset, transferEncoding: cte, lineEnding: eol, depth: i % 2 === 0 ? 1 : 0 },
      bytes: withLineEnding(bytes, eol),
      expect: { subject, ...senderExpect(person), flagged: true },
      token,
    });
  }
}

function nulFilename(g: Gen): void {
  const variants: [string, (token: string) => string][] = [
    ['quoted', () => 'Content-Disposition: attachment; filename="Sc\0an.pdf"'],
    ['rfc2231', () => "Content-Disposition: attachment; filename*=utf-8''Sc%00an%C3%BC.pdf"],
    ['encoded-word', () => `Content-Disposition: attachment; filename="${encodedWords('Bescheid\0.pdf', 'utf-8', 'Q')}"`],
    ['name-parameter-only', () => 'Content-Disposition: attachment'],
    ['rfc2231-continuation', () => "Content-Disposition: attachment;\r\n filename*0*=utf-8''Sc%00an;\r\n filename*1*=_2021.pdf"],
    ['unquoted', () => 'Content-Disposition: attachment; filename=Sc\0an.pdf'],
  ];
  variants.forEach(([variant, disposition], i) => {
    const eol = cycle(LINE_ENDINGS, i + 2);
    const token = g.token('nul-filename');
    const person = g.person();
    const subject = `Scan mit Anlage (${token})`;
    const boundary = `fn-${g.rng.hex(6)}`;
    const pdf = g.pdf(token);
    const type = variant === 'name-parameter-only' ? 'application/pdf; name="Sc\0an.pdf"' : 'application/pdf';
    const body = bin(
      `--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nScan, Referenz ${token}\r\n--${boundary}\r\nContent-Type: ${type}\r\n${disposition(token)}\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
      base64Lines(pdf),
      `\r\n--${boundary}--\r\n`,
    );
    g.add({
      class: 'nul-filename',
      traits: { lineEnding: eol, depth: 1, variant },
      bytes: withLineEnding(message([...standardFields(g, { from: fromValue(person, 'utf-8'), subject, token }), `Content-Type: multipart/mixed; boundary="${boundary}"`], body), eol),
      // a safe file name never holds control characters (src/ingest/filename.ts): a NUL in a declared name is dropped like any other, not flagged
      expect: { subject, ...senderExpect(person), attachmentSha256: [sha256(pdf)] },
      token,
    });
  });
}

/** CRLF and bare LF in one message. */
function bareLf(g: Gen): void {
  for (let i = 0; i < 6; i++) {
    const token = g.token('bare-lf');
    const charset = cycle(CHARSETS, i);
    const person = g.person(charset);
    const subject = g.subject(charset, token);
    const text = g.text(charset, token, false);
    const b = handBody(text, charset, i % 2 ? '8bit' : 'quoted-printable');
    let bytes = message([...standardFields(g, { from: fromValue(person, charset), subject: subjectValue(g, subject, charset), token }), ...b.fields], b.body);
    const s = bytes.toString('latin1');
    const split = s.indexOf('\r\n\r\n');
    const variant = cycle(['body-bare-lf', 'header-bare-lf', 'alternating'], i);
    if (variant === 'body-bare-lf') bytes = Buffer.from(s.slice(0, split + 4) + s.slice(split + 4).replace(/\r\n/g, '\n'), 'latin1');
    else if (variant === 'header-bare-lf') bytes = Buffer.from(s.slice(0, split).replace(/\r\n/g, '\n') + s.slice(split), 'latin1');
    else {
      let n = 0;
      bytes = Buffer.from(s.replace(/\r\n/g, () => (n++ % 2 ? '\n' : '\r\n')), 'latin1');
    }
    g.add({
      class: 'bare-lf',
      traits: { charset, transferEncoding: i % 2 ? '8bit' : 'quoted-printable', lineEnding: 'mixed', variant },
      bytes,
      expect: { subject, ...senderExpect(person) },
      token,
    });
  }
}

/** Obsolete syntax of RFC 5322 §4.5: white space between field name and colon. */
function obsoleteSyntax(g: Gen): void {
  const variants = ['subject-space-colon', 'from-space-colon', 'tab-before-colon', 'all-fields', 'several-spaces', 'mime-fields'] as const;
  for (let i = 0; i < 9; i++) {
    const variant = cycle(variants, i);
    const eol = cycle(LINE_ENDINGS, Math.floor(i / 3));
    const charset = g.rng.pick(CHARSETS);
    const cte = g.rng.pick(TRANSFER_ENCODINGS);
    const token = g.token('obsolete');
    const person = g.person(charset);
    const subject = g.subject(charset, token);
    const b = handBody(g.text(charset, token, cte === '7bit'), charset, cte);
    const fields = [...standardFields(g, { from: fromValue(person, charset), subject: subjectValue(g, subject, charset), token }), ...b.fields].map((f) => {
      if (typeof f !== 'string') return f;
      const [name, ...rest] = f.split(':');
      const value = rest.join(':');
      const on =
        variant === 'all-fields' ||
        (variant === 'subject-space-colon' && name === 'Subject') ||
        (variant === 'from-space-colon' && name === 'From') ||
        (variant === 'tab-before-colon' && (name === 'Subject' || name === 'From')) ||
        (variant === 'several-spaces' && (name === 'Subject' || name === 'Date')) ||
        (variant === 'mime-fields' && (name === 'Subject' || name!.startsWith('Content-')));
      if (!on) return f;
      return `${name}${variant === 'tab-before-colon' ? '\t' : variant === 'several-spaces' ? '   ' : ' '}:${value}`;
    });
    g.add({
      class: 'obsolete-syntax',
      traits: { charset, transferEncoding: cte, lineEnding: eol, variant },
      bytes: withLineEnding(message(fields, b.body), eol),
      expect: { subject, ...senderExpect(person) },
      token,
      group: eol === 'crlf' && i % 2 === 0 ? 'full' : undefined,
    });
  }
}

/** Something in front of the first header field: a blank line, or a UTF-8 byte order mark. */
async function prefixed(g: Gen, kind: 'leading-blank-line' | 'utf8-bom'): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const eol = cycle(LINE_ENDINGS, i);
    const charset = g.rng.pick(CHARSETS);
    const cte = g.rng.pick(TRANSFER_ENCODINGS.filter((c) => c !== '8bit'));
    const token = g.token(kind === 'utf8-bom' ? 'bom' : 'blank');
    const person = g.person();
    const subject = g.subject(charset, token);
    const multipart = i >= 3;
    const text = g.text(charset, token, cte === '7bit');
    const pdf = g.pdf(token);
    const bytes = await g.compose({
      from: { name: person.name, address: person.address },
      to: g.rng.pick(RECIPIENTS),
      subject,
      date: g.date(),
      messageId: g.messageId(token),
      alternatives: [textPart('plain', text, charset, cte)],
      attachments: multipart ? [{ filename: 'Scan.pdf', contentType: 'application/pdf', content: pdf }] : [],
    });
    const prefix = kind === 'utf8-bom' ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.from('\r\n');
    g.add({
      class: kind,
      traits: { charset, transferEncoding: cte, lineEnding: eol, depth: multipart ? 1 : 0 },
      bytes: withLineEnding(Buffer.concat([prefix, bytes]), eol),
      expect: { subject, ...senderExpect(person), ...(multipart ? { attachmentSha256: [sha256(pdf)] } : {}) },
      token,
      group: i === 0 || i === 3 ? 'line-endings' : undefined,
    });
  }
}

/** An address local part from a name: ä → ae, ß → ss, other accents dropped, words joined by dots. */
function asciiName(name: string): string {
  const map: Record<string, string> = { ä: 'ae', ö: 'oe', ü: 'ue', Ä: 'Ae', Ö: 'Oe', Ü: 'Ue', ß: 'ss', Œ: 'Oe', œ: 'oe', Å: 'A' };
  return name
    .replace(/[äöüÄÖÜßŒœÅ]/g, (c) => map[c]!)
    .normalize('NFD')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/[^A-Za-z]+/g, '.')
    .replace(/^\.|\.$/g, '');
}

/** Raw 8-bit bytes in Subject and From display name (no encoded words). */
function raw8bitHeaders(g: Gen): void {
  const cases: { charset: Charset | 'utf-8-raw'; subject: string; name: string }[] = [
    { charset: 'iso-8859-1', subject: 'Grüße aus Köln', name: 'Jürgen Weiß' },
    { charset: 'iso-8859-1', subject: 'Rückfrage zur Gebührenhöhe', name: 'Müller, Hans' },
    { charset: 'iso-8859-1', subject: 'Ça va? Déjà vu', name: 'Françoise Dupré' },
    { charset: 'windows-1252', subject: '„Bescheid“ – Gebühr 20 €', name: 'Anna Bergér' },
    { charset: 'windows-1252', subject: 'Rückmeldung … bis Freitag', name: 'Œlaf Šimon' },
    { charset: 'iso-8859-1', subject: 'Übergabe der Schlüssel', name: 'Ömer Yüksel' },
    { charset: 'windows-1252', subject: 'Preis: 5 € • Menge: 3', name: 'Zoë Brontë' },
    { charset: 'utf-8-raw', subject: 'Grüße – UTF-8 ohne Kodierung ✓', name: 'Jürgen Weiß' },
    { charset: 'utf-8-raw', subject: 'Zoë’s Führerschein', name: 'Zoë Šťastná' },
    { charset: 'iso-8859-1', subject: 'Größe: ½ DIN A4, 20 °C', name: 'Björn Ångström' },
  ];
  cases.forEach((c, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('raw8bit');
    const subject = `${c.subject} (${token})`;
    const charset: Charset = c.charset === 'utf-8-raw' ? 'utf-8' : c.charset;
    const subjectBytes = encodeCharset(subject, charset);
    const nameBytes = encodeCharset(c.name, charset);
    if (c.charset !== 'utf-8-raw' && (isValidUtf8(subjectBytes) || isValidUtf8(nameBytes))) throw new Error(`corpus: ${subject} in ${charset} is valid UTF-8`);
    const address = `${asciiName(c.name)}@Example.org`;
    const quoted = /[,]/.test(c.name);
    const from = Buffer.concat([Buffer.from(quoted ? '"' : ''), nameBytes, Buffer.from(`${quoted ? '"' : ''} <${address}>`, 'latin1')]);
    const b = handBody(g.text(charset, token, false), charset, g.rng.pick(['8bit', 'quoted-printable'] as const));
    g.add({
      class: 'raw-8bit-header',
      traits: { charset, lineEnding: eol, variant: c.charset },
      bytes: withLineEnding(message([...standardFields(g, { from, subject: subjectBytes, token }), ...b.fields], b.body), eol),
      expect: { subject, sender: address.toLowerCase(), senderName: c.name },
      token,
      group: i % 4 === 0 ? 'full' : undefined,
    });
  });
}

/** Raw 8-bit bytes inside a Q encoded word (ISO-8859-1 / Windows-1252 declared). */
function raw8bitEncodedWord(g: Gen): void {
  const cases: { declared: Charset; parts: (string | { raw: string })[] }[] = [
    { declared: 'iso-8859-1', parts: ['Gr', { raw: 'ü' }, '=DFe_aus_K', { raw: 'ö' }, 'ln'] },
    { declared: 'iso-8859-1', parts: [{ raw: 'Ü' }, 'bergabe_der_Schl', { raw: 'ü' }, 'ssel'] },
    { declared: 'windows-1252', parts: [{ raw: '„' }, 'Bescheid', { raw: '“' }, '_', { raw: '–' }, '_Geb=FChr_20_', { raw: '€' }] },
    { declared: 'windows-1252', parts: ['R', { raw: 'ü' }, 'ckmeldung_', { raw: '…' }, '_bis_Freitag'] },
    { declared: 'iso-8859-1', parts: ['Gr', { raw: 'öß' }, 'e:_', { raw: '½' }, '_DIN_A4'] },
    { declared: 'iso-8859-15', parts: ['M', { raw: 'ä' }, 'rz_und_April'] },
    { declared: 'iso-8859-1', parts: [{ raw: 'Ça' }, '_va=3F_D', { raw: 'é' }, 'j', { raw: 'à' }, '_vu'] },
    { declared: 'windows-1252', parts: ['Preis:_5_', { raw: '€' }, '_', { raw: '•' }, '_Menge:_3'] },
  ];
  cases.forEach((c, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('raw8bit-word');
    const person = g.person();
    let decoded = '';
    const word: Buffer[] = [Buffer.from(`=?${c.declared}?Q?`, 'latin1')];
    for (const p of c.parts) {
      if (typeof p === 'string') {
        word.push(Buffer.from(p, 'latin1'));
        decoded += p.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      } else {
        word.push(encodeCharset(p.raw, c.declared));
        decoded += p.raw;
      }
    }
    word.push(Buffer.from('?=', 'latin1'));
    const subject = `${decoded} (${token})`;
    g.add({
      class: 'raw-8bit-encoded-word',
      traits: { charset: c.declared, lineEnding: eol, variant: c.declared },
      bytes: withLineEnding(
        message([...standardFields(g, { from: fromValue(person, 'utf-8'), subject: Buffer.concat([...word, Buffer.from(` (${token})`, 'latin1')]), token }), 'Content-Type: text/plain; charset=us-ascii'], `Referenz: ${token}\r\n`),
        eol,
      ),
      expect: { subject, ...senderExpect(person) },
      token,
      group: i === 2 ? 'full' : undefined,
    });
  });
}

function utf7Subject(g: Gen): void {
  const texts = ['Frösche im Teich', 'Grüße – Antrag № 17', 'Œuvre: 20 € für Zoë', 'Straße 5, 日本語', 'Ελληνικά + Übersicht', 'Kosten 1+1 = 2 ✓'];
  texts.forEach((text, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('utf7');
    const person = g.person();
    const charsetLabel = cycle(['utf-7', 'UTF-7', 'unicode-1-1-utf-7'], i);
    const enc = i % 2 ? 'B' : 'Q';
    const u7 = utf7(text);
    const word = enc === 'Q' ? `=?${charsetLabel}?Q?${qEncodeAscii(u7)}?=` : `=?${charsetLabel}?B?${Buffer.from(u7, 'latin1').toString('base64')}?=`;
    const subject = `${text} (${token})`;
    g.add({
      class: 'utf7-encoded-word',
      traits: { lineEnding: eol, variant: `${charsetLabel} ${enc}` },
      bytes: withLineEnding(message([...standardFields(g, { from: fromValue(person, 'utf-8'), subject: `${word} (${token})`, token }), 'Content-Type: text/plain; charset=us-ascii'], `Referenz: ${token}\r\n`), eol),
      expect: { subject, ...senderExpect(person) },
      token,
      group: i === 0 ? 'full' : undefined,
    });
  });
}

function uuencoded(g: Gen): void {
  const labels = ['x-uuencode', 'x-uuencode', 'uuencode', 'x-uue', 'X-UUENCODE', 'x-uuencode', 'x-uuencode', 'uue'];
  labels.forEach((label, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('uu');
    const person = g.person();
    const subject = `Anlage uuencodiert (${token})`;
    const content = i % 3 === 0 ? g.png(token) : g.pdf(token);
    const filename = i % 3 === 0 ? 'bild.png' : 'Bescheid.pdf';
    const type = i % 3 === 0 ? 'image/png' : i % 3 === 1 ? 'application/pdf' : 'application/octet-stream';
    const boundary = `uu-${g.rng.hex(6)}`;
    const single = i === 7;
    const uu = uuencode(content, filename, '\r\n').toString('utf8').replace(/\r\n$/, '');
    const bytes = single
      ? message(
          [...standardFields(g, { from: fromValue(person, 'utf-8'), subject, token }), `Content-Type: ${type}; name="${filename}"`, `Content-Disposition: attachment; filename="${filename}"`, `Content-Transfer-Encoding: ${label}`],
          `${uu}\r\n`,
        )
      : message(
          [...standardFields(g, { from: fromValue(person, 'utf-8'), subject, token }), `Content-Type: multipart/mixed; boundary="${boundary}"`],
          `--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nAnlage anbei. Referenz: ${token}\r\n--${boundary}\r\nContent-Type: ${type}; name="${filename}"\r\nContent-Disposition: attachment; filename="${filename}"\r\nContent-Transfer-Encoding: ${label}\r\n\r\n${uu}\r\n--${boundary}--\r\n`,
        );
    g.add({
      class: 'uuencode',
      traits: { lineEnding: eol, depth: single ? 0 : 1, variant: label },
      bytes: withLineEnding(bytes, eol),
      expect: { subject, ...senderExpect(person), attachmentSha256: [sha256(content)] },
      token,
      group: i === 1 ? 'full' : undefined,
    });
  });
}

function longLines(g: Gen): void {
  const variants = ['8bit-body-line', '7bit-body-line', 'long-subject', 'long-references', 'base64-one-line', 'qp-long-text', 'long-to-list', 'no-final-newline'] as const;
  variants.forEach((variant, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const charset = g.rng.pick(CHARSETS);
    const token = g.token('long');
    const person = g.person(charset);
    let subject = g.subject(charset, token);
    let subjectField = subjectValue(g, subject, charset);
    const extra: string[] = [];
    let body: Buffer;
    let ctFields: string[] = [];
    const expect: CorpusExpect = {};
    const words = (n: number, ascii: boolean) => Array.from({ length: n }, () => g.rng.pick(ascii ? ['Antrag', 'Bescheid', 'Frist', 'Akte', 'Gebuehr'] : ['Antrag', 'Bescheid', 'Gebühr', 'Größe', 'März'])).join(' ');
    switch (variant) {
      case '8bit-body-line': {
        const b = handBody(`${words(900, false)} ${token}`, charset, '8bit');
        ctFields = b.fields;
        body = b.body;
        break;
      }
      case '7bit-body-line': {
        const b = handBody(`${words(400, true)} ${token}\r\nzweite Zeile`, charset, '7bit');
        ctFields = b.fields;
        body = b.body;
        break;
      }
      case 'long-subject':
        subject = `${words(250, true)} (${token})`;
        subjectField = subject;
        ctFields = ['Content-Type: text/plain; charset=us-ascii'];
        body = bin(`Referenz: ${token}\r\n`);
        break;
      case 'long-references':
        extra.push(`References: ${Array.from({ length: 60 }, (_, n) => `<ref-${n}-${token}@gen.agency.example>`).join(' ')}`);
        ctFields = ['Content-Type: text/plain; charset=us-ascii'];
        body = bin(`Referenz: ${token}\r\n`);
        break;
      case 'base64-one-line': {
        const pdf = Buffer.concat([g.pdf(token), g.rng.bytes(20_000)]);
        const boundary = `long-${g.rng.hex(6)}`;
        ctFields = [`Content-Type: multipart/mixed; boundary="${boundary}"`];
        body = bin(`--${boundary}\r\nContent-Type: text/plain\r\n\r\nReferenz: ${token}\r\n--${boundary}\r\nContent-Type: application/pdf; name="gross.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf.toString('base64')}\r\n--${boundary}--\r\n`);
        expect.attachmentSha256 = [sha256(pdf)];
        break;
      }
      case 'qp-long-text': {
        const b = handBody(`${words(600, false)} ${token}`, charset, 'quoted-printable');
        ctFields = b.fields;
        body = b.body;
        break;
      }
      case 'long-to-list':
        extra.push(`To: ${Array.from({ length: 80 }, (_, n) => `empfaenger${n}@agency.example`).join(',')}`);
        ctFields = ['Content-Type: text/plain; charset=us-ascii'];
        body = bin(`Referenz: ${token}\r\n`);
        break;
      default: {
        const b = handBody(`${words(300, true)} ${token}`, charset, '7bit');
        ctFields = b.fields;
        body = b.body; // ends without a line break
      }
    }
    const fields = standardFields(g, { from: fromValue(person, charset), subject: subjectField, token }).filter((f) => !(extra.some((e) => e.startsWith('To:')) && typeof f === 'string' && f.startsWith('To:')));
    g.add({
      class: 'long-lines',
      traits: { charset, lineEnding: eol, variant },
      bytes: withLineEnding(message([...fields, ...extra, ...ctFields], body), eol),
      expect: { subject, ...senderExpect(person), ...expect },
      token,
      group: variant === '8bit-body-line' ? 'full' : undefined,
    });
  });
}

function emptyBody(g: Gen): void {
  const variants = ['blank-line-no-body', 'no-blank-line', 'no-final-newline', 'empty-html', 'empty-multipart-parts', 'only-blank-lines'] as const;
  variants.forEach((variant, i) => {
    const eol = cycle(LINE_ENDINGS, i);
    const token = g.token('empty');
    const person = g.person();
    const subject = `Leere Nachricht (${token})`;
    const fields = standardFields(g, { from: fromValue(person, 'utf-8'), subject, token });
    let bytes: Buffer;
    if (variant === 'blank-line-no-body') bytes = message([...fields, 'Content-Type: text/plain; charset=utf-8'], '');
    else if (variant === 'no-blank-line') bytes = bin(...fields.flatMap((f) => [f, '\r\n']));
    else if (variant === 'no-final-newline') bytes = bin(...fields.flatMap((f, n) => (n === 0 ? [f] : ['\r\n', f])));
    else if (variant === 'empty-html') bytes = message([...fields, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable'], '');
    else if (variant === 'only-blank-lines') bytes = message([...fields, 'Content-Type: text/plain; charset=utf-8'], '\r\n\r\n\r\n');
    else {
      const boundary = `e-${g.rng.hex(6)}`;
      bytes = message([...fields, `Content-Type: multipart/mixed; boundary="${boundary}"`], `--${boundary}\r\nContent-Type: text/plain\r\n\r\n\r\n--${boundary}\r\nContent-Type: application/pdf; name="leer.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n\r\n--${boundary}--\r\n`);
    }
    g.add({
      class: 'empty-body',
      traits: { lineEnding: eol, variant },
      bytes: withLineEnding(bytes, eol),
      expect: { subject, ...senderExpect(person) },
      token,
    });
  });
}

/** Input with no header at all. */
function noHeader(g: Gen): void {
  const add = (variant: string, bytes: Buffer, token: string | null, group?: Base['group'], lineEnding: CorpusTraits['lineEnding'] = 'binary') =>
    g.add({ class: 'no-header', traits: { lineEnding, variant }, bytes, expect: { unreadable: true }, token, group });
  let token = g.token('garbage');
  add('png-bytes', Buffer.concat([g.png(token), g.rng.bytes(200)]), token);
  token = g.token('garbage');
  add('jpeg-bytes', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from(`JFIF\0${token}`, 'latin1'), g.rng.bytes(400)]), token);
  token = g.token('garbage');
  add('zip-bytes', g.zip(token), token);
  token = g.token('garbage');
  add('pdf-bytes', g.pdf(token), token);
  token = g.token('garbage');
  add('random-bytes', Buffer.concat([Buffer.from([0x00, 0x01, 0x02, 0x9c]), g.rng.bytes(300), Buffer.from(token, 'latin1'), g.rng.bytes(100)]), token);
  const letters = [
    'Sehr geehrte Damen und Herren,\r\nanbei die Unterlagen.\r\nFrom: someone@example.org\r\n\r\nReferenz: ',
    'Dies ist kein Header, sondern Text\r\nSubject: sieht aus wie eine Mail\r\n\r\nReferenz: ',
    '   eingerueckter Text ohne Kopf\r\nReferenz: ',
    '-- \r\nnur eine Signatur\r\nReferenz: ',
  ];
  letters.forEach((letter, i) => {
    const t = g.token('noheader-text');
    add(`text-${i + 1}`, bin(letter, t, '\r\n'), t, i < 2 ? 'line-endings' : undefined, 'crlf');
  });
  const t = g.token('noheader-latin1');
  add('latin1-text', Buffer.concat([encodeCharset('Grüße, kein Kopf hier.\r\nReferenz: ', 'iso-8859-1'), Buffer.from(`${t}\r\n`, 'latin1')]), t, undefined, 'crlf');
  add('empty-file', Buffer.alloc(0), null);
}

// ---------------------------------------------------------------------------------------------
// Same-message variants

const TRACE_FIELDS = (g: Gen, base: Base): string[] => {
  const lines: string[] = [];
  const hops = g.rng.range(1, 2);
  for (let h = 0; h < hops; h++) {
    lines.push(
      `Received: from mx0${h + 1}.relay.example (mx0${h + 1}.relay.example [198.51.100.${g.rng.range(2, 250)}])`,
      `\tby mail.agency.example (Postfix) with ESMTPS id ${g.rng.hex(5).toUpperCase()}`,
      `\tfor <poststelle@agency.example>; ${rfc5322Date(new Date(Date.UTC(2021, 2, 2, 9, h, g.rng.int(60))))}`,
    );
  }
  lines.push('Return-Path: <bounces@relay.example>');
  if (g.rng.int(2)) lines.push('Delivered-To: poststelle@agency.example', 'X-Original-To: poststelle@agency.example');
  if (g.rng.int(2)) lines.push('Authentication-Results: mail.agency.example; spf=pass smtp.mailfrom=relay.example; dkim=none');
  if (g.rng.int(3) === 0) lines.push(`ARC-Seal: i=1; a=rsa-sha256; t=1614675600; cv=none; d=relay.example; s=arc; b=${g.rng.hex(16)}`);
  void base;
  return lines;
};

/** Copies of a base that are the same message: other line endings, trace fields, final line break. */
function variantsOf(g: Gen, base: Base): { label: string; bytes: Buffer; lineEnding: CorpusTraits['lineEnding'] }[] {
  const eol = base.traits.lineEnding;
  if (eol !== 'crlf' && eol !== 'lf' && eol !== 'cr') throw new Error('corpus: a group base needs one line ending style');
  const crlf = Buffer.from(base.bytes.toString('latin1').replace(eol === 'lf' ? /\n/g : eol === 'cr' ? /\r/g : /(?!)/g, '\r\n'), 'latin1');
  const others = LINE_ENDINGS.filter((e) => e !== eol);
  const out: { label: string; bytes: Buffer; lineEnding: CorpusTraits['lineEnding'] }[] = [];
  for (const other of others) if (base.group === 'line-endings' || g.rng.int(4) !== 0) out.push({ label: other, bytes: withLineEnding(crlf, other), lineEnding: other });
  if (base.group === 'full') {
    const trace = TRACE_FIELDS(g, base).join('\r\n') + '\r\n';
    if (g.rng.int(3) !== 0) out.push({ label: `trace-${eol}`, bytes: Buffer.concat([withLineEnding(Buffer.from(trace, 'latin1'), eol), base.bytes]), lineEnding: eol });
    if (g.rng.int(2)) {
      const other = g.rng.pick(others);
      out.push({ label: `trace-${other}`, bytes: withLineEnding(Buffer.concat([Buffer.from(trace, 'latin1'), crlf]), other), lineEnding: other });
    }
    if (g.rng.int(2) || out.length < 2) out.push({ label: `final-${eol}`, bytes: Buffer.concat([base.bytes, Buffer.from(EOL_BYTES[eol], 'latin1')]), lineEnding: eol });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/**
 * The corpus for a seed: a few hundred files in a shuffled, reproducible order, each with what it
 * must become. Asynchronous because nodemailer builds MIME with streams.
 */
export async function generateCorpus(seed: number): Promise<CorpusFile[]> {
  const g = new Gen(seed);
  await plain(g);
  await mixed(g);
  await alternative(g);
  await nested(g);
  await forwarded(g);
  await digest(g);
  await dsn(g);
  missingBoundary(g);
  unclosedBoundary(g);
  nulSubject(g);
  nulDisplayName(g);
  nulMessageId(g);
  nulPartContentType(g);
  nulText(g);
  nulHtml(g);
  nulFilename(g);
  bareLf(g);
  obsoleteSyntax(g);
  await prefixed(g, 'leading-blank-line');
  await prefixed(g, 'utf8-bom');
  raw8bitHeaders(g);
  raw8bitEncodedWord(g);
  utf7Subject(g);
  uuencoded(g);
  longLines(g);
  emptyBody(g);
  noHeader(g);

  const drafts: Omit<CorpusFile, 'name'>[] = [];
  const labels: string[] = [];
  let groups = 0;
  const tokens = new Set<string>();
  for (const base of g.bases) {
    if (base.token !== null) {
      if (tokens.has(base.token)) throw new Error(`corpus: token ${base.token} used twice`);
      if (!base.bytes.includes(base.token)) throw new Error(`corpus: token ${base.token} missing from its message`);
      tokens.add(base.token);
    }
    const sameAs = base.group ? `g${String(++groups).padStart(2, '0')}` : undefined;
    const expect: CorpusExpect = { ...base.expect, ...(sameAs ? { sameAs } : {}) };
    // class-charset-encoding-depth, then the group and the line ending (or how the copy differs)
    const label = [base.class, base.traits.charset, base.traits.transferEncoding && CTE_SHORT[base.traits.transferEncoding], base.traits.depth ? `d${base.traits.depth}` : undefined, sameAs]
      .filter(Boolean)
      .join('-');
    drafts.push({ bytes: base.bytes, class: base.class, traits: base.traits, expect });
    labels.push(`${label}-${base.traits.lineEnding}`);
    if (base.group) {
      for (const v of variantsOf(g, base)) {
        drafts.push({ bytes: v.bytes, class: base.class, traits: { ...base.traits, lineEnding: v.lineEnding, variant: [base.traits.variant, `same message: ${v.label}`].filter(Boolean).join('; ') }, expect });
        labels.push(`${label}-${v.label}`);
      }
    }
  }
  const order = g.rng.shuffle(drafts.map((_, i) => i));
  const files = order.map((i, n) => ({ name: `${String(n + 1).padStart(3, '0')}-${labels[i]!.replace(/[^A-Za-z0-9.-]+/g, '_')}.eml`, ...drafts[i]! }));
  // no two files of different groups may be byte-identical
  const seen = new Map<string, CorpusFile>();
  for (const f of files) {
    const key = sha256(f.bytes);
    const prev = seen.get(key);
    if (prev && (prev.expect.sameAs === undefined || prev.expect.sameAs !== f.expect.sameAs)) throw new Error(`corpus: ${f.name} has the bytes of ${prev.name}`);
    seen.set(key, f);
  }
  return files;
}

/** Writes the corpus and manifest.json (name, class, traits, size, sha256, expect) into `dir`. */
export async function writeCorpus(dir: string, seed: number): Promise<CorpusFile[]> {
  const files = await generateCorpus(seed);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(path.join(dir, f.name), f.bytes);
  const manifest = {
    seed,
    files: files.map((f) => ({ name: f.name, class: f.class, traits: f.traits, size: f.bytes.length, sha256: sha256(f.bytes), expect: f.expect })),
  };
  writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [dir, seedArg] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node --import tsx test/corpus-gen/generate.ts OUTDIR [SEED]');
    process.exit(2);
  }
  const seed = seedArg === undefined ? 12 : Number(seedArg);
  const files = await writeCorpus(dir, seed);
  const byClass = new Map<string, number>();
  for (const f of files) byClass.set(f.class, (byClass.get(f.class) ?? 0) + 1);
  console.log(`${files.length} files (seed ${seed}) in ${dir}`);
  for (const [c, n] of [...byClass].sort()) console.log(`  ${c.padEnd(24)} ${n}`);
}
