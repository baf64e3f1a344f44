// Issue 7: "bounces and auto-replies that come in are flagged as such on their task". The flag
// ingest stores (message.automated, RFC 3834 / RFC 3464 / RFC 2919 / RFC 5321 §4.5.5) is shown
// wherever a task or message is: the CLI (tasks list flags column and JSON, tasks open, messages
// show), the API (GET /tasks, /tasks/{id}, /tasks/open, /messages/{id}, the OpenAPI document) and
// the admin (message detail badge and explanation, task list and queue badges). Expected values
// follow from the header fields of the input messages.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { createAdmin, createSession } from '../../src/services/admin-auth.js';
import { createToken } from '../../src/services/tokens.js';
import { createApp } from '../../src/web/app.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir, testContext } from '../helpers/env.js';

/** A message from `from` with extra header fields (CRLF-terminated) and a body. */
const mail = (from: string, subject: string, fields = '', body = 'Text\r\n') =>
  `From: ${from}\r\nTo: post@rathaus.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${process.hrtime.bigint()}@test>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0100\r\n${fields}\r\n${body}`;

/** A delivery status notification (RFC 3464) as a mail server sends it back. */
const dsn = (subject: string) =>
  mail(
    'Mail Delivery System <mailer-daemon@mx.stadt.example>',
    subject,
    'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n',
    '--b1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.stadt.example\r\n\r\nFinal-Recipient: rfc822; weg@stadt.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--b1--\r\n',
  );

/** The inputs and the flag each must get (null: a person's mail, not flagged). */
const CASES: { name: string; raw: string; expected: string | null }[] = [
  { name: 'auto-reply', raw: mail('Urlaub <urlaub@stadt.example>', 'Abwesend bis Montag', 'Auto-Submitted: auto-replied\r\n'), expected: 'auto-submitted' },
  { name: 'bulk', raw: mail('Newsletter <news@verband.example>', 'Rundbrief Maerz', 'Precedence: bulk\r\n'), expected: 'bulk' },
  { name: 'list', raw: mail('Liste <liste@x.example>', 'Amtsblatt 12', 'List-Id: <x.example>\r\n'), expected: 'list' },
  { name: 'dsn', raw: dsn('Undelivered Mail Returned to Sender'), expected: 'bounce' },
  { name: 'person', raw: mail('Bürger <buerger@example.org>', 'Antrag Sondernutzung', 'Auto-Submitted: no\r\n'), expected: null },
];

interface TaskJson {
  id: number;
  messageId: number;
  subject: string;
  automated: string | null;
  unreadable: boolean;
}

