// Deactivating staff (issue 5 item 1: "deactivating a person never loses a task") and routing the
// waiting unassigned tasks after a new mapping (item 3), on the suite's driver. Expected values
// follow from the rules and from the tasks each test sets up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import type { AppContext } from '../../src/context.js';
import { staff, taskCandidate, taskEvent } from '../../src/db/schema.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { syncStaff } from '../../src/services/claims.js';
import { ValidationError } from '../../src/services/errors.js';
import { countWaitingTasks, deactivateStaff, routeWaitingTasks } from '../../src/services/staff-lifecycle.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { createToken, verifyToken } from '../../src/services/tokens.js';
import { driver, testContext } from '../helpers/env.js';
import { insertTasks, taskRows } from './seed.js';

const refused = (field: string, message: string) => (e: unknown) => e instanceof ValidationError && e.field === field && e.message === message;

describe(`deactivating a staff member (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let ctx: AppContext;
  const id: Record<string, number> = {};

  before(async () => {
    env = await testContext();
    ctx = env.ctx;
    for (const [login, name] of [
      ['susi', 'Weiß, Susi'],
      ['jan', 'Jansen, Jan'],
    ] as const) {
      id[login] = (await addStaff(ctx.db, { name, email: `${login}@agency.example`, login })).id;
    }
    id.mfp = (await addStaff(ctx.db, { name: 'MFP 2. OG', email: 'mfp-2og@agency.example', external: true })).id;
  });
  after(() => env?.close());

  async function candidatesOf(taskId: number) {
    return (await ctx.db.select({ s: taskCandidate.staffId }).from(taskCandidate).where(eq(taskCandidate.taskId, taskId))).map((r) => r.s).sort((a, b) => a - b);
  }
  async function eventsOn(taskId: number) {
    return (await ctx.db.select().from(taskEvent).where(eq(taskEvent.taskId, taskId))).map((e) => ({ action: e.action, actorId: e.actorId, detail: e.detail }));
  }

  test('unclaimed candidacies end; a task left without candidate becomes unassigned; assigned tasks stay and are reported', async () => {
    const [shared] = await insertTasks(ctx.db, { count: 1, candidates: [id.susi!, id.jan!] });
    const [alone] = await insertTasks(ctx.db, { count: 1, candidates: [id.susi!] });
    const [hers] = await insertTasks(ctx.db, { count: 1, candidates: [id.susi!], assigneeId: id.susi! });
    const [done] = await insertTasks(ctx.db, { count: 1, candidates: [id.susi!], status: 'completed', completedAt: new Date() });
    const token = await createToken(ctx.db, 'susi');

    const r = await deactivateStaff(ctx.db, 'Susi');
    assert.deepEqual(r, {
      staff: { id: id.susi, login: 'susi', name: 'Weiß, Susi' },
      candidaciesEnded: [shared, alone],
      unassigned: [alone],
      stillAssigned: [hers],
    });
    const [row] = await ctx.db.select().from(staff).where(eq(staff.id, id.susi!));
    assert.equal(row!.active, false);

    const rows = await taskRows(ctx.db);
    assert.deepEqual([rows.get(shared!)!.status, await candidatesOf(shared!)], ['open', [id.jan]]);
    assert.deepEqual([rows.get(alone!)!.status, await candidatesOf(alone!)], ['unassigned', []]);
    assert.deepEqual([rows.get(hers!)!.status, rows.get(hers!)!.assigneeId], ['open', id.susi], 'not lost: still hers, for an admin to forward');
    assert.deepEqual(await candidatesOf(done!), [id.susi], 'history of completed tasks is kept');

    const detail = { staffId: id.susi, login: 'susi', name: 'Weiß, Susi', reason: 'deactivated' };
    assert.deepEqual(await eventsOn(alone!), [{ action: 'unassigned', actorId: null, detail }]);
    assert.deepEqual(await eventsOn(shared!), [{ action: 'candidate-removed', actorId: null, detail }]);
    assert.deepEqual(await eventsOn(hers!), []);

    // Jan now gets the shared task by syncing; Susi's token no longer works, her sync is refused
    assert.deepEqual((await syncStaff(ctx, id.jan!)).claimed, [shared]);
    assert.equal(await verifyToken(ctx.db, token), null);
    await assert.rejects(syncStaff(ctx, id.susi!), refused('login', '"Weiß, Susi" is not active'));
  });

  test('refusals: unknown login, already inactive', async () => {
    await assert.rejects(deactivateStaff(ctx.db, 'nobody'), refused('login', 'no staff member has the login or active e-mail "nobody"'));
    await assert.rejects(deactivateStaff(ctx.db, 'susi'), refused('login', '"Weiß, Susi" is already inactive'));
  });

  test('an external person (no login) is deactivated by e-mail; their address may then belong to a new record', async () => {
    const r = await deactivateStaff(ctx.db, 'MFP-2OG@agency.example');
    assert.deepEqual(r, { staff: { id: id.mfp, login: null, name: 'MFP 2. OG' }, candidaciesEnded: [], unassigned: [], stillAssigned: [] });
    const again = await addStaff(ctx.db, { name: 'MFP 2. OG (neu)', email: 'mfp-2og@agency.example', external: true });
    assert.notEqual(again.id, id.mfp);
  });
});

describe(`routing waiting tasks after a new mapping (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let ctx: AppContext;

  before(async () => {
    env = await testContext();
    ctx = env.ctx;
  });
  after(() => env?.close());

  const mail = (from: string, n: number) =>
    rawFromBuffer(Buffer.from(`From: <${from}>\r\nTo: scan@agency.example\r\nSubject: Scan ${n}\r\nMessage-ID: <r${n}@${from.split('@')[1]}>\r\n\r\nscan ${n}\r\n`));

  test('unassigned tasks from the sender get the mapped candidates and become open; others stay waiting', async () => {
    const kim = (await addStaff(ctx.db, { name: 'Krause, Kim', email: 'kim@agency.example', login: 'kim' })).id;
    const lea = (await addStaff(ctx.db, { name: 'Lange, Lea', email: 'lea@agency.example', login: 'lea' })).id;
    await addStaff(ctx.db, { name: 'MFP EG', email: 'mfp-eg@agency.example', external: true });
    await addStaff(ctx.db, { name: 'MFP 1. OG', email: 'mfp-1og@agency.example', external: true });
    const ingest = async (from: string, n: number) => (await ctx.ingest(mail(from, n), { kind: 'file', channels: ['scanner'], path: `${n}.eml` })).tasks[0]!;
    const w1 = await ingest('mfp-eg@agency.example', 1);
    const w2 = await ingest('MFP-EG@agency.example', 2);
    const other = await ingest('mfp-1og@agency.example', 3);
    assert.deepEqual([w1.status, w2.status, other.status], ['unassigned', 'unassigned', 'unassigned'], 'no mapping yet');
    const unreadable = (await ctx.ingest(rawFromBuffer(Buffer.from('Kein Header\r\nFrom: <mfp-eg@agency.example>\r\n\r\nscan')), { kind: 'file', channels: ['scanner'], path: 'x.eml' })).tasks[0]!;

    assert.equal(await countWaitingTasks(ctx.db, 'mfp-eg@agency.example'), 2);
    await addMapping(ctx.db, 'mfp-eg@agency.example', 'kim');
    await addMapping(ctx.db, 'mfp-eg@agency.example', 'lea');
    const r = await routeWaitingTasks(ctx.db, 'MFP-EG@agency.example');
    assert.deepEqual(r, { routed: [w1.id, w2.id], candidates: [kim, lea] });

    const rows = await taskRows(ctx.db);
    assert.equal(rows.get(w1.id)!.status, 'open');
    assert.equal(rows.get(w2.id)!.status, 'open');
    assert.equal(rows.get(other.id)!.status, 'unassigned', 'another sender: still waiting');
    assert.equal(unreadable.status, 'unassigned');
    assert.equal(rows.get(unreadable.id)!.status, 'unassigned', 'an unreadable message is assigned by hand, never routed');
    const events = await ctx.db.select().from(taskEvent).where(eq(taskEvent.taskId, w1.id));
    assert.deepEqual(
      events.map((e) => [e.action, e.actorId, e.detail]),
      [
        ['created', null, { status: 'unassigned', candidates: [], source: 'file' }],
        ['routed', null, { from: 'mfp-eg@agency.example', candidates: [kim, lea] }],
      ],
    );
    assert.equal(await countWaitingTasks(ctx.db, 'mfp-eg@agency.example'), 0);
    // the first of them who synchronises gets both
    assert.deepEqual((await syncStaff(ctx, lea)).claimed, [w1.id, w2.id]);
    assert.deepEqual((await syncStaff(ctx, kim)).claimed, []);
  });

  test('routing a sender without a usable mapping is refused; a non-address too', async () => {
    await assert.rejects(
      routeWaitingTasks(ctx.db, 'mfp-1og@agency.example'),
      refused('from', 'mfp-1og@agency.example is not mapped to any active staff member with the permission mail.import; add a mapping first'),
    );
    await assert.rejects(routeWaitingTasks(ctx.db, 'not an address'), refused('from', '"not an address" is not an e-mail address'));
  });
});
