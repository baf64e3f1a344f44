// CSV import of staff and sender mappings: UTF-8 and Windows-1252 (German Excel), ";" or ",",
// German or English headers; every refused row named by its line number, column and reason;
// nothing imported when a row is refused unless --skip-invalid.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { ValidationError } from '../../src/services/errors.js';
import { importMappingsCsv, importStaffCsv, readCsv } from '../../src/services/csv-import.js';
import { addStaff, listMappings, listStaff } from '../../src/services/staff.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir, testContext } from '../helpers/env.js';
import { cli } from './lib.js';

/** The staff file as a German Excel writes it: ";" and CRLF. */
const STAFF_CSV = [
  'Name;E-Mail;Login;Extern;Aktuell;Admin;E-Mails einlesen',
  '"Weiß, Susi";susi.weiss@agency.example;sweiss;nein;ja;nein;ja',
  '"Müller, Jürgen";juergen.mueller@agency.example;jmueller;nein;ja;ja;',
  '"Straße, Jörg";joerg@extern.example;;ja;ja;;',
  '"Alt, Änne";aenne@agency.example;aalt;;nein;;nein',
  '',
].join('\r\n');

/** What the file says, worked out by hand: Aktuell default yes, E-Mails einlesen default yes with a login. */
const EXPECTED_STAFF = [
  { name: 'Alt, Änne', email: 'aenne@agency.example', login: 'aalt', active: false, external: false, role: 'staff', mailImport: false },
  { name: 'Müller, Jürgen', email: 'juergen.mueller@agency.example', login: 'jmueller', active: true, external: false, role: 'admin', mailImport: true },
  { name: 'Straße, Jörg', email: 'joerg@extern.example', login: null, active: true, external: true, role: 'staff', mailImport: false },
  { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'sweiss', active: true, external: false, role: 'staff', mailImport: true },
];

const view = (rows: Awaited<ReturnType<typeof listStaff>>) =>
  rows
    .map(({ name, email, login, active, external, role, mailImport }) => ({ name, email, login, active, external, role, mailImport }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));

test('the Windows-1252 bytes are what a German Excel writes: ß = 0xDF, ü = 0xFC, one byte each', () => {
  const bytes = iconv.encode(STAFF_CSV, 'windows-1252');
  const weiss = bytes.indexOf(Buffer.from([0x57, 0x65, 0x69, 0xdf])); // "Weiß"
  const mueller = bytes.indexOf(Buffer.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72])); // "Müller"
  assert.ok(weiss > 0 && mueller > 0);
  assert.equal(bytes.indexOf(0xc3), -1, 'no UTF-8 lead byte');
});

