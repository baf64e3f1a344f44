import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The raw RFC 5322 bytes of one message, readable as often as needed without holding them in memory.
 * `size` in bytes; `sha256` lower-case hex of exactly those bytes.
 */
export interface RawMessage {
  size: number;
  sha256: string;
  open(): Readable;
  /** Removes a spool file this object owns; no-op for other kinds. */
  discard(): Promise<void>;
}

/** Wraps bytes already in memory (tests, small inputs). */
export function rawFromBuffer(bytes: Buffer): RawMessage {
  return {
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    open: () => Readable.from([bytes]),
    discard: async () => {},
  };
}

/**
 * Wraps a file on disk (e.g. `posteingang ingest file.eml`), hashing it once by streaming.
 * @throws the fs error when the file cannot be read
 */
export async function rawFromFile(file: string): Promise<RawMessage> {
  const { size } = await stat(file);
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return { size, sha256: hash.digest('hex'), open: () => createReadStream(file), discard: async () => {} };
}

/** Raised by `spool` when the stream was longer than the limit; the partial file is already removed. */
export class SizeLimitError extends Error {
  constructor(readonly limit: number) {
    super(`message exceeds the size limit of ${limit} bytes`);
    this.name = 'SizeLimitError';
  }
}

/**
 * Writes a stream to a new file under `dir` while hashing and counting it, so that the message is
 * never held in memory as a whole.
 * @param maxBytes optional limit; past it the rest is drained and SizeLimitError is thrown
 * @returns a RawMessage owning the spool file (call `discard()` when done)
 */
export async function spool(stream: Readable, dir: string, maxBytes?: number): Promise<RawMessage> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${randomUUID()}.eml`);
  const hash = createHash('sha256');
  let size = 0;
  let exceeded = false;
  const out = createWriteStream(file, { mode: 0o600 });
  try {
    await pipeline(
      stream,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.length;
          if (maxBytes !== undefined && size > maxBytes) exceeded = true;
          if (exceeded) continue; // keep draining so the client can be answered
          hash.update(chunk);
          yield chunk;
        }
      },
      out,
    );
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  if (exceeded) {
    await rm(file, { force: true });
    throw new SizeLimitError(maxBytes!);
  }
  return {
    size,
    sha256: hash.digest('hex'),
    open: () => createReadStream(file),
    discard: () => rm(file, { force: true }),
  };
}
