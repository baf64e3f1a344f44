// The real CLI, run as child processes against a temporary DATA_DIR (embedded PGlite) or, when the
// suite runs with DATABASE_URL, against a fresh PostgreSQL database. Expected values come from the
// arguments given, the rules in domain.md (items 4–6) and the corpus README, never from output.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { describeRun, ROOT, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir } from '../helpers/env.js';

const SCANNER_BASIC = 'test/fixtures/scanner-basic.eml';


describe(`CLI as a child process (${driver})`, () => {
  let env: Record<string, string>;
  let cleanup = async () => {};

  before(async () => {
    const tmp = tempDir('pe-cli-');
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
  });
  after(() => cleanup());

  const cli = (...args: string[]) => runCli(args, env);
  async function ok(...args: string[]): Promise<Buffer> {
    const r = await cli(...args);
    assert.equal(r.code, 0, `posteingang ${args.join(' ')}\n${describeRun(r)}`);
    return r.stdout;
  }
  const okJson = async <T = unknown>(...args: string[]): Promise<T> => JSON.parse((await ok(...args)).toString('utf8')) as T;

  /** Exit code 1 and a stderr line that names the rule: `refused (<field>): …` matching `rule`. */
  async function refused(args: string[], field: string, rule: RegExp) {
    const r = await cli(...args);
    assert.equal(r.code, 1, `posteingang ${args.join(' ')} must be refused\n${describeRun(r)}`);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`refused (${field}): `));
    assert.equal(lines.length, 1, `one refusal line for ${field}\n${describeRun(r)}`);
    assert.match(lines[0]!, rule);
    assert.equal(r.stdout.length, 0, 'nothing on stdout for a refused command');
  }

  interface StaffView {
    id: number;
    name: string;
    email: string;
    login: string | null;
    active: boolean;
    external: boolean;
  }
  interface MappingRow {
    from: string;
    toLogin: string | null;
    toName: string;
  }

  test('address add binds an inbound address to the scanner channel; address list --json shows it', async () => {
    const out = await ok('address', 'add', 'scan@agency.example', '--channel', 'scanner');
    assert.match(out.toString('utf8'), /scan@agency\.example/);
    const rows = await okJson<{ address: string; channel: string }[]>('address', 'list', '--json');
    assert.deepEqual(
      rows.map((r) => ({ address: r.address, channel: r.channel })),
      [{ address: 'scan@agency.example', channel: 'scanner' }],
    );
  });

  test('address add refuses the same address a second time', async () => {
    await refused(['address', 'add', 'SCAN@agency.example', '--channel', 'general'], 'address', /scan@agency\.example.*already/);
    const rows = await okJson<{ address: string; channel: string }[]>('address', 'list', '--json');
    assert.deepEqual(rows.map((r) => [r.address, r.channel]), [['scan@agency.example', 'scanner']]);
  });

  test('staff add records a person with a login, the name with umlaut kept as given', async () => {
    await ok('staff', 'add', '--name', 'Weiß, Susi', '--email', 'susi.weiss@agency.example', '--login', 'sweiss');
    const rows = await okJson<StaffView[]>('staff', 'list', '--json');
    const susi = rows.filter((s) => s.email === 'susi.weiss@agency.example');
    assert.equal(susi.length, 1);
    assert.deepEqual(
      { name: susi[0]!.name, login: susi[0]!.login, active: susi[0]!.active, external: susi[0]!.external },
      { name: 'Weiß, Susi', login: 'sweiss', active: true, external: false },
    );
  });

  test('staff add --external records an active person without a login (domain item 4)', async () => {
    await ok('staff', 'add', '--name', 'Scanner 2. OG', '--email', 'scanner-2og@agency.example', '--external');
    const rows = await okJson<StaffView[]>('staff', 'list', '--json');
    const scanner = rows.find((s) => s.email === 'scanner-2og@agency.example');
    assert.ok(scanner, 'external staff record listed');
    assert.deepEqual(
      { name: scanner.name, login: scanner.login, active: scanner.active, external: scanner.external },
      { name: 'Scanner 2. OG', login: null, active: true, external: true },
    );
  });

  test('staff add refuses an e-mail of an active person, compared case-insensitively', async () => {
    await refused(
      ['staff', 'add', '--name', 'Weiß, Susanne', '--email', 'SUSI.Weiss@agency.example', '--login', 'sweiss2'],
      'email',
      /susi\.weiss@agency\.example.*already belongs.*active/,
    );
    const rows = await okJson<StaffView[]>('staff', 'list', '--json');
    assert.equal(rows.filter((s) => s.email.toLowerCase() === 'susi.weiss@agency.example').length, 1);
    assert.equal(rows.some((s) => s.login === 'sweiss2'), false);
  });

  test('staff add refuses an external person with a login', async () => {
    await refused(
      ['staff', 'add', '--name', 'Extern, Eva', '--email', 'eva@partner.example', '--external', '--login', 'eextern'],
      'login',
      /external.*no login/,
    );
    const rows = await okJson<StaffView[]>('staff', 'list', '--json');
    assert.equal(rows.some((s) => s.email === 'eva@partner.example'), false);
  });

  test('staff add refuses a login that is taken', async () => {
    await refused(['staff', 'add', '--name', 'Weiß, Sven', '--email', 'sven.weiss@agency.example', '--login', 'sweiss'], 'login', /sweiss.*taken/);
  });

  test('an invalid channel is a usage error: exit 2, the allowed channels named', async () => {
    const r = await cli('address', 'add', 'fax@agency.example', '--channel', 'fax');
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /--channel/);
    assert.match(r.stderr, /general/);
    assert.match(r.stderr, /scanner/);
    const rows = await okJson<{ address: string }[]>('address', 'list', '--json');
    assert.equal(rows.some((a) => a.address === 'fax@agency.example'), false);
  });

  test('mapping add refuses a --from that is no staff record’s address (no free text)', async () => {
    await refused(['mapping', 'add', '--from', 'someone@elsewhere.example', '--to', 'sweiss'], 'from', /someone@elsewhere\.example.*not the e-mail address of an active staff record/);
  });

  test('mapping add refuses a --from of an inactive staff record', async () => {
    await ok('staff', 'add', '--name', 'Alt, Anna', '--email', 'anna.alt@agency.example', '--login', 'aalt', '--inactive');
    const rows = await okJson<StaffView[]>('staff', 'list', '--json');
    assert.equal(rows.find((s) => s.login === 'aalt')?.active, false);
    await refused(['mapping', 'add', '--from', 'anna.alt@agency.example', '--to', 'sweiss'], 'from', /anna\.alt@agency\.example.*not the e-mail address of an active staff record/);
  });

  test('mapping add refuses a --to login that does not exist', async () => {
    await refused(['mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'nobody'], 'to', /no staff member has the login "nobody"/);
  });

  test('mapping add refuses a --to person who is not active', async () => {
    await refused(['mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'aalt'], 'to', /Alt, Anna.*not active/);
  });

  test('after the refusals no mapping exists', async () => {
    assert.deepEqual(await okJson('mapping', 'list', '--json'), []);
  });

  test('one sender mapped to two people: mapping list --json shows both rows', async () => {
    await ok('staff', 'add', '--name', 'Schmidt, Paul', '--email', 'paul.schmidt@agency.example', '--login', 'pschmidt');
    await ok('mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'sweiss');
    // the sender given in another case is the same sender
    await ok('mapping', 'add', '--from', 'Scanner-2OG@agency.example', '--to', 'pschmidt');
    const rows = await okJson<MappingRow[]>('mapping', 'list', '--json');
    assert.deepEqual(
      rows.map((r) => [r.from, r.toLogin, r.toName]).sort(),
      [
        ['scanner-2og@agency.example', 'pschmidt', 'Schmidt, Paul'],
        ['scanner-2og@agency.example', 'sweiss', 'Weiß, Susi'],
      ],
    );
  });

  test('mapping add refuses the same pair twice', async () => {
    await refused(['mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'sweiss'], 'to', /already mapped/);
    const rows = await okJson<MappingRow[]>('mapping', 'list', '--json');
    assert.equal(rows.length, 2);
  });

  describe('ingest of scanner-basic.eml', () => {
    const fixture = readFileSync(path.join(ROOT, SCANNER_BASIC));
    let messageId: number;

    before(async () => {
      await ok('ingest', SCANNER_BASIC, '--channel', 'scanner');
      const list = await okJson<{ id: number; senderAddress: string | null }[]>('messages', 'list', '--json');
      const stored = list.filter((m) => m.senderAddress === 'scanner-2og@agency.example');
      assert.equal(stored.length, 1, 'one stored message from the scanner');
      messageId = stored[0]!.id;
    });

    test('tasks list --json shows one open scanner task with both mapped people as candidates', async () => {
      const tasks = await okJson<
        { status: string; channel: string; activityType: string; sender: string | null; subject: string | null; messageId: number; candidates: { login: string | null }[]; assignee: unknown }[]
      >('tasks', 'list', '--json');
      assert.equal(tasks.length, 1);
      const t = tasks[0]!;
      assert.equal(t.messageId, messageId);
      assert.equal(t.channel, 'scanner');
      assert.equal(t.activityType, 'Scan-Eingang');
      assert.equal(t.sender, 'scanner-2og@agency.example');
      assert.equal(t.subject, 'Scan from MFP 2. OG');
      // auto-complete is off by default, and nobody has synchronised yet: open, no assignee
      assert.equal(t.status, 'open');
      assert.equal(t.assignee, null);
      assert.deepEqual(t.candidates.map((c) => c.login).sort(), ['pschmidt', 'sweiss']);
    });

    test('messages show --json lists the PDF attachment as the corpus README gives it', async () => {
      const m = await okJson<{
        id: number;
        senderAddress: string;
        subject: string;
        size: number;
        sha256: string;
        attachments: { filename: string; contentType: string; size: number; sha256: string }[];
      }>('messages', 'show', String(messageId), '--json');
      assert.equal(m.id, messageId);
      assert.equal(m.senderAddress, 'scanner-2og@agency.example');
      assert.equal(m.size, fixture.length);
      assert.equal(m.sha256, createHash('sha256').update(fixture).digest('hex'));
      assert.equal(m.sha256, 'ed37789e567861537ca64e7f689709dda5592fd8177b44152a47db183db7ebb0');
      assert.deepEqual(
        m.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size, sha256: a.sha256 })),
        [
          {
            filename: '20210224103512.pdf',
            contentType: 'application/pdf',
            size: 584,
            sha256: '9febcb43dbae922f6a793336de8e3f1aa0f69795447112234d109918be4d20d5',
          },
        ],
      );
    });

    test('messages raw writes the file’s bytes exactly', async () => {
      const raw = await ok('messages', 'raw', String(messageId));
      assert.equal(raw.length, 1466);
      assert.ok(raw.equals(fixture), 'raw output differs from the fixture bytes');
    });

    test('ingesting the same file again stores nothing new and creates no second task', async () => {
      await ok('ingest', SCANNER_BASIC, '--channel', 'scanner');
      const list = await okJson<{ senderAddress: string | null }[]>('messages', 'list', '--json');
      assert.equal(list.filter((m) => m.senderAddress === 'scanner-2og@agency.example').length, 1);
      assert.equal((await okJson<unknown[]>('tasks', 'list', '--json')).length, 1);
    });

    test('messages show of an id that does not exist: exit 1 and a line saying so', async () => {
      const missing = messageId + 1000;
      const r = await cli('messages', 'show', String(missing), '--json');
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, new RegExp(`no message with id ${missing}`));
    });

    test('ingest of a file that does not exist: exit 1 naming the file', async () => {
      const r = await cli('ingest', 'test/fixtures/does-not-exist.eml', '--channel', 'scanner');
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /refused \(file\): test\/fixtures\/does-not-exist\.eml cannot be read/);
    });
  });

  test('a configuration error (SMTP_PORT=abc) stops serve with one line naming SMTP_PORT', async () => {
    const r = await runCli(['serve'], { ...env, SMTP_PORT: 'abc', HTTP_PORT: '0', LOG_LEVEL: 'info' }, { timeoutMs: 30_000 });
    assert.equal(r.signal, null, `serve must exit by itself\n${describeRun(r)}`);
    assert.notEqual(r.code, 0, describeRun(r));
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, describeRun(r));
    assert.match(lines[0]!, /SMTP_PORT/);
    assert.doesNotMatch(r.stderr, /gateway started/);
  });

  // `migrate` used to do nothing at all (exit 0, no database opened): found by this test.
  test('migrate on an empty database creates every table of the migrations and seeds both channels', async () => {
    const tmp = tempDir('pe-migrate-');
    const menv: Record<string, string> = { DATA_DIR: tmp.dir };
    let drop = async () => {};
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      menv.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
    try {
      const r = await runCli(['migrate'], menv);
      assert.equal(r.code, 0, describeRun(r));
      const migrations = readdirSync(path.join(ROOT, 'drizzle')).filter((f) => f.endsWith('.sql'));
      const expectedTables = migrations
        .flatMap((f) => [...readFileSync(path.join(ROOT, 'drizzle', f), 'utf8').matchAll(/CREATE TABLE (?:IF NOT EXISTS )?"(\w+)"/g)].map((m) => m[1]!))
        .sort();
      assert.ok(expectedTables.includes('staff') && expectedTables.includes('task'));
      const tablesSql = `select table_name as name from information_schema.tables where table_schema = 'public' order by 1`;
      const seedSql = `select c.channel, a.name from channel_setting c join activity_type a on a.id = c.activity_type_id order by 1`;
      let tables: string[];
      let seed: [string, string][];
      if (menv.DATABASE_URL) {
        const sql = postgres(menv.DATABASE_URL, { max: 1, onnotice: () => {} });
        try {
          tables = (await sql.unsafe<{ name: string }[]>(tablesSql)).map((t) => t.name);
          seed = (await sql.unsafe<{ channel: string; name: string }[]>(seedSql)).map((x) => [x.channel, x.name]);
        } finally {
          await sql.end();
        }
      } else {
        const pg = new PGlite(path.join(tmp.dir, 'pglite'));
        try {
          tables = (await pg.query<{ name: string }>(tablesSql)).rows.map((t) => t.name);
          seed = (await pg.query<{ channel: string; name: string }>(seedSql)).rows.map((x) => [x.channel, x.name]);
        } finally {
          await pg.close();
        }
      }
      assert.deepEqual(tables.sort(), expectedTables);
      // the activity types named in domain.md for the two channels
      assert.deepEqual(seed, [
        ['general', 'E-Mail-Eingang'],
        ['scanner', 'Scan-Eingang'],
      ]);
    } finally {
      await drop();
      tmp.cleanup();
    }
  });
});
