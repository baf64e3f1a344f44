// Task actions (issue 5 item 5): complete, reopen, forward ("weitergeleitet"), assign from the
// unassigned queue, history and the day view, with the exact refusal of each rule, on the suite's
// driver. Expected values follow from the rules and from the tasks each test sets up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import type { AppContext } from '../../src/context.js';
import { task, taskEvent } from '../../src/db/schema.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { syncStaff } from '../../src/services/claims.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../src/services/errors.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import {
  actorByLogin,
  assignTask,
  completeTask,
  dayView,
  forwardTask,
  getTask,
  OPERATOR,
  reopenTask,
  taskHistoryFor,
  type Actor,
} from '../../src/services/task-actions.js';
import { driver, testContext } from '../helpers/env.js';
import { insertTasks, taskRows } from './seed.js';

const forbidden = (message: string) => (e: unknown) => e instanceof ForbiddenError && e.message === message;
const notFound = (id: number) => (e: unknown) => e instanceof NotFoundError && e.message === `no task with id ${id}`;
const refused = (field: string, message: string) => (e: unknown) => e instanceof ValidationError && e.field === field && e.message === message;

/** YYYY-MM-DD of a moment in this process's time zone, worked out with Intl (not the code under test). */
function ymd(at: Date): string {
  const parts = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  return `${get('year')}-${get('month')}-${get('day')}`;
}

