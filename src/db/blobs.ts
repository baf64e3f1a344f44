import type { Readable } from 'node:stream';
import { and, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from './client.js';
import { blob, blobChunk } from './schema.js';

/** Bytes per stored chunk: large enough for few round trips, small enough to never hold a big file twice. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * Stores bytes under their SHA-256 unless they are stored already (content-addressed, so a
 * redelivered scan's PDF is kept once). Reads `open()` chunk by chunk inside the caller's transaction.
 * @param item.sha256 lower-case hex of the bytes; `size` in bytes
 * @returns true when the bytes were new
 */
export async function putBlob(tx: Tx, item: { sha256: string; size: number; open(): Readable }): Promise<boolean> {
  const inserted = await tx
    .insert(blob)
    .values({ sha256: item.sha256, size: item.size })
    .onConflictDoNothing()
    .returning({ sha256: blob.sha256 });
  if (inserted.length === 0) return false;
  let seq = 0;
  let parts: Buffer[] = [];
  let partsLength = 0;
  const flush = async () => {
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsLength);
    parts = [];
    partsLength = 0;
    // Sent as base64 text and decoded by the server: both drivers pass text parameters quickly,
    // while PGlite serialises a bytea parameter more than ten times slower.
    await tx.insert(blobChunk).values({ sha256: item.sha256, seq: seq++, data: sql`decode(${data.toString('base64')}, 'base64')` });
  };
  for await (const chunk of item.open() as AsyncIterable<Buffer>) {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(CHUNK_BYTES - partsLength, chunk.length - offset);
      parts.push(chunk.subarray(offset, offset + take));
      partsLength += take;
      offset += take;
      if (partsLength === CHUNK_BYTES) await flush();
    }
  }
  if (partsLength > 0 || seq === 0) await flush();
  return true;
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
