// RemotePglite (db/pglite-remote.ts): the embedded database in a worker thread behaves, for
// drizzle-orm and the gateway, as PGlite in the same thread did: bytes, transactions, errors with
// their SQLSTATE, LISTEN/NOTIFY, and a clear error once the database has ended.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RemotePglite, DatabaseWorkerGone } from '../../src/db/pglite-remote.js';
import { sqlstateOf } from '../../src/db/errors.js';

describe('RemotePglite (in memory)', () => {
  let db: RemotePglite;
  before(async () => {
    db = new RemotePglite(undefined);
    await db.waitReady;
    await db.exec('create table t (n int primary key)');
  });
  after(() => db.close());

  test('bytea crosses both ways unchanged and arrives as a Buffer; PostgreSQL sees exactly those bytes', async () => {
    const bytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256));
    const r = await db.query('select $1::bytea as b, length($1::bytea) as n, md5($1::bytea) as md5', [bytes]);
    const row = r.rows[0] as { b: Buffer; n: number; md5: string };
    assert.equal(row.n, 1024);
    assert.equal(row.md5, createHash('md5').update(bytes).digest('hex'));
    assert.ok(Buffer.isBuffer(row.b), 'a Buffer, as drizzle-orm and the blob store expect');
    assert.ok(row.b.equals(bytes));
  });

  test('a transaction commits when its function resolves and rolls back when it throws (the same error comes back)', async () => {
    await db.transaction(async (tx) => {
      await tx.query('insert into t values ($1)', [1]);
    });
    const boom = new Error('boom');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('insert into t values ($1)', [2]);
        throw boom;
      }),
      (err) => err === boom,
    );
    assert.deepEqual((await db.query('select n from t order by n')).rows, [{ n: 1 }]);
  });

  test('a statement outside waits for an open transaction and sees its commit', async () => {
    let outside: Promise<{ rows: unknown[] }> | undefined;
    await db.transaction(async (tx) => {
      await tx.query('insert into t values (10)');
      outside = db.query('select count(*)::int as c from t where n = 10');
      await tx.query('insert into t values (11)');
    });
    assert.deepEqual((await outside!).rows, [{ c: 1 }]);
    await db.query('delete from t where n >= 10');
  });

  test('a database error keeps its SQLSTATE and severity across the thread (22012 division_by_zero, 23505 unique_violation)', async () => {
    const division = await db.query('select 1 / 0').catch((e: unknown) => e);
    assert.equal(sqlstateOf(division), '22012');
    const duplicate = await db.transaction((tx) => tx.query('insert into t values (1)')).catch((e: unknown) => e);
    assert.equal(sqlstateOf(duplicate), '23505');
  });

  test('parsers named in the options keep the text (drizzle-orm’s dates); without them PGlite parses', async () => {
    const text = "select '2026-12-07 10:00:00+00'::timestamptz as t";
    const kept = await db.query(text, [], { rowMode: 'array', parsers: { 1184: (v: string) => v } });
    assert.deepEqual(kept.rows, [['2026-12-07 10:00:00+00']]);
    const parsed = await db.query(text);
    assert.ok((parsed.rows[0] as { t: unknown }).t instanceof Date);
  });

  test('LISTEN gets what NOTIFY sends, until it stops', async () => {
    const got: string[] = [];
    let heard!: () => void;
    const first = new Promise<void>((resolve) => (heard = resolve));
    const stop = await db.listen('c1', (payload) => {
      got.push(payload);
      heard();
    });
    await db.query("select pg_notify('c1', 'hallo')");
    await first;
    await stop();
    await db.query("select pg_notify('c1', 'again')");
    await db.query('select 1'); // a notification would arrive before this answer
    assert.deepEqual(got, ['hallo']);
  });
});

test('after close every call is refused with DatabaseWorkerGone', async () => {
  const db = new RemotePglite(undefined);
  await db.waitReady;
  await db.close();
  await assert.rejects(db.query('select 1'), (err) => err instanceof DatabaseWorkerGone && err.code === 'database-worker-gone');
});
