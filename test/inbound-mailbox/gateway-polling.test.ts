import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { mailbox } from '../../src/db/schema.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { listTasks } from '../../src/services/tasks.js';
import { showMessage } from '../../src/services/messages.js';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { testGateway } from '../helpers/env.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PASSWORD = 'Sch0n geheim!'; // with a space: passed exactly as given

/** Runs the real CLI against the gateway's data directory (and database), feeding stdin. */
function cli(env: Record<string, string>, stdin: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function message(n: number): Buffer {
  return Buffer.from(
    `From: Scanner EG <scanner-eg@agency.example>\r\nTo: scan@agency.example\r\nSubject: Scan ${n}\r\n` +
      `Message-ID: <poll-${n}@mfp-eg.agency.example>\r\nDate: Thu, 25 Feb 2021 10:0${n}:00 +0100\r\n\r\nScan number ${n}\r\n`,
  );
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('mailbox polling through the running gateway and its CLI', () => {
  let dovecot: DovecotServer;
  let gw: Awaited<ReturnType<typeof testGateway>>;
  let env: Record<string, string>;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: 'AGENCY\\scan', password: PASSWORD }] });
    gw = await testGateway();
    env = { DATA_DIR: gw.dataDir, ...(gw.databaseUrl ? { DATABASE_URL: gw.databaseUrl } : {}) };
    const { db } = gw.gateway.ctx;
    await addStaff(db, { name: 'Scanner EG', email: 'scanner-eg@agency.example', external: true });
    await addStaff(db, { name: 'Weiß, Susi', email: 'susi.weiss@agency.example', login: 'sweiss' });
    await addMapping(db, 'scanner-eg@agency.example', 'sweiss');
  });
  after(async () => {
    await gw?.close();
    await dovecot?.stop();
  });

  test('mailbox set stores the settings; the password is encrypted and never shown', async () => {
    const r = await cli(
      env,
      `${PASSWORD}\n`,
      'mailbox', 'set', 'scanner',
      '--protocol', 'imap', '--host', '127.0.0.1', '--port', String(dovecot.ports.imap),
      '--security', 'starttls', '--user', 'AGENCY\\scan', '--password-stdin', '--ca-file', dovecot.caFile,
    );
    assert.equal(r.code, 0, r.stderr);
    const show = await cli(env, '', 'mailbox', 'show', 'scanner', '--json');
    assert.equal(show.code, 0, show.stderr);
    assert.ok(!show.stdout.includes(PASSWORD), 'the password is not printed');
    const shown = JSON.parse(show.stdout);
    assert.equal(shown.username, 'AGENCY\\scan');
    assert.equal(shown.afterImport, 'seen', 'IMAP default after-import action');
    assert.equal(shown.folder, 'INBOX');
    assert.equal(shown.passwordEncrypted, undefined);
    const [row] = await gw.gateway.ctx.db.select().from(mailbox).where(eq(mailbox.channel, 'scanner'));
    assert.ok(row && !row.passwordEncrypted.includes(PASSWORD), 'stored encrypted, not in clear');
    assert.equal(gw.gateway.ctx.secrets.decrypt(row!.passwordEncrypted, 'mailbox:scanner'), PASSWORD);
  });

  test('mailbox test runs connect, TLS, login, folder and fetch, all ok', async () => {
    const r = await cli(env, '', 'mailbox', 'test', 'scanner', '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const steps = JSON.parse(r.stdout) as { step: string; ok: boolean }[];
    assert.deepEqual(steps.map((s) => [s.step, s.ok]), [
      ['connect', true],
      ['tls', true],
      ['login', true],
      ['folder', true],
      ['fetch', true],
    ]);
  });

  test('mailbox poll imports new mail once, routed to the mapped staff member, byte for byte', async () => {
    const raw = message(1);
    await dovecot.deliver('AGENCY\\scan', raw);
    // The gateway may import it first on its own (IDLE); either way, after `mailbox poll` it is there once.
    const r = await cli(env, '', 'mailbox', 'poll', 'scanner', '--json');
    assert.equal(r.code, 0, r.stderr);
    const again = await cli(env, '', 'mailbox', 'poll', 'scanner', '--json');
    assert.equal(JSON.parse(again.stdout).imported, 0, 'nothing imported twice');
    const tasks = await listTasks(gw.gateway.ctx.db, { channel: 'scanner' });
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0]!.subject, 'Scan 1');
    assert.deepEqual(tasks[0]!.candidates.map((c) => c.login), ['sweiss']);
    const m = await showMessage(gw.gateway.ctx.db, tasks[0]!.messageId);
    assert.equal(m.sha256, createHash('sha256').update(raw).digest('hex'));
    assert.deepEqual(await readBlobBuffer(gw.gateway.ctx.db, m.sha256), raw);
    assert.equal((m.receipts[0]!.source as { kind: string }).kind, 'imap');
  });

  test('with auto-import on, the gateway watches the mailbox (IDLE) and imports new mail by itself', async () => {
    await dovecot.deliver('AGENCY\\scan', message(2));
    const task = await until('the IDLE-triggered import', async () =>
      (await listTasks(gw.gateway.ctx.db, { channel: 'scanner' })).find((t) => t.subject === 'Scan 2'),
    );
    assert.equal(task.status, 'open');
  });

  test('mailbox show reports health: last success, no failures, imported count', async () => {
    const r = await cli(env, '', 'mailbox', 'show', 'scanner', '--json');
    const shown = JSON.parse(r.stdout);
    assert.ok(shown.health.lastSuccessAt, 'a successful poll is recorded');
    assert.equal(shown.health.consecutiveFailures, 0);
    assert.equal(shown.health.importedTotal, 2);
  });

  test('a wrong password: mailbox test names the login step; poll fails in plain words and health counts it', async () => {
    const set = await cli(env, 'falsch-falsch\n', 'mailbox', 'set', 'scanner', '--password-stdin');
    assert.equal(set.code, 0, set.stderr);
    const t = await cli(env, '', 'mailbox', 'test', 'scanner', '--json');
    assert.equal(t.code, 1);
    const steps = JSON.parse(t.stdout) as { step: string; ok: boolean; detail: string }[];
    const failed = steps.find((s) => !s.ok)!;
    assert.equal(failed.step, 'login');
    assert.match(failed.detail, /login failed/);
    const p = await cli(env, '', 'mailbox', 'poll', 'scanner');
    assert.equal(p.code, 1);
    assert.match(p.stderr, /login failed/);
    const shown = JSON.parse((await cli(env, '', 'mailbox', 'show', 'scanner', '--json')).stdout);
    assert.ok(shown.health.consecutiveFailures >= 1);
    assert.match(shown.health.lastError, /^login: login failed/);
  });

  test('invalid settings are refused naming the field', async () => {
    const cases: [string[], RegExp][] = [
      [['--after-import', 'move:'], /afterImport/],
      [['--port', '70000'], /port/],
      [['--ca-file', '/nonexistent/ca.pem'], /caFile/],
      [['--protocol', 'pop3', '--after-import', 'seen'], /afterImport/],
      [['--import-since', 'yesterday'], /importSince/],
    ];
    for (const [args, field] of cases) {
      const r = await cli(env, '', 'mailbox', 'set', 'scanner', ...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, field);
    }
  });
});
