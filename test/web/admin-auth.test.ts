// The admin's login machinery without a browser: first-run page with the one-time code from the
// log, `admin create` through the real CLI, session expiry (the throttle: security-auth.test.ts). Expected
// values come from the inputs and the limits documented in README ("Admin (Browser)").
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createAdmin, createSession, resolveSession, SESSION_IDLE_MS, SESSION_MAX_MS } from '../../src/services/admin-auth.js';
import { findStaffByLogin } from '../../src/db/repositories/staff.js';
import { updateStaff } from '../../src/services/staff.js';
import { createApp } from '../../src/web/app.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir, testContext } from '../helpers/env.js';

describe(`admin login machinery (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    t = await testContext();
  });
  after(() => t?.close());

  test('the first-run page creates the first admin only with the code from the log, then closes', async () => {
    const lines: string[] = [];
    t.ctx.log = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) }));
    const app = createApp(t.ctx);
    const form = (v: Record<string, string>) => ({ method: 'POST', body: new URLSearchParams(v), redirect: 'manual' as const });
    let code: string | undefined;
    for (let i = 0; i < 50 && !code; i++) {
      code = lines.map((l) => JSON.parse(l) as { firstRunCode?: string }).find((l) => l.firstRunCode)?.firstRunCode;
      if (!code) await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(code ?? '', /^[A-Z2-9]{12}$/, 'the log names a 12-character code');
    assert.equal((await app.request('/first-run')).status, 200);
    const person = { name: 'Erste, Erika', email: 'erika@rathaus.example', login: 'erika', password: 'Erika-erste-Admin', password2: 'Erika-erste-Admin' };
    const wrong = await app.request('/first-run', form({ ...person, code: code === 'AAAAAAAAAAAA' ? 'BBBBBBBBBBBB' : 'AAAAAAAAAAAA' }));
    assert.equal(wrong.status, 403);
    assert.match(await wrong.text(), /Der Einmal-Code stimmt nicht\./);
    // three at once with the right code: only one is let through (the code is taken when checked)
    const race = await Promise.all([1, 2, 3].map(() => app.request('/first-run', form({ ...person, code: code!.toLowerCase() }))));
    assert.deepEqual(race.map((r) => r.status).sort(), [303, 403, 403]);
    const ok = race.find((r) => r.status === 303)!;
    const cookie = ok.headers.get('set-cookie')!.split(';')[0]!;
    const home = await app.request('/', { headers: { cookie } });
    assert.equal(home.status, 200);
    assert.match(await home.text(), /Angemeldet als Erste, Erika/);
    // closed now that an admin exists, also for the right code
    assert.equal((await app.request('/first-run')).status, 404);
    assert.equal((await app.request('/first-run', form({ ...person, login: 'zweite', email: 'z@rathaus.example', code: code! }))).status, 404);
    // the page opens again when no admin is left, but the code was good for one use only
    const erika = (await findStaffByLogin(t.ctx.db, 'erika'))!;
    await updateStaff(t.ctx.db, erika.id, { active: false });
    assert.equal((await app.request('/first-run')).status, 200);
    const again = await app.request('/first-run', form({ ...person, login: 'eva', email: 'eva@rathaus.example', code: code! }));
    assert.equal(again.status, 403);
    assert.equal(await findStaffByLogin(t.ctx.db, 'eva'), null);
    await updateStaff(t.ctx.db, erika.id, { active: true });
  });

  test('a session ends after the idle time, and after the maximum lifetime even when used', async () => {
    const row = await findStaffByLogin(t.ctx.db, 'erika');
    const start = new Date('2026-03-02T08:00:00Z');
    const idle = await createSession(t.ctx.db, row!.id, start);
    assert.ok(await resolveSession(t.ctx.db, idle.cookie, new Date(start.getTime() + SESSION_IDLE_MS - 1000)));
    // used a second before the idle limit: the limit moved; a second after the old limit it is still alive
    assert.ok(await resolveSession(t.ctx.db, idle.cookie, new Date(start.getTime() + SESSION_IDLE_MS + 1000)));
    assert.equal(await resolveSession(t.ctx.db, idle.cookie, new Date(start.getTime() + 2 * SESSION_IDLE_MS + 1000)), null);
    const busy = await createSession(t.ctx.db, row!.id, start);
    for (let at = start.getTime(); at < start.getTime() + SESSION_MAX_MS; at += SESSION_IDLE_MS / 2) {
      assert.ok(await resolveSession(t.ctx.db, busy.cookie, new Date(at)), `alive at +${(at - start.getTime()) / 3600_000} h`);
    }
    assert.equal(await resolveSession(t.ctx.db, busy.cookie, new Date(start.getTime() + SESSION_MAX_MS + 1000)), null);
  });
});

test(`posteingang admin create refuses a short password without creating anyone, then creates the admin (${driver})`, async () => {
  const tmp = tempDir('pe-admin-cli-');
  const env: Record<string, string> = { DATA_DIR: tmp.dir };
  const fresh = driver === 'postgres' ? await freshPostgresDatabase() : null;
  if (fresh) env.DATABASE_URL = fresh.url;
  try {
    const args = ['admin', 'create', 'chef', '--name', 'Chef, Anna', '--email', 'chef@rathaus.example', '--password-stdin'];
    assert.equal((await runCli(['migrate'], env)).code, 0);
    const short = await runCli(args, env, { stdin: '123456789\n' });
    assert.equal(short.code, 1, describeRun(short));
    assert.match(short.stderr, /refused \(password\): must have at least 10 characters/);
    assert.deepEqual(JSON.parse((await runCli(['staff', 'list', '--json'], env)).stdout.toString()), []);
    const made = await runCli([...args, '--json'], env, { stdin: '1234567890\n' });
    assert.equal(made.code, 0, describeRun(made));
    const staff = JSON.parse((await runCli(['staff', 'list', '--json'], env)).stdout.toString()) as { login: string; role: string; email: string }[];
    assert.deepEqual(staff.map((s) => [s.login, s.role, s.email]), [['chef', 'admin', 'chef@rathaus.example']]);
  } finally {
    await fresh?.drop();
    tmp.cleanup();
  }
});

test(`the session cookie is Secure when a trusted proxy says the browser came over TLS (${driver})`, async () => {
  const cookieOf = async (trust: string, proto?: string) => {
    const t = await testContext({ HTTP_TRUST_PROXY: trust });
    try {
      await createAdmin(t.ctx.db, { login: 'chef', name: 'Chef, Anna', email: 'chef@rathaus.example', password: 'Chef-Passwort-1' });
      const r = await createApp(t.ctx).request('/login', {
        method: 'POST',
        body: new URLSearchParams({ login: 'chef', password: 'Chef-Passwort-1' }),
        headers: proto ? { 'X-Forwarded-Proto': proto } : {},
        // the proxy on the same machine: HTTP_TRUST_PROXY=true trusts loopback peers only
      }, { incoming: { socket: { remoteAddress: '127.0.0.1', remoteFamily: 'IPv4' } } });
      assert.equal(r.status, 303);
      return r.headers.get('set-cookie')!.split(/;\s*/).slice(1);
    } finally {
      await t.close();
    }
  };
  assert.deepEqual((await cookieOf('true', 'https')).sort(), ['HttpOnly', 'Path=/', 'SameSite=Strict', 'Secure']);
  assert.deepEqual((await cookieOf('false', 'https')).sort(), ['HttpOnly', 'Path=/', 'SameSite=Strict'], 'an untrusted header changes nothing');
  assert.deepEqual((await cookieOf('true')).sort(), ['HttpOnly', 'Path=/', 'SameSite=Strict']);
});
