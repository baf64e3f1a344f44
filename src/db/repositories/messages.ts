import { asc, desc, eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { attachment, message, receipt } from '../schema.js';

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
};

export function listMessages(db: Db, opts: { limit: number; offset: number }) {
  return db.select(summary).from(message).orderBy(desc(message.id)).limit(opts.limit).offset(opts.offset);
}

export async function getMessage(db: Db, id: number) {
  const [row] = await db
    .select({ ...summary, text: message.text, html: message.html, dateFromHeader: message.dateFromHeader })
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
