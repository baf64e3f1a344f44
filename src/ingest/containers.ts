/**
 * Unpacking of two attachment containers that mailparser hands over as opaque bytes:
 * uuencoded parts (POSIX uuencode, historical and base64 variants) and Outlook TNEF
 * (`winmail.dat`, MS-OXTNEF).
 *
 * Both decoders read their input as a stream and spool what they produce with `spool()`
 * (memory up to 256 KiB, else a file under `spoolDir`), so an input is never held whole in
 * memory twice. Bad input gives `null` (the caller keeps the original bytes); only I/O errors
 * (reading the input, writing a spool file) are thrown.
 *
 * Written here rather than taken from npm: `uue` works on whole strings with LF line ends only,
 * `uuencode` has no header parsing and no licence, and `node-tnef` replaces
 * `String.prototype.replaceAll` process-wide, logs to stdout, ignores the long file name and
 * runs out of memory (fatally) on a 17-byte input with a large attribute length.
 */
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import { spool, type RawMessage } from './raw.js';

/** The bytes are not a well-formed container; the caller keeps them as they are. */
class NotAContainer extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotAContainer';
  }
}

// ---------------------------------------------------------------------------------------------
// Line and byte readers
// ---------------------------------------------------------------------------------------------

/**
 * Splits a byte stream into lines without their CR LF or LF. A line longer than `maxBytes` is
 * not kept: `null` stands in its place, so memory stays bounded whatever the input.
 */
async function* readLines(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer | null> {
  let parts: Buffer[] = [];
  let length = 0;
  let tooLong = false;
  const finish = (): Buffer => {
    const line = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    return line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line;
  };
  for await (const chunk of source) {
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(0x0a, start);
      const end = lf < 0 ? chunk.length : lf;
      if (!tooLong) {
        // one byte of slack for the CR of a CR LF line end
        if (length + (end - start) > maxBytes + 1) {
          tooLong = true;
          parts = [];
          length = 0;
        } else if (end > start) {
          parts.push(chunk.subarray(start, end));
          length += end - start;
        }
      }
      if (lf < 0) break;
      yield tooLong ? null : finish();
      parts = [];
      length = 0;
      tooLong = false;
      start = lf + 1;
    }
  }
  if (tooLong) yield null;
  else if (length > 0) yield finish();
}

/** Reads exact byte counts from a stream, keeping only what has arrived but not been read. */
class ByteReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes read so far. */
  position = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    return this.buffered >= n;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let result: Buffer;
    if (first.length >= n) {
      result = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const chunk = this.chunks[0]!;
        if (chunk.length <= need) {
          parts.push(chunk);
          this.chunks.shift();
          need -= chunk.length;
        } else {
          parts.push(chunk.subarray(0, need));
          this.chunks[0] = chunk.subarray(need);
          need = 0;
        }
      }
      result = Buffer.concat(parts, n);
    }
    this.buffered -= n;
    this.position += n;
    return result;
  }

  /** The next `n` bytes, or null when the input ends before them. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return null;
    return this.take(n);
  }

  /** The next `n` bytes as they arrive, in pieces. @throws NotAContainer when the input ends first */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) throw new NotAContainer('input ends inside an attribute');
      const piece = this.take(Math.min(this.chunks[0]!.length, left));
      left -= piece.length;
      yield piece;
    }
  }

  /** What is left after the last whole read, when it is shorter than `limit` bytes; else null. */
  async rest(limit: number): Promise<Buffer | null> {
    if (await this.fill(limit)) return null;
    return this.take(this.buffered);
  }
}

