// The admin write API under /api/v1 through HTTP against a running gateway (issue 5 items 1, 2, 3,
// 7): staff (create, show, change, deactivate, password), mappings (add with routeWaiting, route,
// remove), activity types (add, rename), settings per channel, CSV imports; 403 for staff tokens,
// 400 naming the field, 404 for unknown ids, and the request bodies in the OpenAPI document.
// Expected values follow from the rules (domain.md items 4–6) and the records created here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import iconv from 'iconv-lite';
import { activityType, channelSetting, senderMapping, staff, task, taskCandidate } from '../../src/db/schema.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addMapping, addStaff, verifyStaffPassword } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { driver, testGateway } from '../helpers/env.js';

type Body = Record<string, unknown>;

describe(`admin write API over HTTP (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  const tokens: Record<string, string> = {};
  const ids: Record<string, number> = {};

  const call = (method: string, path: string, who: string, body?: unknown, contentType = 'application/json') =>
    fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
    });
  /** Asserts the status and the given body fields, and that no stack trace leaks. */
  async function expectStatus(r: Response, status: number, fields: Body = {}): Promise<Body> {
    const text = await r.text();
    assert.equal(r.status, status, text);
    assert.ok(!/\bat .+\.(ts|js):\d+/.test(text), `no stack trace in ${text}`);
    if (status === 204) return {};
    const body = JSON.parse(text) as Body;
    for (const [k, v] of Object.entries(fields)) assert.deepEqual(body[k], v, `${k} in ${text}`);
    return body;
  }
  /** 400 naming `field`, with a reason. */
  async function expectRefused(r: Response, field: string, reason?: RegExp): Promise<Body> {
    const body = await expectStatus(r, 400, { field });
    assert.equal(typeof body.error, 'string');
    if (reason) assert.match(body.error as string, reason);
    return body;
  }
  const mail = (from: string, subject: string) =>
    rawFromBuffer(Buffer.from(`From: <${from}>\r\nTo: scan@agency.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@x>\r\n\r\n${subject}\r\n`));
  const ingest = async (from: string, subject: string) =>
    (await g.gateway.ctx.ingest(mail(from, subject), { kind: 'file', channels: ['scanner'], path: `${subject}.eml` })).tasks[0]!.id;
  const candidatesOf = async (taskId: number) =>
    (await g.gateway.ctx.db.select({ id: taskCandidate.staffId }).from(taskCandidate).where(eq(taskCandidate.taskId, taskId))).map((r) => r.id).sort();
  const statusOf = async (taskId: number) => (await g.gateway.ctx.db.select({ s: task.status }).from(task).where(eq(task.id, taskId)))[0]!.s;

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    const { db } = g.gateway.ctx;
    ids.anna = (await addStaff(db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' })).id;
    ids.susi = (await addStaff(db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' })).id;
    ids.jan = (await addStaff(db, { name: 'Jansen, Jan', email: 'jan@agency.example', login: 'jan' })).id;
    ids.paul = (await addStaff(db, { name: 'Praktikant, Paul', email: 'paul@agency.example', login: 'paul', mailImport: false })).id;
    ids.mfp = (await addStaff(db, { name: 'MFP 2. OG', email: 'mfp-2og@agency.example', external: true })).id;
    for (const login of ['anna', 'susi']) tokens[login] = await createToken(db, login);
  });
  after(() => g?.close());

  test('a staff token gets 403 on every write, and nothing changes', async () => {
    const before = JSON.stringify(await (await call('GET', '/staff', 'anna')).json());
    const writes: [string, string, unknown?][] = [
      ['POST', '/staff', { name: 'Neu, Nina', email: 'nina@agency.example', login: 'nina' }],
      ['PATCH', `/staff/${ids.jan}`, { active: false }],
      ['PATCH', `/staff/${ids.susi}`, { role: 'admin' }],
      ['PUT', `/staff/${ids.jan}/password`, { password: 'lange-genug-123' }],
      ['POST', '/staff/import', 'Name;E-Mail\r\nNeu, Nina;nina@agency.example\r\n'],
      ['GET', `/staff/${ids.jan}`],
      ['POST', '/mappings', { from: 'mfp-2og@agency.example', to: 'susi' }],
      ['DELETE', '/mappings/1'],
      ['POST', '/mappings/route', { from: 'mfp-2og@agency.example' }],
      ['POST', '/mappings/import', 'Von;An\r\nmfp-2og@agency.example;susi\r\n'],
      ['POST', '/activity-types', { name: 'Bescheide' }],
      ['PATCH', '/activity-types/1', { name: 'Umbenannt' }],
      ['PATCH', '/settings/scanner', { pollIntervalMinutes: 5 }],
    ];
    for (const [method, path, body] of writes) {
      const r = await call(method, path, 'susi', body, typeof body === 'string' ? 'text/csv' : 'application/json');
      await expectStatus(r, 403, { error: 'admins only' });
    }
    assert.equal(JSON.stringify(await (await call('GET', '/staff', 'anna')).json()), before);
    assert.deepEqual(await (await call('GET', '/mappings', 'anna')).json(), []);
    assert.deepEqual(((await (await call('GET', '/activity-types', 'anna')).json()) as Body[]).map((t) => t.name).sort(), ['E-Mail-Eingang', 'Scan-Eingang']);
  });

  test('POST /staff creates a person, GET /staff/{id} shows them; the rules refuse naming the field', async () => {
    const created = await expectStatus(await call('POST', '/staff', 'anna', { name: ' Krause, Olaf ', email: 'O.Krause@Agency.example', login: 'okrause' }), 201, {
      name: 'Krause, Olaf',
      email: 'o.krause@agency.example',
      login: 'okrause',
      role: 'staff',
      active: true,
      external: false,
      mailImport: true, // default with a login
    });
    ids.olaf = created.id as number;
    await expectStatus(await call('GET', `/staff/${ids.olaf}`, 'anna'), 200, { id: ids.olaf, name: 'Krause, Olaf', login: 'okrause' });
    const ext = await expectStatus(await call('POST', '/staff', 'anna', { name: 'Amt, Post', email: 'post@amt.example', external: true }), 201, { login: null, mailImport: false });
    ids.amt = ext.id as number;

    await expectRefused(await call('POST', '/staff', 'anna', { name: 'X', email: 'kein-at-zeichen' }), 'email', /not an e-mail address/);
    await expectRefused(await call('POST', '/staff', 'anna', { name: 'Doppelt', email: 'SUSI@agency.example' }), 'email', /already belongs to the active staff record "Weiß, Susi"/);
    await expectRefused(await call('POST', '/staff', 'anna', { name: 'Y', email: 'y@agency.example', login: 'SUSI' }), 'login', /taken/);
    await expectRefused(await call('POST', '/staff', 'anna', { name: 'Z', email: 'z@agency.example', role: 'admin' }), 'role', /admin needs a login/);
    await expectRefused(await call('POST', '/staff', 'anna', { name: 'Z', email: 'z@agency.example', login: 'z', external: true }), 'login', /external person has no login/);
    await expectRefused(await call('POST', '/staff', 'anna', { name: 'Z', email: 'z@agency.example', role: 'chef' }), 'role');
    await expectRefused(await call('POST', '/staff', 'anna', { email: 'z@agency.example' }), 'name');
    await expectRefused(await call('POST', '/staff', 'anna', { name: 'Z', email: 'z@agency.example', passwordHash: 'x' }), 'passwordHash');
    await expectRefused(await call('POST', '/staff', 'anna', '{"name": '), 'body', /JSON/);
    await expectStatus(await call('GET', '/staff/99999', 'anna'), 404);
    await expectRefused(await call('GET', '/staff/abc', 'anna'), 'id');
    const emails = ((await (await call('GET', '/staff', 'anna')).json()) as Body[]).map((s) => s.email);
    assert.ok(!emails.includes('z@agency.example') && !emails.includes('y@agency.example'), 'refused people were not added');
  });

  test('PATCH /staff/{id} changes name, e-mail, login, role and mail.import under the same rules', async () => {
    const r = await expectStatus(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { name: 'Krause, Olaf-Peter', email: 'op.krause@agency.example', login: 'opkrause' }), 200);
    assert.deepEqual((({ name, email, login }) => ({ name, email, login }))(r.staff as Body), { name: 'Krause, Olaf-Peter', email: 'op.krause@agency.example', login: 'opkrause' });
    await expectStatus(await call('GET', `/staff/${ids.olaf}`, 'anna'), 200, { login: 'opkrause', email: 'op.krause@agency.example' });
    await expectRefused(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { email: 'op.krause@' }), 'email', /not an e-mail address/);
    await expectRefused(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { email: 'Jan@agency.example' }), 'email', /"Jansen, Jan"/);
    await expectRefused(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { login: 'jan' }), 'login', /taken/);
    await expectRefused(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { external: true }), 'external', /external person has no login/);
    await expectRefused(await call('PATCH', `/staff/${ids.amt}`, 'anna', { mailImport: true }), 'mailImport', /with a login/);
    await expectRefused(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { name: '   ' }), 'name');
    await expectRefused(await call('PATCH', `/staff/${ids.anna}`, 'anna', { role: 'staff' }), 'role', /your own admin role/);
    await expectRefused(await call('PATCH', `/staff/${ids.anna}`, 'anna', { active: false }), 'active', /yourself/);
    await expectStatus(await call('PATCH', '/staff/99999', 'anna', { name: 'Niemand' }), 404);
    // the person did not change through the refused requests
    await expectStatus(await call('GET', `/staff/${ids.olaf}`, 'anna'), 200, { login: 'opkrause', email: 'op.krause@agency.example', external: false });
    // a login-only change of case is the person's own login, not a taken one
    await expectStatus(await call('PATCH', `/staff/${ids.olaf}`, 'anna', { login: 'OPKrause' }), 200);
  });

  test('PATCH active=false ends unclaimed candidacies; a task left with no candidate becomes unassigned; the person keeps claimed tasks', async () => {
    const { db } = g.gateway.ctx;
    ids.kim = (await addStaff(db, { name: 'Kim, Kai', email: 'kai@agency.example', login: 'kai' })).id;
    ids.lea = (await addStaff(db, { name: 'Lea, Lena', email: 'lena@agency.example', login: 'lena' })).id;
    await addStaff(db, { name: 'MFP EG', email: 'mfp-eg@agency.example', external: true });
    await addStaff(db, { name: 'MFP Keller', email: 'mfp-keller@agency.example', external: true });
    await addMapping(db, 'mfp-eg@agency.example', 'kai');
    await addMapping(db, 'mfp-eg@agency.example', 'lena');
    await addMapping(db, 'mfp-keller@agency.example', 'kai');
    // Kai claims a first scan by synchronising: it stays his after the deactivation
    const claimed = await ingest('mfp-keller@agency.example', 'Scan Keller vorab');
    tokens.kai = await createToken(db, 'kai');
    await expectStatus(await call('POST', '/sync', 'kai'), 200, { claimed: [claimed] });
    const shared = await ingest('mfp-eg@agency.example', 'Scan EG');
    ids.sharedTask = shared;
    const alone = await ingest('mfp-keller@agency.example', 'Scan Keller');
    assert.deepEqual(await candidatesOf(shared), [ids.kim, ids.lea].sort());
    assert.deepEqual(await candidatesOf(alone), [ids.kim]);

    const r = await expectStatus(await call('PATCH', `/staff/${ids.kim}`, 'anna', { active: false }), 200);
    assert.equal((r.staff as Body).active, false);
    assert.deepEqual(r.deactivation, { staff: { id: ids.kim, login: 'kai', name: 'Kim, Kai' }, candidaciesEnded: [shared, alone], unassigned: [alone], stillAssigned: [claimed] });
    // in the database: Kai's candidacies are gone; the shared task stays open with Lena, the other is unassigned
    assert.deepEqual(await candidatesOf(shared), [ids.lea]);
    assert.deepEqual(await candidatesOf(alone), []);
    assert.equal(await statusOf(shared), 'open');
    assert.equal(await statusOf(alone), 'unassigned');
    // and through the API, with the history naming the admin
    await expectStatus(await call('GET', `/tasks/${alone}`, 'anna'), 200, { status: 'unassigned', candidates: [], assignee: null });
    await expectStatus(await call('GET', `/tasks/${claimed}`, 'anna'), 200, { status: 'open', assignee: { id: ids.kim, login: 'kai', name: 'Kim, Kai' } });
    // his token no longer works
    assert.equal((await call('GET', '/tasks', 'kai')).status, 401);
    const history = (await (await call('GET', `/tasks/${alone}/history`, 'anna')).json()) as { action: string; actor: { login: string } | null }[];
    assert.deepEqual(history.at(-1) && { action: history.at(-1)!.action, actor: history.at(-1)!.actor?.login }, { action: 'unassigned', actor: 'anna' });
    await expectStatus(await call('GET', `/staff/${ids.kim}`, 'anna'), 200, { active: false });

    // deactivating twice changes nothing more; reactivating works while the e-mail is free
    const again = await expectStatus(await call('PATCH', `/staff/${ids.kim}`, 'anna', { active: false }), 200);
    assert.equal(again.deactivation, undefined);
    await addStaff(db, { name: 'Kim, Kai (neu)', email: 'KAI@agency.example', login: 'kai2' });
    await expectRefused(await call('PATCH', `/staff/${ids.kim}`, 'anna', { active: true }), 'active', /already belongs to the active staff record "Kim, Kai \(neu\)"/);
    await expectStatus(await call('PATCH', `/staff/${ids.kim}`, 'anna', { active: true, email: 'kai.kim@agency.example' }), 200);
    await expectStatus(await call('GET', `/staff/${ids.kim}`, 'anna'), 200, { active: true, email: 'kai.kim@agency.example' });
  });

  test('PATCH mailImport=false ends the unclaimed candidacies of an active person too', async () => {
    const task1 = await ingest('mfp-eg@agency.example', 'Scan EG zwei');
    assert.deepEqual(await candidatesOf(task1), [ids.kim, ids.lea].sort(), 'Kai is a candidate again after reactivation');
    // Lena is the only candidate left on "Scan EG" (Kai was deactivated then): that task becomes unassigned
    const r = await expectStatus(await call('PATCH', `/staff/${ids.lea}`, 'anna', { mailImport: false }), 200, { deactivation: undefined });
    assert.deepEqual(r.candidacies, { ended: [ids.sharedTask, task1], unassigned: [ids.sharedTask] });
    assert.deepEqual(await candidatesOf(task1), [ids.kim]);
    assert.equal(await statusOf(task1), 'open');
    assert.equal(await statusOf(ids.sharedTask!), 'unassigned');
    await expectStatus(await call('GET', `/staff/${ids.lea}`, 'anna'), 200, { active: true, mailImport: false });
  });

  test('PUT /staff/{id}/password sets an argon2 password that is never shown', async () => {
    const { db } = g.gateway.ctx;
    await expectStatus(await call('PUT', `/staff/${ids.susi}/password`, 'anna', { password: 'Sommer-2026-lang' }), 204);
    assert.equal((await verifyStaffPassword(db, 'susi', 'Sommer-2026-lang'))?.id, ids.susi);
    assert.equal(await verifyStaffPassword(db, 'susi', 'falsch-falsch'), null);
    const [row] = await db.select({ h: staff.passwordHash }).from(staff).where(eq(staff.id, ids.susi!));
    assert.match(row!.h!, /^\$argon2id\$/);
    await expectRefused(await call('PUT', `/staff/${ids.susi}/password`, 'anna', { password: 'kurz' }), 'password', /at least 10/);
    await expectRefused(await call('PUT', `/staff/${ids.susi}/password`, 'anna', {}), 'password');
    await expectRefused(await call('PUT', `/staff/${ids.mfp}/password`, 'anna', { password: 'lang-genug-123' }), 'login', /no login/);
    await expectStatus(await call('PUT', '/staff/99999/password', 'anna', { password: 'lang-genug-123' }), 404);
    // the reset revoked Susi's token (issue 14): she needs a new one
    assert.equal((await call('GET', '/tasks', 'susi')).status, 401);
    tokens.susi = await createToken(db, 'susi');

    // neither admins nor staff see a hash anywhere
    for (const [who, path] of [
      ['anna', '/staff'],
      ['anna', `/staff/${ids.susi}`],
      ['anna', '/mappings'],
      ['susi', '/staff'],
      ['susi', `/staff/${ids.susi}`],
      ['susi', '/tasks'],
      ['susi', '/tasks?view=day'],
      ['susi', '/tasks/open'],
      ['susi', '/settings'],
      ['susi', '/activity-types'],
      ['susi', '/openapi.json'],
    ] as const) {
      const text = await (await call('GET', path, who)).text();
      assert.ok(!text.includes('$argon2') && !/passwordHash|password_hash/.test(text), `${who} ${path}: ${text.slice(0, 200)}`);
    }
    const synced = await (await call('POST', '/sync', 'susi')).text();
    assert.ok(!synced.includes('$argon2') && !synced.includes('passwordHash'));
  });

  test('POST /mappings follows the reference rules, routes waiting tasks with routeWaiting; /mappings/route; DELETE', async () => {
    const waiting = await ingest('post@amt.example', 'Brief vom Amt');
    assert.equal(await statusOf(waiting), 'unassigned', 'no mapping yet');

    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'fremd@example.org', to: 'susi' }), 'from', /not the e-mail address of an active staff record/);
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'kein-at', to: 'susi' }), 'from', /not an e-mail address/);
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'post@amt.example', to: 'paul' }), 'to', /"Praktikant, Paul" lacks the permission mail.import/);
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'post@amt.example', to: ids.mfp }), 'to', /"MFP 2. OG" has no login/);
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'post@amt.example', to: 'niemand' }), 'to', /no staff member has the login "niemand"/);
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'post@amt.example', to: 'susi', routeWaiting: 'ja' }), 'routeWaiting');
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'post@amt.example' }), 'to');
    assert.equal(await statusOf(waiting), 'unassigned');

    // without routeWaiting: the mapping is added and the waiting task reported, not routed
    const m1 = await expectStatus(await call('POST', '/mappings', 'anna', { from: 'POST@amt.example', to: 'susi' }), 201, {
      from: 'post@amt.example',
      toStaffId: ids.susi,
      waiting: 1,
      routed: [],
    });
    assert.equal(await statusOf(waiting), 'unassigned');
    await expectRefused(await call('POST', '/mappings', 'anna', { from: 'post@amt.example', to: 'SUSI' }), 'to', /already mapped to "Weiß, Susi"/);
    // POST /mappings/route routes it (what `mapping route` does)
    await expectStatus(await call('POST', '/mappings/route', 'anna', { from: 'post@amt.example' }), 200, { routed: [waiting], candidates: [ids.susi] });
    assert.equal(await statusOf(waiting), 'open');
    assert.deepEqual(await candidatesOf(waiting), [ids.susi]);
    await expectRefused(await call('POST', '/mappings/route', 'anna', { from: 'mfp-2og@agency.example' }), 'from', /not mapped/);

    // with routeWaiting: a second waiting task from another sender goes to Jan at once (by id)
    const second = await ingest('mfp-2og@agency.example', 'Scan 2. OG');
    assert.equal(await statusOf(second), 'unassigned');
    const m2 = await expectStatus(await call('POST', '/mappings', 'anna', { from: 'mfp-2og@agency.example', to: ids.jan, routeWaiting: true }), 201, {
      toStaffId: ids.jan,
      waiting: 1,
      routed: [second],
    });
    assert.deepEqual(await candidatesOf(second), [ids.jan]);
    await expectStatus(await call('GET', `/tasks/${second}`, 'anna'), 200, { status: 'open' });

    const listed = (await (await call('GET', '/mappings', 'anna')).json()) as Body[];
    assert.deepEqual(
      listed.filter((m) => m.id === m1.id || m.id === m2.id).map((m) => [m.from, m.toLogin]),
      [
        ['mfp-2og@agency.example', 'jan'],
        ['post@amt.example', 'susi'],
      ],
    );
    await expectStatus(await call('DELETE', `/mappings/${m1.id}`, 'anna'), 200, { id: m1.id, from: 'post@amt.example', toLogin: 'susi' });
    const rows = await g.gateway.ctx.db.select().from(senderMapping).where(eq(senderMapping.id, m1.id as number));
    assert.equal(rows.length, 0);
    await expectStatus(await call('DELETE', `/mappings/${m1.id}`, 'anna'), 404);
    // new mail from the unmapped sender waits again
    assert.equal(await statusOf(await ingest('post@amt.example', 'Zweiter Brief')), 'unassigned');
  });

  test('POST and PATCH /activity-types add and rename; unique regardless of case; 404 for an unknown id', async () => {
    const t = await expectStatus(await call('POST', '/activity-types', 'anna', { name: ' Bescheide ' }), 201, { name: 'Bescheide' });
    await expectRefused(await call('POST', '/activity-types', 'anna', { name: 'bescheide' }), 'name', /"Bescheide" exists/);
    await expectRefused(await call('POST', '/activity-types', 'anna', { name: '' }), 'name');
    await expectRefused(await call('POST', '/activity-types', 'anna', { name: 'x'.repeat(101) }), 'name', /longer than 100/);
    await expectStatus(await call('PATCH', `/activity-types/${t.id}`, 'anna', { name: 'Bescheide und Anträge' }), 200, { id: t.id, name: 'Bescheide und Anträge' });
    await expectRefused(await call('PATCH', `/activity-types/${t.id}`, 'anna', { name: 'scan-eingang' }), 'name', /"Scan-Eingang" exists/);
    await expectStatus(await call('PATCH', '/activity-types/99999', 'anna', { name: 'Egal' }), 404);
    const [row] = await g.gateway.ctx.db.select({ name: activityType.name }).from(activityType).where(eq(activityType.id, t.id as number));
    assert.equal(row!.name, 'Bescheide und Anträge');
  });

  test('PATCH /settings/{channel} changes activity type and import settings, the scheduler is told; bad values refused', async () => {
    const changed: string[] = [];
    const listener = ({ channel }: { channel: string }) => changed.push(channel);
    g.gateway.ctx.events.on('mailbox.changed', listener);
    try {
      const r = await expectStatus(
        await call('PATCH', '/settings/scanner', 'anna', { activityType: 'bescheide und anträge', autoImport: false, pollIntervalMinutes: 30, autoComplete: true }),
        200,
      );
      assert.deepEqual(r, { channel: 'scanner', activityType: 'Bescheide und Anträge', autoImport: false, pollIntervalMinutes: 30, autoComplete: true });
      const settings = (await (await call('GET', '/settings', 'susi')).json()) as Body[];
      assert.deepEqual(settings.find((s) => s.channel === 'scanner'), r);
      // the change reaches the scheduler by the shared event (NOTIFY on PostgreSQL)
      for (let i = 0; i < 100 && !changed.includes('scanner'); i++) await new Promise((res) => setTimeout(res, 20));
      assert.ok(changed.includes('scanner'), 'mailbox.changed for scanner');
    } finally {
      g.gateway.ctx.events.off('mailbox.changed', listener);
    }
    // new scanner tasks get the type
    const t = await ingest('mfp-2og@agency.example', 'Scan nach Umstellung');
    await expectStatus(await call('GET', `/tasks/${t}`, 'anna'), 200, { activityType: 'Bescheide und Anträge', status: 'completed' });

    await expectRefused(await call('PATCH', '/settings/scanner', 'anna', { pollIntervalMinutes: 0 }), 'pollIntervalMinutes');
    await expectRefused(await call('PATCH', '/settings/scanner', 'anna', { pollIntervalMinutes: 1441 }), 'pollIntervalMinutes');
    await expectRefused(await call('PATCH', '/settings/scanner', 'anna', { pollIntervalMinutes: 2.5 }), 'pollIntervalMinutes');
    await expectRefused(await call('PATCH', '/settings/fax', 'anna', { pollIntervalMinutes: 15 }), 'channel');
    await expectRefused(await call('PATCH', '/settings/scanner', 'anna', { activityType: 'Gibt es nicht' }), 'activityType', /no activity type is named "Gibt es nicht"/);
    await expectRefused(await call('PATCH', '/settings/scanner', 'anna', {}), 'body', /nothing to change/);
    await expectRefused(await call('PATCH', '/settings/scanner', 'anna', { autoImport: 'yes' }), 'autoImport');
    // nothing of the refused requests was written; limits 1 and 1440 are accepted
    const [row] = await g.gateway.ctx.db.select().from(channelSetting).where(eq(channelSetting.channel, 'scanner'));
    assert.equal(row!.pollIntervalMinutes, 30);
    await expectStatus(await call('PATCH', '/settings/scanner', 'anna', { pollIntervalMinutes: 1 }), 200, { pollIntervalMinutes: 1 });
    await expectStatus(await call('PATCH', '/settings/scanner', 'anna', { pollIntervalMinutes: 1440, autoComplete: false }), 200, { pollIntervalMinutes: 1440, autoComplete: false });
  });

  test('POST /staff/import and /mappings/import take CSV (Windows-1252, ";"), refuse rows by line, import nothing unless skipInvalid', async () => {
    const csv = iconv.encode(
      'Name;E-Mail;Login;Extern\r\nMüller, Jürgen;juergen.mueller@agency.example;jmueller;\r\nSchröder, Günther;keine-adresse;gschroeder;\r\nPförtner Außenstelle;pforte@agency.example;;ja\r\n',
      'windows-1252',
    );
    const refused = await expectRefused(await call('POST', '/staff/import', 'anna', csv, 'text/csv'), 'file', /1 of 3 rows refused; nothing imported/);
    assert.equal(refused.committed, false);
    assert.equal(refused.encoding, 'windows-1252');
    assert.deepEqual(refused.refused, [{ line: 3, column: 'E-Mail', reason: '"keine-adresse" is not an e-mail address' }]);
    assert.equal(((await (await call('GET', '/staff', 'anna')).json()) as Body[]).some((s) => s.login === 'jmueller'), false, 'nothing imported');

    const ok = await expectStatus(await call('POST', '/staff/import?skipInvalid=true', 'anna', csv, 'text/csv'), 200, { committed: true, rows: 3 });
    assert.deepEqual((ok.imported as Body[]).map((s) => [s.name, s.login, s.external]), [
      ['Müller, Jürgen', 'jmueller', false],
      ['Pförtner Außenstelle', null, true],
    ]);
    await expectRefused(await call('POST', '/staff/import?encoding=latin9', 'anna', csv, 'text/csv'), 'encoding');
    await expectRefused(await call('POST', '/staff/import', 'anna', '', 'text/csv'), 'file', /empty/);

    const mappings = 'Von,An\npforte@agency.example,jmueller\npforte@agency.example,paul\n';
    const m = await expectRefused(await call('POST', '/mappings/import', 'anna', mappings, 'text/csv'), 'file');
    assert.deepEqual(m.refused, [{ line: 3, column: 'An', reason: '"Praktikant, Paul" lacks the permission mail.import ("E-Mails automatisch einlesen")' }]);
    const mOk = await expectStatus(await call('POST', '/mappings/import?skipInvalid=true', 'anna', mappings, 'text/csv'), 200);
    assert.deepEqual(mOk.imported, [{ from: 'pforte@agency.example', to: 'jmueller' }]);
    const listed = (await (await call('GET', '/mappings', 'anna')).json()) as Body[];
    assert.deepEqual(listed.filter((x) => x.from === 'pforte@agency.example').map((x) => x.toLogin), ['jmueller']);
  });

  test('the OpenAPI document lists each new operation with its request body schema', async () => {
    const spec = (await (await call('GET', '/openapi.json', 'susi')).json()) as { paths: Record<string, Record<string, Body>> };
    const jsonBodyOf = (path: string, method: string) => {
      const op = spec.paths[`/api/v1${path}`]?.[method];
      assert.ok(op, `${method} ${path} documented`);
      assert.ok((op.responses as Body)['403'], `${method} ${path}: 403 documented`);
      return ((op.requestBody as Body | undefined)?.content as Record<string, { schema: { properties?: Record<string, Body>; required?: string[] } }> | undefined)?.[
        'application/json'
      ]?.schema;
    };
    const expected: [string, string, string[], string[]][] = [
      ['/staff', 'post', ['name', 'email', 'login', 'external', 'active', 'role', 'mailImport'], ['name', 'email']],
      ['/staff/{id}', 'patch', ['name', 'email', 'login', 'external', 'active', 'role', 'mailImport'], []],
      ['/staff/{id}/password', 'put', ['password'], ['password']],
      ['/mappings', 'post', ['from', 'to', 'routeWaiting'], ['from', 'to']],
      ['/mappings/route', 'post', ['from'], ['from']],
      ['/activity-types', 'post', ['name'], ['name']],
      ['/activity-types/{id}', 'patch', ['name'], ['name']],
      ['/settings/{channel}', 'patch', ['activityType', 'autoImport', 'pollIntervalMinutes', 'autoComplete'], []],
    ];
    for (const [path, method, properties, required] of expected) {
      const schema = jsonBodyOf(path, method);
      assert.ok(schema, `${method} ${path} has a JSON request body`);
      assert.deepEqual(Object.keys(schema.properties ?? {}).sort(), [...properties].sort(), `${method} ${path} properties`);
      assert.deepEqual([...(schema.required ?? [])].sort(), [...required].sort(), `${method} ${path} required`);
    }
    const settings = jsonBodyOf('/settings/{channel}', 'patch')!;
    assert.deepEqual([settings.properties!.pollIntervalMinutes!.minimum, settings.properties!.pollIntervalMinutes!.maximum], [1, 1440]);
    assert.deepEqual(
      (spec.paths['/api/v1/settings/{channel}']!.patch!.parameters as Body[]).map((p) => [p.name, p.in, (p.schema as Body).enum]),
      [['channel', 'path', ['general', 'scanner']]],
    );
    assert.deepEqual(jsonBodyOf('/staff', 'post')!.properties!.role!.enum, ['admin', 'staff']);
    assert.ok(spec.paths['/api/v1/staff/{id}']!.get, 'GET /staff/{id}');
    assert.ok(spec.paths['/api/v1/mappings/{id}']!.delete, 'DELETE /mappings/{id}');
    assert.ok(spec.paths['/api/v1/staff/{id}/password']!.put!.responses && (spec.paths['/api/v1/staff/{id}/password']!.put!.responses as Body)['204']);
    for (const path of ['/staff/import', '/mappings/import']) {
      const op = spec.paths[`/api/v1${path}`]!.post!;
      assert.ok(((op.requestBody as Body).content as Body)['text/csv'], `${path} takes text/csv`);
      assert.deepEqual((op.parameters as Body[]).map((p) => p.name).sort(), ['encoding', 'skipInvalid']);
    }
  });
});
