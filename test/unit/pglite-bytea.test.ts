// pgliteByteaCodec (db/client.ts): bytea through PGlite's text protocol by Node's hex codec.
// The database itself says what it received (length, md5), and the bytes come back unchanged.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { pgliteByteaCodec } from '../../src/db/client.js';

test('every byte value, an empty value and a Buffer slice survive the round trip, as PostgreSQL sees them', async () => {
  const db = new PGlite({ ...pgliteByteaCodec });
  try {
    const all = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));
    const slice = Buffer.from('xxhello\x00world\xffyy', 'latin1').subarray(2, 15); // a view into a larger buffer
    for (const bytes of [all, Buffer.alloc(0), slice]) {
      const r = await db.query<{ b: Buffer; n: number; md5: string }>('select $1::bytea as b, length($1::bytea) as n, md5($1::bytea) as md5', [bytes]);
      const row = r.rows[0]!;
      assert.equal(row.n, bytes.length, 'PostgreSQL got as many bytes as were sent');
      assert.equal(row.md5, createHash('md5').update(bytes).digest('hex'), 'PostgreSQL got exactly these bytes');
      assert.ok(Buffer.from(row.b).equals(bytes), 'and they come back unchanged');
    }
    await assert.rejects(db.query('select $1::bytea', ['not bytes']), /bytea parameter must be a Uint8Array/, 'our serializer is the one in use');
  } finally {
    await db.close();
  }
});
