// CSV export of the open-task list: plain (",", UTF-8, LF) and Excel (";", BOM, CRLF, formula
// guard), through the service, the HTTP API and the CLI, with the same filters as the list.
process.env.TZ = 'Europe/Berlin'; // the Excel variant writes local time; fixed here so the expected text is known

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addStaff } from '../../src/services/staff.js';
import { exportOpenTasksCsv, guardFormula, listOpenTasks, openTaskFilterQuery, openTaskListQuery, parseTaskListQuery } from '../../src/services/task-list.js';
import { createToken } from '../../src/services/tokens.js';
import { driver, testContext, testGateway } from '../helpers/env.js';
import { cli, insertTask } from './lib.js';

const HYPERLINK = '=HYPERLINK("http://evil.example","klick")';
const MULTILINE = 'Scan; Seite 1, "Entwurf"\nzweite Zeile';

test('guardFormula puts an apostrophe before = + - @ tab and CR, and nothing else', () => {
  assert.equal(guardFormula('=1+1'), "'=1+1");
  assert.equal(guardFormula('+49 30 1234'), "'+49 30 1234");
  assert.equal(guardFormula('-5'), "'-5");
  assert.equal(guardFormula('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(guardFormula('\tTab'), "'\tTab");
  assert.equal(guardFormula('\rCR'), "'\rCR");
  assert.equal(guardFormula('Kita 1=2'), 'Kita 1=2');
  assert.equal(guardFormula(''), '');
});

test('guardFormula guards every line start inside a cell too, after LF, CR and CRLF', () => {
  assert.equal(guardFormula("Antrag\n=cmd|' /C calc'!A0"), "Antrag\n'=cmd|' /C calc'!A0");
  assert.equal(guardFormula('a\r+1\r\n-2\n@3\n\tx'), "a\r'+1\r\n'-2\n'@3\n'\tx");
  // a CR opening the cell is guarded before it, and the line after it as well
  assert.equal(guardFormula('\r=1'), "'\r'=1");
  // CR LF with the formula after the LF: one apostrophe, after the pair
  assert.equal(guardFormula('x\r\n=1'), "x\r\n'=1");
  // fullwidth forms, which Apple Numbers folds to their ASCII counterparts
  assert.equal(guardFormula('x\n\uFF1D1'), "x\n'\uFF1D1");
  assert.equal(guardFormula('Zeile 1\nZeile 2 = 3'), 'Zeile 1\nZeile 2 = 3');
});

/** An RFC 2047 encoded-word (UTF-8, base64) holding `text`, line breaks included. */
const encodedWord = (text: string) => `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;

describe(`CSV export: line breaks in an outside sender's subject (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  // subject as the sender wrote it → the Betreff cell as it must be read back (written out by hand)
  const SUBJECTS: ReadonlyArray<readonly [string, string]> = [
    ["Antrag\n=cmd|' /C calc'!A0", "Antrag\n'=cmd|' /C calc'!A0"],
    ["Bescheid\r=cmd|' /C calc'!A0", "Bescheid\r'=cmd|' /C calc'!A0"],
    ['Widerspruch\r\n+49 30 1234\n-5\r@SUM(A1)', "Widerspruch\r\n'+49 30 1234\n'-5\r'@SUM(A1)"],
    ['Nur CR\rzweite Zeile', 'Nur CR\rzweite Zeile'],
  ];
  const FORMULA_LINE = /^[=+\-@\t\uFF1D\uFF0B\uFF0D\uFF20]/;

  before(async () => {
    env = await testContext();
    for (const [i, [subject]] of SUBJECTS.entries()) {
      const raw =
        `From: Fremd <fremd${i}@outside.example>\r\nTo: post@agency.example\r\nSubject: ${encodedWord(subject)}\r\n` +
        `Message-ID: <csv-break-${i}@outside.example>\r\nDate: Mon, 4 Mar 2024 09:0${i}:00 +0100\r\n\r\nText\r\n`;
      await env.ctx.ingest(rawFromBuffer(Buffer.from(raw)), { kind: 'file', channels: ['general'], path: `${i}.eml` });
    }
  });
  after(() => env?.close());

  test('the parsed subjects keep their line breaks (else this test proves nothing)', async () => {
    const page = await listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, {}));
    assert.deepEqual(page.items.map((r) => r.subject).sort(), SUBJECTS.map(([s]) => s).sort());
  });

  for (const excel of [false, true]) {
    test(`${excel ? 'Excel' : 'plain'} variant: one row per task, cells with CR or LF quoted, no line of a cell starts a formula`, async () => {
      const bytes = await exportOpenTasksCsv(env.ctx.db, parseTaskListQuery(openTaskFilterQuery, {}), { excel });
      // a reader that ends a row at any of CRLF, LF and CR (as a spreadsheet does outside quotes)
      const rows = parse(bytes, { delimiter: excel ? ';' : ',', bom: true, record_delimiter: ['\r\n', '\n', '\r'] }) as string[][];
      const [header, ...records] = rows;
      assert.equal(header![5], 'Betreff');
      assert.equal(records.length, SUBJECTS.length);
      for (const record of records) assert.equal(record.length, 8, JSON.stringify(record));
      assert.deepEqual(records.map((r) => r[5]).sort(), SUBJECTS.map(([, cell]) => cell).sort());
      for (const cell of rows.flat()) {
        for (const line of cell.split(/\r\n|\r|\n/)) assert.doesNotMatch(line, FORMULA_LINE, JSON.stringify(cell));
      }
    });
  }
});

