import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { getMailbox } from '../db/repositories/mailboxes.js';
import { taskViews, type TaskView } from '../db/repositories/task-views.js';
import { channelSetting, staff, task, taskCandidate, taskEvent, type Channel } from '../db/schema.js';
import { ForbiddenError, NotFoundError, ValidationError } from './errors.js';

/** How long a sync waits for the poll it triggered before it claims anyway (the poll goes on). */
const SYNC_POLL_WAIT_MS = 30_000;

/** The outcome of the poll a sync triggered for a channel with auto-import off. */
export interface SyncPoll {
  channel: Channel;
  ok: boolean;
  /** messages imported by the poll */
  imported?: number;
  /** why the poll failed or did not finish in time (the sync went on) */
  error?: string;
}

export interface SyncResult {
  /** ids of the tasks this sync claimed (each also in `tasks`), ascending */
  claimed: number[];
  /** every open task assigned to the staff member after the sync, ascending by id */
  tasks: TaskView[];
  /** the polls run first, for channels with auto-import off that have a mailbox */
  polled: SyncPoll[];
}

/**
 * Polls the mailboxes of channels whose auto-import is off ("E-Mails automatisch einlesen": no →
 * the reference reads mail when the user starts the program). Failures are logged and reported,
 * never thrown: the sync must work without the mail server.
 */
async function pollManualChannels(ctx: AppContext): Promise<SyncPoll[]> {
  const manual = await ctx.db.select({ channel: channelSetting.channel }).from(channelSetting).where(eq(channelSetting.autoImport, false));
  const results: SyncPoll[] = [];
  for (const { channel } of manual) {
    const mailbox = await getMailbox(ctx.db, channel);
    if (!mailbox || !mailbox.enabled) continue;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the poll did not finish within ${SYNC_POLL_WAIT_MS / 1000} s; it goes on in the background`)), SYNC_POLL_WAIT_MS);
      });
      const poll = ctx.mailboxes.poll(channel);
      poll.catch(() => {}); // a late failure after the timeout is logged by the poller itself
      const report = await Promise.race([poll, timeout]);
      results.push({ channel, ok: true, imported: report.imported });
    } catch (err) {
      const error = (err as Error).message;
      ctx.log.warn({ channel, err: error }, 'poll before sync failed; syncing anyway');
      results.push({ channel, ok: false, error });
    } finally {
      clearTimeout(timer);
    }
  }
  return results;
}

/**
 * Synchronises a staff member (issue 5 item 4; domain.md item 5: "the first of them who
 * synchronises gets the task, and nobody else does"). First polls the mailboxes of channels with
 * auto-import off (failures are reported in `polled`, never thrown). Then claims, in one
 * transaction, every task with status `open`, no assignee and this person among its candidates:
 * the rows are picked with `FOR NO KEY UPDATE SKIP LOCKED` and updated only while `assignee_id`
 * is still null, so under any concurrency (one process or several on PostgreSQL; PGlite runs
 * transactions one at a time) each task gets exactly one assignee and one `claimed` event.
 * @param staffId the staff member who synchronises
 * @returns the ids claimed now and every open task assigned to them
 * @throws NotFoundError unknown id; ValidationError (field `login`) inactive or without a login;
 *   ForbiddenError without the permission mail.import
 */
export async function syncStaff(ctx: AppContext, staffId: number): Promise<SyncResult> {
  const [person] = await ctx.db.select().from(staff).where(eq(staff.id, staffId));
  if (!person) throw new NotFoundError(`no staff member with id ${staffId}`);
  if (!person.active) throw new ValidationError('login', `"${person.name}" is not active`);
  if (!person.login) throw new ValidationError('login', `"${person.name}" has no login`);
  if (!person.mailImport) throw new ForbiddenError(`"${person.name}" lacks the permission mail.import ("E-Mails automatisch einlesen")`);

  const polled = await pollManualChannels(ctx);

  const claimed = await ctx.db.transaction(async (tx) => {
    // 1. Lock the claimable rows. The candidate ids are computed once (an InitPlan over the
    // statement's snapshot); the lock then re-checks each row on its newest version
    // (EvalPlanQual): a task another sync claimed meanwhile no longer matches, one another sync
    // holds locked right now is skipped. The locking scan stands alone (no join above it that
    // could re-run it per row, as a nested loop does when the table has no statistics yet).
    const locked = await tx
      .select({ id: task.id })
      .from(task)
      .where(
        and(
          sql`${task.id} = any(array(select c.task_id from ${taskCandidate} c join ${task} t on t.id = c.task_id
            where c.staff_id = ${staffId} and t.status = 'open' and t.assignee_id is null))`,
          eq(task.status, 'open'),
          isNull(task.assigneeId),
        ),
      )
      .for('no key update', { skipLocked: true });
    // 2. Claim exactly those rows: they are ours until commit, so nobody can have changed them.
    const rows: { id: number }[] = [];
    const lockedIds = locked.map((r) => r.id);
    for (let i = 0; i < lockedIds.length; i += 10_000) {
      const part = lockedIds.slice(i, i + 10_000);
      rows.push(...(await tx.update(task).set({ assigneeId: staffId }).where(and(inArray(task.id, part), isNull(task.assigneeId))).returning({ id: task.id })));
    }
    const ids = rows.map((r) => r.id).sort((a, b) => a - b);
    // at most 4 parameters per row: stay far below PostgreSQL's 65,535 per statement
    for (let i = 0; i < ids.length; i += 5000) {
      await tx.insert(taskEvent).values(ids.slice(i, i + 5000).map((taskId) => ({ taskId, actorId: staffId, action: 'claimed' })));
    }
    return ids;
  });

  const open = await ctx.db
    .select({ id: task.id })
    .from(task)
    .where(and(eq(task.assigneeId, staffId), eq(task.status, 'open')))
    .orderBy(asc(task.id));
  ctx.log.info({ staffId, claimed: claimed.length, open: open.length }, 'staff member synchronised');
  return { claimed, tasks: await taskViews(ctx.db, open.map((r) => r.id)), polled };
}
