import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { findStaffByLogin } from '../../src/db/repositories/staff.js';
import { ValidationError } from '../../src/services/errors.js';
import { addStaff, setStaffPassword, verifyStaffPassword } from '../../src/services/staff.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir, testContext } from '../helpers/env.js';

let env: Awaited<ReturnType<typeof testContext>>;
before(async () => {
  env = await testContext();
  await addStaff(env.ctx.db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'sweiss' });
});
after(() => env.close());

test('a staff password is stored as an argon2id hash only and verifies', async () => {
  await setStaffPassword(env.ctx.db, 'sweiss', 'Rathaus-2026!');
  const row = await findStaffByLogin(env.ctx.db, 'sweiss');
  assert.match(row!.passwordHash!, /^\$argon2id\$/);
  assert.ok(!row!.passwordHash!.includes('Rathaus'));
  assert.equal((await verifyStaffPassword(env.ctx.db, 'SWeiss', 'Rathaus-2026!'))?.login, 'sweiss');
  assert.equal(await verifyStaffPassword(env.ctx.db, 'sweiss', 'rathaus-2026!'), null, 'passwords are case-sensitive');
});

test('short passwords and unknown logins are refused, naming the field', async () => {
  await assert.rejects(setStaffPassword(env.ctx.db, 'sweiss', 'kurz'), (e: unknown) => e instanceof ValidationError && e.field === 'password');
  await assert.rejects(setStaffPassword(env.ctx.db, 'nobody', 'lang-genug-123'), (e: unknown) => e instanceof ValidationError && e.field === 'login');
});

test(`staff passwd --password-stdin through the CLI (${driver})`, async () => {
  const tmp = tempDir('pe-passwd-');
  const cliEnv: Record<string, string> = { DATA_DIR: tmp.dir };
  let drop = async () => {};
  if (driver === 'postgres') {
    const fresh = await freshPostgresDatabase();
    cliEnv.DATABASE_URL = fresh.url;
    drop = fresh.drop;
  }
  try {
    const add = await runCli(['staff', 'add', '--name', 'Weiss, Juergen', '--email', 'juergen@agency.example', '--login', 'jweiss'], cliEnv);
    assert.equal(add.code, 0, describeRun(add));
    const set = await runCli(['staff', 'passwd', 'jweiss', '--password-stdin'], cliEnv, { stdin: 'Sehr-geheim-42\n' });
    assert.equal(set.code, 0, describeRun(set));
    assert.ok(!set.stdout.toString().includes('Sehr-geheim-42') && !set.stderr.includes('Sehr-geheim-42'), 'never echoed');
  } finally {
    await drop();
    tmp.cleanup();
  }
});
