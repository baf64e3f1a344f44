import { fingerprint } from './fingerprint.js';
import { parseMessage, ParseError, type ParsedMessage } from './parse.js';
import type { RawMessage } from './raw.js';

/** A message parsed for ingest: the parse or why it failed, and its redelivery key. */
export interface ParseOutcome {
  parsed: ParsedMessage | null;
  /** mailparser's reason when the message could not be read (then `parsed` is null) */
  parseError: string | null;
  /** the fingerprint (fingerprint.ts) */
  key: string;
}

/**
 * Parses a message and computes its fingerprint, in one pass where the parse read everything
 * (a second read only when it stopped early). A message mailparser cannot read is an outcome,
 * not an error.
 * @param spoolDir directory for attachments too large for memory (parse.ts)
 * @throws I/O errors reading `raw` or writing `spoolDir`
 */
export async function parseForIngest(raw: RawMessage, spoolDir: string): Promise<ParseOutcome> {
  try {
    const parsed = await parseMessage(raw.open(), spoolDir);
    // null: mailparser stopped early and only the header was read
    return { parsed, parseError: null, key: parsed.fingerprint ?? (await fingerprint(raw.open())) };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    // the parse stopped before the end: the key needs a read of its own
    return { parsed: null, parseError: err.message, key: err.fingerprint ?? (await fingerprint(raw.open())) };
  }
}