for (const [encoding, bytes] of [
  ['utf-8 with BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(STAFF_CSV, 'utf8')])],
  ['windows-1252', iconv.encode(STAFF_CSV, 'windows-1252')],
] as const) {
  describe(`staff import round trip with umlauts, ${encoding} (${driver})`, () => {
    let env: Awaited<ReturnType<typeof testContext>>;
    before(async () => {
      env = await testContext();
    });
    after(() => env?.close());

    test('auto-detected encoding and ";" — names come back exactly as written', async () => {
      const report = await importStaffCsv(env.ctx.db, bytes);
      assert.equal(report.encoding, encoding === 'windows-1252' ? 'windows-1252' : 'utf-8');
      assert.equal(report.delimiter, ';');
      assert.equal(report.rows, 4);
      assert.deepEqual(report.refused, []);
      assert.equal(report.committed, true);
      assert.deepEqual(view(await listStaff(env.ctx.db)), EXPECTED_STAFF);
    });

    test('staff list --json shows the umlauts of the file', async () => {
      const r = await cli(env.ctx, ['staff', 'list', '--json']);
      const names = (JSON.parse(r.stdout.toString()) as { name: string }[]).map((s) => s.name).sort();
      assert.deepEqual(names, ['Alt, Änne', 'Müller, Jürgen', 'Straße, Jörg', 'Weiß, Susi']);
    });
  });
}

describe(`CSV decoding and header (${driver})`, () => {
  const win = iconv.encode(STAFF_CSV, 'windows-1252');
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
  });
  after(() => env?.close());

  test('--encoding utf-8 on a Windows-1252 file is refused, naming the line', () => {
    assert.throws(
      () => readCsv(win, 'utf-8'),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.field === 'encoding' &&
        e.message === 'the file is not valid UTF-8 (line 2); a German Excel export is Windows-1252: use --encoding windows-1252 or auto',
    );
  });

  test('--encoding windows-1252 reads it; a BOM is dropped; "," is detected from the header', () => {
    assert.equal(readCsv(win, 'windows-1252').records[0]!.cells[0], 'Weiß, Susi');
    const t = readCsv(Buffer.from('\uFEFFName,E-Mail\n"Müller, Jürgen",j@agency.example\n'));
    assert.deepEqual([t.delimiter, t.header, t.records[0]!.cells], [',', ['Name', 'E-Mail'], ['Müller, Jürgen', 'j@agency.example']]);
  });

  test('line numbers count empty lines and lines inside quoted cells; CR, LF and CRLF alike', () => {
    const t = readCsv(Buffer.from('Name;E-Mail\r\n\r\n"Zwei\r\nZeilen";a@x.example\r\n;;\rB;b@x.example\n'));
    assert.deepEqual(
      t.records.map((r) => [r.line, r.cells[0]]),
      [
        [3, 'Zwei\nZeilen'],
        [6, 'B'],
      ],
    );
  });

  for (const [what, text, message] of [
    ['an unknown column', 'Name;E-Mail;Telefon\n', 'line 1: unknown column "Telefon"; the columns are: Name, E-Mail, Login, Extern, Aktuell, Admin, E-Mails einlesen'],
    ['a missing required column', 'Name;Login\n', 'line 1: missing column "E-Mail"'],
    ['a column twice', 'Name;E-Mail;email\n', 'line 1: the column "E-Mail" appears twice'],
    ['an empty file', '', 'the file is empty: expected a header line and rows'],
    ['a file of only a BOM and empty lines', '\uFEFF\r\n\r\n', 'the file is empty: expected a header line and rows'],
    ['an unclosed quote', 'Name;E-Mail\n"Weiß, Susi;susi@agency.example\n', 'line 2: Quote Not Closed: the parsing is finished with an opening quote at line 2'],
  ] as const) {
    test(`refuses ${what} before importing anything`, async () => {
      await assert.rejects(importStaffCsv(env.ctx.db, Buffer.from(text)), (e: unknown) => e instanceof ValidationError && e.field === 'file' && e.message === message);
      assert.equal((await listStaff(env.ctx.db)).length, 0);
    });
  }
});

