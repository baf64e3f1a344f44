// The task API through HTTP against a running gateway (issue 5 items 4, 5, 7): sync, day view,
// show, history, complete, reopen, forward, assign; 400 with field and reason, 403, 404, on the
// suite's driver. Expected values follow from the rules and the messages ingested here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { driver, testGateway } from '../helpers/env.js';

interface TaskBody {
  id: number;
  status: string;
  subject: string | null;
  activityType: string;
  assignee: { login: string | null } | null;
  candidates: { login: string | null }[];
}

describe(`task API over HTTP (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  const tokens: Record<string, string> = {};
  const ids: Record<string, number> = {};
  const staffIds: Record<string, number> = {};

  const call = (method: string, path: string, who: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  async function expectStatus(r: Response, status: number, fields: Record<string, unknown> = {}) {
    const text = await r.text();
    assert.equal(r.status, status, text);
    const body = JSON.parse(text) as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) assert.deepEqual(body[k], v, `${k} in ${text}`);
    assert.ok(!/\bat .+\.(ts|js):\d+/.test(text), 'no stack trace');
    return body;
  }
  const mail = (from: string, subject: string) =>
    rawFromBuffer(Buffer.from(`From: <${from}>\r\nTo: scan@agency.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@x>\r\n\r\n${subject}\r\n`));

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    const { db } = g.gateway.ctx;
    await addStaff(db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' });
    staffIds.susi = (await addStaff(db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' })).id;
    staffIds.jan = (await addStaff(db, { name: 'Jansen, Jan', email: 'jan@agency.example', login: 'jan' })).id;
    await addStaff(db, { name: 'Praktikant, Paul', email: 'paul@agency.example', login: 'paul', mailImport: false });
    await addStaff(db, { name: 'MFP 2. OG', email: 'mfp-2og@agency.example', external: true });
    await addStaff(db, { name: 'Amt, Post', email: 'post@amt.example', external: true });
    await addMapping(db, 'mfp-2og@agency.example', 'susi');
    await addMapping(db, 'mfp-2og@agency.example', 'jan');
    await addMapping(db, 'post@amt.example', 'jan');
    for (const login of ['anna', 'susi', 'jan', 'paul']) tokens[login] = await createToken(db, login);
    const ingest = async (from: string, subject: string, channel: 'general' | 'scanner') =>
      (await g.gateway.ctx.ingest(mail(from, subject), { kind: 'file', channels: [channel], path: `${subject}.eml` })).tasks[0]!.id;
    ids.scan = await ingest('mfp-2og@agency.example', 'Scan Bescheid', 'scanner');
    ids.letter = await ingest('post@amt.example', 'Brief vom Amt', 'general');
    ids.stranger = await ingest('fremd@example.org', 'Unbekannt', 'general');
  });
  after(() => g?.close());

  test('POST /sync claims for the token owner; the other candidate gets nothing; a second sync claims nothing new', async () => {
    const s = await expectStatus(await call('POST', '/sync', 'susi'), 200);
    assert.deepEqual(s.claimed, [ids.scan]);
    assert.deepEqual((s.tasks as TaskBody[]).map((t) => [t.id, t.assignee?.login, t.subject]), [[ids.scan, 'susi', 'Scan Bescheid']]);
    const j = await expectStatus(await call('POST', '/sync', 'jan'), 200);
    assert.deepEqual(j.claimed, [ids.letter], 'the scan went to Susi, who synchronised first');
    assert.deepEqual((await expectStatus(await call('POST', '/sync', 'susi'), 200)).claimed, []);
  });

  test('POST /sync without the permission mail.import: 403 with the reason', async () => {
    await expectStatus(await call('POST', '/sync', 'paul'), 403, { error: '"Praktikant, Paul" lacks the permission mail.import ("E-Mails automatisch einlesen")' });
  });

  test('GET /tasks?view=day: my tasks of today grouped by activity type; GET /tasks without view is still the list', async () => {
    const day = await expectStatus(await call('GET', '/tasks?view=day', 'susi'), 200);
    const groups = day.groups as { activityType: string; tasks: TaskBody[] }[];
    assert.deepEqual(groups.map((gr) => [gr.activityType, gr.tasks.map((t) => t.id)]), [['Scan-Eingang', [ids.scan]]]);
    const janDay = (await expectStatus(await call('GET', '/tasks?view=day', 'jan'), 200)).groups as { activityType: string; tasks: TaskBody[] }[];
    assert.deepEqual(janDay.map((gr) => [gr.activityType, gr.tasks.map((t) => t.id)]), [['E-Mail-Eingang', [ids.letter]]]);
    const list = await call('GET', '/tasks', 'anna');
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(await list.json()), 'the task list answers without view');
    await expectStatus(await call('GET', '/tasks?view=week', 'susi'), 400, { field: 'view' });
    await expectStatus(await call('GET', '/tasks?view=day&date=2024-02-30', 'susi'), 400, { field: 'date', error: '"2024-02-30" is not a date (YYYY-MM-DD)' });
    await expectStatus(await call('GET', '/tasks?view=day&date=morgen', 'susi'), 400, { field: 'date' });
  });

  test("GET /tasks/:id: 404 for another person's task, not the task; 400 for a malformed id", async () => {
    const r = await call('GET', `/tasks/${ids.letter}`, 'susi');
    const text = await r.text();
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(text), { error: `no task with id ${ids.letter}` });
    assert.ok(!text.includes('Brief vom Amt'));
    await expectStatus(await call('GET', `/tasks/${ids.stranger}`, 'susi'), 404);
    await expectStatus(await call('GET', '/tasks/987654', 'anna'), 404, { error: 'no task with id 987654' });
    await expectStatus(await call('GET', '/tasks/abc', 'susi'), 400, { field: 'id' });
    const mine = await expectStatus(await call('GET', `/tasks/${ids.scan}`, 'susi'), 200, { id: ids.scan, status: 'open', subject: 'Scan Bescheid' });
    assert.deepEqual((mine.candidates as { login: string }[]).map((c) => c.login).sort(), ['jan', 'susi']);
    await expectStatus(await call('GET', `/tasks/${ids.letter}`, 'anna'), 200, { id: ids.letter });
  });

  test('complete and reopen: 404 for the other candidate once Susi claimed it, 200 for the assignee, 400 when already completed', async () => {
    // first to sync gets the task: from then on it is Susi's, and Jan no longer sees it at all
    await expectStatus(await call('POST', `/tasks/${ids.scan}/complete`, 'jan'), 404, { error: `no task with id ${ids.scan}` });
    await expectStatus(await call('POST', `/tasks/${ids.letter}/complete`, 'susi'), 404);
    await expectStatus(await call('POST', `/tasks/${ids.scan}/complete`, 'susi'), 200, { status: 'completed' });
    await expectStatus(await call('POST', `/tasks/${ids.scan}/complete`, 'susi'), 400, { field: 'status', error: `task ${ids.scan} is already completed` });
    await expectStatus(await call('POST', `/tasks/${ids.scan}/reopen`, 'jan'), 404, { error: `no task with id ${ids.scan}` });
    await expectStatus(await call('POST', `/tasks/${ids.scan}/reopen`, 'susi'), 200, { status: 'open', completedAt: null });
  });

  test('forward: body checked (400 naming to), target rules, then the other person is the assignee', async () => {
    await expectStatus(await call('POST', `/tasks/${ids.scan}/forward`, 'susi', {}), 400, { field: 'to' });
    await expectStatus(await call('POST', `/tasks/${ids.scan}/forward`, 'susi', 'not json'), 400, { field: 'body' });
    // unknown keys are refused, as on every other write (a typo must not pass silently)
    await expectStatus(await call('POST', `/tasks/${ids.scan}/forward`, 'susi', { to: 'jan', note: 'x' }), 400, { field: 'note' });
    await expectStatus(await call('POST', `/tasks/${ids.scan}/forward`, 'susi', { to: 'paul' }), 400, {
      field: 'to',
      error: '"Praktikant, Paul" lacks the permission mail.import ("E-Mails automatisch einlesen")',
    });
    await expectStatus(await call('POST', `/tasks/${ids.scan}/forward`, 'jan', { to: 'jan' }), 404, { error: `no task with id ${ids.scan}` });
    const t = await expectStatus(await call('POST', `/tasks/${ids.scan}/forward`, 'susi', { to: 'jan' }), 200);
    assert.equal((t.assignee as { login: string }).login, 'jan');
    // Jan's day view now has both of his tasks (the scan came to him today)
    const groups = (await expectStatus(await call('GET', '/tasks?view=day', 'jan'), 200)).groups as { activityType: string; tasks: TaskBody[] }[];
    assert.deepEqual(groups.map((gr) => [gr.activityType, gr.tasks.map((x) => x.id)]), [
      ['E-Mail-Eingang', [ids.letter]],
      ['Scan-Eingang', [ids.scan]],
    ]);
    assert.deepEqual((await expectStatus(await call('GET', '/tasks?view=day', 'susi'), 200)).groups, [], 'no longer Susi’s');
  });

  test('assign from the unassigned queue: 403 for staff, 200 for an admin; the person then sees it', async () => {
    await expectStatus(await call('POST', `/tasks/${ids.stranger}/assign`, 'susi', { to: 'susi' }), 403, { error: 'only an admin may assign tasks by hand' });
    await expectStatus(await call('POST', `/tasks/${ids.letter}/assign`, 'anna', { to: 'susi' }), 400, {
      field: 'status',
      error: `task ${ids.letter} is not in the unassigned queue (status open); forward it instead`,
    });
    await expectStatus(await call('POST', `/tasks/${ids.stranger}/assign`, 'anna', { to: 'nobody' }), 400, { field: 'to', error: 'no staff member has the login "nobody"' });
    const t = await expectStatus(await call('POST', `/tasks/${ids.stranger}/assign`, 'anna', { to: 'susi' }), 200, { status: 'open' });
    assert.equal((t.assignee as { login: string }).login, 'susi');
    await expectStatus(await call('GET', `/tasks/${ids.stranger}`, 'susi'), 200, { id: ids.stranger });
  });

  test('GET /tasks/:id/history: who did what, with names; 404 for someone who cannot see the task', async () => {
    const h = (await (await call('GET', `/tasks/${ids.scan}/history`, 'jan')).json()) as { action: string; actor: { login: string } | null; detail: unknown }[];
    assert.deepEqual(
      h.map((e) => [e.action, e.actor?.login ?? null]),
      [
        ['created', null],
        ['claimed', 'susi'],
        ['completed', 'susi'],
        ['reopened', 'susi'],
        ['forwarded', 'susi'],
      ],
    );
    assert.deepEqual(h[4]!.detail, { fromId: staffIds.susi, from: 'susi', toId: staffIds.jan, to: 'jan' });
    await expectStatus(await call('GET', `/tasks/${ids.letter}/history`, 'susi'), 404);
  });

  test('without a token: 401', async () => {
    assert.equal((await fetch(`${base}/sync`, { method: 'POST' })).status, 401);
    assert.equal((await fetch(`${base}/tasks/${ids.scan}`)).status, 401);
  });
});
