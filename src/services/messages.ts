import type { Db } from '../db/client.js';
import { readBlob } from '../db/blobs.js';
import * as repo from '../db/repositories/messages.js';
import { NotFoundError } from './errors.js';
import type { Principal } from './tokens.js';

/** Who asks; staff (not admins) see only the messages of their own tasks. Omitted: the CLI (trusted). */
export type Viewer = Pick<Principal, 'id' | 'role'> | undefined;

/**
 * @throws NotFoundError when `viewer` may not see the message: the same answer as for a message
 *   that does not exist, so ids reveal nothing
 */
async function checkVisible(db: Db, id: number, viewer: Viewer): Promise<void> {
  if (viewer && viewer.role !== 'admin' && !(await repo.messageVisibleTo(db, id, viewer.id))) {
    throw new NotFoundError(`no message with id ${id}`);
  }
}

/** Messages, newest first, limited to what `viewer` may see. */
export function listMessages(db: Db, opts: { limit: number; offset: number }, viewer?: Viewer) {
  return repo.listMessages(db, { ...opts, visibleTo: viewer && viewer.role !== 'admin' ? viewer.id : undefined });
}

/** A message with its attachments and receipts. @throws NotFoundError */
export async function showMessage(db: Db, id: number, viewer?: Viewer) {
  await checkVisible(db, id, viewer);
  const m = await repo.getMessage(db, id);
  if (!m) throw new NotFoundError(`no message with id ${id}`);
  return m;
}

/**
 * The raw RFC 5322 bytes exactly as first received, as a stream of chunks.
 * @returns size in bytes and the chunks @throws NotFoundError
 */
export async function rawMessage(db: Db, id: number, viewer?: Viewer) {
  await checkVisible(db, id, viewer);
  const m = await repo.getMessage(db, id);
  if (!m) throw new NotFoundError(`no message with id ${id}`);
  const found = await readBlob(db, m.sha256);
  if (!found) throw new NotFoundError(`the raw bytes of message ${id} are missing`);
  return { ...found, sha256: m.sha256 };
}

/** An attachment's metadata and content stream. @throws NotFoundError */
export async function attachmentContent(db: Db, id: number, viewer?: Viewer) {
  const a = await repo.getAttachment(db, id);
  if (!a) throw new NotFoundError(`no attachment with id ${id}`);
  await checkVisible(db, a.messageId, viewer).catch(() => {
    throw new NotFoundError(`no attachment with id ${id}`);
  });
  const found = await readBlob(db, a.sha256);
  if (!found) throw new NotFoundError(`the content of attachment ${id} is missing`);
  return { attachment: a, chunks: found.chunks };
}
