// Faults a new user found in the CLI and the gateway's start, each kept as a test.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir, testGateway } from '../helpers/env.js';

describe(`CLI operations (${driver})`, () => {
  const tmp = tempDir('pe-ops-');
  const env: Record<string, string> = { DATA_DIR: path.join(tmp.dir, 'data') };
  let drop = async () => {};
  before(async () => {
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
    const m = await runCli(['migrate'], env);
    assert.equal(m.code, 0, describeRun(m));
  });
  after(async () => {
    await drop();
    tmp.cleanup();
  });

  test('messages raw of a 400 KB message through a pipe arrives whole (the CLI waits for its output to drain)', async () => {
    // 400 KB: far beyond a pipe's 64 KiB buffer; CRLF lines of base64-like text
    const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n';
    const bytes = Buffer.from(`From: big@agency.example\r\nSubject: gross\r\nMessage-ID: <big-pipe@agency.example>\r\n\r\n${line.repeat(5300)}`);
    const file = path.join(tmp.dir, 'big.eml');
    writeFileSync(file, bytes);
    const ing = await runCli(['ingest', file, '--channel', 'general', '--json'], env);
    assert.equal(ing.code, 0, describeRun(ing));
    const id = JSON.parse(ing.stdout.toString())[0].messageId as number;
    const raw = await runCli(['messages', 'raw', String(id)], env);
    assert.equal(raw.code, 0, describeRun(raw));
    assert.equal(raw.stdout.length, bytes.length);
    assert.ok(raw.stdout.equals(bytes));
  });

  test('ingest goes on past a file it cannot read, and exits 1 naming that file', async () => {
    const a = path.join(tmp.dir, 'a.eml');
    const b = path.join(tmp.dir, 'b.eml');
    writeFileSync(a, 'From: a@agency.example\r\nSubject: a\r\n\r\na\r\n');
    writeFileSync(b, 'From: b@agency.example\r\nSubject: b\r\n\r\nb\r\n');
    const r = await runCli(['ingest', a, path.join(tmp.dir, 'missing.eml'), b, '--channel', 'general', '--json'], env);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /missing\.eml cannot be read: ENOENT/);
    const results = JSON.parse(r.stdout.toString()) as { file: string; messageId?: number; error?: string }[];
    assert.equal(results.length, 3);
    assert.ok(results[0]!.messageId && results[2]!.messageId, 'both readable files were stored');
    assert.ok(results[1]!.error);
  });

  for (const bad of ['abc', '0', '-5']) {
    test(`--limit ${bad} is refused`, async () => {
      const r = await runCli(['tasks', 'list', '--limit', bad], env);
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /refused \(limit\)/);
    });
  }

  test('messages show with an id that is not a number is refused without a database error', async () => {
    const r = await runCli(['messages', 'show', 'abc'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused \(id\)/);
    assert.doesNotMatch(r.stderr, /select|query/i);
  });

  test('a listing that hits its limit says more may exist', async () => {
    const r = await runCli(['messages', 'list', '--limit', '1'], env);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stderr, /more may exist/);
  });

  test('serve --help shows help and starts nothing', async () => {
    const r = await runCli(['serve', '--help'], { ...env, SMTP_PORT: '0', HTTP_PORT: '0' });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout.toString(), /Usage: posteingang serve/);
  });
});

describe('CLI in a directory without the gateway\'s data', () => {
  test('refuses to create an empty embedded database there, and creates nothing', async () => {
    const tmp = tempDir('pe-wrongdir-');
    try {
      const r = await runCli(['address', 'add', 'scan@agency.example', '--channel', 'scanner'], {}, { cwd: tmp.dir });
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /No data directory at .*data.*DATA_DIR/);
      assert.equal(existsSync(path.join(tmp.dir, 'data')), false);
    } finally {
      tmp.cleanup();
    }
  });
});

describe(`gateway start (${driver})`, () => {
  test('DATA_DIR is made readable by the gateway user only (mode 0700)', async () => {
    const g = await testGateway();
    try {
      assert.equal(statSync(g.dataDir).mode & 0o777, 0o700);
    } finally {
      await g.close();
    }
  });

  test('an SMTP port in use stops the start with a message naming SMTP_PORT', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(testGateway({ SMTP_PORT: String(port) }), /SMTP_PORT.*in use/);
    } finally {
      blocker.close();
    }
  });
});
