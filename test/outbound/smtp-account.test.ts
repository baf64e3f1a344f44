// Issue 7 item 1: the central SMTP account ("Versand"). Every field validated with an error naming
// it; default ports by security (RFC 8314 §3.3: 465 implicit TLS, RFC 6409 §3.1: 587 submission,
// RFC 5321 §4.5.4: 25); the password encrypted at rest and never shown (service, CLI, logs);
// `smtp test` reports connect → TLS → login → send against real smtp-server instances over no TLS,
// STARTTLS (RFC 3207) and implicit TLS with certificates from a test CA, and names the failing step.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { getSmtpAccount } from '../../src/db/repositories/outbox-account.js';
import { startOutboxWorker } from '../../src/outbound/outbox.js';
import { ValidationError } from '../../src/services/errors.js';
import { enqueueMessage } from '../../src/services/outbox.js';
import { setSmtpAccount, showSmtpAccount, testSmtpAccount, type SmtpAccountInput } from '../../src/services/smtp-account.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { openContext } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { driver, freshPostgresDatabase, tempDir, testConfig, testContext } from '../helpers/env.js';
import { makeTestCa, scriptedServer, waitFor } from './lib.js';

const PASSWORD = 'Geheim-Versand-7731!';
const USER = 'AGENCY\\poststelle';

describe('SMTP account settings', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  const tmp = tempDir();
  before(async () => {
    env = await testContext();
  });
  after(async () => {
    await env.close();
    tmp.cleanup();
  });

  const base: SmtpAccountInput = { host: 'mail.agency.example', security: 'starttls', auth: 'login', username: USER, password: PASSWORD, fromAddress: 'poststelle@agency.example' };

  test('every invalid field is refused with an error naming it', async () => {
    const notPem = path.join(tmp.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const cases: [SmtpAccountInput, string][] = [
      [{ ...base, host: '' }, 'host'],
      [{ ...base, host: 'mail agency' }, 'host'],
      [{ ...base, host: 'mail.agency.example\r\nRCPT TO:<x@y>' }, 'host'],
      // RFC 1123 host names only: no port glued on, no leading hyphen, no empty label
      [{ ...base, host: 'localhost:22527' }, 'host'],
      [{ ...base, host: '-bad' }, 'host'],
      [{ ...base, host: 'mail..agency.example' }, 'host'],
      [{ ...base, host: '[mail.agency.example]' }, 'host'],
      // a user name or password for an account without authentication would be dropped

      [{ ...base, port: '0' }, 'port'],
      [{ ...base, port: '65536' }, 'port'],
      [{ ...base, port: '5x' }, 'port'],
      [{ ...base, security: 'ssl' }, 'security'],
      [{ ...base, auth: 'cram-md5' }, 'auth'],
      [{ ...base, username: '' }, 'user'],
      [{ ...base, username: 'a\nb' }, 'user'],
      [{ ...base, password: '' }, 'password'],
      [{ ...base, password: 'pw\r\nQUIT' }, 'password'],
      [{ ...base, fromAddress: 'kein Absender' }, 'from'],
      [{ ...base, fromAddress: 'a@agency.example, b@agency.example' }, 'from'],
      [{ ...base, fromAddress: 'poststelle@agency.example\r\nBcc: evil@example.org' }, 'from'],
      [{ ...base, fromName: 'Poststelle\r\nBcc: evil@example.org' }, 'fromName'],
      [{ ...base, caFile: path.join(tmp.dir, 'missing.pem') }, 'caFile'],
      [{ ...base, caFile: notPem }, 'caFile'],
    ];
    for (const [input, field] of cases) {
      await assert.rejects(setSmtpAccount(env.ctx, input), (e: Error) => e instanceof ValidationError && e.field === field, `${field}: ${JSON.stringify(input)}`);
    }
    assert.equal(await getSmtpAccount(env.ctx.db), null, 'nothing stored');
  });

  test('a user name or password for an account that stays without authentication is refused, not dropped', async () => {
    await setSmtpAccount(env.ctx, { ...base, auth: 'none', username: undefined, password: undefined });
    for (const input of [{ username: 'foo' }, { password: 'pw' }]) {
      await assert.rejects(setSmtpAccount(env.ctx, input), (e: Error) => e instanceof ValidationError && e.field === 'auth', JSON.stringify(input));
    }
    // choosing none together with them (the admin's form sends every field) discards them
    await setSmtpAccount(env.ctx, { auth: 'none', username: 'foo' });
    assert.equal((await showSmtpAccount(env.ctx))!.username, null);
  });

  test('host: a port glued on is refused with both parts named; IPv6 in brackets is taken without them; a sender with a name fills the display name', async () => {
    await assert.rejects(setSmtpAccount(env.ctx, { ...base, host: 'localhost:22527' }), {
      message: '"localhost:22527" contains a port: give the host (localhost) here and the port (22527) in the port field',
    });
    await setSmtpAccount(env.ctx, { ...base, host: '[::1]' });
    assert.equal((await showSmtpAccount(env.ctx))!.host, '::1');
    await setSmtpAccount(env.ctx, { ...base, fromAddress: '"Stadt Musterhausen" <post@stadt.example>' });
    const shown = (await showSmtpAccount(env.ctx))!;
    assert.deepEqual([shown.fromAddress, shown.fromName], ['post@stadt.example', 'Stadt Musterhausen']);
    // a name typed apart wins; none given keeps it; an empty one clears it
    await setSmtpAccount(env.ctx, { fromAddress: '"Alt" <post@stadt.example>', fromName: 'Poststelle' });
    assert.equal((await showSmtpAccount(env.ctx))!.fromName, 'Poststelle');
    await setSmtpAccount(env.ctx, { port: '587' });
    assert.equal((await showSmtpAccount(env.ctx))!.fromName, 'Poststelle');
    await setSmtpAccount(env.ctx, { fromName: '' });
    assert.equal((await showSmtpAccount(env.ctx))!.fromName, null);
    await getSmtpAccount(env.ctx.db);
  });

  test('default port by security: tls 465, starttls 587, none 25; an explicit port stays', async () => {
    for (const [security, port] of [['tls', 465], ['starttls', 587], ['none', 25]] as const) {
      await setSmtpAccount(env.ctx, { ...base, security });
      assert.equal((await showSmtpAccount(env.ctx))!.port, port, security);
    }
    await setSmtpAccount(env.ctx, { port: '2587' });
    assert.equal((await showSmtpAccount(env.ctx))!.port, 2587);
  });

  test('the password is stored encrypted, kept when not given, and never shown', async () => {
    await setSmtpAccount(env.ctx, base);
    const row = (await getSmtpAccount(env.ctx.db))!;
    assert.match(row.passwordEncrypted!, /^v1:/);
    assert.ok(!row.passwordEncrypted!.includes(PASSWORD));
    assert.equal(env.ctx.secrets.decrypt(row.passwordEncrypted!, 'smtp:account'), PASSWORD);
    await setSmtpAccount(env.ctx, { fromName: 'Poststelle' });
    assert.equal((await getSmtpAccount(env.ctx.db))!.passwordEncrypted, row.passwordEncrypted, 'unchanged when no password is given');
    const shown = await showSmtpAccount(env.ctx);
    assert.equal(shown!.hasPassword, true);
    assert.ok(!('passwordEncrypted' in shown!) && !('password' in shown!));
    assert.ok(!JSON.stringify(shown).includes(PASSWORD));
    await setSmtpAccount(env.ctx, { auth: 'none' });
    assert.equal((await getSmtpAccount(env.ctx.db))!.passwordEncrypted, null, 'auth none keeps no password');
  });
});