describe(`automated flag in the CLI (${driver})`, () => {
  let env: Record<string, string>;
  let cleanup = async () => {};
  let dir = '';
  const cli = (...args: string[]) => runCli(args, env);
  async function ok(...args: string[]): Promise<string> {
    const r = await cli(...args);
    assert.equal(r.code, 0, `posteingang ${args.join(' ')}\n${describeRun(r)}`);
    return r.stdout.toString('utf8');
  }
  const subjectOf = (name: string) => /Subject: ([^\r]*)/.exec(CASES.find((c) => c.name === name)!.raw)![1]!;

  before(async () => {
    const tmp = tempDir('pe-automated-cli-');
    dir = tmp.dir;
    env = { DATA_DIR: tmp.dir };
    let drop = async () => {};
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
    cleanup = async () => {
      await drop();
      tmp.cleanup();
    };
    await ok('migrate');
    const files = CASES.map((c) => {
      const file = path.join(dir, `${c.name}.eml`);
      writeFileSync(file, c.raw);
      return file;
    });
    await ok('ingest', ...files, '--channel', 'general');
  });
  after(() => cleanup());

  test('tasks list --json carries automated; the table’s flags column shows automated:<kind>', async () => {
    const rows = JSON.parse(await ok('tasks', 'list', '--json')) as TaskJson[];
    for (const c of CASES) {
      const row = rows.find((r) => r.subject === subjectOf(c.name));
      assert.ok(row, c.name);
      assert.equal(row.automated, c.expected, c.name);
    }
    const lines = (await ok('tasks', 'list')).trimEnd().split('\n');
    assert.match(lines[0]!, /\bflags$/);
    for (const c of CASES) {
      const line = lines.find((l) => l.includes(subjectOf(c.name)));
      assert.ok(line, c.name);
      if (c.expected) assert.match(line, new RegExp(`automated:${c.expected}$`), c.name);
      else assert.doesNotMatch(line, /automated/, c.name);
    }
  });

  test('tasks open shows the flag in JSON and in its flags column', async () => {
    const page = JSON.parse(await ok('tasks', 'open', '--json')) as { items: TaskJson[] };
    assert.equal(page.items.find((r) => r.subject === subjectOf('dsn'))!.automated, 'bounce');
    assert.equal(page.items.find((r) => r.subject === subjectOf('person'))!.automated, null);
    const line = (await ok('tasks', 'open')).split('\n').find((l) => l.includes(subjectOf('list')));
    assert.match(line!, /automated:list$/);
  });

  test('messages show names the kind (text) and carries automated (JSON)', async () => {
    const rows = JSON.parse(await ok('tasks', 'list', '--json')) as TaskJson[];
    const auto = rows.find((r) => r.subject === subjectOf('auto-reply'))!;
    const person = rows.find((r) => r.subject === subjectOf('person'))!;
    const shown = JSON.parse(await ok('messages', 'show', String(auto.messageId), '--json')) as { automated: string | null };
    assert.equal(shown.automated, 'auto-submitted');
    assert.match(await ok('messages', 'show', String(auto.messageId)), /^Automated: +auto-submitted \(RFC 3834: never answered automatically\)$/m);
    assert.equal((JSON.parse(await ok('messages', 'show', String(person.messageId), '--json')) as { automated: string | null }).automated, null);
    assert.doesNotMatch(await ok('messages', 'show', String(person.messageId)), /Automated:/);
  });
});