/** Decodes bytes as UTF-8 when they are valid UTF-8, else as ISO 8859-1. */
function utf8OrLatin1(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

// ---------------------------------------------------------------------------------------------
// uuencode
// ---------------------------------------------------------------------------------------------

/** Longest line looked at; uuencode writes at most 62 (historical) or 77 (base64) characters. */
const UU_MAX_LINE = 4096;
/** Decoded bytes are handed to the spool in pieces of this size. */
const OUTPUT_PIECE = 64 * 1024;
/** `begin <mode> <name>` or `begin-base64 <mode> <name>`; mode in chmod octal or symbolic notation. */
const UU_HEADER = /^begin(-base64)? ([0-7]{1,6}|[ugoa]*[-+=][rwxXst]*(?:,[ugoa]*[-+=][rwxXst]*)*)(?: (.*))?$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;
const BEGIN = Buffer.from('begin');

interface UuHeader {
  base64: boolean;
  mode: string;
  filename: string | null;
}

/** Collects decoded bytes and hands them on in pieces of OUTPUT_PIECE bytes. */
class OutputPieces {
  private buffer = Buffer.allocUnsafe(OUTPUT_PIECE);
  private used = 0;

  /** Room for at least `n` more bytes; returns the full piece to hand on first, if any. */
  reserve(n: number): Buffer | null {
    if (this.used + n <= this.buffer.length) return null;
    const full = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafe(Math.max(OUTPUT_PIECE, n));
    this.used = 0;
    return full.length > 0 ? full : null;
  }

  push(byte: number): void {
    this.buffer[this.used++] = byte;
  }

  append(bytes: Buffer): void {
    bytes.copy(this.buffer, this.used);
    this.used += bytes.length;
  }

  /** Whatever is left at the end. */
  flush(): Buffer | null {
    const rest = this.buffer.subarray(0, this.used);
    this.used = 0;
    return rest.length > 0 ? rest : null;
  }
}

/**
 * Decodes one historical uuencode body line into `out`.
 * @returns the byte count the line declares (0 ends the body), or -1 when the line is malformed
 */
function decodeUuLine(line: Buffer, out: OutputPieces): number {
  const countChar = line[0];
  // an empty line is a zero-count line (" ") whose space a mail transport stripped
  if (countChar === undefined) return 0;
  if (countChar < 0x20 || countChar > 0x60) return -1;
  const count = (countChar - 0x20) & 0x3f;
  let written = 0;
  for (let at = 1; written < count; at += 4) {
    let group = 0;
    for (let k = 0; k < 4; k++) {
      // characters missing at the end are spaces (value 0) that a mail transport stripped
      const c = line[at + k] ?? 0x20;
      if (c < 0x20 || c > 0x60) return -1;
      group = (group << 6) | ((c - 0x20) & 0x3f);
    }
    // 4 characters carry 3 bytes; the last group of a line may carry fewer
    out.push((group >>> 16) & 0xff);
    written++;
    if (written < count) {
      out.push((group >>> 8) & 0xff);
      written++;
    }
    if (written < count) {
      out.push(group & 0xff);
      written++;
    }
  }
  return count;
}

/**
 * Yields the decoded bytes of the first uuencode block in `input`, storing its header in `found`.
 * @throws NotAContainer when there is no header line or the block is malformed or unterminated
 */
async function* uudecode(input: Readable, found: { header: UuHeader | null }): AsyncGenerator<Buffer> {
  const out = new OutputPieces();
  let header: UuHeader | null = null;
  let ended = false;
  // historical: true after the zero-count line, when only "end" may follow
  let expectEnd = false;
  // base64: carried characters (fewer than 4) and whether padding was seen
  let carry = '';
  let padded = false;

  for await (const line of readLines(input as AsyncIterable<Buffer>, UU_MAX_LINE)) {
    if (!header) {
      if (!line || line.length < BEGIN.length || !line.subarray(0, BEGIN.length).equals(BEGIN)) continue;
      const match = UU_HEADER.exec(utf8OrLatin1(line));
      if (!match) continue;
      const name = match[3] ?? '';
      header = { base64: match[1] !== undefined, mode: match[2]!, filename: name.trim() === '' ? null : name };
      found.header = header;
      continue;
    }
    if (!line) throw new NotAContainer('uuencode line too long');

    if (header.base64) {
      const text = line.toString('latin1').replace(/[ \t]+$/, '');
      if (text === '====') {
        if (carry.length === 1) throw new NotAContainer('base64 data ends inside a group');
        if (carry.length > 0) {
          const bytes = Buffer.from(carry, 'base64');
          const full = out.reserve(bytes.length);
          if (full) yield full;
          out.append(bytes);
        }
        ended = true;
        break;
      }
      if (text === '') continue;
      if (padded || !BASE64_LINE.test(text)) throw new NotAContainer('malformed base64 line');
      let data = carry + text;
      if (text.endsWith('=')) {
        padded = true;
        if (data.length % 4 !== 0) throw new NotAContainer('misplaced base64 padding');
      }
      const whole = data.length - (data.length % 4);
      carry = data.slice(whole);
      data = data.slice(0, whole);
      if (data.length > 0) {
        const bytes = Buffer.from(data, 'base64');
        const full = out.reserve(bytes.length);
        if (full) yield full;
        out.append(bytes);
      }
      continue;
    }

    const text = line.length <= 8 ? line.toString('latin1').replace(/[ \t]+$/, '') : null;
    if (text === 'end') {
      ended = true;
      break;
    }
    if (expectEnd) {
      if (text === '') continue;
      throw new NotAContainer('no "end" line after the last uuencode line');
    }
    const full = out.reserve(64);
    if (full) yield full;
    const count = decodeUuLine(line, out);
    if (count < 0) throw new NotAContainer('malformed uuencode line');
    if (count === 0) expectEnd = true;
  }

  if (!header) throw new NotAContainer('no uuencode header line');
  if (!ended) throw new NotAContainer('uuencode block is not terminated');
  const rest = out.flush();
  if (rest) yield rest;
}

/**
 * Decodes a uuencoded MIME part (`Content-Transfer-Encoding: x-uuencode`, `uuencode`, `x-uue`).
 *
 * Format: POSIX.1-2017 `uuencode` utility, STDOUT section — the historical algorithm
 * (`begin <mode> <name>`, count-prefixed lines of 6-bit characters offset by 0x20, a zero-count
 * line, `end`) and the `-m` variant (`begin-base64 <mode> <name>`, RFC 2045 base64 lines, `====`).
 * Text before the header line is skipped; only the first block is decoded, text after it is ignored.
 * Lines may end in CR LF or LF. Tolerated: a backquote or a space for the value 0, trailing spaces
 * stripped in transport, extra characters after a line's last group, a missing zero-count line
 * before `end`.
 *
 * @param content the part's bytes as received (not transfer-decoded)
 * @param spoolDir directory for a spool file when the decoded bytes exceed 256 KiB
 * @returns `filename`: the name in the header line exactly as written (may contain a path; UTF-8
 *   when valid, else ISO 8859-1), null when the header has none; `mode`: the permission bits as
 *   written (octal such as `644`, or symbolic); `content`: the decoded bytes (size in bytes, SHA-256;
 *   call `discard()` when done).
 *   null when the bytes hold no uuencode header line, or the block after it has a malformed line
 *   (a character outside 0x20–0x60, a line over 4096 bytes, bad base64) or no `end`/`====` line.
 * @throws only I/O errors (reading `content`, writing the spool file)
 */
export async function decodeUuencoded(
  content: RawMessage,
  spoolDir: string,
): Promise<{ filename: string | null; mode: string | null; content: RawMessage } | null> {
  const found: { header: UuHeader | null } = { header: null };
  const input = content.open();
  try {
    const decoded = await spool(Readable.from(uudecode(input, found)), spoolDir);
    const header = found.header!;
    return { filename: header.filename, mode: header.mode, content: decoded };
  } catch (err) {
    if (err instanceof NotAContainer) return null;
    throw err;
  } finally {
    input.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// TNEF
// ---------------------------------------------------------------------------------------------

const TNEF_SIGNATURE = 0x223e9f78;
const LEVEL_MESSAGE = 0x01;
const LEVEL_ATTACHMENT = 0x02;

// Attribute identifiers (the low 16 bits of the attribute ID; MS-OXTNEF 2.1.3.3 and 2.1.3.4)
const ATT_BODY = 0x800c;
const ATT_ATTACH_DATA = 0x800f;
const ATT_ATTACH_TITLE = 0x8010;
const ATT_ATTACH_REND_DATA = 0x9002;
const ATT_MSG_PROPS = 0x9003;
const ATT_ATTACHMENT = 0x9005;
const ATT_OEM_CODEPAGE = 0x9007;

// MAPI property identifiers (MS-OXPROPS)
const PID_BODY = 0x1000;
const PID_BODY_HTML = 0x1013;
const PID_DISPLAY_NAME = 0x3001;
const PID_ATTACH_DATA = 0x3701; // PidTagAttachDataBinary / PidTagAttachDataObject
const PID_ATTACH_FILENAME = 0x3704;
const PID_ATTACH_LONG_FILENAME = 0x3707;
const PID_INTERNET_CPID = 0x3fde;

// MAPI property types (MS-OXCDATA 2.11.1)
const PT_STRING8 = 0x001e;
const PT_UNICODE = 0x001f;
const PT_BINARY = 0x0102;
const PT_OBJECT = 0x000d;
const MULTI_VALUE = 0x1000;
/** Value sizes of the fixed-size types; each value is padded to a multiple of 4 bytes in TNEF. */
const FIXED_SIZES = new Map<number, number>([
  [0x0002, 2], // PtypInteger16
  [0x0003, 4], // PtypInteger32
  [0x0004, 4], // PtypFloating32
  [0x0005, 8], // PtypFloating64
  [0x0006, 8], // PtypCurrency
  [0x0007, 8], // PtypFloatingTime
  [0x000a, 4], // PtypErrorCode
  [0x000b, 2], // PtypBoolean
  [0x0014, 8], // PtypInteger64
  [0x0040, 8], // PtypTime
  [0x0048, 16], // PtypGuid
]);
const VARIABLE_TYPES = new Set([PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT]);

/** At most this many attachments are unpacked; a stream with more gives null. */
export const TNEF_MAX_FILES = 1000;
/** Attributes other than attAttachData longer than this (bytes) are checked and skipped, not parsed. */
const TNEF_MAX_BUFFERED_ATTRIBUTE = 32 * 1024 * 1024;

interface MapiValue {
  type: number;
  data: Buffer;
}

interface PendingAttachment {
  title: Buffer | null;
  props: Map<number, MapiValue> | null;
  data: RawMessage | null;
}

const pad4 = (n: number) => n + ((4 - (n % 4)) % 4);

function byteSum(bytes: Buffer, start: number): number {
  let sum = start;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!;
  return sum % 0x10000;
}

/**
 * Reads a TNEF property list (MS-OXTNEF 2.1.3.5: count, then tag, optional name, values).
 * Keeps the first value of each single-valued standard property; stops, keeping what it has,
 * at an unknown type or where the list runs past its bytes.
 */
function readPropertyList(data: Buffer): Map<number, MapiValue> {
  const props = new Map<number, MapiValue>();
  if (data.length < 4) return props;
  const count = data.readUInt32LE(0);
  let at = 4;
  list: for (let i = 0; i < count && at + 4 <= data.length; i++) {
    const tagType = data.readUInt16LE(at);
    const id = data.readUInt16LE(at + 2);
    at += 4;
    if (id >= 0x8000) {
      // named property: GUID (16), kind (4), then a numeric ID (4) or a sized UTF-16LE name
      if (at + 24 > data.length) break;
      const kind = data.readUInt32LE(at + 16);
      at += 20;
      if (kind === 0) at += 4;
      else if (kind === 1) {
        const size = data.readUInt32LE(at);
        at += 4 + pad4(size);
      } else break;
    }
    const type = tagType & ~MULTI_VALUE;
    const multi = (tagType & MULTI_VALUE) !== 0;
    const fixed = FIXED_SIZES.get(type);
    const variable = VARIABLE_TYPES.has(type);
    if (fixed === undefined && !variable) break;
    let values = 1;
    if (multi || variable) {
      if (at + 4 > data.length) break;
      values = data.readUInt32LE(at);
      at += 4;
      // every value takes at least 4 bytes
      if (values > (data.length - at) / 4) break;
    }
    let first: Buffer | null = null;
    for (let v = 0; v < values; v++) {
      let size = fixed ?? 0;
      if (variable) {
        if (at + 4 > data.length) break list;
        size = data.readUInt32LE(at);
        at += 4;
      }
      if (at + size > data.length) break list;
      if (v === 0) first = data.subarray(at, at + size);
      at += pad4(size);
    }
    if (first && !multi && id < 0x8000) props.set(id, { type, data: first });
  }
  return props;
}

/** The iconv-lite encoding for a Windows code page number; windows-1252 when unknown. */
function encodingForCodepage(codepage: number | null): string {
  if (codepage === 65001) return 'utf8';
  if (codepage === 1200) return 'utf16le';
  if (codepage === 20127) return 'ascii';
  if (codepage !== null && codepage >= 28591 && codepage <= 28606) {
    const name = `iso-8859-${codepage - 28590}`;
    if (iconv.encodingExists(name)) return name;
  }
  if (codepage !== null && iconv.encodingExists(`cp${codepage}`)) return `cp${codepage}`;
  return 'windows-1252';
}

/** An 8-bit string up to its first NUL, in the given code page. */
function decodeString8(bytes: Buffer, codepage: number | null): string {
  const nul = bytes.indexOf(0);
  return iconv.decode(nul >= 0 ? bytes.subarray(0, nul) : bytes, encodingForCodepage(codepage));
}

/** A string property (PtypString8 in the code page, PtypString as UTF-16LE) without trailing NULs; null otherwise. */
function stringProperty(props: Map<number, MapiValue> | null, id: number, codepage: number | null): string | null {
  const value = props?.get(id);
  if (!value) return null;
  if (value.type === PT_STRING8) return decodeString8(value.data, codepage);
  if (value.type === PT_UNICODE) return value.data.subarray(0, value.data.length & ~1).toString('utf16le').replace(/\0+$/, '');
  return null;
}

/** The attachment's name: long file name, then attAttachTitle, then 8.3 name, then display name; '' when none. */
function attachmentName(attachment: PendingAttachment, codepage: number | null): string {
  const long = stringProperty(attachment.props, PID_ATTACH_LONG_FILENAME, codepage);
  if (long) return long;
  const title = attachment.title ? decodeString8(attachment.title, codepage) : '';
  if (title) return title;
  return (
    stringProperty(attachment.props, PID_ATTACH_FILENAME, codepage) ||
    stringProperty(attachment.props, PID_DISPLAY_NAME, codepage) ||
    ''
  );
}

async function* withByteSum(source: AsyncGenerator<Buffer>, sum: { value: number }): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    sum.value = byteSum(piece, sum.value);
    yield piece;
  }
}

/**
 * Unpacks an Outlook TNEF stream (`winmail.dat`, `application/ms-tnef`, `application/vnd.ms-tnef`).
 *
 * Format: [MS-OXTNEF] Transport Neutral Encapsulation Format (signature 0x223E9F78, legacy key,
 * then attributes: level, ID, length, data, 16-bit byte-sum checksum); property lists as in
 * MS-OXTNEF 2.1.3.5, property IDs from [MS-OXPROPS].
 *
 * Each attachment's bytes come from attAttachData, else from PidTagAttachDataBinary, else from
 * PidTagAttachDataObject (an embedded Outlook message or OLE object: the bytes after its 16-byte
 * interface ID; for an embedded message these are a TNEF stream again). Attachments without data
 * (e.g. attached by reference) are left out. The body: attBody or PidTagBody as text,
 * PidTagBodyHtml/PidTagHtml as HTML; a body that is only compressed RTF (PidTagRtfCompressed) is
 * not decoded, so both body fields are null then. 8-bit strings are decoded in the code page from
 * attOemCodepage (PidTagInternetCodepage for binary HTML), windows-1252 when absent.
 *
 * Bounds on hostile input: every attribute length is checked against the bytes left; at most
 * TNEF_MAX_FILES (1000) attachments; the files together never exceed the input size (nothing is
 * decompressed); attributes other than attAttachData over 32 MiB are skipped, not parsed.
 *
 * @param content the decoded part bytes
 * @param spoolDir directory for spool files of attachments over 256 KiB
 * @returns `files` in stream order, `filename` as stored (PidTagAttachLongFilename, else attAttachTitle,
 *   else PidTagAttachFilename, else PidTagDisplayName; '' when none; not yet made safe), `content`
 *   with size in bytes and SHA-256 (call `discard()` when done); `bodyText`/`bodyHtml` or null.
 *   null when the bytes are not TNEF (no signature), are truncated, have a bad checksum or an
 *   unknown attribute level, or hold more than TNEF_MAX_FILES attachments.
 * @throws only I/O errors (reading `content`, writing a spool file)
 */
export async function unpackTnef(
  content: RawMessage,
  spoolDir: string,
): Promise<{ files: { filename: string; content: RawMessage }[]; bodyText: string | null; bodyHtml: string | null } | null> {
  const input = content.open();
  const reader = new ByteReader(input as AsyncIterable<Buffer>);
  const spooled: RawMessage[] = [];
  let kept = false;
  try {
    const start = await reader.read(6);
    if (!start || start.readUInt32LE(0) !== TNEF_SIGNATURE) return null;

    const attachments: PendingAttachment[] = [];
    let current: PendingAttachment | null = null;
    let codepage: number | null = null;
    let attBody: Buffer | null = null;
    let messageProps: Map<number, MapiValue> | null = null;
    let outputBytes = 0;
    const newAttachment = (): PendingAttachment => {
      if (attachments.length >= TNEF_MAX_FILES) throw new NotAContainer('too many attachments');
      const attachment: PendingAttachment = { title: null, props: null, data: null };
      attachments.push(attachment);
      return attachment;
    };
    const checkSum = async (expected: number) => {
      const stored = await reader.read(2);
      if (!stored) throw new NotAContainer('input ends before a checksum');
      if (stored.readUInt16LE(0) !== expected) throw new NotAContainer('attribute checksum mismatch');
    };

    for (;;) {
      const head = await reader.read(9);
      if (!head) {
        // tolerate line ends or NUL padding that a transport added after the last attribute
        const rest = await reader.rest(9);
        if (rest === null || rest.some((b) => b !== 0x00 && b !== 0x0d && b !== 0x0a)) {
          throw new NotAContainer('input ends inside an attribute header');
        }
        break;
      }
      const level = head[0]!;
      const id = head.readUInt16LE(1);
      const length = head.readUInt32LE(5);
      if (level !== LEVEL_MESSAGE && level !== LEVEL_ATTACHMENT) throw new NotAContainer('unknown attribute level');
      if (length + 2 > content.size - reader.position) throw new NotAContainer('attribute longer than the input');

      if (level === LEVEL_ATTACHMENT && id === ATT_ATTACH_DATA) {
        current ??= newAttachment();
        const sum = { value: 0 };
        const data = await spool(Readable.from(withByteSum(reader.stream(length), sum)), spoolDir);
        spooled.push(data);
        await checkSum(sum.value);
        if (current.data) outputBytes -= current.data.size;
        current.data = data;
        outputBytes += data.size;
        if (outputBytes > content.size) throw new NotAContainer('output larger than the input');
        continue;
      }
      if (length > TNEF_MAX_BUFFERED_ATTRIBUTE) {
        const sum = { value: 0 };
        for await (const piece of withByteSum(reader.stream(length), sum)) void piece;
        await checkSum(sum.value);
        continue;
      }
      const data = await reader.read(length);
      if (!data) throw new NotAContainer('input ends inside an attribute');
      await checkSum(byteSum(data, 0));

      if (level === LEVEL_ATTACHMENT) {
        if (id === ATT_ATTACH_REND_DATA) current = newAttachment();
        else if (id === ATT_ATTACH_TITLE) (current ??= newAttachment()).title = data;
        else if (id === ATT_ATTACHMENT) (current ??= newAttachment()).props = readPropertyList(data);
      } else if (id === ATT_BODY) attBody = data;
      else if (id === ATT_MSG_PROPS) messageProps = readPropertyList(data);
      else if (id === ATT_OEM_CODEPAGE && data.length >= 4) codepage = data.readUInt32LE(0);
    }

    const files: { filename: string; content: RawMessage }[] = [];
    for (const attachment of attachments) {
      let data = attachment.data;
      if (!data) {
        const value = attachment.props?.get(PID_ATTACH_DATA);
        let bytes: Buffer | null = null;
        if (value?.type === PT_BINARY) bytes = value.data;
        else if (value?.type === PT_OBJECT && value.data.length >= 16) bytes = value.data.subarray(16);
        if (!bytes) continue;
        outputBytes += bytes.length;
        if (outputBytes > content.size) throw new NotAContainer('output larger than the input');
        data = await spool(Readable.from([bytes]), spoolDir);
        spooled.push(data);
      }
      files.push({ filename: attachmentName(attachment, codepage), content: data });
    }

    let bodyText = attBody ? decodeString8(attBody, codepage) : stringProperty(messageProps, PID_BODY, codepage);
    let bodyHtml = stringProperty(messageProps, PID_BODY_HTML, codepage);
    const html = messageProps?.get(PID_BODY_HTML);
    if (bodyHtml === null && html?.type === PT_BINARY) {
      const cpid = messageProps?.get(PID_INTERNET_CPID);
      const htmlCodepage = cpid && cpid.type === 0x0003 && cpid.data.length >= 4 ? cpid.data.readUInt32LE(0) : codepage;
      bodyHtml = iconv.decode(html.data, encodingForCodepage(htmlCodepage)).replace(/\0+$/, '');
    }
    if (bodyText === '') bodyText = null;
    if (bodyHtml === '') bodyHtml = null;

    // attachment data replaced by a later attAttachData of the same attachment
    const used = new Set(files.map((f) => f.content));
    await Promise.all(spooled.filter((raw) => !used.has(raw)).map((raw) => raw.discard()));
    kept = true;
    return { files, bodyText, bodyHtml };
  } catch (err) {
    if (err instanceof NotAContainer || err instanceof RangeError) return null;
    throw err;
  } finally {
    if (!kept) await Promise.all(spooled.map((raw) => raw.discard()));
    input.destroy();
  }
}
