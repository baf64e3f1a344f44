import type { Db } from '../db/client.js';
import { readBlob } from '../db/blobs.js';
import * as repo from '../db/repositories/messages.js';
import { NotFoundError } from './errors.js';

export const listMessages = repo.listMessages;

/** A message with its attachments and receipts. @throws NotFoundError */
export async function showMessage(db: Db, id: number) {
  const m = await repo.getMessage(db, id);
  if (!m) throw new NotFoundError(`no message with id ${id}`);
  return m;
}

/**
 * The raw RFC 5322 bytes exactly as first received, as a stream of chunks.
 * @returns size in bytes and the chunks @throws NotFoundError
 */
export async function rawMessage(db: Db, id: number) {
  const m = await repo.getMessage(db, id);
  if (!m) throw new NotFoundError(`no message with id ${id}`);
  const found = await readBlob(db, m.sha256);
  if (!found) throw new NotFoundError(`the raw bytes of message ${id} are missing`);
  return { ...found, sha256: m.sha256 };
}

/** An attachment's metadata and content stream. @throws NotFoundError */
export async function attachmentContent(db: Db, id: number) {
  const a = await repo.getAttachment(db, id);
  if (!a) throw new NotFoundError(`no attachment with id ${id}`);
  const found = await readBlob(db, a.sha256);
  if (!found) throw new NotFoundError(`the content of attachment ${id} is missing`);
  return { attachment: a, chunks: found.chunks };
}
