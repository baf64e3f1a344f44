import { and, asc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { AutomatedKind } from '../../ingest/auto-reply.js';
import type { Db, Tx } from '../client.js';
import { activityType, message, staff, task, taskCandidate, taskEvent } from '../schema.js';

/** A person as shown next to a task: id, login (null for external people) and "Nachname, Vorname". */
export interface PersonRef {
  id: number;
  login: string | null;
  name: string;
}

/**
 * `true` when the staff member may see the task (the rule that decides what staff see): they are
 * its assignee, or it is not claimed yet and they are one of its candidates. Once someone claimed
 * it (first to sync, domain.md item 5), the other candidates no longer see it.
 */
export function taskVisibleTo(staffId: number): SQL {
  return or(
    eq(task.assigneeId, staffId),
    sql`(${task.assigneeId} is null and exists (select 1 from ${taskCandidate} where ${taskCandidate.taskId} = ${task.id} and ${taskCandidate.staffId} = ${staffId}))`,
  )!;
}

/**
 * Tasks by id with activity type, sender, subject, candidates and assignee, in ascending id order.
 * Ids that do not exist are left out.
 */
export async function taskViews(db: Db | Tx, ids: number[]) {
  if (ids.length === 0) return [];
  const rows = await db
    .select({
      id: task.id,
      status: task.status,
      channel: task.channel,
      activityTypeId: task.activityTypeId,
      activityType: activityType.name,
      unreadable: task.unreadable,
      messageId: task.messageId,
      sender: message.senderAddress,
      senderName: message.senderName,
      subject: message.subject,
      /** RFC 3834 loop protection: bounce | auto-submitted | list | bulk; null for mail from a person */
      automated: sql<AutomatedKind | null>`${message.automated}`,
      assigneeId: task.assigneeId,
      createdAt: task.createdAt,
      completedAt: task.completedAt,
    })
    .from(task)
    .innerJoin(activityType, eq(activityType.id, task.activityTypeId))
    .innerJoin(message, eq(message.id, task.messageId))
    .where(inArray(task.id, ids))
    .orderBy(asc(task.id));
  const cands = await db
    .select({ taskId: taskCandidate.taskId, id: staff.id, login: staff.login, name: staff.name })
    .from(taskCandidate)
    .innerJoin(staff, eq(staff.id, taskCandidate.staffId))
    .where(inArray(taskCandidate.taskId, ids))
    .orderBy(staff.id);
  const byTask = new Map<number, PersonRef[]>();
  for (const { taskId, ...p } of cands) {
    const list = byTask.get(taskId) ?? [];
    list.push(p);
    byTask.set(taskId, list);
  }
  const assigneeIds = [...new Set(rows.map((r) => r.assigneeId).filter((x): x is number => x !== null))];
  const people = new Map<number, PersonRef>();
  if (assigneeIds.length) {
    for (const p of await db.select({ id: staff.id, login: staff.login, name: staff.name }).from(staff).where(inArray(staff.id, assigneeIds))) {
      people.set(p.id, p);
    }
  }
  return rows.map(({ assigneeId, ...r }) => ({
    ...r,
    assignee: assigneeId === null ? null : (people.get(assigneeId) ?? null),
    candidates: byTask.get(r.id) ?? [],
  }));
}

export type TaskView = Awaited<ReturnType<typeof taskViews>>[number];

/** The history of a task, oldest first, with the acting person (null: the gateway or the local operator). */
export async function taskHistory(db: Db, taskId: number) {
  const rows = await db
    .select({
      id: taskEvent.id,
      at: taskEvent.at,
      action: taskEvent.action,
      detail: taskEvent.detail,
      actorId: staff.id,
      actorLogin: staff.login,
      actorName: staff.name,
    })
    .from(taskEvent)
    .leftJoin(staff, eq(staff.id, taskEvent.actorId))
    .where(eq(taskEvent.taskId, taskId))
    .orderBy(asc(taskEvent.at), asc(taskEvent.id));
  return rows.map(({ actorId, actorLogin, actorName, ...r }) => ({
    ...r,
    actor: actorId === null ? null : { id: actorId, login: actorLogin, name: actorName! },
  }));
}

/** Whether a task exists and the staff member may see it (assignee or candidate). */
export async function taskExistsFor(db: Db | Tx, taskId: number, staffId: number | null): Promise<boolean> {
  const rows = await db
    .select({ id: task.id })
    .from(task)
    .where(staffId === null ? eq(task.id, taskId) : and(eq(task.id, taskId), taskVisibleTo(staffId)));
  return rows.length > 0;
}
