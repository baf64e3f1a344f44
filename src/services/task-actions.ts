import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { findStaffByLogin } from '../db/repositories/staff.js';
import { taskExistsFor, taskHistory, taskViews, taskVisibleTo, type PersonRef, type TaskView } from '../db/repositories/task-views.js';
import { staff, task, taskCandidate, taskEvent, type StaffRole, type TaskStatus } from '../db/schema.js';
import { ForbiddenError, NotFoundError, ValidationError } from './errors.js';

/**
 * Who does a task action. `id: null` is the local operator (the CLI without `--as`): admin
 * rights, recorded in the history without a person. A Principal from the API fits this type.
 */
export interface Actor {
  id: number | null;
  role: StaffRole;
}

/** The local operator: the CLI run by whoever administers the gateway. */
export const OPERATOR: Actor = { id: null, role: 'admin' };

const isAdmin = (actor: Actor) => actor.role === 'admin';

/**
 * The staff member the CLI acts as with `--as <login>`.
 * @throws ValidationError (field `as`) for an unknown or inactive login
 */
export async function actorByLogin(db: Db, login: string): Promise<Actor & PersonRef> {
  const person = await findStaffByLogin(db, login.trim());
  if (!person) throw new ValidationError('as', `no staff member has the login "${login}"`);
  if (!person.active) throw new ValidationError('as', `"${person.name}" is not active`);
  return { id: person.id, role: person.role, login: person.login, name: person.name };
}

type TaskRow = typeof task.$inferSelect;

/**
 * Locks the task row for the rest of the transaction.
 * @throws NotFoundError when it does not exist or the actor may not see it (the same answer, so
 *   ids reveal nothing)
 */
async function lockTask(tx: Tx, id: number, actor: Actor): Promise<TaskRow> {
  const where = actor.id === null || isAdmin(actor) ? eq(task.id, id) : and(eq(task.id, id), taskVisibleTo(actor.id));
  const [row] = await tx.select().from(task).where(where).for('update');
  if (!row) throw new NotFoundError(`no task with id ${id}`);
  return row;
}

/**
 * The person a task goes to by `forward` or `assign`: active, with a login and the permission
 * mail.import (the same rule as a mapping's `An`, domain.md item 5).
 * @throws ValidationError (field `to`)
 */
async function target(tx: Tx, login: string): Promise<PersonRef> {
  const [person] = await tx.select().from(staff).where(sql`lower(${staff.login}) = ${login.trim().toLowerCase()}`);
  if (!person) throw new ValidationError('to', `no staff member has the login "${login}"`);
  if (!person.active) throw new ValidationError('to', `"${person.name}" is not active`);
  if (!person.mailImport) throw new ValidationError('to', `"${person.name}" lacks the permission mail.import ("E-Mails automatisch einlesen")`);
  return { id: person.id, login: person.login, name: person.name };
}

async function person(tx: Tx, id: number | null): Promise<PersonRef | null> {
  if (id === null) return null;
  const [p] = await tx.select({ id: staff.id, login: staff.login, name: staff.name }).from(staff).where(eq(staff.id, id));
  return p ?? null;
}

async function record(tx: Tx, taskId: number, actor: Actor, action: string, detail: Record<string, unknown> | null = null): Promise<void> {
  await tx.insert(taskEvent).values({ taskId, actorId: actor.id, action, detail });
}

async function view(db: Db, id: number): Promise<TaskView> {
  const [v] = await taskViews(db, [id]);
  return v!;
}

/**
 * Takes one open task nobody has claimed yet, as its candidate (the admin's *Übernehmen*; the same
 * rule as `POST /api/v1/sync` for a single task, domain.md item 5: the first one gets it). The row
 * is locked, so a concurrent sync or another candidate gets a refusal, never a second assignee.
 * Records `claimed`; taking a task one has already changes nothing.
 * @returns the task after the change
 * @throws NotFoundError unknown id, or the actor is neither a candidate nor the assignee;
 *   ValidationError (field `status`) when it is not open, or someone else has it already
 */
export async function claimTask(db: Db, actor: Actor, id: number): Promise<TaskView> {
  await db.transaction(async (tx) => {
    const [t] = await tx.select().from(task).where(eq(task.id, id)).for('update');
    const candidates = t ? await tx.select({ id: taskCandidate.staffId }).from(taskCandidate).where(eq(taskCandidate.taskId, id)) : [];
    const isCandidate = actor.id !== null && candidates.some((c) => c.id === actor.id);
    if (!t || (!isCandidate && t.assigneeId !== actor.id)) throw new NotFoundError(`no task with id ${id}`);
    if (t.assigneeId === actor.id) return; // a second click: it is theirs already, nothing to record
    if (t.assigneeId !== null) throw new ValidationError('status', `task ${id} has been taken by someone else meanwhile`);
    if (t.status !== 'open') throw new ValidationError('status', `task ${id} is not open (status ${t.status})`);
    await tx.update(task).set({ assigneeId: actor.id }).where(eq(task.id, id));
    await record(tx, id, actor, 'claimed');
  });
  return view(db, id);
}

