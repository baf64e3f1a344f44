import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import type { Db } from '../db/client.js';
import { readBlob } from '../db/blobs.js';
import { storableText } from '../db/storable.js';
import { parseMessage } from '../ingest/parse.js';
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

/**
 * A message with its attachments and receipts, and its text and HTML bodies: from its row, or,
 * for a message whose bodies were too long to store twice (`body_from_raw`, ingest.ts
 * BODY_STORED_MAX_CHARS), parsed from the raw bytes now, as ingest parsed them.
 * @returns the message; `text`/`html` null when it has none
 * @throws NotFoundError
 */
export async function showMessage(db: Db, id: number, viewer?: Viewer) {
  await checkVisible(db, id, viewer);
  const row = await repo.getMessage(db, id);
  if (!row) throw new NotFoundError(`no message with id ${id}`);
  const { bodyFromRaw, ...m } = row;
  return bodyFromRaw ? { ...m, ...(await bodiesFromRaw(db, id, m.sha256)) } : m;
}

/**
 * The text and HTML bodies of a stored message, parsed from its raw bytes with attachments read
 * past (nothing is written to disk), and cleaned as ingest cleaned them for storage (db/storable.ts).
 * @throws NotFoundError when the raw bytes are missing; what mailparser throws (it read them once already)
 */
async function bodiesFromRaw(db: Db, id: number, sha256: string): Promise<{ text: string | null; html: string | null }> {
  const found = await readBlob(db, sha256);
  if (!found) throw new NotFoundError(`the raw bytes of message ${id} are missing`);
  // bodiesOnly never spools, so the directory is not used
  const parsed = await parseMessage(Readable.from(found.chunks), tmpdir(), { bodiesOnly: true });
  const clean = (s: string | null) => (s === null ? null : storableText(s).value);
  return { text: clean(parsed.text), html: clean(parsed.html) };
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
