// `serve` as a child process on the embedded database (PGlite, the default without DATABASE_URL,
// whatever driver the rest of the suite uses): one gateway per DATA_DIR, CLI commands reach the
// running gateway through its admin socket, and SIGTERM/SIGINT stop it cleanly and release the lock.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCK_STALE_MS } from '../../src/lock.js';
import { tempDir } from '../helpers/env.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STARTED = 'Posteingang gateway started';

/** The environment of every child: no DATABASE_URL (embedded PGlite), loopback, any free port. */
function childEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  delete env.DATABASE_URL_FILE;
  return {
    ...env,
    DATA_DIR: dataDir,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Serve {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** stderr so far */
  stderr(): string;
  /** JSON log lines on stderr so far */
  logs(): Record<string, unknown>[];
  exited: Promise<Exit>;
  /** Resolves with the 'gateway started' log line, or rejects when the process exits first. */
  started: Promise<Record<string, unknown>>;
}

const children = new Set<Serve['child']>();

function startServe(dataDir: string, extraEnv: Record<string, string> = {}): Serve {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: childEnv(dataDir, extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let err = '';
  const logs: Record<string, unknown>[] = [];
  let onLine: (l: Record<string, unknown>) => void = () => {};
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        logs.push(parsed);
        onLine(parsed);
      } catch {
        // not a log line (e.g. the plain refusal message)
      }
    }
  });
  child.stdout.resume();
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    onLine = (l) => {
      if (l.msg === STARTED) resolve(l);
    };
    void exited.then((e) => reject(new Error(`serve exited (code ${e.code}, signal ${e.signal}) before starting:\n${err}`)));
  });
  started.catch(() => {}); // observed by the tests that expect a start
  return { child, stderr: () => err, logs: () => logs, exited, started };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function runCli(dataDir: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: childEnv(dataDir, { LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

async function ok(dataDir: string, ...args: string[]): Promise<Buffer> {
  const r = await runCli(dataDir, args);
  assert.equal(r.code, 0, `posteingang ${args.join(' ')}: exit ${r.code}\nstdout: ${r.stdout.toString('utf8')}\nstderr: ${r.stderr}`);
  return r.stdout;
}
const okJson = async <T = unknown>(dataDir: string, ...args: string[]): Promise<T> => JSON.parse((await ok(dataDir, ...args)).toString('utf8')) as T;

/** "127.0.0.1:40123" → 40123 */
function portOf(hostPort: unknown): number {
  assert.equal(typeof hostPort, 'string');
  const m = /^127\.0\.0\.1:(\d+)$/.exec(hostPort as string);
  assert.ok(m, `listening address ${String(hostPort)} is on loopback with a port`);
  return Number(m[1]);
}

/** The first line an SMTP server sends (RFC 5321 §4.2: greeting 220). */
function smtpGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error('no SMTP greeting')));
    socket.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        socket.end('QUIT\r\n');
        resolve(buf.slice(0, nl));
      }
    });
    socket.on('error', reject);
  });
}

async function healthz(port: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: await res.json() };
}

const lockDir = (dataDir: string) => path.join(dataDir, 'gateway.lock');