/**
 * Completes a task (issue 5 item 5). The assignee or an admin may; an admin also a task nobody
 * has claimed or one in the unassigned queue (e.g. spam). Records `completed`.
 * @returns the task after the change
 * @throws NotFoundError unknown or invisible id; ForbiddenError not the assignee (and no admin);
 *   ValidationError (field `status`) already completed
 */
export async function completeTask(db: Db, actor: Actor, id: number): Promise<TaskView> {
  await db.transaction(async (tx) => {
    const t = await lockTask(tx, id, actor);
    if (!isAdmin(actor) && t.assigneeId !== actor.id) throw new ForbiddenError(`only the assignee or an admin may complete task ${id}`);
    if (t.status === 'completed') throw new ValidationError('status', `task ${id} is already completed`);
    await tx.update(task).set({ status: 'completed', completedAt: new Date() }).where(eq(task.id, id));
    await record(tx, id, actor, 'completed', { previousStatus: t.status });
  });
  return view(db, id);
}

/**
 * Reopens a completed task. The assignee or an admin may; when the task has no assignee (it was
 * created completed by auto-complete), any of its candidates may too. The task becomes `open`
 * (claimable again when it has candidates but no assignee) or, with neither, `unassigned`.
 * Records `reopened` with the new status.
 * @throws NotFoundError; ForbiddenError; ValidationError (field `status`) when not completed
 */
export async function reopenTask(db: Db, actor: Actor, id: number): Promise<TaskView> {
  await db.transaction(async (tx) => {
    const t = await lockTask(tx, id, actor);
    const candidates = await tx.select({ id: taskCandidate.staffId }).from(taskCandidate).where(eq(taskCandidate.taskId, id));
    const mayAsCandidate = t.assigneeId === null && candidates.some((c) => c.id === actor.id);
    if (!isAdmin(actor) && t.assigneeId !== actor.id && !mayAsCandidate) throw new ForbiddenError(`only the assignee or an admin may reopen task ${id}`);
    if (t.status !== 'completed') throw new ValidationError('status', `task ${id} is not completed (status ${t.status})`);
    const status: TaskStatus = t.assigneeId !== null || candidates.length > 0 ? 'open' : 'unassigned';
    await tx.update(task).set({ status, completedAt: null }).where(eq(task.id, id));
    await record(tx, id, actor, 'reopened', { status });
  });
  return view(db, id);
}

/**
 * Forwards an open task to another staff member (the reference's "weitergeleitet"): the
 * assignee becomes that person. The assignee or an admin may. The target must be active, with a
 * login and mail.import. Records `forwarded` with `fromId`/`from` and `toId`/`to`.
 * @param to the login of the new assignee
 * @throws NotFoundError; ForbiddenError; ValidationError: `status` (completed → reopen first;
 *   unassigned → an admin assigns it), `to` (unknown, inactive, without mail.import, or the
 *   assignee already)
 */
export async function forwardTask(db: Db, actor: Actor, id: number, to: string): Promise<TaskView> {
  await db.transaction(async (tx) => {
    const t = await lockTask(tx, id, actor);
    if (!isAdmin(actor) && t.assigneeId !== actor.id) throw new ForbiddenError(`only the assignee or an admin may forward task ${id}`);
    if (t.status === 'completed') throw new ValidationError('status', `task ${id} is completed; reopen it first`);
    if (t.status === 'unassigned') throw new ValidationError('status', `task ${id} is in the unassigned queue; an admin assigns it (assign)`);
    const next = await target(tx, to);
    const from = await person(tx, t.assigneeId);
    if (from && from.id === next.id) throw new ValidationError('to', `task ${id} is already assigned to "${next.name}"`);
    await tx.update(task).set({ assigneeId: next.id }).where(eq(task.id, id));
    await record(tx, id, actor, 'forwarded', { fromId: from?.id ?? null, from: from?.login ?? null, toId: next.id, to: next.login });
  });
  return view(db, id);
}

/**
 * Assigns a task from the unassigned queue by hand (domain.md, "Nothing is lost": admins assign
 * what matched no mapping). Admins only. The task becomes `open` with that assignee. Records
 * `assigned` with `toId`/`to`.
 * @throws ForbiddenError for staff (whatever the id); NotFoundError unknown id; ValidationError: `status` (not in the unassigned queue → forward it), `to` as for forward
 */
