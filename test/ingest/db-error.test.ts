// A failed statement during ingest must not carry the message into logs or stored failure
// reasons: drizzle-orm puts the statement's parameters (here the message's bytes in base64, its
// subject and text) into its error message. ingest() passes on the database's own words and
// SQLSTATE only (src/db/errors.ts), whatever the inbound path.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { inspect } from 'node:util';
import { describeError, sqlstateOf } from '../../src/db/errors.js';
import { queryRows } from '../../src/db/rows.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { driver, testContext } from '../helpers/env.js';

const SECRET_SUBJECT = 'Vertraulich Personalakte 4711';
const SECRET_BODY = 'Kontonummer DE02120300000000202051';
const raw = Buffer.from(`From: amt@stadt.example\r\nTo: post@rathaus.example\r\nSubject: ${SECRET_SUBJECT}\r\nMessage-ID: <db-error@test>\r\n\r\n${SECRET_BODY}\r\n`);

describe(`ingest when the database refuses a statement (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    t = await testContext();
    // every insert into message fails, as a full disk or a broken constraint would
    await t.ctx.db.execute(sql`create function refuse_message() returns trigger language plpgsql as $$ begin raise exception 'no space left for this test'; end $$`);
    await t.ctx.db.execute(sql`create trigger refuse_message before insert on message for each row execute function refuse_message()`);
  });
  after(() => t?.close());

  test('the error names the database reason and SQLSTATE P0001 (raise_exception), not the statement or its parameters', async () => {
    const err = await t.ctx.ingest(rawFromBuffer(raw), { kind: 'file', channels: ['general'], path: 'secret.eml' }).then(
      () => assert.fail('ingest should have failed'),
      (e: Error) => e,
    );
    assert.equal(err.message, 'database error: no space left for this test (P0001)');
    const base64 = raw.toString('base64');
    // nor anything it carries: Node prints an error with its cause chain and their properties
    const printed = inspect(err, { depth: 10 });
    for (const text of [SECRET_SUBJECT, SECRET_BODY, base64.slice(0, 40), 'insert into']) {
      assert.ok(!printed.includes(text), `the error does not contain ${text.slice(0, 20)}…`);
    }
    assert.equal(sqlstateOf(err), 'P0001', 'the SQLSTATE is still there for decisions');
    // nothing was stored
    assert.equal((await queryRows<{ n: number }>(t.ctx.db, sql`select count(*)::int as n from message`))[0]!.n, 0);
  });

  test('describeError leaves other errors as they are', () => {
    assert.equal(describeError(new Error('connection refused')), 'connection refused');
    assert.equal(describeError('plain'), 'plain');
  });
});
