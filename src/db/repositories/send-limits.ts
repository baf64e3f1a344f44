import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Db, Tx } from '../client.js';
import { outboxMessage, sendLimit, staff } from '../schema.js';

export type SendLimitRow = typeof sendLimit.$inferSelect;

/** The stored limits (the one row, id 1), or null when none were ever set. */
export async function getSendLimitRow(db: Db | Tx): Promise<SendLimitRow | null> {
  const [row] = await db.select().from(sendLimit).where(eq(sendLimit.id, 1));
  return row ?? null;
}

/** Stores the limits in the one row (created when missing). @returns the stored row */
export async function saveSendLimits(db: Db, values: { maxRecipients: number; maxPerMinute: number }): Promise<SendLimitRow> {
  const [row] = await db
    .insert(sendLimit)
    .values({ id: 1, ...values, updatedAt: sql`now()` })
    .onConflictDoUpdate({ target: sendLimit.id, set: { ...values, updatedAt: sql`now()` } })
    .returning();
  return row!;
}

/**
 * Locks the staff row of `staffId` until the end of the transaction, so that one person's
 * enqueues run one after the other (another person's are not held up). `FOR NO KEY UPDATE`
 * leaves foreign-key checks of rows that merely reference the person (task events, candidacies)
 * unblocked; the same on PGlite and PostgreSQL.
 */
export async function lockSender(tx: Tx, staffId: number): Promise<void> {
  await tx.select({ id: staff.id }).from(staff).where(eq(staff.id, staffId)).for('no key update');
}

/**
 * When `staffId` may queue again: with at least `limit` messages queued by them within the last
 * `windowSeconds` (by the database clock), the whole seconds (at least 1) until the `limit`-th
 * newest of them leaves the window; null while they are under the limit.
 */
export async function sendWaitSeconds(tx: Tx, staffId: number, limit: number, windowSeconds: number): Promise<number | null> {
  const [row] = await tx
    .select({ wait: sql<number>`greatest(1, ceil(extract(epoch from (${outboxMessage.createdAt} + make_interval(secs => ${windowSeconds}) - clock_timestamp()))))::int` })
    .from(outboxMessage)
    .where(and(eq(outboxMessage.createdBy, staffId), gt(outboxMessage.createdAt, sql`clock_timestamp() - make_interval(secs => ${windowSeconds})`)))
    .orderBy(desc(outboxMessage.createdAt))
    .limit(1)
    .offset(limit - 1);
  return row ? Number(row.wait) : null;
}
