import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { ValidationError } from '../../src/services/errors.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { createToken, revokeToken } from '../../src/services/tokens.js';
import { driver, testGateway } from '../helpers/env.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));

describe(`API access by per-user tokens (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  const tokens: Record<string, string> = {};
  const ids: Record<string, { task: number; message: number }> = {};

  const get = (path: string, who?: string) =>
    fetch(`${base}${path}`, { headers: who ? { Authorization: `Bearer ${tokens[who]}` } : {} });

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    const { db } = g.gateway.ctx;
    await addInboundAddress(db, 'scan@agency.example', 'scanner');
    await addStaff(db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' });
    await addStaff(db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'susi' });
    await addStaff(db, { name: 'Weiss, Juergen', email: 'juergen.weiss@agency.example', login: 'juergen' });
    await addStaff(db, { name: 'MFP 2. OG', email: 'scanner-2og@agency.example', external: true });
    await addMapping(db, 'scanner-2og@agency.example', 'susi'); // the scan goes to Susi
    await addMapping(db, 'juergen.weiss@agency.example', 'juergen'); // Jürgen's own mail to Jürgen
    for (const login of ['anna', 'susi', 'juergen']) tokens[login] = await createToken(db, login);
    for (const [name, file] of [
      ['scan', 'scanner-basic.eml'],
      ['juergen', 'latin1-split-encoded-word.eml'],
    ] as const) {
      const r = await g.gateway.ctx.ingest(rawFromBuffer(fixture(file)), { kind: 'file', channels: ['scanner'], path: file });
      ids[name] = { task: r.tasks[0]!.id, message: r.messageId };
    }
  });
  after(() => g?.close());

  test('an admin sees every task', async () => {
    const tasks = (await (await get('/tasks', 'anna')).json()) as { id: number }[];
    assert.deepEqual(tasks.map((t) => t.id).sort(), [ids.scan!.task, ids.juergen!.task].sort());
  });

  test('a staff member sees only the tasks they are a candidate of', async () => {
    const tasks = (await (await get('/tasks', 'susi')).json()) as { id: number }[];
    assert.deepEqual(tasks.map((t) => t.id), [ids.scan!.task]);
  });

  test("a staff token reading another person's message gets 404, not the message", async () => {
    for (const path of [`/messages/${ids.juergen!.message}`, `/messages/${ids.juergen!.message}/raw`]) {
      const r = await get(path, 'susi');
      assert.equal(r.status, 404, path);
      const body = await r.text();
      assert.ok(!body.includes('Terminänderung') && !body.includes('Sprechstunde'), 'nothing of the message leaks');
    }
    assert.equal((await get(`/messages/${ids.juergen!.message}`, 'juergen')).status, 200);
    const list = (await (await get('/messages', 'susi')).json()) as { id: number }[];
    assert.deepEqual(list.map((m) => m.id), [ids.scan!.message]);
  });

  test('a revoked token is refused (401)', async () => {
    const { db } = g.gateway.ctx;
    const extra = await createToken(db, 'juergen', 'juergen-laptop');
    assert.equal((await fetch(`${base}/tasks`, { headers: { Authorization: `Bearer ${extra}` } })).status, 200);
    await revokeToken(db, 'juergen-laptop');
    assert.equal((await fetch(`${base}/tasks`, { headers: { Authorization: `Bearer ${extra}` } })).status, 401);
  });

  test('tokens are only made for active staff with a login', async () => {
    const { db } = g.gateway.ctx;
    await assert.rejects(createToken(db, 'nobody'), (e: unknown) => e instanceof ValidationError && e.field === 'login');
  });

  test('a mapping to someone without the permission mail.import is refused, naming it', async () => {
    const { db } = g.gateway.ctx;
    await addStaff(db, { name: 'Praktikant, Paul', email: 'paul@agency.example', login: 'paul', mailImport: false });
    await assert.rejects(
      addMapping(db, 'scanner-2og@agency.example', 'paul'),
      (e: unknown) => e instanceof ValidationError && e.field === 'to' && /mail\.import/.test(e.message),
    );
  });
});

describe(`OpenAPI document and input validation (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  let token: string;
  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    await addStaff(g.gateway.ctx.db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' });
    token = await createToken(g.gateway.ctx.db, 'anna');
  });
  after(() => g?.close());
  const get = (path: string) => fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${token}` } });

  test('/api/v1/openapi.json describes the operations with the parameters the routes validate', async () => {
    const doc = (await (await get('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { parameters: { name: string; in: string; schema: { enum?: string[]; maximum?: number } }[] }>>;
    };
    assert.match(doc.openapi, /^3\.1/);
    const tasks = doc.paths['/api/v1/tasks']!.get!;
    const status = tasks.parameters.find((p) => p.name === 'status')!;
    assert.equal(status.in, 'query');
    assert.deepEqual(status.schema.enum, ['open', 'unassigned', 'completed']);
    assert.equal(tasks.parameters.find((p) => p.name === 'limit')!.schema.maximum, 1000);
    assert.ok(doc.paths['/api/v1/messages/{id}/raw']!.get);
  });

  test('invalid input gets 400 with the field and the reason, no stack trace', async () => {
    for (const [path, field] of [
      ['/tasks?status=lost', 'status'],
      ['/tasks?limit=5000', 'limit'],
      ['/messages/abc', 'id'],
      ['/tasks?channel=fax', 'channel'],
    ] as const) {
      const r = await get(path);
      assert.equal(r.status, 400, path);
      const body = (await r.json()) as { field: string; error: string };
      assert.equal(body.field, field, path);
      assert.ok(body.error && !/at .*\.ts:\d+/.test(body.error), path);
    }
  });
});
