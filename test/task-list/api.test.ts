// HTTP API against a running gateway: GET /api/v1/tasks/open (JSON page), and the reference data
// GET /activity-types, /settings (every token), /staff, /mappings (admins; 403 for staff).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addActivityType } from '../../src/services/activity-types.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { driver, testGateway } from '../helpers/env.js';
import { ago, insertTask } from './lib.js';

describe(`API: open-task list and reference data (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  const tokens: Record<string, string> = {};
  const id: Record<string, number> = {};
  const staffId: Record<string, number> = {};

  const get = (path: string, who?: string) => fetch(`${base}${path}`, { headers: who ? { Authorization: `Bearer ${tokens[who]}` } : {} });
  const json = async (path: string, who: string) => {
    const r = await get(path, who);
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    return r.json() as Promise<unknown>;
  };

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    const { db } = g.gateway.ctx;
    staffId.anna = (await addStaff(db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' })).id;
    staffId.susi = (await addStaff(db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' })).id;
    staffId.juergen = (await addStaff(db, { name: 'Müller, Jürgen', email: 'juergen@agency.example', login: 'juergen' })).id;
    await addStaff(db, { name: 'MFP 2. OG', email: 'scanner-2og@agency.example', external: true });
    await addMapping(db, 'scanner-2og@agency.example', 'susi');
    await addActivityType(db, 'Widerspruch');
    for (const login of ['anna', 'susi', 'juergen']) tokens[login] = await createToken(db, login);
    id.A = await insertTask(db, { status: 'open', channel: 'scanner', type: 'Scan-Eingang', sender: 'scanner-2og@agency.example', subject: 'Scan A', assigneeId: staffId.susi, createdAt: ago(9) });
    id.B = await insertTask(db, { status: 'open', channel: 'general', type: 'Widerspruch', sender: 'buerger@mail.example', subject: 'Widerspruch B', assigneeId: staffId.juergen, createdAt: ago(6) });
    id.C = await insertTask(db, { status: 'unassigned', channel: 'general', type: 'E-Mail-Eingang', sender: 'fremd@web.example', subject: 'C', createdAt: ago(3) });
    id.D = await insertTask(db, { status: 'completed', channel: 'general', type: 'E-Mail-Eingang', sender: 'fremd@web.example', subject: 'D', assigneeId: staffId.susi, createdAt: ago(2) });
  });
  after(() => g?.close());

  test('GET /tasks/open: the page with total, limit, offset; an admin sees every open task', async () => {
    const page = (await json('/tasks/open', 'anna')) as { total: number; limit: number; offset: number; items: { id: number }[] };
    assert.deepEqual([page.total, page.limit, page.offset], [3, 50, 0]);
    assert.deepEqual(page.items.map((t) => t.id), [id.A, id.B, id.C]);
  });

  test('a row as JSON: names, not ids; the time as ISO 8601', async () => {
    const page = (await json('/tasks/open?activityType=widerspruch', 'anna')) as { items: Record<string, unknown>[] };
    const { messageId, createdAt, ...row } = page.items[0]!;
    assert.equal(typeof messageId, 'number');
    assert.match(String(createdAt), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.deepEqual(row, {
      id: id.B,
      status: 'open',
      channel: 'general',
      activityType: 'Widerspruch',
      sender: 'buerger@mail.example',
      senderName: null,
      subject: 'Widerspruch B',
      unreadable: false,
      // inserted as a person's mail (no automated flag): RFC 3834 loop protection says null
      automated: null,
      assignee: { id: staffId.juergen, login: 'juergen', name: 'Müller, Jürgen' },
    });
  });

  test('filters, sort and paging as query parameters', async () => {
    const ids = async (q: string) => ((await json(`/tasks/open?${q}`, 'anna')) as { items: { id: number }[] }).items.map((t) => t.id);
    assert.deepEqual(await ids('status=unassigned'), [id.C]);
    assert.deepEqual(await ids('channel=general&order=desc'), [id.C, id.B]);
    assert.deepEqual(await ids('assignee=none'), [id.C]);
    assert.deepEqual(await ids('sender=SCANNER'), [id.A]);
    assert.deepEqual(await ids('olderThanDays=5'), [id.A, id.B]);
    assert.deepEqual(await ids('sort=subject&order=desc'), [id.B, id.A, id.C]);
    assert.deepEqual(await ids('limit=1&offset=1'), [id.B]);
  });

  test('staff see only their own open tasks', async () => {
    const mine = (await json('/tasks/open', 'susi')) as { total: number; items: { id: number }[] };
    assert.deepEqual([mine.total, mine.items.map((t) => t.id)], [1, [id.A]]);
    const other = (await json('/tasks/open?assignee=juergen', 'susi')) as { total: number };
    assert.equal(other.total, 0);
  });

  test('invalid parameters: 400 with the field and the reason, no stack trace', async () => {
    for (const [q, field, error] of [
      ['status=completed', 'status', '"completed" is not the status of an open task; use one of: open, unassigned'],
      ['assignee=ghost', 'assignee', 'no staff member has the login "ghost"'],
      ['olderThanDays=0', 'olderThanDays', 'at least 1 day'],
      ['limit=5000', 'limit', 'at most 1000'],
      ['sort=priority', 'sort', '"priority" is not a sort column; use one of: created, sender, subject, status, assignee'],
      ['createdFrom=gestern', 'createdFrom', '"gestern" is not a date (YYYY-MM-DD) or a date-time with a zone (2024-03-01T08:00:00+01:00)'],
      ['stauts=open', 'stauts', '"stauts" is not a parameter of the task list'],
    ] as const) {
      const r = await get(`/tasks/open?${q}`, 'anna');
      assert.equal(r.status, 400, q);
      assert.deepEqual(await r.json(), { error, field }, q);
    }
  });

  test('without a token: 401 on every route of this file', async () => {
    for (const path of ['/tasks/open', '/tasks/open.csv', '/activity-types', '/settings', '/staff', '/mappings']) {
      assert.equal((await get(path)).status, 401, path);
    }
  });

  test('GET /activity-types and /settings for every token', async () => {
    for (const who of ['anna', 'susi']) {
      const types = (await json('/activity-types', who)) as { name: string; channels: string[]; tasks: number }[];
      assert.deepEqual(
        types.map(({ name, channels, tasks }) => ({ name, channels, tasks })),
        [
          { name: 'E-Mail-Eingang', channels: ['general'], tasks: 2 },
          { name: 'Scan-Eingang', channels: ['scanner'], tasks: 1 },
          { name: 'Widerspruch', channels: [], tasks: 1 },
        ],
      );
      assert.deepEqual(await json('/settings', who), [
        { channel: 'general', activityType: 'E-Mail-Eingang', autoImport: true, pollIntervalMinutes: 15, autoComplete: false },
        { channel: 'scanner', activityType: 'Scan-Eingang', autoImport: true, pollIntervalMinutes: 15, autoComplete: false },
      ]);
    }
  });

  test('GET /staff: admins get every person, never a password hash; staff get 403', async () => {
    const rows = (await json('/staff', 'anna')) as Record<string, unknown>[];
    assert.deepEqual(
      rows.map((r) => Object.keys(r).sort()),
      rows.map(() => ['active', 'createdAt', 'email', 'external', 'id', 'login', 'mailImport', 'name', 'role']),
    );
    assert.deepEqual(
      rows.map((r) => [r.name, r.login, r.role, r.external]),
      [
        ['Admin, Anna', 'anna', 'admin', false],
        ['MFP 2. OG', null, 'staff', true],
        ['Müller, Jürgen', 'juergen', 'staff', false],
        ['Weiß, Susi', 'susi', 'staff', false],
      ],
    );
    const r = await get('/staff', 'susi');
    assert.equal(r.status, 403);
    assert.deepEqual(await r.json(), { error: 'admins only' });
  });

  test('GET /mappings: admins get the rows; staff get 403', async () => {
    const rows = (await json('/mappings', 'anna')) as { from: string; toLogin: string; toName: string }[];
    assert.deepEqual(
      rows.map((m) => [m.from, m.toLogin, m.toName]),
      [['scanner-2og@agency.example', 'susi', 'Weiß, Susi']],
    );
    const r = await get('/mappings', 'juergen');
    assert.equal(r.status, 403);
    assert.deepEqual(await r.json(), { error: 'admins only' });
  });

  test('the OpenAPI document lists these operations with the parameters they validate', async () => {
    const doc = (await json('/openapi.json', 'anna')) as {
      paths: Record<string, { get: { parameters: { name: string; schema: { enum?: string[] } }[]; responses: Record<string, unknown> } }>;
    };
    const open = doc.paths['/api/v1/tasks/open']!.get;
    assert.deepEqual(open.parameters.find((p) => p.name === 'sort')!.schema.enum, ['created', 'sender', 'subject', 'status', 'assignee']);
    assert.deepEqual(open.parameters.find((p) => p.name === 'status')!.schema.enum, ['open', 'unassigned']);
    assert.ok(doc.paths['/api/v1/tasks/open.csv']!.get.parameters.some((p) => p.name === 'excel'));
    assert.ok(doc.paths['/api/v1/staff']!.get.responses['403']);
    assert.ok(doc.paths['/api/v1/mappings']!.get.responses['403']);
    assert.ok(doc.paths['/api/v1/activity-types']!.get);
    assert.ok(doc.paths['/api/v1/settings']!.get);
  });
});
