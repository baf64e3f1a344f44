import { and, count, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { activityType, receipt, task, type Channel } from '../schema.js';
import { OPEN_TASK_PREDICATE } from './task-list.js';

/** Deliveries over SMTP since `since` that were for `channel` (the channels of their accepted RCPT TO). */
export async function countSmtpReceiptsSince(db: Db, channel: Channel, since: Date): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(receipt)
    .where(and(eq(receipt.sourceKind, 'smtp'), gte(receipt.receivedAt, since), sql`${receipt.source}->'channels' @> ${JSON.stringify([channel])}::jsonb`));
  return Number(row?.n ?? 0);
}

/** Open tasks (open or unassigned) per activity type and status. */
export function countOpenTasksByActivity(db: Db) {
  return db
    .select({ name: activityType.name, status: task.status, n: count() })
    .from(task)
    .innerJoin(activityType, eq(activityType.id, task.activityTypeId))
    .where(OPEN_TASK_PREDICATE)
    .groupBy(activityType.name, task.status)
    .orderBy(activityType.name);
}
