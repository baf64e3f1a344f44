import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
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

/** Messages up to this size (bytes) are kept in memory while they are ingested; larger ones go to a spool file. */
export const MEMORY_SPOOL_BYTES = 256 * 1024;

/**
 * Takes in a message stream while hashing and counting it, so that it is never held in memory
 * twice: up to MEMORY_SPOOL_BYTES it stays in memory, beyond that it is written to a new file
 * under `dir`.
 * @param maxBytes optional limit; past it the rest is drained and SizeLimitError is thrown
 * @returns a RawMessage (call `discard()` when done to remove its spool file)
 */
export async function spool(stream: Readable, dir: string, maxBytes?: number): Promise<RawMessage> {
  const hash = createHash('sha256');
  let size = 0;
  let exceeded = false;
  let memory: Buffer[] | null = [];
  let file: string | null = null;
  let out: WriteStream | null = null;
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => out!.write(chunk, (err) => (err ? reject(err) : resolve())));
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (maxBytes !== undefined && size > maxBytes) exceeded = true;
      if (exceeded) continue; // keep draining so that the client can be answered
      hash.update(chunk);
      if (memory && size <= MEMORY_SPOOL_BYTES) {
        memory.push(chunk);
        continue;
      }
      if (!out) {
        await mkdir(dir, { recursive: true });
        file = path.join(dir, `${randomUUID()}.eml`);
        out = createWriteStream(file, { mode: 0o600 });
        for (const m of memory ?? []) await write(m);
        memory = null;
      }
      await write(chunk);
    }
    if (out) await new Promise<void>((resolve, reject) => out!.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (err) {
    out?.destroy();
    if (file) await rm(file, { force: true });
    throw err;
  }
  if (exceeded) {
    out?.destroy();
    if (file) await rm(file, { force: true });
    throw new SizeLimitError(maxBytes!);
  }
  const sha256 = hash.digest('hex');
  if (!file) return rawFromBuffer(Buffer.concat(memory ?? [], size));
  const spoolFile = file;
  return { size, sha256, open: () => createReadStream(spoolFile), discard: () => rm(spoolFile, { force: true }) };
}
