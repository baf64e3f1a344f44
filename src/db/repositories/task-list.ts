import { and, count, eq, gte, inArray, isNull, lt, lte, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { AutomatedKind } from '../../ingest/auto-reply.js';
import type { Db } from '../client.js';
import { activityType, message, staff, task, taskCandidate, type Channel, type TaskStatus } from '../schema.js';

/** Statuses of a task that still needs doing ("nicht abgeschlossen"): the open-task list shows these. */
export const OPEN_STATUSES = ['open', 'unassigned'] as const satisfies readonly TaskStatus[];
export type OpenStatus = (typeof OPEN_STATUSES)[number];

/** Columns the open-task list can be sorted by. */
export const TASK_LIST_SORTS = ['created', 'sender', 'subject', 'status', 'assignee'] as const;
export type TaskListSort = (typeof TASK_LIST_SORTS)[number];

/**
 * The predicate of the partial indexes `task_open_*` (schema.ts), as a constant: written out, not
 * bound as parameters, so that the planner can match the indexes with every plan (a generic plan
 * of a prepared statement cannot prove `status in ($1, $2)` implies the index predicate).
 */
export const OPEN_TASK_PREDICATE = sql.raw(`"task"."status" in (${OPEN_STATUSES.map((s) => `'${s}'`).join(', ')})`);

/** Filters of the open-task list, resolved to ids and instants (see services/task-list.ts). */
export interface OpenTaskFilter {
  status?: OpenStatus;
  channel?: Channel;
  activityTypeId?: number;
  /** the assignee's staff id; null: tasks nobody has (unclaimed or unassigned) */
  assigneeId?: number | null;
  /** substring of the sender address or name, case-insensitive */
  senderContains?: string;
  /** the sender address exactly (lower-cased, as stored) */
  senderAddress?: string;
  /** created at or after */
  createdFrom?: Date;
  /** created before (exclusive) */
  createdBefore?: Date;
  /** created at or before */
  createdUntil?: Date;
  /** only tasks this staff member is assignee or candidate of */
  visibleTo?: number;
}

export interface OpenTaskOrder {
  sort: TaskListSort;
  order: 'asc' | 'desc';
}

/** One row of the open-task list. */
export interface OpenTaskRow {
  id: number;
  status: OpenStatus;
  channel: Channel;
  activityType: string;
  messageId: number;
  sender: string | null;
  senderName: string | null;
  subject: string | null;
  unreadable: boolean;
  /** RFC 3834 loop protection (ingest/auto-reply.ts): bounce | auto-submitted | list | bulk; null for mail from a person */
  automated: AutomatedKind | null;
  assignee: { id: number; login: string | null; name: string } | null;
  createdAt: Date;
}

const assignee = alias(staff, 'assignee');

/** `%`, `_` and `\` matched literally in LIKE. */
const likeLiteral = (s: string) => s.replace(/[\\%_]/g, (ch) => `\\${ch}`);

function conditions(f: OpenTaskFilter): { where: SQL; needsMessage: boolean } {
  const w: SQL[] = [OPEN_TASK_PREDICATE];
  if (f.status) w.push(eq(task.status, f.status));
  if (f.channel) w.push(eq(task.channel, f.channel));
  if (f.activityTypeId !== undefined) w.push(eq(task.activityTypeId, f.activityTypeId));
  if (f.assigneeId === null) w.push(isNull(task.assigneeId));
  else if (f.assigneeId !== undefined) w.push(eq(task.assigneeId, f.assigneeId));
  if (f.senderAddress !== undefined) w.push(eq(message.senderAddress, f.senderAddress));
  if (f.senderContains !== undefined) {
    const pattern = `%${likeLiteral(f.senderContains)}%`;
    w.push(sql`(${message.senderAddress} ilike ${pattern} or ${message.senderName} ilike ${pattern})`);
  }
  if (f.createdFrom) w.push(gte(task.createdAt, f.createdFrom));
  if (f.createdBefore) w.push(lt(task.createdAt, f.createdBefore));
  if (f.createdUntil) w.push(lte(task.createdAt, f.createdUntil));
  if (f.visibleTo !== undefined) {
    // `in (subquery)` under OR becomes one hashed subplan: the candidacies are read once, not per task
    w.push(
      // the rule of taskVisibleTo: assignee, or candidate of a task nobody claimed yet
      sql`(${task.assigneeId} = ${f.visibleTo} or (${task.assigneeId} is null and ${task.id} in (select ${taskCandidate.taskId} from ${taskCandidate} where ${taskCandidate.staffId} = ${f.visibleTo})))`,
    );
  }
  return { where: and(...w)!, needsMessage: f.senderAddress !== undefined || f.senderContains !== undefined };
}

function orderBy({ sort, order }: OpenTaskOrder): SQL[] {
  const dir = sql.raw(order === 'desc' ? 'desc' : 'asc');
  const byCreated = [sql`${task.createdAt} ${dir}`, sql`${task.id} ${dir}`];
  const ties = [sql`${task.createdAt} asc`, sql`${task.id} asc`];
  switch (sort) {
    case 'created':
      return byCreated;
    case 'sender':
      return [sql`lower(${message.senderAddress}) ${dir} nulls last`, ...ties];
    case 'subject':
      return [sql`lower(${message.subject}) ${dir} nulls last`, ...ties];
    case 'status':
      return [sql`${task.status} ${dir}`, ...ties];
    case 'assignee':
      return [sql`lower(${assignee.name}) ${dir} nulls last`, ...ties];
  }
}

const columns = {
  id: task.id,
  status: task.status,
  channel: task.channel,
  activityType: activityType.name,
  messageId: task.messageId,
  sender: message.senderAddress,
  senderName: message.senderName,
  subject: message.subject,
  unreadable: task.unreadable,
  automated: sql<AutomatedKind | null>`${message.automated}`,
  assigneeId: assignee.id,
  assigneeLogin: assignee.login,
  assigneeName: assignee.name,
  createdAt: task.createdAt,
};

/** The rows with their joins; `where` and `order` as given. */
function detailQuery(db: Db, where: SQL, order: SQL[]) {
  return db
    .select(columns)
    .from(task)
    .innerJoin(message, eq(message.id, task.messageId))
    .innerJoin(activityType, eq(activityType.id, task.activityTypeId))
    .leftJoin(assignee, eq(assignee.id, task.assigneeId))
    .where(where)
    .orderBy(...order)
    .$dynamic();
}

type DetailRow = Awaited<ReturnType<typeof detailQuery>>[number];
const toRow = ({ assigneeId, assigneeLogin, assigneeName, status, ...r }: DetailRow): OpenTaskRow => ({
  ...r,
  status: status as OpenStatus,
  assignee: assigneeId === null ? null : { id: assigneeId, login: assigneeLogin, name: assigneeName! },
});

/**
 * The ids of one page of open tasks: `task` alone, joined to `message` or `staff` only when the
 * filter or the sort needs them. Exported for the plan tests (test/task-list/performance.test.ts).
 */
export function pageIdsQuery(db: Db, filter: OpenTaskFilter, order: OpenTaskOrder, page: { limit: number; offset: number }) {
  const { where, needsMessage } = conditions(filter);
  let ids = db.select({ id: task.id }).from(task).$dynamic();
  if (needsMessage || order.sort === 'sender' || order.sort === 'subject') ids = ids.innerJoin(message, eq(message.id, task.messageId));
  if (order.sort === 'assignee') ids = ids.leftJoin(assignee, eq(assignee.id, task.assigneeId));
  return ids.where(where).orderBy(...orderBy(order)).limit(page.limit).offset(page.offset);
}

/**
 * Open tasks (status open or unassigned) matching `filter`, sorted, one page of them.
 * A page is found first by task ids alone (joining message or staff only when the filter or the
 * sort needs them), then its rows are read with all joins: a deep offset or a sort over all open
 * tasks then touches the joined tables for the 50 rows shown only.
 * @param page `limit` undefined: all of them (the CSV export), in one query
 */
export async function selectOpenTasks(
  db: Db,
  filter: OpenTaskFilter,
  order: OpenTaskOrder,
  page: { limit?: number; offset: number },
): Promise<OpenTaskRow[]> {
  if (page.limit === undefined) {
    const { where } = conditions(filter);
    return (await detailQuery(db, where, orderBy(order)).offset(page.offset)).map(toRow);
  }
  const pageIds = (await pageIdsQuery(db, filter, order, { limit: page.limit, offset: page.offset })).map((r) => r.id);
  if (pageIds.length === 0) return [];
  const rows = await detailQuery(db, inArray(task.id, pageIds), []);
  const byId = new Map(rows.map((r) => [r.id, r]));
  return pageIds.map((id) => toRow(byId.get(id)!));
}

/** The count of open tasks matching `filter`, joined to `message` only for a sender filter. Exported for the plan tests. */
export function countQuery(db: Db, filter: OpenTaskFilter) {
  const { where, needsMessage } = conditions(filter);
  const base = db.select({ n: count() }).from(task).$dynamic();
  return (needsMessage ? base.innerJoin(message, eq(message.id, task.messageId)) : base).where(where);
}

/** How many open tasks match `filter` (the total of a paginated list). */
export async function countOpenTasks(db: Db, filter: OpenTaskFilter): Promise<number> {
  const [row] = await countQuery(db, filter);
  return row?.n ?? 0;
}
