// The open-task list ("Listengenerator"): which tasks it shows, every filter, every sort, paging,
// who sees what, and the exact refusal for each invalid parameter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addActivityType } from '../../src/services/activity-types.js';
import { ValidationError } from '../../src/services/errors.js';
import { addStaff } from '../../src/services/staff.js';
import { listOpenTasks, openTaskListQuery, parseTaskListQuery } from '../../src/services/task-list.js';
import type { Viewer } from '../../src/services/messages.js';
import { driver, testContext } from '../helpers/env.js';
import { ago, cli, insertTask, localDate } from './lib.js';

describe(`open-task list (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  const id: Record<string, number> = {};
  const staffId: Record<string, number> = {};
  const at: Record<string, Date> = {};

  before(async () => {
    env = await testContext();
    const { db } = env.ctx;
    staffId.anna = (await addStaff(db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' })).id;
    staffId.susi = (await addStaff(db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' })).id;
    staffId.juergen = (await addStaff(db, { name: 'Müller, Jürgen', email: 'juergen@agency.example', login: 'juergen' })).id;
    staffId.bernd = (await addStaff(db, { name: 'Bauer, Bernd', email: 'bernd@agency.example', login: 'bernd' })).id;
    await addActivityType(db, 'Widerspruch');
    const seed = {
      T1: { status: 'open', channel: 'general', type: 'E-Mail-Eingang', sender: 'amt@stadt.example', senderName: 'Stadtamt', subject: 'Anfrage Kita', assigneeId: staffId.susi, createdAt: ago(40) },
      T2: { status: 'open', channel: 'scanner', type: 'Scan-Eingang', sender: 'scanner-2og@agency.example', subject: 'Scan 0815', candidates: [staffId.susi!, staffId.juergen!], createdAt: ago(10) },
      T3: { status: 'unassigned', channel: 'general', type: 'E-Mail-Eingang', sender: 'unbekannt@web.example', subject: 'Zahlung', createdAt: ago(5) },
      T4: { status: 'completed', channel: 'general', type: 'E-Mail-Eingang', sender: 'amt@stadt.example', subject: 'Erledigt', assigneeId: staffId.susi, createdAt: ago(3) },
      T5: { status: 'open', channel: 'general', type: 'Widerspruch', sender: 'buerger@mail.example', senderName: 'Jürgen Bürger', subject: 'Widerspruch gegen Bescheid', assigneeId: staffId.juergen, createdAt: ago(60) },
      T6: { status: 'open', channel: 'scanner', type: 'Scan-Eingang', sender: 'scanner-2og@agency.example', subject: null, assigneeId: staffId.bernd, createdAt: ago(1) },
      T7: { status: 'unassigned', channel: 'scanner', type: 'Scan-Eingang', sender: null, subject: null, createdAt: ago(20), unreadable: true },
      T8: { status: 'open', channel: 'general', type: 'E-Mail-Eingang', sender: 'amt@stadt.example', subject: '=HYPERLINK("http://evil.example","klick")', assigneeId: staffId.susi, createdAt: ago(2) },
    } as const;
    for (const [k, v] of Object.entries(seed)) {
      id[k] = await insertTask(db, v);
      at[k] = v.createdAt;
    }
  });
  after(() => env?.close());

  /** The list's task keys (T1…) for a query, in the order given. */
  async function keys(q: Record<string, string> = {}, viewer?: Viewer): Promise<string[]> {
    const page = await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, q), viewer);
    const byId = new Map(Object.entries(id).map(([k, v]) => [v, k]));
    return page.items.map((t) => byId.get(t.id)!);
  }
  async function refusal(q: Record<string, string>): Promise<{ field: string; message: string }> {
    try {
      await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, q));
    } catch (err) {
      assert.ok(err instanceof ValidationError, String(err));
      return { field: err.field, message: err.message };
    }
    assert.fail(`accepted ${JSON.stringify(q)}`);
  }

  test('shows every task not completed (open and unassigned), oldest first, with the total', async () => {
    const page = await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, {}));
    assert.equal(page.total, 7);
    assert.equal(page.limit, 50);
    assert.equal(page.offset, 0);
    assert.deepEqual(await keys(), ['T5', 'T1', 'T7', 'T2', 'T3', 'T8', 'T6']);
  });

  test('a row carries status, channel, activity type, sender, subject, assignee and time of arrival', async () => {
    const page = await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, { senderAddress: 'buerger@mail.example' }));
    assert.equal(page.items.length, 1);
    const { messageId, ...row } = page.items[0]!;
    assert.ok(messageId > 0);
    assert.deepEqual(row, {
      id: id.T5,
      status: 'open',
      channel: 'general',
      activityType: 'Widerspruch',
      sender: 'buerger@mail.example',
      senderName: 'Jürgen Bürger',
      subject: 'Widerspruch gegen Bescheid',
      unreadable: false,
      // a citizen's mail without Auto-Submitted, List-Id or Precedence: not automated (RFC 3834)
      automated: null,
      assignee: { id: staffId.juergen, login: 'juergen', name: 'Müller, Jürgen' },
      createdAt: at.T5,
    });
    const [unreadable] = (await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, { status: 'unassigned', channel: 'scanner' }))).items;
    assert.equal(unreadable!.id, id.T7);
    assert.equal(unreadable!.unreadable, true);
    assert.equal(unreadable!.sender, null);
    assert.equal(unreadable!.assignee, null);
  });

  test('filter by status', async () => {
    assert.deepEqual(await keys({ status: 'unassigned' }), ['T7', 'T3']);
    assert.deepEqual(await keys({ status: 'open' }), ['T5', 'T1', 'T2', 'T8', 'T6']);
  });

  test('filter by channel', async () => {
    assert.deepEqual(await keys({ channel: 'scanner' }), ['T7', 'T2', 'T6']);
    assert.deepEqual(await keys({ channel: 'general' }), ['T5', 'T1', 'T3', 'T8']);
  });

  test('filter by activity type, its name in any case', async () => {
    assert.deepEqual(await keys({ activityType: 'widerspruch' }), ['T5']);
    assert.deepEqual(await keys({ activityType: 'SCAN-EINGANG' }), ['T7', 'T2', 'T6']);
  });

  test('filter by assignee: a login in any case, or none (unclaimed and unassigned tasks)', async () => {
    assert.deepEqual(await keys({ assignee: 'susi' }), ['T1', 'T8']);
    assert.deepEqual(await keys({ assignee: 'SUSI' }), ['T1', 'T8']);
    assert.deepEqual(await keys({ assignee: 'none' }), ['T7', 'T2', 'T3']);
    assert.deepEqual(await keys({ assignee: 'anna' }), []);
  });

  test('filter by sender: part of the address or the name, any case; % and _ are literal', async () => {
    assert.deepEqual(await keys({ sender: 'STADT' }), ['T1', 'T8']);
    assert.deepEqual(await keys({ sender: 'Bürger' }), ['T5']);
    assert.deepEqual(await keys({ sender: '2og@' }), ['T2', 'T6']);
    assert.deepEqual(await keys({ sender: '%' }), []);
    assert.deepEqual(await keys({ sender: '_' }), []);
  });

  test('filter by the exact sender address, any case', async () => {
    assert.deepEqual(await keys({ senderAddress: 'AMT@Stadt.Example' }), ['T1', 'T8']);
    assert.deepEqual(await keys({ senderAddress: 'mt@stadt.example' }), []);
  });

  test('filter by age: older than N days', async () => {
    assert.deepEqual(await keys({ olderThanDays: '15' }), ['T5', 'T1', 'T7']);
    assert.deepEqual(await keys({ olderThanDays: '100' }), []);
  });

  test('filter by creation dates: from and to are whole days, both included', async () => {
    // T2 is 10 days old, T3 5 days, T7 20, T8 2: the days 12 and 4 days ago bracket T2 and T3
    assert.deepEqual(await keys({ createdFrom: localDate(ago(12)), createdTo: localDate(ago(4)) }), ['T2', 'T3']);
    assert.deepEqual(await keys({ createdFrom: localDate(at.T3!), createdTo: localDate(at.T3!) }), ['T3']);
    // a date-time is an instant, included
    assert.deepEqual(await keys({ createdFrom: at.T2!.toISOString(), createdTo: at.T3!.toISOString() }), ['T2', 'T3']);
    assert.deepEqual(await keys({ createdTo: localDate(ago(30)) }), ['T5', 'T1']);
  });

  test('sort by sender: empty last, equal senders oldest first', async () => {
    assert.deepEqual(await keys({ sort: 'sender' }), ['T1', 'T8', 'T5', 'T2', 'T6', 'T3', 'T7']);
    assert.deepEqual(await keys({ sort: 'sender', order: 'desc' }), ['T3', 'T2', 'T6', 'T5', 'T1', 'T8', 'T7']);
  });

  test('sort by subject, ignoring case; no subject last', async () => {
    assert.deepEqual(await keys({ sort: 'subject', olderThanDays: '3' }), ['T1', 'T2', 'T5', 'T3', 'T7']);
    assert.deepEqual(await keys({ sort: 'subject', order: 'desc', olderThanDays: '3' }), ['T3', 'T5', 'T2', 'T1', 'T7']);
  });

  test('sort by status', async () => {
    assert.deepEqual(await keys({ sort: 'status' }), ['T5', 'T1', 'T2', 'T8', 'T6', 'T7', 'T3']);
    assert.deepEqual(await keys({ sort: 'status', order: 'desc' }), ['T7', 'T3', 'T5', 'T1', 'T2', 'T8', 'T6']);
  });

  test('sort by assignee name ("Nachname, Vorname"); nobody last', async () => {
    assert.deepEqual(await keys({ sort: 'assignee' }), ['T6', 'T5', 'T1', 'T8', 'T7', 'T2', 'T3']);
    assert.deepEqual(await keys({ sort: 'assignee', order: 'desc' }), ['T1', 'T8', 'T5', 'T6', 'T7', 'T2', 'T3']);
  });

  test('sort by creation, newest first', async () => {
    assert.deepEqual(await keys({ order: 'desc' }), ['T6', 'T8', 'T3', 'T2', 'T7', 'T1', 'T5']);
  });

  test('pages: limit and offset, the total of all matching tasks on every page', async () => {
    const page = (offset: string) => listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, { limit: '2', offset }));
    assert.deepEqual(await keys({ limit: '2' }), ['T5', 'T1']);
    assert.deepEqual(await keys({ limit: '2', offset: '2' }), ['T7', 'T2']);
    assert.deepEqual(await keys({ limit: '2', offset: '6' }), ['T6']);
    const beyond = await page('7');
    assert.deepEqual([beyond.items.length, beyond.total], [0, 7]);
    assert.equal((await page('2')).total, 7);
    const filtered = await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, { channel: 'scanner', limit: '1' }));
    assert.equal(filtered.total, 3);
    assert.equal(filtered.items.length, 1);
  });

  test('staff see only the tasks they are assignee or candidate of; admins all', async () => {
    assert.deepEqual(await keys({}, { id: staffId.susi!, role: 'staff' }), ['T1', 'T2', 'T8']);
    assert.deepEqual(await keys({}, { id: staffId.juergen!, role: 'staff' }), ['T5', 'T2']);
    assert.deepEqual(await keys({}, { id: staffId.bernd!, role: 'staff' }), ['T6']);
    assert.deepEqual(await keys({ channel: 'general' }, { id: staffId.susi!, role: 'staff' }), ['T1', 'T8']);
    assert.deepEqual(await keys({}, { id: staffId.anna!, role: 'admin' }), ['T5', 'T1', 'T7', 'T2', 'T3', 'T8', 'T6']);
    const page = await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, { limit: '1' }), { id: staffId.susi!, role: 'staff' });
    assert.equal(page.total, 3);
  });

  const refusals: [string, Record<string, string>, string, string][] = [
    ['a completed status', { status: 'completed' }, 'status', '"completed" is not the status of an open task; use one of: open, unassigned'],
    ['an unknown channel', { channel: 'fax' }, 'channel', '"fax" is not a channel; use one of: general, scanner'],
    ['an unknown activity type', { activityType: 'Posteingang' }, 'activityType', 'no activity type is named "Posteingang"'],
    ['an empty activity type', { activityType: '  ' }, 'activityType', 'expected the name of an activity type'],
    ['an unknown login', { assignee: 'ghost' }, 'assignee', 'no staff member has the login "ghost"'],
    ['an exact sender that is not an address', { senderAddress: 'stadt.example' }, 'senderAddress', '"stadt.example" is not an e-mail address'],
    ['an empty sender', { sender: '' }, 'sender', 'expected a part of the sender address or name'],
    ['age not a number', { olderThanDays: 'abc' }, 'olderThanDays', 'expected a number of days'],
    ['limit not a number', { limit: 'ten' }, 'limit', 'expected a number'],
    ['age of part of a day', { olderThanDays: '1.5' }, 'olderThanDays', '"1.5" is not a whole number of days'],
    ['age 0', { olderThanDays: '0' }, 'olderThanDays', 'at least 1 day'],
    ['age beyond 100 years', { olderThanDays: '36501' }, 'olderThanDays', 'at most 36500 days'],
    [
      'an impossible date',
      { createdFrom: '2024-02-30' },
      'createdFrom',
      '"2024-02-30" is not a date (YYYY-MM-DD) or a date-time with a zone (2024-03-01T08:00:00+01:00)',
    ],
    [
      'a date-time without a zone',
      { createdTo: '2024-03-01T08:00:00' },
      'createdTo',
      '"2024-03-01T08:00:00" is not a date (YYYY-MM-DD) or a date-time with a zone (2024-03-01T08:00:00+01:00)',
    ],
    ['a range that ends before it starts', { createdFrom: '2024-03-02', createdTo: '2024-03-01' }, 'createdTo', 'createdTo (2024-03-01) is before createdFrom (2024-03-02)'],
    ['an unknown sort column', { sort: 'priority' }, 'sort', '"priority" is not a sort column; use one of: created, sender, subject, status, assignee'],
    ['an unknown order', { order: 'up' }, 'order', '"up" is not an order; use asc or desc'],
    ['limit 0', { limit: '0' }, 'limit', 'at least 1'],
    ['limit above 1000', { limit: '1001' }, 'limit', 'at most 1000'],
    ['a negative offset', { offset: '-1' }, 'offset', 'at least 0'],
    ['an unknown parameter', { stauts: 'open' }, 'stauts', '"stauts" is not a parameter of the task list'],
  ];
  for (const [what, q, field, message] of refusals) {
    test(`refuses ${what}`, async () => {
      assert.deepEqual(await refusal(q), { field, message });
    });
  }

  test('from and to on the same date is accepted (one whole day)', async () => {
    assert.deepEqual(await keys({ createdFrom: '2024-03-01', createdTo: '2024-03-01' }), []);
  });

  test('CLI tasks open: filters as options, a table and the total; --json is the page', async () => {
    const r = await cli(env.ctx, ['tasks', 'open', '--channel', 'scanner', '--sort', 'created', '--order', 'desc', '--limit', '2']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().trim().split('\n');
    assert.match(lines[0]!, /^id\s+status\s+channel\s+activityType\s+sender\s+subject\s+assignee\s+createdAt\s+flags$/);
    assert.deepEqual(
      lines.slice(1).map((l) => Number(l.split(/\s+/)[0])),
      [id.T6, id.T2],
    );
    assert.equal(r.stderr, '(1–2 of 3 open tasks)\n');
    const j = await cli(env.ctx, ['tasks', 'open', '--assignee', 'none', '--older-than', '7', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const page = JSON.parse(j.stdout.toString()) as { total: number; items: { id: number }[] };
    assert.equal(page.total, 2);
    assert.deepEqual(page.items.map((t) => t.id), [id.T7, id.T2]);
  });

  test('CLI tasks open refuses like the API, naming the parameter', async () => {
    const r = await cli(env.ctx, ['tasks', 'open', '--status', 'completed']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'refused (status): "completed" is not the status of an open task; use one of: open, unassigned\n');
    const a = await cli(env.ctx, ['tasks', 'open', '--assignee', 'ghost', '--csv']);
    assert.equal(a.code, 1);
    assert.equal(a.stderr, 'refused (assignee): no staff member has the login "ghost"\n');
  });
});
