import { Transform, type TransformCallback } from 'node:stream';
import { BOM, FIELD_START, Fingerprinter, MBOX_FROM, type HeaderSection } from './fingerprint.js';

const LF = 0x0a;
const CR = 0x0d;

/** A field name followed by the white space before its colon that the obsolete syntax allows (RFC 5322 §4.5): the white space is dropped. */
const OBSOLETE_FIELD = /^([\x21-\x39\x3b-\x7e]+)[ \t]+:/gm;

/** What the input stage saw and changed in the parser's copy (the stored raw bytes never change). */
export interface InputFindings {
  /** SHA-256 redelivery key of the raw bytes (Fingerprinter) */
  fingerprint: string;
  /** the input does not begin with a header field: it is not a message */
  notAMessage: boolean;
  /** nothing at all was read */
  empty: boolean;
  /** the message uses bare CR as its line end; the parser got CRLF instead */
  crLineEnds: boolean;
  /** a UTF-8 byte order mark before the header was skipped */
  bomSkipped: boolean;
  /** blank lines before the header were skipped */
  leadingBlankLines: boolean;
}

/**
 * The stage between the raw bytes and mailparser. It computes the fingerprint of the raw bytes in
 * the same pass (so the message is read once), and hands the parser a copy it can read where
 * the raw deviates from RFC 5322 in ways that §4 (obsolete syntax) and real senders make us
 * accept: a UTF-8 byte order mark or blank lines before the header are skipped, as is an mbox
 * `From ` separator line (RFC 4155); white space between a field name and its colon is dropped;
 * bare-CR line endings (old Mac mail, some devices) become CRLF. Input that does not begin with
 * a header field is consumed (for the fingerprint) but not passed on; `findings().notAMessage`
 * says so. The header section is held by the Fingerprinter (at most FINGERPRINT_HEADER_LIMIT
 * bytes), which hands it over once it is complete; the body streams.
 */
export class ParserInput extends Transform {
  private readonly fp = new Fingerprinter();
  /** the header section has been handed on; what follows streams */
  private streaming = false;
  private swallow = false;
  private crMode = false;
  /** CR mode: the last byte passed on was a CR (a following LF is part of it) */
  private lastCr = false;
  private seen = 0;
  private bomSkipped = false;
  private leadingBlankLines = false;
  /** the header section as handed on (at most FINGERPRINT_HEADER_LIMIT bytes) */
  private section: Buffer | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const head = this.fp.update(chunk);
    this.seen += chunk.length;
    if (head) this.header(head);
    else if (this.streaming && !this.swallow) this.pass(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    const head = this.fp.end();
    if (head) this.header(head);
    done();
  }

  /** The header section as the parser got it, or null before it was complete or when the input is not a message. */
  headerSection(): Buffer | null {
    return this.section;
  }

  /** @returns the fingerprint and what was seen; call after the stream ended */
  findings(): InputFindings {
    return {
      fingerprint: this.fp.digest(),
      notAMessage: this.swallow,
      empty: this.seen === 0,
      crLineEnds: this.crMode,
      bomSkipped: this.bomSkipped,
      leadingBlankLines: this.leadingBlankLines,
    };
  }

  /** Hands on the header section as the parser gets it, then what follows it in the same bytes. */
  private header({ bytes: all, end }: HeaderSection): void {
    this.streaming = true;
    let i = 0;
    if (all.subarray(0, BOM.length).equals(BOM)) {
      i = BOM.length;
      this.bomSkipped = true;
    }
    const afterBom = i;
    while (i < end && (all[i] === CR || all[i] === LF)) i++;
    this.leadingBlankLines = i > afterBom;
    let section = all.subarray(i, end).toString('latin1');
    // line-end style from the first line end: a CR not followed by LF means bare-CR lines
    const firstEnd = section.search(/[\r\n]/);
    this.crMode = firstEnd >= 0 && section[firstEnd] === '\r' && section[firstEnd + 1] !== '\n' && (firstEnd + 1 < section.length || end < all.length);
    if (MBOX_FROM.test(section)) section = section.slice(firstEnd < 0 ? section.length : section[firstEnd] === '\r' && section[firstEnd + 1] === '\n' ? firstEnd + 2 : firstEnd + 1);
    if (!FIELD_START.test(section)) {
      this.swallow = true;
      return;
    }
    // a bare CR in the header section is a line end (bare-CR mail, and the CR CR LF of a doubled
    // conversion, which ends the header as Python's parser and the fingerprint read it)
    section = section.replace(/\r(?!\n)/g, '\r\n');
    section = section.replace(OBSOLETE_FIELD, '$1:');
    this.section = Buffer.from(section, 'latin1');
    this.push(this.section);
    this.lastCr = false;
    if (end < all.length) this.pass(all.subarray(end));
  }

  /** Passes body bytes on; in CR mode a bare CR becomes CRLF. */
  private pass(chunk: Buffer): void {
    if (!this.crMode) {
      this.push(chunk);
      return;
    }
    const out: Buffer[] = [];
    let from = 0;
    if (this.lastCr && chunk[0] === LF) from = 1; // the LF of a CRLF split across chunks
    for (let i = from; i < chunk.length; i++) {
      if (chunk[i] !== CR) continue;
      if (i + 1 < chunk.length && chunk[i + 1] === LF) {
        i++;
        continue;
      }
      out.push(chunk.subarray(from, i + 1), Buffer.from([LF]));
      from = i + 1;
    }
    if (from < chunk.length) out.push(chunk.subarray(from));
    this.lastCr = chunk.length > 0 && chunk[chunk.length - 1] === CR;
    if (out.length) this.push(out.length === 1 ? out[0]! : Buffer.concat(out));
  }
}