describe('serve and the data-directory lock (embedded PGlite)', () => {
  const tmp = tempDir('pe-lock-');
  const dataDir = tmp.dir;
  const fixture = readFileSync(path.join(ROOT, 'test/fixtures/scanner-basic.eml'));
  let first: Serve;
  let httpPort: number;

  after(async () => {
    for (const c of children) c.kill('SIGKILL'); // only the processes this file started
    tmp.cleanup();
  });

  before(async () => {
    first = startServe(dataDir);
    const line = await within(first.started, 90_000, 'first gateway start');
    assert.equal(line.database, 'pglite');
    assert.equal(line.dataDir, dataDir);
    httpPort = portOf(line.http);
  });

  test('serve with SMTP_PORT=0 and HTTP_PORT=0 listens on free ports and answers on both', async () => {
    const line = first.logs().find((l) => l.msg === STARTED)!;
    const smtpPort = portOf(line.smtp);
    assert.ok(smtpPort > 0 && httpPort > 0 && smtpPort !== httpPort);
    assert.match(await smtpGreeting(smtpPort), /^220[ -]/);
    assert.deepEqual(await healthz(httpPort), {
      status: 200,
      body: { status: 'ok', database: 'pglite', queue: { depth: 0, oldestSeconds: 0, latencyP95Ms: null, retrying: 0 } },
    });
    assert.ok(existsSync(lockDir(dataDir)), 'the running gateway holds <DATA_DIR>/gateway.lock');
  });

  test('a second serve on the same DATA_DIR exits non-zero saying another gateway is running', async () => {
    const second = startServe(dataDir);
    const exit = await within(second.exited, 60_000, 'second gateway exit');
    assert.equal(exit.signal, null);
    assert.notEqual(exit.code, 0, second.stderr());
    assert.match(second.stderr(), /another .*gateway is already running/i);
    assert.equal(second.logs().some((l) => l.msg === STARTED), false);
    // the first one is unharmed
    assert.equal(first.child.exitCode, null);
    assert.equal((await healthz(httpPort)).status, 200);
  });

  test('CLI commands work through the running gateway and their effects show in the next command', async () => {
    assert.equal(first.child.exitCode, null, 'the gateway runs, so the CLI must go through it');
    await ok(dataDir, 'address', 'add', 'scan@agency.example', '--channel', 'scanner');
    const addresses = await okJson<{ address: string; channel: string }[]>(dataDir, 'address', 'list', '--json');
    assert.deepEqual(addresses.map((a) => [a.address, a.channel]), [['scan@agency.example', 'scanner']]);

    await ok(dataDir, 'staff', 'add', '--name', 'Weiß, Susi', '--email', 'susi.weiss@agency.example', '--login', 'sweiss');
    await ok(dataDir, 'staff', 'add', '--name', 'Scanner 2. OG', '--email', 'scanner-2og@agency.example', '--external');
    const staff = await okJson<{ name: string; email: string; login: string | null; external: boolean }[]>(dataDir, 'staff', 'list', '--json');
    assert.deepEqual(
      staff.map((s) => [s.name, s.email, s.login, s.external]).sort(),
      [
        ['Scanner 2. OG', 'scanner-2og@agency.example', null, true],
        ['Weiß, Susi', 'susi.weiss@agency.example', 'sweiss', false],
      ],
    );

    assert.deepEqual(await okJson(dataDir, 'tasks', 'list', '--json'), []);
  });

  test('refusals and usage errors keep their exit codes through the gateway', async () => {
    const refused = await runCli(dataDir, ['mapping', 'add', '--from', 'nobody@elsewhere.example', '--to', 'sweiss']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /refused \(from\): .*active staff record/);
    const usage = await runCli(dataDir, ['address', 'add', 'x@agency.example', '--channel', 'fax']);
    assert.equal(usage.code, 2, usage.stderr);
  });

  test('ingest through the gateway resolves the file against the caller’s directory; raw bytes survive the socket', async () => {
    await ok(dataDir, 'mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'sweiss');
    await ok(dataDir, 'ingest', 'test/fixtures/scanner-basic.eml', '--channel', 'scanner');
    const tasks = await okJson<{ channel: string; sender: string; messageId: number; candidates: { login: string }[] }[]>(dataDir, 'tasks', 'list', '--json');
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0]!.channel, 'scanner');
    assert.equal(tasks[0]!.sender, 'scanner-2og@agency.example');
    assert.deepEqual(tasks[0]!.candidates.map((c) => c.login), ['sweiss']);
    const raw = await ok(dataDir, 'messages', 'raw', String(tasks[0]!.messageId));
    assert.ok(raw.equals(fixture), 'messages raw through the gateway differs from the file');
  });

  test('SIGTERM stops the gateway with exit 0 and releases the lock; a new serve starts at once', async () => {
    first.child.kill('SIGTERM');
    const exit = await within(first.exited, 30_000, 'first gateway stop');
    assert.deepEqual(exit, { code: 0, signal: null }, first.stderr());
    assert.ok(first.logs().some((l) => l.msg === 'stopped'), 'the gateway logs that it stopped');
    assert.equal(existsSync(lockDir(dataDir)), false, 'gateway.lock removed');

    // Started right away, well within the LOCK_STALE_MS after which a lock left behind would count
    // as stale: this start succeeds because the lock was released, not because it was taken over.
    const again = startServe(dataDir);
    await within(again.started, 60_000, 'gateway restart');

    // what was stored before is there, read through the new gateway
    const addresses = await okJson<{ address: string }[]>(dataDir, 'address', 'list', '--json');
    assert.deepEqual(addresses.map((a) => a.address), ['scan@agency.example']);

    again.child.kill('SIGTERM');
    assert.deepEqual(await within(again.exited, 30_000, 'restarted gateway stop'), { code: 0, signal: null }, again.stderr());
    assert.equal(existsSync(lockDir(dataDir)), false, 'gateway.lock removed');
  });

  test('SIGINT stops the gateway with exit 0 and releases the lock too', async () => {
    const gw = startServe(dataDir);
    await within(gw.started, 60_000, 'gateway start');
    gw.child.kill('SIGINT');
    assert.deepEqual(await within(gw.exited, 30_000, 'gateway stop on SIGINT'), { code: 0, signal: null }, gw.stderr());
    assert.equal(existsSync(lockDir(dataDir)), false, 'gateway.lock removed');
  });

  test('with no gateway running, the CLI opens the database itself and sees the same data', async () => {
    assert.equal(existsSync(lockDir(dataDir)), false);
    const tasks = await okJson<{ sender: string }[]>(dataDir, 'tasks', 'list', '--json');
    assert.deepEqual(tasks.map((t) => t.sender), ['scanner-2og@agency.example']);
    assert.equal(existsSync(lockDir(dataDir)), false, 'the CLI released its lock on exit');
  });

  test('after a crash (SIGKILL) a new gateway takes over at once (the holder pid is gone), data intact', async () => {
    const crashed = startServe(dataDir);
    await within(crashed.started, 60_000, 'gateway start');
    crashed.child.kill('SIGKILL');
    assert.equal((await within(crashed.exited, 10_000, 'killed gateway exit')).signal, 'SIGKILL');
    assert.ok(existsSync(lockDir(dataDir)), 'a killed gateway leaves its lock behind');
    // well within LOCK_STALE_MS: the lock is taken over because its holder no longer runs
    const next = startServe(dataDir);
    await within(next.started, 60_000, 'gateway start after a crash (a second gateway would exit at once if the lock were still held)');
    const tasks = await okJson<{ sender: string }[]>(dataDir, 'tasks', 'list', '--json');
    assert.deepEqual(tasks.map((t) => t.sender), ['scanner-2og@agency.example']);
    next.child.kill('SIGTERM');
    assert.deepEqual(await within(next.exited, 30_000, 'gateway stop'), { code: 0, signal: null }, next.stderr());
    assert.equal(existsSync(lockDir(dataDir)), false, 'gateway.lock removed');
  });
});
