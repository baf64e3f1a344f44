import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/**
 * Header fields that the originator writes (RFC 5322 §3.6 plus the MIME fields of RFC 2045).
 * Everything else, above all the trace fields that relays and mail stores add on the way
 * (`Received`, `Return-Path`, `Delivered-To`, `X-Original-To`, `Authentication-Results`, …),
 * is left out, so that a redelivery of the same message has the same fingerprint.
 */
const ORIGINATOR_FIELDS = new Set([
  'message-id',
  'date',
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'subject',
  'in-reply-to',
  'references',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
]);

/**
 * Computes the redelivery key of a parsed message: SHA-256 over its originator header fields
 * (unfolded, whitespace collapsed, in order) and its body with line endings normalised
 * (CR dropped, so CRLF and bare LF agree) and trailing line breaks ignored.
 * Two messages that share a `Message-ID` but differ in content get different keys; a message
 * without `Message-ID` is keyed by its content.
 * @param headerLines top-level header lines as mailparser gives them
 * @param raw a fresh stream of the raw message
 * @returns `v1:` + lower-case hex
 */
export async function fingerprint(headerLines: { key: string; line: string }[], raw: Readable): Promise<string> {
  const hash = createHash('sha256');
  for (const { key, line } of headerLines) {
    if (!ORIGINATOR_FIELDS.has(key)) continue;
    const value = line.slice(line.indexOf(':') + 1).replace(/\s+/g, ' ').trim();
    hash.update(`${key}:${value}\n`);
  }
  hash.update('\n');
  await hashBody(raw, hash);
  return `v1:${hash.digest('hex')}`;
}

/** The fingerprint of a message that could not be parsed: its exact bytes. */
export function rawFingerprint(sha256: string): string {
  return `raw:${sha256}`;
}

const LF = 0x0a;
const CR = 0x0d;

async function hashBody(raw: Readable, hash: ReturnType<typeof createHash>): Promise<void> {
  let inBody = false;
  let lastWasLf = false; // header scan: previous significant byte was LF
  let pendingLf = 0; // body: line feeds held back until a non-LF byte arrives
  for await (const chunk of raw as AsyncIterable<Buffer>) {
    let start = 0;
    if (!inBody) {
      let i = 0;
      for (; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (b === CR) continue;
        if (b === LF) {
          if (lastWasLf) {
            inBody = true;
            i++;
            break;
          }
          lastWasLf = true;
        } else lastWasLf = false;
      }
      if (!inBody) continue;
      start = i;
    }
    let runStart = start;
    for (let i = start; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === CR || b === LF) {
        if (i > runStart) {
          if (pendingLf) hash.update(Buffer.alloc(pendingLf, LF));
          pendingLf = 0;
          hash.update(chunk.subarray(runStart, i));
        }
        if (b === LF) pendingLf++;
        runStart = i + 1;
      }
    }
    if (runStart < chunk.length) {
      if (pendingLf) hash.update(Buffer.alloc(pendingLf, LF));
      pendingLf = 0;
      hash.update(chunk.subarray(runStart));
    }
  }
}