describe(`CSV export of the open-task list (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  const tokens: Record<string, string> = {};
  const id: Record<string, number> = {};

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}/api/v1`;
    const { db } = g.gateway.ctx;
    await addStaff(db, { name: 'Admin, Anna', email: 'anna@agency.example', login: 'anna', role: 'admin' });
    const susi = await addStaff(db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' });
    const juergen = await addStaff(db, { name: 'Müller, Jürgen', email: 'juergen@agency.example', login: 'juergen' });
    for (const login of ['anna', 'susi']) tokens[login] = await createToken(db, login);
    id.C1 = await insertTask(db, {
      status: 'open',
      channel: 'general',
      type: 'E-Mail-Eingang',
      sender: 'amt@stadt.example',
      subject: HYPERLINK,
      assigneeId: susi.id,
      createdAt: new Date('2024-03-01T08:15:00Z'),
    });
    id.C2 = await insertTask(db, {
      status: 'unassigned',
      channel: 'scanner',
      type: 'Scan-Eingang',
      sender: 'scanner-2og@agency.example',
      subject: MULTILINE,
      createdAt: new Date('2024-07-01T08:15:00Z'),
    });
    id.C3 = await insertTask(db, {
      status: 'open',
      channel: 'general',
      type: 'E-Mail-Eingang',
      sender: '-cmd@evil.example',
      subject: '@SUM(1+1)',
      assigneeId: juergen.id,
      createdAt: new Date('2024-01-15T23:30:00Z'),
    });
    await insertTask(db, {
      status: 'completed',
      channel: 'general',
      type: 'E-Mail-Eingang',
      sender: 'amt@stadt.example',
      subject: 'Erledigt',
      assigneeId: susi.id,
      createdAt: new Date('2024-02-01T10:00:00Z'),
    });
  });
  after(() => g?.close());

  // oldest first: C3 (January), C1 (March), C2 (July); the completed task is not in the list
  const plain = () =>
    'Vorgang,Status,Kanal,Tätigkeit,Absender,Betreff,Zuständig,Eingang\n' +
    `${id.C3},offen,Allgemein,E-Mail-Eingang,'-cmd@evil.example,'@SUM(1+1),"Müller, Jürgen",2024-01-15T23:30:00.000Z\n` +
    `${id.C1},offen,Allgemein,E-Mail-Eingang,amt@stadt.example,"'=HYPERLINK(""http://evil.example"",""klick"")","Weiß, Susi",2024-03-01T08:15:00.000Z\n` +
    `${id.C2},nicht zugeordnet,Scanner,Scan-Eingang,scanner-2og@agency.example,"Scan; Seite 1, ""Entwurf""\nzweite Zeile",,2024-07-01T08:15:00.000Z\n`;
  // Berlin: 23:30 UTC on 15 January is 00:30 on the 16th (CET); 08:15 UTC in July is 10:15 (CEST)
  const excel = () =>
    '\uFEFFVorgang;Status;Kanal;Tätigkeit;Absender;Betreff;Zuständig;Eingang\r\n' +
    `${id.C3};offen;Allgemein;E-Mail-Eingang;'-cmd@evil.example;'@SUM(1+1);Müller, Jürgen;2024-01-16 00:30:00\r\n` +
    `${id.C1};offen;Allgemein;E-Mail-Eingang;amt@stadt.example;"'=HYPERLINK(""http://evil.example"",""klick"")";Weiß, Susi;2024-03-01 09:15:00\r\n` +
    `${id.C2};nicht zugeordnet;Scanner;Scan-Eingang;scanner-2og@agency.example;"Scan; Seite 1, ""Entwurf""\nzweite Zeile";;2024-07-01 10:15:00\r\n`;

  test('plain CSV: comma, UTF-8 without BOM, LF, German headers, formula-like cells made text (a download may be opened in a spreadsheet)', async () => {
    const bytes = await exportOpenTasksCsv(g.gateway.ctx.db, parseTaskListQuery(openTaskFilterQuery, {}));
    assert.deepEqual([...bytes.subarray(0, 3)], [...Buffer.from('Vor')]);
    assert.equal(bytes.toString('utf8'), plain());
    // read back, the formula-like subject is text: the apostrophe OWASP recommends before it
    const records = parse(bytes, { columns: true }) as Record<string, string>[];
    assert.equal(records[1]!.Betreff, `'${HYPERLINK}`);
    assert.equal(records[2]!.Betreff, MULTILINE);
    assert.equal(records[0]!['Zuständig'], 'Müller, Jürgen');
  });

  test('Excel CSV: semicolon, UTF-8 BOM, CRLF, local time, cells starting with = + - @ made text', async () => {
    const bytes = await exportOpenTasksCsv(g.gateway.ctx.db, parseTaskListQuery(openTaskFilterQuery, {}), { excel: true });
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.equal(bytes.toString('utf8'), excel());
    const records = parse(bytes, { columns: true, delimiter: ';', bom: true }) as Record<string, string>[];
    assert.equal(records[1]!.Betreff, `'${HYPERLINK}`);
    assert.equal(records[0]!.Absender, "'-cmd@evil.example");
    assert.equal(records[0]!.Betreff, "'@SUM(1+1)");
    assert.equal(records[2]!.Betreff, MULTILINE);
  });

  const get = (path: string, who?: string) => fetch(`${base}${path}`, { headers: who ? { Authorization: `Bearer ${tokens[who]}` } : {} });

  test('GET /api/v1/tasks/open.csv: a download of the whole list; excel=true the Excel variant', async () => {
    const r = await get('/tasks/open.csv', 'anna');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/csv; charset=utf-8; header=present');
    assert.equal(r.headers.get('content-disposition'), 'attachment; filename="offene-vorgaenge.csv"');
    assert.equal(Buffer.from(await r.arrayBuffer()).toString('utf8'), plain());
    const x = await get('/tasks/open.csv?excel=true', 'anna');
    assert.equal(x.status, 200);
    assert.equal(x.headers.get('content-disposition'), 'attachment; filename="offene-vorgaenge-excel.csv"');
    const bytes = Buffer.from(await x.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.equal(bytes.toString('utf8'), excel());
  });

  test('the CSV takes the filters and sort of the list', async () => {
    const r = await get('/tasks/open.csv?channel=scanner', 'anna');
    const rows = parse(Buffer.from(await r.arrayBuffer()), { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((x) => Number(x.Vorgang)), [id.C2]);
    const byAssignee = await get('/tasks/open.csv?sort=assignee&order=desc', 'anna');
    const sorted = parse(Buffer.from(await byAssignee.arrayBuffer()), { columns: true }) as Record<string, string>[];
    // "Weiß, Susi" (C1), "Müller, Jürgen" (C3), nobody last (C2)
    assert.deepEqual(sorted.map((x) => Number(x.Vorgang)), [id.C1, id.C3, id.C2]);
  });

  test('staff get only their own tasks in the CSV', async () => {
    const r = await get('/tasks/open.csv', 'susi');
    const rows = parse(Buffer.from(await r.arrayBuffer()), { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((x) => Number(x.Vorgang)), [id.C1]);
  });

  test('invalid CSV parameters get 400 naming the parameter; paging is not one of them; no token 401', async () => {
    for (const [path, field, error] of [
      ['/tasks/open.csv?excel=maybe', 'excel', '"maybe" is not true or false'],
      ['/tasks/open.csv?limit=5', 'limit', '"limit" is not a parameter of the task list'],
      ['/tasks/open.csv?status=completed', 'status', '"completed" is not the status of an open task; use one of: open, unassigned'],
    ] as const) {
      const r = await get(path, 'anna');
      assert.equal(r.status, 400, path);
      assert.deepEqual(await r.json(), { error, field }, path);
    }
    assert.equal((await get('/tasks/open.csv')).status, 401);
  });

  test('CLI tasks open --csv and --excel write the same CSV to stdout, filters included', async () => {
    const ctx = g.gateway.ctx;
    const p = await cli(ctx, ['tasks', 'open', '--csv']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout.toString('utf8'), plain());
    const x = await cli(ctx, ['tasks', 'open', '--csv', '--excel']);
    assert.equal(x.code, 0, x.stderr);
    assert.deepEqual([...x.stdout.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.equal(x.stdout.toString('utf8'), excel());
    const f = await cli(ctx, ['tasks', 'open', '--csv', '--sender', 'EVIL']);
    const rows = parse(f.stdout, { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((r) => Number(r.Vorgang)), [id.C3]);
  });
});
