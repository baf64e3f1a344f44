import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { AutomatedKind } from '../../ingest/auto-reply.js';
import { LOSSY_ISSUES } from '../../ingest/parse.js';
import type { Db } from '../client.js';
import { taskVisibleTo } from './task-views.js';
import { attachment, message, receipt, task } from '../schema.js';

const summary = {
  id: message.id,
  receivedAt: message.receivedAt,
  senderAddress: message.senderAddress,
  senderName: message.senderName,
  subject: message.subject,
  date: message.date,
  messageIdHeader: message.messageIdHeader,
  size: message.size,
  sha256: message.rawSha256,
  parseError: message.parseError,
  /** what the parse adapted or lost in the parsed copy (ingest/parse.ts ParseIssue) */
  parseIssues: message.parseIssues,
  /** an issue means something could not be taken over into the parsed copy (LOSSY_ISSUES): look at the original */
  incomplete: sql<boolean>`exists (select 1 from jsonb_array_elements(${message.parseIssues}) i where i->>'code' in (${sql.join(
    [...LOSSY_ISSUES].map((c) => sql`${c}`),
    sql`, `,
  )}))`,
  /** RFC 3834 loop protection (ingest/auto-reply.ts): bounce | auto-submitted | list | bulk; null for mail from a person */
  automated: sql<AutomatedKind | null>`${message.automated}`,
};

/** SQL: the message has a task that `staffId` may see (taskVisibleTo: assignee, or candidate of an unclaimed task). */
export function visibleTo(staffId: number, messageId: SQL | typeof message.id = message.id): SQL {
  return sql`exists (select 1 from ${task} where ${task.messageId} = ${messageId} and ${taskVisibleTo(staffId)})`;
}

/** Messages, newest first; with `visibleTo`, only those of that staff member's tasks. */
export function listMessages(db: Db, opts: { limit: number; offset: number; visibleTo?: number }) {
  return db
    .select(summary)
    .from(message)
    .where(opts.visibleTo === undefined ? undefined : visibleTo(opts.visibleTo))
    .orderBy(desc(message.id))
    .limit(opts.limit)
    .offset(opts.offset);
}

/** Whether a staff member may see a message (it belongs to one of their tasks). */
export async function messageVisibleTo(db: Db, messageId: number, staffId: number): Promise<boolean> {
  const rows = await db.select({ id: message.id }).from(message).where(and(eq(message.id, messageId), visibleTo(staffId)));
  return rows.length > 0;
}

export async function getMessage(db: Db, id: number) {
  const [row] = await db
    .select({ ...summary, text: message.text, html: message.html, bodyFromRaw: message.bodyFromRaw, dateFromHeader: message.dateFromHeader })
    .from(message)
    .where(eq(message.id, id));
  if (!row) return null;
  const attachments = await db
    .select({
      id: attachment.id,
      position: attachment.position,
      filename: attachment.filename,
      contentType: attachment.contentType,
      declaredContentType: attachment.declaredContentType,
      size: attachment.size,
      sha256: attachment.sha256,
    })
    .from(attachment)
    .where(eq(attachment.messageId, id))
    .orderBy(asc(attachment.position));
  const receipts = await db
    .select({ sourceKind: receipt.sourceKind, source: receipt.source, duplicate: receipt.duplicate, receivedAt: receipt.receivedAt })
    .from(receipt)
    .where(eq(receipt.messageId, id))
    .orderBy(asc(receipt.id));
  return { ...row, attachments, receipts };
}

export async function getAttachment(db: Db, id: number) {
  const [row] = await db.select().from(attachment).where(eq(attachment.id, id));
  return row ?? null;
}

/**
 * Which of the given inbound-queue ids (SmtpSource.queueId) already have a receipt: their
 * message was committed before a crash took away the removal of the queue file.
 * @param queueIds ids as in DATA_DIR/queue/new
 * @returns the subset that is stored
 */
export async function queueIdsStored(db: Db, queueIds: string[]): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let i = 0; i < queueIds.length; i += 1000) {
    const slice = queueIds.slice(i, i + 1000);
    const rows = await db
      .select({ id: sql<string>`${receipt.source}->>'queueId'` })
      .from(receipt)
      .where(and(eq(receipt.sourceKind, 'smtp'), sql`${receipt.source}->>'queueId' in (${sql.join(slice.map((q) => sql`${q}`), sql`, `)})`));
    for (const r of rows) stored.add(r.id);
  }
  return stored;
}