describe('smtp test: connect → TLS → login → send over real servers', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let ca: Awaited<ReturnType<typeof makeTestCa>>;
  const tmp = tempDir();
  let logged = '';
  before(async () => {
    env = await testContext({ SMTP_SEND_TIMEOUT_SECONDS: '10', OUTBOX_POLL_SECONDS: '1' });
    ca = await makeTestCa(tmp.dir);
    // every log line of these tests, at the most verbose level, to look for the password in
    env.ctx.log = pino({ level: 'trace' }, new Writable({ write: (c, _e, cb) => ((logged += String(c)), cb()) }));
  });
  after(async () => {
    await env.close();
    tmp.cleanup();
  });

  const account = (port: number, more: SmtpAccountInput = {}) =>
    setSmtpAccount(env.ctx, { host: '127.0.0.1', port, auth: 'login', username: USER, password: PASSWORD, fromAddress: 'poststelle@agency.example', caFile: '', ...more });

  test('no TLS, AUTH LOGIN: all four steps ok, the message arrives as the user', async () => {
    const server = await scriptedServer({ security: 'none', auth: { user: USER, pass: PASSWORD } });
    try {
      await account(server.port, { security: 'none' });
      const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', true], ['tls', true], ['login', true], ['send', true]]);
      assert.match(steps[1]!.detail, /skipped/);
      assert.equal(server.accepted.length, 1);
      assert.equal(server.accepted[0]!.user, USER);
      assert.deepEqual(server.accepted[0]!.to, ['pruefung@example.org']);
      // RFC 3834 §5: a message sent by the program itself is auto-generated
      assert.match(server.accepted[0]!.raw.toString(), /^Auto-Submitted: auto-generated\r$/m);
    } finally {
      await server.close();
    }
  });

  test('wrong password: fails at login with the server reply, nothing sent', async () => {
    const server = await scriptedServer({ security: 'none', auth: { user: USER, pass: 'anders' } });
    try {
      await account(server.port, { security: 'none' });
      const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', true], ['tls', true], ['login', false]]);
      assert.match(steps[2]!.detail, /refused the login.*535/);
      assert.equal(server.accepted.length, 0);
    } finally {
      await server.close();
    }
  });

  test('STARTTLS with the test CA: TLS 1.2 or newer, message received over TLS', async () => {
    const server = await scriptedServer({ security: 'starttls', tls: ca, auth: { user: USER, pass: PASSWORD } });
    try {
      await account(server.port, { security: 'starttls', caFile: ca.caFile });
      const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', true], ['tls', true], ['login', true], ['send', true]]);
      assert.match(steps[1]!.detail, /STARTTLS, TLSv1\.[23]/);
      assert.equal(server.accepted[0]!.secure, true);
    } finally {
      await server.close();
    }
  });

  test('STARTTLS without the CA: fails at tls in plain words', async () => {
    const server = await scriptedServer({ security: 'starttls', tls: ca });
    try {
      await account(server.port, { security: 'starttls', auth: 'none', caFile: '' });
      const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', true], ['tls', false]]);
      assert.match(steps[1]!.detail, /not signed by a trusted CA/);
      assert.equal(server.accepted.length, 0);
    } finally {
      await server.close();
    }
  });

  test('STARTTLS required but not offered: fails at tls, nothing sent in clear', async () => {
    const server = await scriptedServer({ security: 'none' });
    try {
      await account(server.port, { security: 'starttls', auth: 'none' });
      const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', true], ['tls', false]]);
      assert.equal(server.accepted.length, 0);
    } finally {
      await server.close();
    }
  });

  test('implicit TLS with the test CA: ok; without it: connect ok, tls fails', async () => {
    const server = await scriptedServer({ security: 'tls', tls: ca, auth: { user: USER, pass: PASSWORD } });
    try {
      await account(server.port, { security: 'tls', caFile: ca.caFile });
      const ok = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(ok.map((s) => [s.step, s.ok]), [['connect', true], ['tls', true], ['login', true], ['send', true]]);
      assert.match(ok[1]!.detail, /implicit TLS, TLSv1\.[23]/);
      assert.equal(server.accepted[0]!.secure, true);
      await account(server.port, { security: 'tls', caFile: '' });
      const bad = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(bad.map((s) => [s.step, s.ok]), [['connect', true], ['tls', false]]);
      assert.match(bad[1]!.detail, /not signed by a trusted CA/);
      assert.equal(server.accepted.length, 1);
    } finally {
      await server.close();
    }
  });

  test('the wrong security for the port says so: TLS against a plain port, STARTTLS against an implicit-TLS port', async () => {
    const plain = await scriptedServer({ auth: { user: USER, pass: PASSWORD } });
    const implicit = await scriptedServer({ security: 'tls', tls: ca, auth: { user: USER, pass: PASSWORD } });
    try {
      await account(plain.port, { security: 'tls', caFile: ca.caFile });
      const tls = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.deepEqual(tls.map((s) => [s.step, s.ok]), [['connect', true], ['tls', false]]);
      assert.match(tls[1]!.detail, /the server did not answer in TLS: this port speaks plain SMTP; choose STARTTLS \(port 587\) or the implicit-TLS port \(465\)$/);
      await account(implicit.port, { security: 'starttls', caFile: ca.caFile });
      const starttls = await testSmtpAccount(env.ctx, 'pruefung@example.org');
      assert.equal(starttls.at(-1)!.ok, false);
      assert.match(starttls.at(-1)!.detail, /the server sent no greeting: if this is an implicit-TLS port \(465\), choose security TLS$/);
      assert.equal(plain.accepted.length + implicit.accepted.length, 0);
    } finally {
      await plain.close();
      await implicit.close();
    }
  });

  test('connection refused: fails at connect', async () => {
    const server = await scriptedServer({});
    await server.close();
    await account(server.port, { security: 'none' });
    const steps = await testSmtpAccount(env.ctx, 'pruefung@example.org');
    assert.deepEqual(steps.map((s) => [s.step, s.ok]), [['connect', false]]);
    assert.match(steps[0]!.detail, /connection refused/);
  });

  test('a queued message goes out over implicit TLS with AUTH; the password never reached a log line', async () => {
    const server = await scriptedServer({ security: 'tls', tls: ca, auth: { user: USER, pass: PASSWORD } });
    const worker = await startOutboxWorker(env.ctx);
    try {
      await account(server.port, { security: 'tls', caFile: ca.caFile });
      const queued = await enqueueMessage(env.ctx, OPERATOR, { to: 'buerger@example.org', subject: 'Ihr Antrag', text: 'Guten Tag' });
      await server.waitAccepted(1);
      assert.equal(server.accepted[0]!.messageId, queued.messageId);
      assert.equal(server.accepted[0]!.secure, true);
      await waitFor(async () => logged.includes('message sent'), 60_000, 'the log line of the delivery');
    } finally {
      await worker.stop();
      await server.close();
    }
    assert.ok(logged.includes('SMTP account saved') && logged.includes('SMTP account tested'), 'the logs were captured');
    assert.ok(!logged.includes(PASSWORD), 'the password is in no log line');
  });
});