describe(`task actions (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let ctx: AppContext;
  const who: Record<string, Actor & { id: number }> = {};

  before(async () => {
    env = await testContext();
    ctx = env.ctx;
    const people = [
      ['admin', 'Admin, Anna', { role: 'admin' as const }],
      ['susi', 'Weiß, Susi', {}],
      ['jan', 'Jansen, Jan', {}],
      ['kim', 'Krause, Kim', {}],
      ['paul', 'Praktikant, Paul', { mailImport: false }],
      ['olga', 'Alt, Olga', { inactive: true }],
    ] as const;
    for (const [login, name, extra] of people) {
      const s = await addStaff(ctx.db, { name, email: `${login}@agency.example`, login, ...extra });
      who[login] = { id: s.id, role: s.role };
    }
  });
  after(() => env?.close());

  /** One open task with the given candidates, claimed by `claimer` through a sync when given. */
  async function openTask(candidates: string[], claimer?: string): Promise<number> {
    const [id] = await insertTasks(ctx.db, { count: 1, candidates: candidates.map((c) => who[c]!.id) });
    if (claimer) {
      const r = await syncStaff(ctx, who[claimer]!.id);
      assert.ok(r.claimed.includes(id!));
    }
    return id!;
  }

  async function lastEvent(id: number) {
    const rows = await ctx.db.select().from(taskEvent).where(eq(taskEvent.taskId, id));
    return rows.sort((a, b) => a.id - b.id).at(-1)!;
  }

  test('complete: the assignee may; the task is completed with a time and a "completed" event by them', async () => {
    const id = await openTask(['susi', 'jan'], 'susi');
    const before = Date.now();
    const t = await completeTask(ctx.db, who.susi!, id);
    assert.equal(t.status, 'completed');
    assert.ok(t.completedAt && t.completedAt.getTime() >= before - 1000);
    const e = await lastEvent(id);
    assert.deepEqual([e.action, e.actorId, e.detail], ['completed', who.susi!.id, { previousStatus: 'open' }]);
  });

  test('complete: another candidate of a claimed task and someone who cannot see it get 404, twice is refused', async () => {
    const id = await openTask(['susi', 'jan'], 'susi');
    await assert.rejects(completeTask(ctx.db, who.jan!, id), notFound(id));
    await assert.rejects(completeTask(ctx.db, who.kim!, id), notFound(id));
    await assert.rejects(completeTask(ctx.db, who.kim!, 9_999_999), notFound(9_999_999));
    await completeTask(ctx.db, who.admin!, id); // an admin may complete anybody's task
    await assert.rejects(completeTask(ctx.db, who.susi!, id), refused('status', `task ${id} is already completed`));
    assert.equal((await taskRows(ctx.db)).get(id)!.assigneeId, who.susi!.id, 'the assignee stays');
  });

  test('reopen: the assignee may; open again without completion time; refused for an open task', async () => {
    const id = await openTask(['jan'], 'jan');
    await assert.rejects(reopenTask(ctx.db, who.jan!, id), refused('status', `task ${id} is not completed (status open)`));
    await completeTask(ctx.db, who.jan!, id);
    const t = await reopenTask(ctx.db, who.jan!, id);
    assert.deepEqual([t.status, t.completedAt, t.assignee?.login], ['open', null, 'jan']);
    const e = await lastEvent(id);
    assert.deepEqual([e.action, e.actorId, e.detail], ['reopened', who.jan!.id, { status: 'open' }]);
  });

  test('reopen: another candidate of an assigned task gets 404 (only the assignee sees it); a task completed without assignee returns to its candidates or to the unassigned queue', async () => {
    const id = await openTask(['susi', 'jan'], 'jan');
    await completeTask(ctx.db, who.jan!, id);
    await assert.rejects(reopenTask(ctx.db, who.susi!, id), notFound(id));

    // auto-complete creates tasks completed and unclaimed: a candidate may reopen, and it is claimable again
    const [auto] = await insertTasks(ctx.db, { count: 1, candidates: [who.susi!.id, who.kim!.id], status: 'completed', completedAt: new Date() });
    const t = await reopenTask(ctx.db, who.kim!, auto!);
    assert.deepEqual([t.status, t.assignee], ['open', null]);
    assert.deepEqual((await syncStaff(ctx, who.susi!.id)).claimed, [auto]);

    const [orphan] = await insertTasks(ctx.db, { count: 1, status: 'completed', completedAt: new Date() });
    assert.equal((await reopenTask(ctx.db, OPERATOR, orphan!)).status, 'unassigned', 'no assignee, no candidate: the unassigned queue');
  });

  test('forward: the assignee passes the task on; the other person becomes assignee; history names both', async () => {
    const id = await openTask(['susi'], 'susi');
    const t = await forwardTask(ctx.db, who.susi!, id, 'KIM'); // logins compare case-insensitively
    assert.equal(t.assignee?.id, who.kim!.id);
    assert.equal(t.status, 'open');
    const e = await lastEvent(id);
    assert.deepEqual([e.action, e.actorId, e.detail], ['forwarded', who.susi!.id, { fromId: who.susi!.id, from: 'susi', toId: who.kim!.id, to: 'kim' }]);
    // Kim was no candidate, yet sees and completes it now
    assert.equal((await getTask(ctx.db, who.kim!, id)).id, id);
    assert.equal((await completeTask(ctx.db, who.kim!, id)).status, 'completed');
    // and Susi, no longer assignee, may not complete it (she still sees it as a candidate)
    await assert.rejects(completeTask(ctx.db, who.susi!, id), notFound(id));
  });

  test('forward: refusals for the target, the status and the person forwarding', async () => {
    const id = await openTask(['susi', 'jan'], 'susi');
    await assert.rejects(forwardTask(ctx.db, who.susi!, id, 'nobody'), refused('to', 'no staff member has the login "nobody"'));
    await assert.rejects(forwardTask(ctx.db, who.susi!, id, 'olga'), refused('to', '"Alt, Olga" is not active'));
    await assert.rejects(
      forwardTask(ctx.db, who.susi!, id, 'paul'),
      refused('to', '"Praktikant, Paul" lacks the permission mail.import ("E-Mails automatisch einlesen")'),
    );
    await assert.rejects(forwardTask(ctx.db, who.susi!, id, 'susi'), refused('to', `task ${id} is already assigned to "Weiß, Susi"`));
    await assert.rejects(forwardTask(ctx.db, who.jan!, id, 'kim'), notFound(id));
    await assert.rejects(forwardTask(ctx.db, who.kim!, id, 'jan'), notFound(id));
    await completeTask(ctx.db, who.susi!, id);
    await assert.rejects(forwardTask(ctx.db, who.susi!, id, 'kim'), refused('status', `task ${id} is completed; reopen it first`));
    const [queued] = await insertTasks(ctx.db, { count: 1, status: 'unassigned' });
    await assert.rejects(forwardTask(ctx.db, who.admin!, queued!, 'kim'), refused('status', `task ${queued} is in the unassigned queue; an admin assigns it (assign)`));
    assert.equal((await taskRows(ctx.db)).get(id)!.assigneeId, who.susi!.id, 'nothing changed by the refusals');
  });

  test('forward by an admin of a task nobody has claimed yet', async () => {
    const id = await openTask(['susi']);
    const t = await forwardTask(ctx.db, who.admin!, id, 'jan');
    assert.equal(t.assignee?.login, 'jan');
    assert.deepEqual((await lastEvent(id)).detail, { fromId: null, from: null, toId: who.jan!.id, to: 'jan' });
    assert.deepEqual((await syncStaff(ctx, who.susi!.id)).claimed.includes(id), false, 'no longer claimable');
  });

  test('assign: an admin takes a task from the unassigned queue and gives it to a person; it becomes open', async () => {
    const [id] = await insertTasks(ctx.db, { count: 1, status: 'unassigned' });
    const t = await assignTask(ctx.db, who.admin!, id!, 'jan');
    assert.deepEqual([t.status, t.assignee?.login], ['open', 'jan']);
    const e = await lastEvent(id!);
    assert.deepEqual([e.action, e.actorId, e.detail], ['assigned', who.admin!.id, { toId: who.jan!.id, to: 'jan' }]);
    assert.equal((await getTask(ctx.db, who.jan!, id!)).id, id);
  });

  test('assign: staff get 403 whatever the id; an open task is refused; the target rules of forward apply', async () => {
    const [queued] = await insertTasks(ctx.db, { count: 1, status: 'unassigned' });
    const mine = await openTask(['susi']);
    for (const id of [queued!, mine, 9_999_999]) {
      await assert.rejects(assignTask(ctx.db, who.susi!, id, 'susi'), forbidden('only an admin may assign tasks by hand'));
    }
    await assert.rejects(assignTask(ctx.db, who.admin!, mine, 'jan'), refused('status', `task ${mine} is not in the unassigned queue (status open); forward it instead`));
    await assert.rejects(assignTask(ctx.db, who.admin!, 9_999_999, 'jan'), notFound(9_999_999));
    await assert.rejects(
      assignTask(ctx.db, who.admin!, queued!, 'paul'),
      refused('to', '"Praktikant, Paul" lacks the permission mail.import ("E-Mails automatisch einlesen")'),
    );
    await assert.rejects(assignTask(ctx.db, who.admin!, queued!, 'olga'), refused('to', '"Alt, Olga" is not active'));
    assert.equal((await taskRows(ctx.db)).get(queued!)!.status, 'unassigned');
  });

  test('getTask: 404 for a task the staff member is neither assignee nor candidate of', async () => {
    const id = await openTask(['jan']);
    await assert.rejects(getTask(ctx.db, who.susi!, id), notFound(id));
    assert.equal((await getTask(ctx.db, who.jan!, id)).id, id);
    assert.equal((await getTask(ctx.db, who.admin!, id)).id, id);
  });

  test('history: who did what when, oldest first, from the ingest to the last action', async () => {
    await addStaff(ctx.db, { name: 'MFP 2. OG', email: 'mfp-2og@agency.example', external: true });
    await addMapping(ctx.db, 'mfp-2og@agency.example', 'susi');
    await addMapping(ctx.db, 'mfp-2og@agency.example', 'jan');
    const raw = Buffer.from('From: MFP 2. OG <mfp-2og@agency.example>\r\nTo: scan@agency.example\r\nSubject: Scan\r\nMessage-ID: <h1@mfp>\r\n\r\nscan\r\n');
    const r = await ctx.ingest(rawFromBuffer(raw), { kind: 'file', channels: ['scanner'], path: 'h1.eml' });
    const id = r.tasks[0]!.id;
    await syncStaff(ctx, who.jan!.id);
    await forwardTask(ctx.db, who.jan!, id, 'susi');
    await completeTask(ctx.db, who.susi!, id);
    await reopenTask(ctx.db, who.admin!, id);

    const h = await taskHistoryFor(ctx.db, who.susi!, id);
    assert.deepEqual(
      h.map((e) => [e.action, e.actor?.name ?? null]),
      [
        ['created', null],
        ['claimed', 'Jansen, Jan'],
        ['forwarded', 'Jansen, Jan'],
        ['completed', 'Weiß, Susi'],
        ['reopened', 'Admin, Anna'],
      ],
    );
    assert.deepEqual(h[0]!.detail, { status: 'open', candidates: [who.susi!.id, who.jan!.id].sort((a, b) => a - b), source: 'file' });
    for (let i = 1; i < h.length; i++) assert.ok(h[i]!.at.getTime() >= h[i - 1]!.at.getTime(), 'oldest first');
    await assert.rejects(taskHistoryFor(ctx.db, who.kim!, id), notFound(id));
  });

  test('actorByLogin (CLI --as): unknown and inactive logins are refused', async () => {
    await assert.rejects(actorByLogin(ctx.db, 'nobody'), refused('as', 'no staff member has the login "nobody"'));
    await assert.rejects(actorByLogin(ctx.db, 'olga'), refused('as', '"Alt, Olga" is not active'));
    assert.deepEqual(await actorByLogin(ctx.db, 'Susi'), { id: who.susi!.id, role: 'staff', login: 'susi', name: 'Weiß, Susi' });
  });
});

describe(`day view (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let ctx: AppContext;

  before(async () => {
    env = await testContext();
    ctx = env.ctx;
  });
  after(() => env?.close());

  test("a person's tasks of today, grouped by activity type; yesterday's stay in yesterday", async () => {
    const anna = (await addStaff(ctx.db, { name: 'Albers, Anna', email: 'anna@agency.example', login: 'anna' })).id;
    const bert = (await addStaff(ctx.db, { name: 'Brandt, Bert', email: 'bert@agency.example', login: 'bert' })).id;
    const now = new Date();
    const today = ymd(now);
    // a moment of the previous calendar day: local midnight of today, minus six hours
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    const yesterdayAt = new Date(midnight.getTime() - 6 * 3600_000);
    const yesterday = ymd(yesterdayAt);

    const [claimedToday] = await insertTasks(ctx.db, { count: 1, candidates: [anna] });
    const [oldClaimedToday] = await insertTasks(ctx.db, { count: 1, candidates: [anna], createdAt: yesterdayAt });
    const [scanToday] = await insertTasks(ctx.db, { count: 1, candidates: [anna], channel: 'scanner' });
    const [doneToday] = await insertTasks(ctx.db, { count: 1, candidates: [anna] });
    const [bertsToday] = await insertTasks(ctx.db, { count: 1, candidates: [bert] });
    const [forwardedToAnna] = await insertTasks(ctx.db, { count: 1, candidates: [bert] });
    // yesterday's task, assigned to Anna yesterday: not in today's view
    const [yesterdays] = await insertTasks(ctx.db, { count: 1, assigneeId: anna, createdAt: yesterdayAt });
    await ctx.db.insert(taskEvent).values({ taskId: yesterdays!, actorId: null, action: 'assigned', detail: { toId: anna, to: 'anna' }, at: yesterdayAt });
    await syncStaff(ctx, anna);
    await syncStaff(ctx, bert);
    await forwardTask(ctx.db, { id: bert, role: 'staff' }, forwardedToAnna!, 'anna');
    await completeTask(ctx.db, { id: anna, role: 'staff' }, doneToday!);
    await ctx.db.update(task).set({ createdAt: yesterdayAt }).where(eq(task.id, forwardedToAnna!)); // it arrived yesterday, came to Anna today

    const view = await dayView(ctx.db, anna);
    assert.equal(view.date, today);
    assert.deepEqual(
      view.groups.map((g) => [g.activityType, g.tasks.map((t) => t.id)]),
      [
        ['E-Mail-Eingang', [claimedToday, oldClaimedToday, doneToday, forwardedToAnna]],
        ['Scan-Eingang', [scanToday]],
      ],
    );
    assert.equal(view.groups[0]!.tasks.find((t) => t.id === doneToday)!.status, 'completed', 'completed today: still in the day');
    assert.ok(!view.groups.flatMap((g) => g.tasks).some((t) => t.id === bertsToday), "Bert's task is not Anna's");

    const before = await dayView(ctx.db, anna, yesterday);
    assert.equal(before.date, yesterday);
    // created yesterday and Anna's now: yesterday's own task, and the two that came to her today
    assert.deepEqual(
      before.groups.map((g) => [g.activityType, g.tasks.map((t) => t.id)]),
      [['E-Mail-Eingang', [oldClaimedToday, forwardedToAnna, yesterdays]]],
    );
    assert.deepEqual((await dayView(ctx.db, bert)).groups.map((g) => g.tasks.map((t) => t.id)), [[bertsToday]]);
  });

  test('a date that is not YYYY-MM-DD or does not exist is refused', async () => {
    for (const bad of ['2024-02-30', '24-01-01', 'today', '2024-13-01']) {
      await assert.rejects(dayView(ctx.db, 1, bad), refused('date', `"${bad}" is not a date (YYYY-MM-DD)`));
    }
  });
});
