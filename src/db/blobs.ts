import type { Readable } from 'node:stream';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from './client.js';
import { queryRows } from './rows.js';
import { blob, blobChunk } from './schema.js';

/** Bytes per stored chunk: large enough for few round trips, small enough to never hold a big file twice. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * Cuts a stream into pieces of exactly CHUNK_BYTES (the last one shorter); an empty stream gives
 * one empty piece, so that every blob has at least chunk 0.
 * @returns an async iterator of Buffers; `return()` on it destroys the stream
 */
async function* blobPieces(stream: Readable): AsyncGenerator<Buffer, void, undefined> {
  let parts: Buffer[] = [];
  let length = 0;
  let yielded = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(CHUNK_BYTES - length, chunk.length - offset);
      parts.push(chunk.subarray(offset, offset + take));
      length += take;
      offset += take;
      if (length === CHUNK_BYTES) {
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
        yielded = true;
        parts = [];
        length = 0;
      }
    }
  }
  if (length > 0 || !yielded) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}

/**
 * A chunk's bytes as a statement parameter. Sent as base64 text and decoded by the server: both
 * drivers pass text parameters quickly, while PGlite serialises a bytea parameter more than ten
 * times slower.
 */
function chunkData(data: Buffer): SQL {
  return sql`decode(${data.toString('base64')}, 'base64')`;
}

/**
 * Two common table expressions for one statement (PostgreSQL `WITH`, data-modifying): `<name>`
 * inserts the blob row unless a blob with that hash exists (returning its `sha256` only when it
 * was new) and `<name>_chunk` inserts chunk 0 for a new one. `onlyIf` (SQL, a boolean) can keep
 * the blob from being inserted at all.
 * @param first the first CHUNK_BYTES of the bytes (blobPieces' first piece)
 */
export function blobInsertCtes(name: string, item: { sha256: string; size: number }, first: Buffer, onlyIf?: SQL): SQL {
  const b = sql.identifier(name);
  return sql`${b} as (insert into ${blob} (sha256, size) select ${item.sha256}, ${item.size} where ${onlyIf ?? sql`true`}
      on conflict do nothing returning sha256),
    ${sql.identifier(`${name}_chunk`)} as (insert into ${blobChunk} (sha256, seq, data) select sha256, 0, ${chunkData(first)} from ${b})`;
}

/** Stores the chunks after chunk 0, one statement per chunk (a 50 MB scan is never held whole). */
async function putRestOfBlob(tx: Tx, sha256: string, pieces: AsyncIterator<Buffer>): Promise<void> {
  for (let seq = 1; ; seq++) {
    const next = await pieces.next();
    if (next.done) return;
    await tx.insert(blobChunk).values({ sha256, seq, data: chunkData(next.value) });
  }
}

/**
 * Stores bytes as a blob together with whatever else the caller's statement writes: `statement`
 * gets the first CHUNK_BYTES of the bytes (to put into blobInsertCtes) and must select one row
 * with `blobNew`, whether its blob row was inserted; the further chunks follow in statements of
 * their own when it was. The bytes are read once, chunk by chunk; the stream is closed in any case.
 * @returns the statement's row
 * @throws the database error of any statement
 */
export async function storeWithBlob<T extends { blobNew: boolean }>(tx: Tx, item: { sha256: string; open(): Readable }, statement: (first: Buffer) => SQL): Promise<T> {
  const pieces = blobPieces(item.open());
  try {
    const [row] = await queryRows<T>(tx, statement((await pieces.next()).value ?? Buffer.alloc(0)));
    if (row!.blobNew) await putRestOfBlob(tx, item.sha256, pieces);
    return row!;
  } finally {
    await pieces.return(); // closes the stream when not read to the end
  }
}

/**
 * Stores bytes under their SHA-256 unless they are stored already (content-addressed, so a
 * redelivered scan's PDF is kept once), inside the caller's transaction: one statement for bytes
 * up to CHUNK_BYTES, one more per further chunk.
 * @param item.sha256 lower-case hex of the bytes; `size` in bytes
 * @returns true when the bytes were new
 */
export async function putBlob(tx: Tx, item: { sha256: string; size: number; open(): Readable }): Promise<boolean> {
  const row = await storeWithBlob<{ blobNew: boolean }>(tx, item, (first) => sql`with ${blobInsertCtes('b', item, first)} select exists (select 1 from b) as "blobNew"`);
  return row.blobNew;
}

/**
 * Reads stored bytes back in order, one chunk per query, so a 50 MB scan is never loaded whole.
 * @returns null when no blob has that hash
 */
export async function readBlob(db: Db, sha256: string): Promise<{ size: number; chunks: AsyncIterable<Buffer> } | null> {
  const [row] = await db.select({ size: blob.size }).from(blob).where(eq(blob.sha256, sha256));
  if (!row) return null;
  async function* chunks() {
    for (let seq = 0; ; seq++) {
      const [c] = await db
        .select({ data: sql<string>`encode(${blobChunk.data}, 'base64')` })
        .from(blobChunk)
        .where(and(eq(blobChunk.sha256, sha256), eq(blobChunk.seq, seq)));
      if (!c) return;
      yield Buffer.from(c.data, 'base64');
    }
  }
  return { size: row.size, chunks: chunks() };
}

/** Reads a whole blob into memory: for small items and tests only. */
export async function readBlobBuffer(db: Db, sha256: string): Promise<Buffer | null> {
  const found = await readBlob(db, sha256);
  if (!found) return null;
  const parts: Buffer[] = [];
  for await (const c of found.chunks) parts.push(c);
  return Buffer.concat(parts);
}
