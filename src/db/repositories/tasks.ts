import { and, desc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { activityType, message, staff, task, taskCandidate, type Channel, type TaskStatus } from '../schema.js';

export interface TaskFilter {
  status?: TaskStatus;
  channel?: Channel;
  /** only tasks this staff member is assignee or candidate of */
  visibleTo?: number;
  limit: number;
  offset: number;
}

/** Tasks, newest first, with activity type, sender, subject, candidates and assignee. */
export async function listTasks(db: Db, filter: TaskFilter) {
  const where: SQL[] = [];
  if (filter.status) where.push(eq(task.status, filter.status));
  if (filter.channel) where.push(eq(task.channel, filter.channel));
  if (filter.visibleTo !== undefined) {
    where.push(
      or(
        eq(task.assigneeId, filter.visibleTo),
        sql`exists (select 1 from ${taskCandidate} where ${taskCandidate.taskId} = ${task.id} and ${taskCandidate.staffId} = ${filter.visibleTo})`,
      )!,
    );
  }
  const rows = await db
    .select({
      id: task.id,
      status: task.status,
      channel: task.channel,
      activityType: activityType.name,
      unreadable: task.unreadable,
      messageId: task.messageId,
      sender: message.senderAddress,
      subject: message.subject,
      assigneeId: task.assigneeId,
      createdAt: task.createdAt,
      completedAt: task.completedAt,
    })
    .from(task)
    .innerJoin(activityType, eq(activityType.id, task.activityTypeId))
    .innerJoin(message, eq(message.id, task.messageId))
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(task.id))
    .limit(filter.limit)
    .offset(filter.offset);
  const ids = rows.map((r) => r.id);
  const cands = ids.length
    ? await db
        .select({ taskId: taskCandidate.taskId, id: staff.id, login: staff.login, name: staff.name })
        .from(taskCandidate)
        .innerJoin(staff, eq(staff.id, taskCandidate.staffId))
        .where(inArray(taskCandidate.taskId, ids))
        .orderBy(staff.id)
    : [];
  const people = new Map<number, { id: number; login: string | null; name: string }>();
  const assigneeIds = rows.map((r) => r.assigneeId).filter((x): x is number => x !== null);
  if (assigneeIds.length) {
    for (const p of await db.select({ id: staff.id, login: staff.login, name: staff.name }).from(staff).where(inArray(staff.id, assigneeIds))) {
      people.set(p.id, p);
    }
  }
  return rows.map(({ assigneeId, ...r }) => ({
    ...r,
    candidates: cands.filter((c) => c.taskId === r.id).map(({ id, login, name }) => ({ id, login, name })),
    assignee: assigneeId === null ? null : (people.get(assigneeId) ?? null),
  }));
}
