// Claiming by synchronisation (issue 5 item 4; domain.md item 5: "the first of them who
// synchronises gets the task, and nobody else does"), on the suite's driver. Expected values
// follow from the rule and the tasks each test inserts, never from the program's output.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AppContext } from '../../src/context.js';
import { syncStaff } from '../../src/services/claims.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../src/services/errors.js';
import { addStaff } from '../../src/services/staff.js';
import { driver, testContext } from '../helpers/env.js';
import { eventsOf, insertTasks, taskRows } from './seed.js';

describe(`claiming by sync (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let ctx: AppContext;
  const id: Record<string, number> = {};

  before(async () => {
    env = await testContext();
    ctx = env.ctx;
    id.anna = (await addStaff(ctx.db, { name: 'Albers, Anna', email: 'anna@agency.example', login: 'anna' })).id;
    id.bert = (await addStaff(ctx.db, { name: 'Brandt, Bert', email: 'bert@agency.example', login: 'bert' })).id;
    id.paul = (await addStaff(ctx.db, { name: 'Praktikant, Paul', email: 'paul@agency.example', login: 'paul', mailImport: false })).id;
    id.old = (await addStaff(ctx.db, { name: 'Alt, Olga', email: 'olga@agency.example', login: 'olga', inactive: true })).id;
  });
  after(() => env?.close());

  test('a sync claims every open unclaimed task the person is a candidate of, and returns them with their other open tasks', async () => {
    const [both] = await insertTasks(ctx.db, { count: 1, candidates: [id.anna!, id.bert!] });
    const [annaOnly] = await insertTasks(ctx.db, { count: 1, candidates: [id.anna!] });
    const [bertOnly] = await insertTasks(ctx.db, { count: 1, candidates: [id.bert!] });
    const [doneNoAssignee] = await insertTasks(ctx.db, { count: 1, candidates: [id.anna!], status: 'completed', completedAt: new Date() });
    const [bertsAlready] = await insertTasks(ctx.db, { count: 1, candidates: [id.anna!, id.bert!], assigneeId: id.bert! });
    const [annasAlready] = await insertTasks(ctx.db, { count: 1, candidates: [id.anna!], assigneeId: id.anna! });
    const [annasDone] = await insertTasks(ctx.db, { count: 1, candidates: [id.anna!], assigneeId: id.anna!, status: 'completed', completedAt: new Date() });

    const a = await syncStaff(ctx, id.anna!);
    assert.deepEqual(a.claimed, [both, annaOnly]);
    assert.deepEqual(a.tasks.map((t) => t.id), [both, annaOnly, annasAlready]);
    assert.ok(a.tasks.every((t) => t.assignee?.login === 'anna' && t.status === 'open'));
    assert.deepEqual(a.polled, [], 'auto-import is on for both channels: no poll');

    const b = await syncStaff(ctx, id.bert!);
    assert.deepEqual(b.claimed, [bertOnly], 'the task both were candidates of went to the first who synchronised');
    assert.deepEqual(b.tasks.map((t) => t.id), [bertOnly, bertsAlready]);

    const again = await syncStaff(ctx, id.anna!);
    assert.deepEqual(again.claimed, [], 'nothing left to claim');
    assert.deepEqual(again.tasks.map((t) => t.id), [both, annaOnly, annasAlready]);

    const rows = await taskRows(ctx.db);
    assert.equal(rows.get(doneNoAssignee!)!.assigneeId, null, 'a completed task is not claimed');
    assert.equal(rows.get(annasDone!)!.status, 'completed');
    const claims = (await eventsOf(ctx.db, 'claimed')).map((e) => [e.taskId, e.actorId]).sort((x, y) => x[0]! - y[0]!);
    assert.deepEqual(claims, [
      [both, id.anna],
      [annaOnly, id.anna],
      [bertOnly, id.bert],
    ]);
  });

  test('refusals: without mail.import (403 in the API), inactive, unknown id', async () => {
    await assert.rejects(
      syncStaff(ctx, id.paul!),
      (e: unknown) => e instanceof ForbiddenError && e.message === '"Praktikant, Paul" lacks the permission mail.import ("E-Mails automatisch einlesen")',
    );
    await assert.rejects(syncStaff(ctx, id.old!), (e: unknown) => e instanceof ValidationError && e.field === 'login' && e.message === '"Alt, Olga" is not active');
    await assert.rejects(syncStaff(ctx, 987_654), (e: unknown) => e instanceof NotFoundError && e.message === 'no staff member with id 987654');
  });
});

describe(`50 concurrent syncs from 10 candidates over 1,000 tasks (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;

  before(async () => {
    env = await testContext();
  });
  after(() => env?.close());

  test('every task is claimed exactly once: one assignee, one claimed event, by that assignee', async (t) => {
    const { ctx } = env;
    const people: number[] = [];
    for (let i = 1; i <= 10; i++) {
      people.push((await addStaff(ctx.db, { name: `Person, Nr ${i}`, email: `p${i}@agency.example`, login: `p${i}` })).id);
    }
    const ids = await insertTasks(ctx.db, { count: 1000, candidates: people });
    assert.equal(ids.length, 1000);

    // 50 syncs, five per person, interleaved, all started before any finishes
    const calls = Array.from({ length: 50 }, (_, i) => people[i % 10]!);
    const results = await Promise.all(calls.map((staffId) => syncStaff(ctx, staffId).then((r) => ({ staffId, r }))));

    const claimedBy = new Map<number, number[]>();
    for (const { staffId, r } of results) for (const taskId of r.claimed) claimedBy.set(taskId, [...(claimedBy.get(taskId) ?? []), staffId]);
    assert.equal(claimedBy.size, 1000, 'every task was claimed by some sync');
    assert.ok([...claimedBy.values()].every((who) => who.length === 1), 'no task was returned as claimed to two syncs');

    const rows = await taskRows(ctx.db);
    const events = await eventsOf(ctx.db, 'claimed');
    const perTask = new Map<number, (number | null)[]>();
    for (const e of events) perTask.set(e.taskId, [...(perTask.get(e.taskId) ?? []), e.actorId]);
    for (const taskId of ids) {
      const actors = perTask.get(taskId) ?? [];
      assert.equal(actors.length, 1, `task ${taskId}: exactly one claimed event (got ${actors.length})`);
      assert.equal(rows.get(taskId)!.assigneeId, actors[0], `task ${taskId}: the assignee is the one who claimed it`);
      assert.equal(rows.get(taskId)!.assigneeId, claimedBy.get(taskId)![0], `task ${taskId}: and the sync that reported it`);
    }
    assert.equal(events.length, 1000, 'no claimed events beyond one per task');

    // a sync's result lists the open tasks of the person: the ones it claimed are among them
    for (const { staffId, r } of results) {
      assert.ok(r.claimed.every((taskId) => r.tasks.some((x) => x.id === taskId && x.assignee?.id === staffId)));
    }
    const distribution = people.map((p) => [...rows.values()].filter((r) => r.assigneeId === p).length);
    t.diagnostic(`tasks per person: ${distribution.join(' ')}`);
  });
});
