import { and, desc, eq, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { task, type Channel, type TaskStatus } from '../schema.js';
import { taskViews, taskVisibleTo } from './task-views.js';

export interface TaskFilter {
  status?: TaskStatus;
  channel?: Channel;
  /** only tasks this staff member is assignee or candidate of */
  visibleTo?: number;
  limit: number;
  offset: number;
}

/** Tasks, newest first, with activity type, sender, subject, candidates and assignee (see taskViews). */
export async function listTasks(db: Db, filter: TaskFilter) {
  const where: SQL[] = [];
  if (filter.status) where.push(eq(task.status, filter.status));
  if (filter.channel) where.push(eq(task.channel, filter.channel));
  if (filter.visibleTo !== undefined) where.push(taskVisibleTo(filter.visibleTo));
  const page = await db
    .select({ id: task.id })
    .from(task)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(task.id))
    .limit(filter.limit)
    .offset(filter.offset);
  return (await taskViews(db, page.map((r) => r.id))).reverse();
}
