// Who sees a task shared by two candidates (domain.md item 5, first to sync): before the claim
// both candidates do; after one claimed it, only that person (and admins) — task, history,
// message, raw bytes and attachment all answer 404 to the other, and no list shows it to them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { driver, testGateway } from '../helpers/env.js';

const SCAN = Buffer.from(
  [
    'From: MFP 2.OG <mfp-2og@agency.example>',
    'To: scan@agency.example',
    'Subject: Bauantrag Seite 1',
    'Message-ID: <visibility-1@mfp-2og.agency.example>',
    'Date: Mon, 23 Nov 2026 09:00:00 +0100',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Scan',
    '--b',
    'Content-Type: application/pdf; name="scan.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('%PDF-1.4 scan').toString('base64'),
    '--b--',
    '',
  ].join('\r\n'),
);

describe(`visibility of a claimed task (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  const tokens: Record<string, string> = {};
  let taskId: number;
  let messageId: number;
  let attachmentId: number;

  const get = (path: string, who: string) => fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${tokens[who]}` } });
  const status = async (path: string, who: string) => (await get(path, who)).status;
  const listed = async (path: string, who: string) => {
    const body = (await (await get(path, who)).json()) as { items?: { id: number }[] } | { id: number }[];
    return (Array.isArray(body) ? body : (body.items ?? [])).map((t) => t.id);
  };

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    const { db } = g.gateway.ctx;
    await addStaff(db, { name: 'MFP 2.OG', email: 'mfp-2og@agency.example', external: true });
    await addStaff(db, { name: 'Admin, Ada', email: 'ada@agency.example', login: 'ada', role: 'admin' });
    await addStaff(db, { name: 'Alt, Anna', email: 'anna@agency.example', login: 'anna' });
    await addStaff(db, { name: 'Berg, Bert', email: 'bert@agency.example', login: 'bert' });
    await addMapping(db, 'mfp-2og@agency.example', 'anna');
    await addMapping(db, 'mfp-2og@agency.example', 'bert');
    for (const who of ['ada', 'anna', 'bert']) tokens[who] = await createToken(db, who);
    const r = await g.gateway.ctx.ingest(rawFromBuffer(SCAN), { kind: 'file', channels: ['scanner'], path: 'scan.eml' });
    taskId = r.tasks[0]!.id;
    messageId = r.messageId;
    const shown = (await (await get(`/messages/${messageId}`, 'ada')).json()) as { attachments: { id: number }[] };
    attachmentId = shown.attachments[0]!.id;
  });
  after(() => g?.close());

  test('before the claim both candidates see the task and its message', async () => {
    for (const who of ['anna', 'bert']) {
      assert.equal(await status(`/tasks/${taskId}`, who), 200, who);
      assert.equal(await status(`/messages/${messageId}`, who), 200, who);
      assert.deepEqual(await listed('/tasks', who), [taskId], who);
      assert.deepEqual(await listed('/tasks/open', who), [taskId], who);
      assert.deepEqual(await listed('/messages', who), [messageId], who);
    }
  });

  test('after Anna claimed it, Bert gets 404 everywhere and no list shows it to him', async () => {
    const sync = await fetch(`${base}/sync`, { method: 'POST', headers: { Authorization: `Bearer ${tokens.anna}` } });
    assert.deepEqual(((await sync.json()) as { claimed: number[] }).claimed, [taskId]);
    for (const path of [`/tasks/${taskId}`, `/tasks/${taskId}/history`, `/messages/${messageId}`, `/messages/${messageId}/raw`, `/attachments/${attachmentId}`]) {
      assert.equal(await status(path, 'bert'), 404, `bert ${path}`);
      assert.equal(await status(path, 'anna'), 200, `anna ${path}`);
      assert.equal(await status(path, 'ada'), 200, `ada (admin) ${path}`);
    }
    assert.deepEqual(await listed('/tasks', 'bert'), []);
    assert.deepEqual(await listed('/tasks/open', 'bert'), []);
    assert.deepEqual(await listed('/messages', 'bert'), []);
    assert.deepEqual(await listed('/tasks', 'anna'), [taskId]);
    assert.deepEqual(await listed('/tasks/open', 'anna'), [taskId]);
    assert.deepEqual(await listed('/messages', 'anna'), [messageId]);
  });
});