describe(`staff import: refused rows (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
    await addStaff(env.ctx.db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' });
  });
  after(() => env?.close());

  // English headers, ",", LF; an empty line 4 and a cell over lines 6–7 (a name with a line break:
  // refused, and the rows after it keep their own line numbers)
  const file = Buffer.from(
    [
      'name,email,login,external,active,admin,mailImport',
      '"Neu, Nina",nina@agency.example,nina,no,yes,no,yes',
      '"Doppelt, Susi",SUSI@agency.example,susi2,,,,',
      '',
      '"Kaputt, Karl",karl-at-agency.example,karl,,,,',
      '"Zwei',
      'Zeilen, Zora",zora@agency.example,zora,,,,',
      '"Nina, Zweite",nina2@agency.example,NINA,,,,',
      '"Extern, Eva",eva@agency.example,eva,yes,,,',
      '"Admin, Ohne",ohne@agency.example,,,,yes,',
      '"Vielleicht, Vera",vera@agency.example,vera,vielleicht,,,',
      ',leer@agency.example,,,,,',
      '"Zu, Viel",zuviel@agency.example,zuviel,,,,,extra',
      '',
    ].join('\n'),
  );
  const refused = [
    { line: 3, column: 'email', reason: 'susi@agency.example already belongs to the active staff record "Weiß, Susi"' },
    { line: 5, column: 'email', reason: '"karl-at-agency.example" is not an e-mail address' },
    { line: 6, column: 'name', reason: 'a name may not contain line breaks or other control characters' },
    { line: 8, column: 'login', reason: 'the login "NINA" is taken' },
    { line: 9, column: 'login', reason: 'an external person has no login (no licence)' },
    { line: 10, column: 'admin', reason: 'an admin needs a login' },
    { line: 11, column: 'external', reason: '"vielleicht" is not yes or no (ja/nein, yes/no, wahr/falsch, 1/0, x or empty)' },
    { line: 12, column: 'name', reason: 'a name is required ("Nachname, Vorname")' },
    { line: 13, column: 'file', reason: '8 cells, the header has 7' },
  ];

  test('every refused row is reported by line, column and reason, and nothing is imported', async () => {
    const report = await importStaffCsv(env.ctx.db, file);
    assert.deepEqual(report.refused, refused);
    assert.equal(report.rows, 10);
    assert.equal(report.committed, false);
    assert.deepEqual(report.imported, []);
    assert.deepEqual((await listStaff(env.ctx.db)).map((s) => s.email), ['susi@agency.example']);
  });

  test('the CLI prints each refusal on stderr and exits 1', async () => {
    const dir = tempDir('pe-import-');
    try {
      writeFileSync(path.join(dir.dir, 'staff.csv'), file);
      const r = await cli(env.ctx, ['staff', 'import', path.join(dir.dir, 'staff.csv')]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        refused.map((x) => `line ${x.line} (${x.column}): ${x.reason}\n`).join('') +
          'refused (file): 9 of 10 rows refused; nothing imported (--skip-invalid imports the valid rows)\n',
      );
      assert.equal(r.stdout.length, 0);
      assert.equal((await listStaff(env.ctx.db)).length, 1);
    } finally {
      dir.cleanup();
    }
  });

  test('--skip-invalid imports the valid rows in one go and still reports the others', async () => {
    const dir = tempDir('pe-import-');
    try {
      writeFileSync(path.join(dir.dir, 'staff.csv'), file);
      const r = await cli(env.ctx, ['staff', 'import', path.join(dir.dir, 'staff.csv'), '--skip-invalid', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout.toString()) as { imported: { name: string; login: string }[]; refused: unknown[]; committed: boolean };
      assert.deepEqual(report.refused, refused);
      assert.equal(report.committed, true);
      assert.deepEqual(
        report.imported.map((s) => [s.name, s.login]),
        [['Neu, Nina', 'nina']],
      );
      assert.deepEqual((await listStaff(env.ctx.db)).map((s) => s.email).sort(), ['nina@agency.example', 'susi@agency.example']);
    } finally {
      dir.cleanup();
    }
  });

  test('an unknown --encoding is refused', async () => {
    const r = await cli(env.ctx, ['staff', 'import', 'x.csv', '--encoding', 'latin9']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'refused (encoding): "latin9" is not an encoding; use one of: utf-8, windows-1252, auto\n');
  });

  test('a file that cannot be read is refused, naming it', async () => {
    const r = await cli(env.ctx, ['staff', 'import', '/nonexistent/staff.csv']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'refused (file): /nonexistent/staff.csv cannot be read: ENOENT\n');
  });
});

describe(`mapping import (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
    const { db } = env.ctx;
    await addStaff(db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' });
    await addStaff(db, { name: 'Müller, Jürgen', email: 'juergen@agency.example', login: 'juergen' });
    await addStaff(db, { name: 'Ohne, Import', email: 'ohne@agency.example', login: 'ohne', mailImport: false });
    await addStaff(db, { name: 'MFP 2. OG', email: 'scanner-2og@agency.example', external: true });
    await addStaff(db, { name: 'Stadtamt', email: 'amt@stadt.example', external: true });
  });
  after(() => env?.close());

  const file = iconv.encode(
    [
      'Von;An',
      'scanner-2og@agency.example;susi',
      'scanner-2og@agency.example;juergen',
      'SCANNER-2OG@agency.example;SUSI',
      'fremd@web.example;susi',
      'amt@stadt.example;ghost',
      'amt@stadt.example;ohne',
      'amt@stadt.example;',
      '',
    ].join('\r\n'),
    'windows-1252',
  );
  const refused = [
    { line: 4, column: 'An', reason: 'scanner-2og@agency.example is already mapped to "Weiß, Susi"' },
    {
      line: 5,
      column: 'Von',
      reason: 'fremd@web.example is not the e-mail address of an active staff record; add the sender first (staff add, with --external for people without a login)',
    },
    { line: 6, column: 'An', reason: 'no staff member has the login "ghost"' },
    { line: 7, column: 'An', reason: '"Ohne, Import" lacks the permission mail.import ("E-Mails automatisch einlesen")' },
    { line: 8, column: 'An', reason: 'expected the login of the staff member who gets the task' },
  ];

  test('refused rows by line; nothing imported without --skip-invalid', async () => {
    const report = await importMappingsCsv(env.ctx.db, file);
    assert.deepEqual(report.refused, refused);
    assert.equal(report.committed, false);
    assert.deepEqual(await listMappings(env.ctx.db), []);
  });

  test('--skip-invalid imports the two valid rows: one sender, two people', async () => {
    const dir = tempDir('pe-import-');
    try {
      writeFileSync(path.join(dir.dir, 'map.csv'), file);
      const r = await cli(env.ctx, ['mapping', 'import', path.join(dir.dir, 'map.csv'), '--skip-invalid']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `imported 2 mappings from ${path.join(dir.dir, 'map.csv')} (utf-8, ";"); skipped 5 refused rows\n`);
      assert.equal(r.stderr, refused.map((x) => `line ${x.line} (${x.column}): ${x.reason}\n`).join(''));
      assert.deepEqual(
        (await listMappings(env.ctx.db)).map((m) => [m.from, m.toLogin]).sort(),
        [
          ['scanner-2og@agency.example', 'juergen'],
          ['scanner-2og@agency.example', 'susi'],
        ],
      );
    } finally {
      dir.cleanup();
    }
  });

  test('English headers From, To and "," are read too', async () => {
    const report = await importMappingsCsv(env.ctx.db, Buffer.from('From,To\namt@stadt.example,juergen\n'));
    assert.deepEqual([report.committed, report.delimiter, report.imported], [true, ',', [{ from: 'amt@stadt.example', to: 'juergen' }]]);
  });
});

describe(`staff import through the real CLI binary (${driver})`, () => {
  const tmp = tempDir('pe-import-cli-');
  const env: Record<string, string> = { DATA_DIR: path.join(tmp.dir, 'data') };
  let drop = async () => {};
  before(async () => {
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
    const m = await runCli(['migrate'], env);
    assert.equal(m.code, 0, describeRun(m));
  });
  after(async () => {
    await drop();
    tmp.cleanup();
  });

  test('a Windows-1252 file relative to the working directory; staff list shows the umlauts', async () => {
    writeFileSync(path.join(tmp.dir, 'mitarbeiter.csv'), iconv.encode(STAFF_CSV, 'windows-1252'));
    const r = await runCli(['staff', 'import', 'mitarbeiter.csv'], env, { cwd: tmp.dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout.toString(), 'imported 4 staff members from mitarbeiter.csv (windows-1252, ";")\n');
    const list = await runCli(['staff', 'list', '--json'], env);
    assert.equal(list.code, 0, describeRun(list));
    const rows = JSON.parse(list.stdout.toString()) as Awaited<ReturnType<typeof listStaff>>;
    assert.deepEqual(view(rows), EXPECTED_STAFF);
  });
});