describe(`automated flag in the API and the admin (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  let token = '';
  let cookie = '';
  /** task id by case name */
  const task: Record<string, number> = {};
  const message: Record<string, number> = {};
  const api = async (p: string) => {
    const r = await app.request(`/api/v1${p}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, p);
    return r.json() as Promise<unknown>;
  };
  const page = async (p: string) => {
    const r = await app.request(p, { headers: { cookie: `pe_session=${cookie}` } });
    assert.equal(r.status, 200, p);
    return r.text();
  };

  before(async () => {
    t = await testContext();
    app = createApp(t.ctx);
    const admin = await createAdmin(t.ctx.db, { login: 'admin', password: 'Rathaus-Admin-2026', name: 'Admin, Anna', email: 'anna@rathaus.example' });
    token = await createToken(t.ctx.db, 'admin');
    cookie = (await createSession(t.ctx.db, admin.id)).cookie;
    for (const c of CASES) {
      const r = await t.ctx.ingest(rawFromBuffer(Buffer.from(c.raw)), { kind: 'file', channels: ['general'], path: `${c.name}.eml` });
      task[c.name] = r.tasks[0]!.id;
      message[c.name] = r.messageId;
    }
    // a bounce as the SMTP receiver hands it over: null reverse path (MAIL FROM:<>), no DSN body
    const r = await t.ctx.ingest(rawFromBuffer(Buffer.from(mail('Postmaster <postmaster@mx.stadt.example>', 'Zustellung fehlgeschlagen'))), {
      kind: 'smtp',
      channels: ['general'],
      sessionId: 's1',
      peer: { address: '127.0.0.1', port: 1 },
      helo: 'mx.stadt.example',
      envelope: { mailFrom: '', rcptTo: ['post@rathaus.example'] },
      tls: null,
      authUser: null,
    });
    task.nullSender = r.tasks[0]!.id;
    message.nullSender = r.messageId;
  });
  after(() => t?.close());

  const expected: Record<string, string | null> = { ...Object.fromEntries(CASES.map((c) => [c.name, c.expected])), nullSender: 'bounce' };

  test('GET /tasks/{id}, /tasks, /tasks/open and /messages/{id} carry automated', async () => {
    const list = (await api('/tasks')) as TaskJson[];
    const open = (await api('/tasks/open?limit=100')) as { items: TaskJson[] };
    for (const [name, kind] of Object.entries(expected)) {
      assert.equal(((await api(`/tasks/${task[name]}`)) as TaskJson).automated, kind, `task ${name}`);
      assert.equal(list.find((r) => r.id === task[name])!.automated, kind, `list ${name}`);
      assert.equal(open.items.find((r) => r.id === task[name])!.automated, kind, `open ${name}`);
      assert.equal(((await api(`/messages/${message[name]}`)) as { automated: string | null }).automated, kind, `message ${name}`);
    }
  });

  test('the OpenAPI document describes automated on tasks and messages', async () => {
    type Schema = { properties?: Record<string, { enum?: unknown[]; anyOf?: { enum?: unknown[]; type?: string }[]; description?: string }>; items?: Schema };
    const doc = (await api('/openapi.json')) as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>> };
    const schemaOf = (p: string) => doc.paths[`/api/v1${p}`]!.get!.responses['200']!.content!['application/json']!.schema;
    const kinds = (s: Schema) => {
      const f = s.properties!.automated!;
      assert.match(f.description ?? JSON.stringify(f), /RFC 3834/);
      return JSON.stringify(f);
    };
    for (const s of [schemaOf('/tasks/{id}'), schemaOf('/messages/{id}'), schemaOf('/tasks').items!, schemaOf('/tasks/open').properties!.items as Schema]) {
      const text = kinds((s as Schema).items ?? s);
      for (const k of ['bounce', 'auto-submitted', 'list', 'bulk']) assert.ok(text.includes(`"${k}"`), `${k} in ${text}`);
      assert.ok(text.includes('null'), text);
    }
  });

  test('the message detail page shows the German badge and explanation; a person’s mail shows none', async () => {
    const html = await page(`/tasks/${task.dsn}`);
    assert.match(html, /data-automated="bounce"/);
    assert.match(html, /Automatische Nachricht: Rückläufer/);
    assert.match(html, /Automatische Nachricht \(Abwesenheitsnotiz \/ Rückläufer \/ Verteiler\): wird nie automatisch beantwortet/);
    assert.match(await page(`/tasks/${task['auto-reply']}`), /Automatische Nachricht: Abwesenheitsnotiz \/ automatische Antwort/);
    assert.match(await page(`/tasks/${task.list}`), /Automatische Nachricht: Verteiler/);
    assert.match(await page(`/tasks/${task.bulk}`), /Automatische Nachricht: Massensendung/);
    assert.match(await page(`/tasks/${task.nullSender}`), /Automatische Nachricht: Rückläufer/);
    const person = await page(`/tasks/${task.person}`);
    assert.doesNotMatch(person, /data-automated=/);
    assert.doesNotMatch(person, /Automatische Nachricht/);
  });

  test('the English detail page explains it in English', async () => {
    const r = await app.request(`/tasks/${task['auto-reply']}`, { headers: { cookie: `pe_session=${cookie}; lang=en` } });
    assert.match(await r.text(), /Automated message: out-of-office \/ automatic reply.*never answered automatically/s);
  });

  test('the task list and the unassigned queue show a small badge on flagged rows only', async () => {
    const row = (html: string, id: number) => new RegExp(`<tr data-task="${id}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
    for (const p of ['/tasks?perPage=50', '/tasks/unassigned']) {
      const html = await page(p);
      for (const [name, kind] of Object.entries(expected)) {
        const cells = row(html, task[name]!);
        assert.ok(cells, `${p} row ${name}`);
        if (kind) assert.match(cells, new RegExp(`class="badge badge-automated" data-automated="${kind}"[^>]*>automatisch: `), `${p} ${name}`);
        else assert.doesNotMatch(cells, /badge-automated/, `${p} ${name}`);
      }
    }
  });
});