describe('CLI: smtp set, show, test', () => {
  test('set with --password-stdin, show (text and JSON) without the password, test reports each step', async () => {
    const tmp = tempDir();
    const fresh = driver === 'postgres' ? await freshPostgresDatabase() : null;
    const envVars: Record<string, string> = { DATA_DIR: tmp.dir, ...(fresh ? { DATABASE_URL: fresh.url } : {}) };
    const server = await scriptedServer({ security: 'none', auth: { user: USER, pass: PASSWORD } });
    try {
      let r = await runCli(['migrate'], envVars);
      assert.equal(r.code, 0, describeRun(r));
      r = await runCli(
        ['smtp', 'set', '--host', '127.0.0.1', '--port', String(server.port), '--security', 'none', '--auth', 'login', '--user', USER, '--password-stdin', '--from', 'poststelle@agency.example', '--from-name', 'Poststelle'],
        envVars,
        { stdin: `${PASSWORD}\n` },
      );
      assert.equal(r.code, 0, describeRun(r));
      r = await runCli(['smtp', 'show'], envVars);
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stdout.toString(), /127\.0\.0\.1:\d+ \(none\), auth login as AGENCY\\poststelle, password stored/);
      assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
      r = await runCli(['smtp', 'show', '--json'], envVars);
      const shown = JSON.parse(r.stdout.toString());
      assert.equal(shown.hasPassword, true);
      assert.equal(shown.fromAddress, 'poststelle@agency.example');
      assert.ok(!r.stdout.includes(PASSWORD) && !('passwordEncrypted' in shown));
      r = await runCli(['smtp', 'test', 'pruefung@example.org'], envVars);
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(
        r.stdout.toString().trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
        ['ok connect', 'ok tls', 'ok login', 'ok send'],
      );
      assert.equal(server.accepted.length, 1);
      assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
      r = await runCli(['smtp', 'set', '--port', 'x25'], envVars);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refused \(port\)/);
      // outbox list|show|retry: a message queued while no gateway runs stays queued
      const opened = await openContext(testConfig(tmp.dir, fresh ? { DATABASE_URL: fresh.url } : {}), createLogger('silent'), { lock: !fresh });
      const queued = await enqueueMessage(opened.ctx, OPERATOR, { to: 'buerger@example.org', subject: 'Bescheid', text: 'x' }).finally(() => opened.close());
      r = await runCli(['outbox', 'list', '--json'], envVars);
      assert.equal(r.code, 0, describeRun(r));
      const listed = JSON.parse(r.stdout.toString()) as { id: number; state: string; messageId: string }[];
      assert.deepEqual(listed.map((m) => [m.id, m.state, m.messageId]), [[queued.id, 'queued', queued.messageId]]);
      r = await runCli(['outbox', 'show', String(queued.id)], envVars);
      assert.match(r.stdout.toString(), new RegExp(`^outbox ${queued.id}: queued, to buerger@example\\.org, "Bescheid"`));
      r = await runCli(['outbox', 'retry', String(queued.id)], envVars);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refused \(state\): message \d+ is queued; only failed messages can be retried/);
    } finally {
      await server.close();
      await fresh?.drop();
      tmp.cleanup();
    }
  });
});