export async function assignTask(db: Db, actor: Actor, id: number, to: string): Promise<TaskView> {
  // the same answer for every id: a staff member learns nothing about the unassigned queue
  if (!isAdmin(actor)) throw new ForbiddenError('only an admin may assign tasks by hand');
  await db.transaction(async (tx) => {
    const t = await lockTask(tx, id, actor);
    if (t.status !== 'unassigned') throw new ValidationError('status', `task ${id} is not in the unassigned queue (status ${t.status}); forward it instead`);
    const next = await target(tx, to);
    await tx.update(task).set({ assigneeId: next.id, status: 'open' }).where(eq(task.id, id));
    await record(tx, id, actor, 'assigned', { toId: next.id, to: next.login });
  });
  return view(db, id);
}

/** @throws NotFoundError when the task does not exist or the actor may not see it */
async function checkVisible(db: Db, actor: Actor, id: number): Promise<void> {
  if (!(await taskExistsFor(db, id, actor.id === null || isAdmin(actor) ? null : actor.id))) throw new NotFoundError(`no task with id ${id}`);
}

/**
 * One task with its message summary, candidates and assignee. Staff see the tasks they are
 * assignee or candidate of; admins all.
 * @throws NotFoundError unknown or invisible id
 */
export async function getTask(db: Db, actor: Actor, id: number): Promise<TaskView> {
  await checkVisible(db, actor, id);
  return view(db, id);
}

/**
 * Who did what when with a task: its events oldest first (`created`, `claimed`, `completed`,
 * `reopened`, `forwarded`, `assigned`, `routed`, `unassigned`, `candidate-removed`), each with the
 * acting person (null: the gateway itself or the local operator) and the details.
 * @throws NotFoundError unknown or invisible id
 */
export async function taskHistoryFor(db: Db, actor: Actor, id: number) {
  await checkVisible(db, actor, id);
  return taskHistory(db, id);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` of a moment in the gateway's local time zone. */
export function localDate(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())}`;
}

/**
 * Start and end of a calendar day in the gateway's local time zone (TZ), DST-safe.
 * @param date `YYYY-MM-DD`; default today
 * @throws ValidationError (field `date`)
 */
export function localDay(date?: string): { date: string; start: Date; end: Date } {
  if (date === undefined) {
    const now = new Date();
    return localDay(localDate(now));
  }
  const m = DATE.exec(date);
  const start = m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
  if (!m || !start || localDate(start) !== date) throw new ValidationError('date', `"${date}" is not a date (YYYY-MM-DD)`);
  return { date, start, end: new Date(start.getFullYear(), start.getMonth(), start.getDate() + 1) };
}

/**
 * The day view ("Tagesansicht", domain.md item 7): a staff member's tasks of one day, grouped by
 * activity type. A task belongs to the day when it is assigned to the person and was created
 * that day, or became theirs that day (claimed by them, assigned or forwarded to them); it is
 * listed whatever its status now (a task completed during the day stays in it). Older open
 * tasks are in the open-task list, not in the day view. Days are calendar days in the gateway's
 * local time zone.
 * @param date `YYYY-MM-DD`, default today
 * @returns groups ordered by activity type name, tasks by id
 * @throws ValidationError (field `date`)
 */
export async function dayView(db: Db, staffId: number, date?: string) {
  const day = localDay(date);
  const becameMine = sql`exists (select 1 from ${taskEvent} where ${taskEvent.taskId} = ${task.id}
    and ${taskEvent.at} >= ${day.start.toISOString()} and ${taskEvent.at} < ${day.end.toISOString()}
    and ((${taskEvent.action} = 'claimed' and ${taskEvent.actorId} = ${staffId})
      or (${taskEvent.action} in ('assigned', 'forwarded') and ${taskEvent.detail}->>'toId' = ${String(staffId)})))`;
  const rows = await db
    .select({ id: task.id })
    .from(task)
    .where(
      and(
        eq(task.assigneeId, staffId),
        sql`((${task.createdAt} >= ${day.start.toISOString()} and ${task.createdAt} < ${day.end.toISOString()}) or ${becameMine})`,
      ),
    )
    .orderBy(asc(task.id));
  const tasks = await taskViews(db, rows.map((r) => r.id));
  const groups = new Map<string, { activityType: string; activityTypeId: number; tasks: TaskView[] }>();
  for (const t of tasks) {
    const g = groups.get(t.activityType) ?? { activityType: t.activityType, activityTypeId: t.activityTypeId, tasks: [] };
    g.tasks.push(t);
    groups.set(t.activityType, g);
  }
  return {
    date: day.date,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    groups: [...groups.values()].sort((a, b) => a.activityType.localeCompare(b.activityType, 'de')),
  };
}

export type DayView = Awaited<ReturnType<typeof dayView>>;
