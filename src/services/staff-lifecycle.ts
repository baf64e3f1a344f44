import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { message, staff, task, taskCandidate, taskEvent } from '../db/schema.js';
import { candidatesFor } from '../ingest/route.js';
import { ValidationError } from './errors.js';
import { normaliseAddress } from './validate.js';

/** Rows per multi-row INSERT: a few parameters each, far below PostgreSQL's 65,535 per statement. */
function* batches<T>(rows: T[], size = 5000): Generator<T[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

export interface DeactivationReport {
  staff: { id: number; login: string | null; name: string };
  /** tasks nobody had claimed yet whose candidate this person was: their candidacy ended */
  candidaciesEnded: number[];
  /** of those, the tasks left with no candidate: now in the unassigned queue */
  unassigned: number[];
  /** open tasks still assigned to this person: an admin forwards them (tasks forward) */
  stillAssigned: number[];
}

/** Who a lifecycle step acts on. */
type Person = { id: number; login: string | null; name: string };

/**
 * Ends a person's candidacies on the open tasks nobody has claimed yet, inside the caller's
 * transaction: each such task left with no candidate becomes `unassigned` (event `unassigned`),
 * the others get `candidate-removed`; `reason` goes into the events' detail.
 * @returns the tasks whose candidacy ended and, of those, the ones now unassigned
 */
export async function endUnclaimedCandidacies(tx: Tx, person: Person, actorId: number | null, reason: string): Promise<{ ended: number[]; unassigned: number[] }> {
  // lock the open unclaimed tasks first: a sync running now either claimed them already (they
  // no longer match) or skips them while they are locked here
  const pending = await tx
    .select({ id: task.id })
    .from(task)
    .where(
      and(
        eq(task.status, 'open'),
        isNull(task.assigneeId),
        sql`exists (select 1 from ${taskCandidate} where ${taskCandidate.taskId} = ${task.id} and ${taskCandidate.staffId} = ${person.id})`,
      ),
    )
    .orderBy(asc(task.id))
    .for('no key update');
  const ended = pending.map((r) => r.id);
  const unassigned: number[] = [];
  if (ended.length) {
    await tx.delete(taskCandidate).where(and(eq(taskCandidate.staffId, person.id), inArray(taskCandidate.taskId, ended)));
    const left = await tx
      .select({ taskId: taskCandidate.taskId })
      .from(taskCandidate)
      .where(inArray(taskCandidate.taskId, ended))
      .groupBy(taskCandidate.taskId);
    const withCandidates = new Set(left.map((r) => r.taskId));
    for (const id of ended) if (!withCandidates.has(id)) unassigned.push(id);
    if (unassigned.length) await tx.update(task).set({ status: 'unassigned' }).where(inArray(task.id, unassigned));
    const detail = { staffId: person.id, login: person.login, name: person.name, reason };
    const events = ended.map((taskId) => ({ taskId, actorId, action: withCandidates.has(taskId) ? 'candidate-removed' : 'unassigned', detail }));
    for (const part of batches(events)) await tx.insert(taskEvent).values(part);
  }
  return { ended, unassigned };
}

/**
 * Deactivates an active person inside the caller's transaction (see {@link deactivateStaff}).
 * @returns what happened to their tasks
 */
export async function deactivateInTransaction(tx: Tx, person: Person, actorId: number | null): Promise<DeactivationReport> {
  await tx.update(staff).set({ active: false }).where(eq(staff.id, person.id));
  const { ended, unassigned } = await endUnclaimedCandidacies(tx, person, actorId, 'deactivated');
  const assigned = await tx
    .select({ id: task.id })
    .from(task)
    .where(and(eq(task.assigneeId, person.id), eq(task.status, 'open')))
    .orderBy(asc(task.id));
  return {
    staff: { id: person.id, login: person.login, name: person.name },
    candidaciesEnded: ended,
    unassigned,
    stillAssigned: assigned.map((r) => r.id),
  };
}

/**
 * Deactivates a staff member ("Aktuell" off; issue 5 item 1: "deactivating a person never loses
 * a task"). In one transaction: `active` becomes false; their candidacies on open tasks nobody
 * has claimed end; each such task left with no candidate becomes `unassigned` (event
 * `unassigned`), the others get `candidate-removed`. Open tasks assigned to them stay assigned and
 * are reported, for an admin to forward. Their mappings stay (routing skips inactive people).
 * @param who the login, or for people without one (external) the e-mail address
 * @param actorId the admin doing it, or null for the local operator
 * @throws ValidationError (field `login`) unknown or already inactive
 */
export async function deactivateStaff(db: Db, who: string, actorId: number | null = null): Promise<DeactivationReport> {
  return db.transaction(async (tx) => {
    const key = who.trim().toLowerCase();
    let [person] = await tx.select().from(staff).where(sql`lower(${staff.login}) = ${key}`);
    if (!person && key.includes('@')) {
      [person] = await tx.select().from(staff).where(and(sql`lower(${staff.email}) = ${key}`, eq(staff.active, true)));
    }
    if (!person) throw new ValidationError('login', `no staff member has the login or active e-mail "${who}"`);
    if (!person.active) throw new ValidationError('login', `"${person.name}" is already inactive`);
    return deactivateInTransaction(tx, person, actorId);
  });
}

/** Ids of the readable tasks in the unassigned queue whose message came from `address` (lower-cased). */
function waitingFrom(address: string) {
  return and(
    eq(task.status, 'unassigned'),
    eq(task.unreadable, false),
    isNull(task.assigneeId),
    sql`exists (select 1 from ${message} where ${message.id} = ${task.messageId} and ${message.senderAddress} = ${address})`,
  );
}

/**
 * How many tasks from a sender wait in the unassigned queue (readable ones; an unreadable message
 * has no trustworthy sender and is assigned by hand).
 * @throws ValidationError (field `from`) for something that is not an e-mail address
 */
export async function countWaitingTasks(db: Db, from: string): Promise<number> {
  const address = normaliseAddress(from, 'from');
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(task).where(waitingFrom(address));
  return Number(row?.n ?? 0);
}

/**
 * Routes the waiting unassigned tasks from a sender by the current sender mapping (issue 5
 * item 3: "adding a mapping offers to route the waiting unassigned tasks from that sender"):
 * each gets the mapped staff members (active, with login and mail.import) as candidates and
 * becomes `open`, with the event `routed`. Runs in one transaction with the tasks locked.
 * @param actorId the admin doing it, or null for the local operator
 * @returns the routed task ids and the candidates they got
 * @throws ValidationError (field `from`) not an address, or no active mapping for it
 */
export async function routeWaitingTasks(db: Db, from: string, actorId: number | null = null): Promise<{ routed: number[]; candidates: number[] }> {
  const address = normaliseAddress(from, 'from');
  return db.transaction(async (tx) => {
    const candidates = await candidatesFor(tx, address);
    if (!candidates.length) {
      throw new ValidationError('from', `${address} is not mapped to any active staff member with the permission mail.import; add a mapping first`);
    }
    const rows = await tx.select({ id: task.id }).from(task).where(waitingFrom(address)).orderBy(asc(task.id)).for('no key update');
    const routed = rows.map((r) => r.id);
    if (!routed.length) return { routed, candidates };
    for (const part of batches(routed.flatMap((taskId) => candidates.map((staffId) => ({ taskId, staffId }))))) {
      await tx.insert(taskCandidate).values(part).onConflictDoNothing();
    }
    await tx.update(task).set({ status: 'open' }).where(inArray(task.id, routed));
    for (const part of batches(routed.map((taskId) => ({ taskId, actorId, action: 'routed', detail: { from: address, candidates } })))) {
      await tx.insert(taskEvent).values(part);
    }
    return { routed, candidates };
  });
}

/**
 * After a mapping from `from` was added (issue 5 item 3): counts the readable tasks from that
 * sender waiting in the unassigned queue and, when `route` is set, routes them by the mapping
 * ({@link routeWaitingTasks}).
 * @returns `waiting`: how many waited; `routed`: the task ids now open with candidates (empty unless `route`)
 * @throws ValidationError (field `from`) for something that is not an e-mail address
 */
export async function routeAfterMapping(db: Db, from: string, route: boolean, actorId: number | null = null): Promise<{ waiting: number; routed: number[] }> {
  const waiting = await countWaitingTasks(db, from);
  if (!route || !waiting) return { waiting, routed: [] };
  return { waiting, routed: (await routeWaitingTasks(db, from, actorId)).routed };
}
