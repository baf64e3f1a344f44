// `posteingang ingest a.eml b.eml c.eml` goes on past a file that fails and reports every file:
// the CLI is run in-process (runCommand, the code path of the terminal CLI and the admin socket)
// against a real database of the suite's driver. The middle file fails for real: a directory
// given as a file, a file that is gone, and a message the database refuses (a trigger raising
// for one subject). Expected values come from the files written here and the database rows.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { runCommand } from '../../src/cli/commands.js';
import type { AppContext } from '../../src/context.js';
import { queryRows } from '../../src/db/rows.js';
import { driver, tempDir, testContext } from '../helpers/env.js';

/** Subject the trigger refuses; its text is what the trigger raises. */
const REFUSED_SUBJECT = 'Bitte ablehnen';
const REFUSAL = 'refused for this test';
/** PostgreSQL Appendix A: `raise exception` without an errcode is raise_exception, P0001. */
const RAISE_EXCEPTION = 'P0001';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface JsonEntry {
  file: string;
  ok: boolean;
  messageId?: number;
  duplicate?: boolean;
  parseError?: string | null;
  tasks?: { id: number; channel: string; status: string; created: boolean }[];
  error?: { code: string; params: Record<string, string>; message: string };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const plural = (n: number) => `${n} file${n === 1 ? '' : 's'}`;

describe(`ingest of several files, the middle one failing (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let ctx: AppContext;
  const tmp = tempDir('pe-ingest-files-');

  before(async () => {
    t = await testContext();
    ctx = t.ctx;
    await ctx.db.execute(
      sql.raw(
        `create function refuse_subject() returns trigger language plpgsql as $$ begin ` +
          `if new.subject = '${REFUSED_SUBJECT}' then raise exception '${REFUSAL}'; end if; return new; end $$`,
      ),
    );
    await ctx.db.execute(sql`create trigger refuse_subject before insert on message for each row execute function refuse_subject()`);
  });
  after(async () => {
    await t?.close();
    tmp.cleanup();
  });

  /** `posteingang <argv>` in-process, relative file names resolved in the temp directory. */
  async function cli(...argv: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runCommand(
      argv,
      {
        out: (c) => {
          stdout += c.toString();
        },
        err: (s) => {
          stderr += s;
        },
        cwd: tmp.dir,
        readStdin: async () => '',
      },
      async () => ctx,
    );
    return { code, stdout, stderr };
  }

  /** Writes `<name>.eml` (a plain message with its own Message-ID) and returns its name and bytes. */
  function eml(name: string, subject = `Brief ${name}`): { name: string; bytes: Buffer } {
    const bytes = Buffer.from(
      `From: Amt <post@amt.example>\r\nTo: post@agency.example\r\nSubject: ${subject}\r\nMessage-ID: <${name}@amt.example>\r\n` +
        `Date: Mon, 2 Jun 2025 09:00:00 +0200\r\n\r\nInhalt ${name}\r\n`,
    );
    writeFileSync(path.join(tmp.dir, `${name}.eml`), bytes);
    return { name: `${name}.eml`, bytes };
  }

  /** The stored message of these bytes (found by the SHA-256 computed here) and its tasks; null when none. */
  async function storedAs(bytes: Buffer): Promise<{ id: number; tasks: { id: number; channel: string; status: string }[] } | null> {
    const rows = await queryRows<{ id: number | string }>(ctx.db, sql`select id from message where raw_sha256 = ${sha256(bytes)}`);
    assert.ok(rows.length <= 1, 'at most one message per content');
    if (!rows[0]) return null;
    const id = Number(rows[0].id);
    const tasks = await queryRows<{ id: number | string; channel: string; status: string }>(
      ctx.db,
      sql`select id, channel, status from task where message_id = ${id} order by id`,
    );
    return { id, tasks: tasks.map((r) => ({ id: Number(r.id), channel: r.channel, status: r.status })) };
  }

  const count = async (table: 'message' | 'blob') =>
    (await queryRows<{ n: number }>(ctx.db, sql`select count(*)::int as n from ${sql.identifier(table)}`))[0]!.n;

  test('all files stored: one line each, the summary, exit 0, nothing on stderr', async () => {
    const x = eml('ok-x');
    const y = eml('ok-y');
    const r = await cli('ingest', x.name, y.name, '--channel', 'general');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    for (const [i, f] of [x, y].entries()) {
      const m = await storedAs(f.bytes);
      assert.ok(m, `${f.name} stored`);
      // the sender is not mapped: one unassigned task on the channel given
      assert.deepEqual(m.tasks.map((k) => [k.channel, k.status]), [['general', 'unassigned']]);
      assert.equal(lines[i], `${f.name}: stored as message ${m.id}; task ${m.tasks[0]!.id} unassigned`);
    }
    assert.equal(lines[2], `${plural(2)}: 2 stored, 0 failed`);
    assert.equal(lines.length, 3);
  });

  const cases: {
    title: string;
    /** makes the failing middle file; returns its name and, when it has content, its bytes */
    make(tag: string): { name: string; bytes?: Buffer };
    code: string;
    params: Record<string, string>;
  }[] = [
    {
      title: 'a directory given as a file',
      make: (tag) => {
        mkdirSync(path.join(tmp.dir, `${tag}-dir.eml`));
        return { name: `${tag}-dir.eml` };
      },
      code: 'file.unreadable',
      params: { errno: 'EISDIR' },
    },
    {
      title: 'a file that is gone',
      make: (tag) => {
        const f = eml(`${tag}-gone`);
        rmSync(path.join(tmp.dir, f.name));
        return { name: f.name };
      },
      code: 'file.unreadable',
      params: { errno: 'ENOENT' },
    },
    {
      title: 'a message the database refuses (trigger)',
      make: (tag) => eml(`${tag}-refused`, REFUSED_SUBJECT),
      code: 'ingest.failed',
      params: { sqlstate: RAISE_EXCEPTION },
    },
  ];

  for (const [n, c] of cases.entries()) {
    describe(c.title, () => {
      const tag = `case${n}`;
      let bad: { name: string; bytes?: Buffer };
      let a: { name: string; bytes: Buffer };
      let b: { name: string; bytes: Buffer };
      before(() => {
        a = eml(`${tag}-a`);
        b = eml(`${tag}-b`);
        bad = c.make(tag);
      });

      /** The one stderr line of the failing file, and that it names the file and not the message's content. */
      function assertFailureLine(r: Run) {
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.ok(lines[0]!.includes(bad.name), r.stderr);
        for (const v of Object.values(c.params)) assert.ok(lines[0]!.includes(v), `${v} named: ${r.stderr}`);
        if (bad.bytes) assert.ok(!r.stderr.includes(`Inhalt ${tag}`) && !r.stderr.includes(bad.bytes.toString('base64').slice(0, 24)), 'no message content');
      }

      test('the first and third are stored, the middle reported with its code, exit 1', async () => {
        const messagesBefore = await count('message');
        const blobsBefore = await count('blob');
        const r = await cli('ingest', a.name, bad.name, b.name, '--channel', 'general');
        assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);

        const lines = r.stdout.trimEnd().split('\n');
        const ma = await storedAs(a.bytes);
        const mb = await storedAs(b.bytes);
        assert.ok(ma && mb, 'first and third stored');
        assert.notEqual(ma.id, mb.id);
        assert.deepEqual(lines, [
          `${a.name}: stored as message ${ma.id}; task ${ma.tasks[0]!.id} unassigned`,
          `${b.name}: stored as message ${mb.id}; task ${mb.tasks[0]!.id} unassigned`,
          `${plural(3)}: 2 stored, 1 failed`,
        ]);
        assertFailureLine(r);
        if (c.code === 'ingest.failed') assert.match(r.stderr, new RegExp(REFUSAL));

        // nothing half-done of the middle file: exactly two new messages and two new blobs
        assert.equal(await count('message'), messagesBefore + 2);
        assert.equal(await count('blob'), blobsBefore + 2);
        if (bad.bytes) {
          assert.equal(await storedAs(bad.bytes), null);
          const blobs = await queryRows<{ n: number }>(ctx.db, sql`select count(*)::int as n from blob where sha256 = ${sha256(bad.bytes)}`);
          assert.equal(blobs[0]!.n, 0, 'no blob of the refused message');
        }
      });

      test('again with a new third file: the first is already stored, the summary says so', async () => {
        const d = eml(`${tag}-d`);
        const r = await cli('ingest', a.name, bad.name, d.name, '--channel', 'general');
        assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
        const ma = (await storedAs(a.bytes))!;
        const md = await storedAs(d.bytes);
        assert.ok(md, 'third stored');
        assert.deepEqual(r.stdout.trimEnd().split('\n'), [
          `${a.name}: already stored as message ${ma.id}; task ${ma.tasks[0]!.id} unassigned`,
          `${d.name}: stored as message ${md.id}; task ${md.tasks[0]!.id} unassigned`,
          `${plural(3)}: 2 stored (1 already stored), 1 failed`,
        ]);
        assertFailureLine(r);
      });

      test('--json lists all three in order, the middle with code and params, exit 1', async () => {
        const e = eml(`${tag}-e`);
        const r = await cli('ingest', b.name, bad.name, e.name, '--channel', 'general', '--json');
        assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
        assertFailureLine(r);
        const results = JSON.parse(r.stdout) as JsonEntry[];
        assert.equal(results.length, 3);
        const mb = (await storedAs(b.bytes))!;
        const me = await storedAs(e.bytes);
        assert.ok(me, 'third stored');

        assert.deepEqual(
          { file: results[0]!.file, ok: results[0]!.ok, messageId: results[0]!.messageId, duplicate: results[0]!.duplicate, parseError: results[0]!.parseError },
          { file: b.name, ok: true, messageId: mb.id, duplicate: true, parseError: null },
        );
        assert.deepEqual(results[0]!.tasks!.map((k) => [k.id, k.channel, k.status, k.created]), mb.tasks.map((k) => [k.id, k.channel, k.status, false]));

        const failed = results[1]!;
        assert.equal(failed.file, bad.name);
        assert.equal(failed.ok, false);
        assert.equal(failed.messageId, undefined);
        assert.equal(failed.error!.code, c.code);
        assert.deepEqual(failed.error!.params, c.params);
        assert.ok(failed.error!.message.includes(bad.name));

        assert.deepEqual(
          { file: results[2]!.file, ok: results[2]!.ok, messageId: results[2]!.messageId, duplicate: results[2]!.duplicate, parseError: results[2]!.parseError },
          { file: e.name, ok: true, messageId: me.id, duplicate: false, parseError: null },
        );
        assert.deepEqual(results[2]!.tasks!.map((k) => [k.id, k.channel, k.status, k.created]), me.tasks.map((k) => [k.id, k.channel, k.status, true]));
      });
    });
  }
});
