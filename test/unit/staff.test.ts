import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ValidationError } from '../../src/services/errors.js';
import { addMapping, addStaff, listMappings } from '../../src/services/staff.js';
import { testContext } from '../helpers/env.js';

let env: Awaited<ReturnType<typeof testContext>>;
before(async () => {
  env = await testContext();
});
after(() => env.close());

test('logins are unique regardless of case (domain logins are case-insensitive)', async () => {
  const { db } = env.ctx;
  await addStaff(db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'AGENCY\\sweiss' });
  await assert.rejects(
    addStaff(db, { name: 'Weiss, Susanne', email: 'susanne.weiss@agency.example', login: 'agency\\SWEISS' }),
    (err: unknown) => err instanceof ValidationError && err.field === 'login',
  );
});

test('a mapping finds its staff member by login in any case', async () => {
  const { db } = env.ctx;
  await addStaff(db, { name: 'Scanner EG', email: 'scanner-eg@agency.example', external: true });
  await addMapping(db, 'scanner-eg@agency.example', 'Agency\\SWeiss');
  const rows = await listMappings(db);
  assert.deepEqual(
    rows.map((r) => [r.from, r.toLogin]),
    [['scanner-eg@agency.example', 'AGENCY\\sweiss']],
  );
});
