/**
 * Helpers for the scripted SMTP dialogues of issue 3: a raw line-oriented SMTP client over TCP
 * (with STARTTLS and implicit TLS), reply parsing, database look-ups through the services, and
 * child-process runners for the CLI and for `swaks` / `openssl s_client`.
 *
 * Expected values in the tests come from RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
 * RFC 3463 (enhanced status codes) and RFC 1870 (SIZE), never from the program's output.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { asc, eq } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';
import { readBlobBuffer } from '../../src/db/blobs.js';
import { message, receipt, task } from '../../src/db/schema.js';
import type { SmtpSource } from '../../src/ingest/source.js';
import { showMessage } from '../../src/services/messages.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { pino } from 'pino';
import { driver, freshPostgresDatabase, isQueuedReply, queuesDrained, tempDir, testConfig, trackGateway } from '../helpers/env.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** One SMTP reply (RFC 5321 §4.2): one or more lines `ddd-text`, the last `ddd text`. */
export interface Reply {
  code: number;
  /** the text of each line, without code and separator */
  lines: string[];
  /** RFC 3463 enhanced status code at the start of the last line's text, if any (e.g. `4.5.3`) */
  enhanced: string | null;
  /** the reply as received, lines joined by \n */
  raw: string;
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/** An error when the connection ends before a complete reply arrives. */
export class ConnectionClosed extends Error {
  constructor(readonly partial: string) {
    super(`connection closed before a complete reply${partial ? ` (had: ${JSON.stringify(partial)})` : ''}`);
  }
}

/**
 * A raw SMTP client: writes exactly the bytes a test gives it and parses replies, including
 * multi-line `250-` replies. Over plain TCP, implicit TLS, or upgraded with STARTTLS.
 */
export class Smtp {
  private buffer = '';
  private pending: string[] = [];
  private replies: Reply[] = [];
  private waiters: { resolve(r: Reply): void; reject(e: Error): void }[] = [];
  private closedFlag = false;
  /** resolves when the connection is closed (by either side) */
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  greeting!: Reply;

  private constructor(private socket: net.Socket | tls.TLSSocket) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.attach(socket);
  }

  private readonly onData = (chunk: Buffer) => this.feed(chunk);
  private readonly onClose = () => {
    this.closedFlag = true;
    for (const w of this.waiters.splice(0)) w.reject(new ConnectionClosed([...this.pending, this.buffer].join('\n')));
    this.markClosed();
  };

  private attach(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', () => {});
  }

  /**
   * Connects and reads the greeting. With `tls`, the connection is implicit TLS (RFC 8314).
   * @returns the client; the greeting is in `.greeting`
   */
  static async connect(port: number, opts: { tls?: tls.ConnectionOptions; localAddress?: string; host?: string } = {}): Promise<Smtp> {
    const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
    const host = opts.host ?? '127.0.0.1';
    const socket = opts.tls
      ? tls.connect({ host, port, rejectUnauthorized: false, ...local, ...opts.tls })
      : net.connect({ host, port, ...local });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('connection closed during connect/handshake')));
    });
    const smtp = new Smtp(socket);
    smtp.greeting = await smtp.next();
    return smtp;
  }

  private feed(chunk: Buffer) {
    this.buffer += chunk.toString('latin1');
    let i: number;
    while ((i = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      this.pending.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const lines = this.pending.map((l) => l.slice(4));
        const m = ENHANCED.exec(lines[lines.length - 1] ?? '');
        const reply: Reply = { code: Number(line.slice(0, 3)), lines, enhanced: m ? m[0] : null, raw: this.pending.join('\n') };
        this.pending = [];
        const w = this.waiters.shift();
        if (w) w.resolve(reply);
        else this.replies.push(reply);
      } else if (!/^\d{3}-/.test(line)) {
        const e = new Error(`not an SMTP reply line: ${JSON.stringify(line)}`);
        for (const w of this.waiters.splice(0)) w.reject(e);
        this.socket.destroy();
        return;
      }
    }
  }

  /**
   * The next complete reply; rejects with ConnectionClosed, or after `timeoutMs`. After a
   * `250 … queued as …` it resolves once the in-process gateways' queues are drained, so that
   * the message is in the database when the test looks.
   */
  async next(timeoutMs = 20_000): Promise<Reply> {
    const reply = await this.nextReply(timeoutMs);
    if (isQueuedReply(reply.code, reply.raw)) await queuesDrained();
    return reply;
  }

  private nextReply(timeoutMs: number): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closedFlag) return Promise.reject(new ConnectionClosed(this.pending.join('\n')));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const idx = this.waiters.indexOf(waiter);
        if (idx >= 0) this.waiters.splice(idx, 1);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        resolve: (x: Reply) => (clearTimeout(timer), resolve(x)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.push(waiter);
    });
  }

  /** Writes bytes as given (no CRLF added). */
  write(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Sends one command line, CRLF appended, and reads its reply. */
  async command(line: string, timeoutMs?: number): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.next(timeoutMs);
  }

  /** Replies that arrived but were not read yet (e.g. an unexpected second DATA answer). */
  get unread(): Reply[] {
    return [...this.replies];
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /**
   * STARTTLS (RFC 3207): sends the command; on 220 upgrades the connection.
   * @returns the 220 reply and the TLS socket
   * @throws when the reply is not 220 or the handshake fails
   */
  async starttls(opts: tls.ConnectionOptions = {}): Promise<{ reply: Reply; socket: tls.TLSSocket }> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) throw new Error(`STARTTLS answered ${reply.raw}`);
    if (this.buffer || this.pending.length || this.replies.length) throw new Error('data after the 220 to STARTTLS (command injection)');
    const plain = this.socket;
    plain.off('data', this.onData);
    plain.off('close', this.onClose);
    const secure = tls.connect({ socket: plain as net.Socket, rejectUnauthorized: false, ...opts });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.attach(secure);
    return { reply, socket: secure };
  }

  /** The TLS socket, when the connection is encrypted. */
  get tlsSocket(): tls.TLSSocket | null {
    return this.socket instanceof tls.TLSSocket ? this.socket : null;
  }

  /** Sends QUIT (when still open) and closes. */
  async quit(): Promise<void> {
    if (!this.closedFlag) {
      try {
        await this.command('QUIT', 5000);
      } catch {
        // closed already
      }
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves when the server has closed the connection; fails after `ms`. */
export async function closedWithin(smtp: Smtp, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    smtp.closed,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: the gateway did not close the connection`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** `base64` of a string, as RFC 4954 sends credentials. */
export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * AUTH LOGIN (draft-murchison-sasl-login): `334 VXNlcm5hbWU6` ("Username:"), `334 UGFzc3dvcmQ6`
 * ("Password:"), then the final reply.
 * @returns the three replies in order (fewer when one is not 334)
 */
export async function authLogin(smtp: Smtp, user: string, password: string): Promise<Reply[]> {
  const out: Reply[] = [];
  const first = await smtp.command('AUTH LOGIN');
  out.push(first);
  if (first.code !== 334) return out;
  const second = await smtp.command(b64(user));
  out.push(second);
  if (second.code !== 334) return out;
  out.push(await smtp.command(b64(password)));
  return out;
}

/** AUTH PLAIN with an initial response (RFC 4616: authzid NUL authcid NUL passwd). */
export function authPlain(smtp: Smtp, user: string, password: string): Promise<Reply> {
  return smtp.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64')}`);
}

/** The EHLO keywords (first word of each line after the greeting line), upper-cased. */
export function ehloKeywords(ehlo: Reply): string[] {
  return ehlo.lines.slice(1).map((l) => l.split(' ')[0]!.toUpperCase());
}

/** The parameters of one EHLO keyword (e.g. `AUTH` → `['PLAIN','LOGIN']`), or null when not offered. */
export function ehloParams(ehlo: Reply, keyword: string): string[] | null {
  const line = ehlo.lines.slice(1).find((l) => l.split(' ')[0]!.toUpperCase() === keyword);
  return line === undefined ? null : line.split(' ').slice(1);
}

/**
 * Dot-stuffs message bytes for DATA (RFC 5321 §4.5.2: a line starting with `.` gets one more)
 * and appends the end marker CRLF.CRLF. `bytes` must end with CRLF.
 */
export function dataPayload(bytes: Buffer): Buffer {
  if (!bytes.subarray(-2).equals(Buffer.from('\r\n'))) throw new Error('dataPayload: message must end with CRLF');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x2e && (i === 0 || bytes[i - 1] === 0x0a)) {
      parts.push(bytes.subarray(start, i), Buffer.from('.'));
      start = i;
    }
  }
  parts.push(bytes.subarray(start), Buffer.from('.\r\n'));
  return Buffer.concat(parts);
}

/** A small scanner-like message (CRLF line ends, a PDF-ish attachment), unique by `tag`. */
export function scanMessage(opts: { from: string; to: string; tag: string }): Buffer {
  const pdf = Buffer.from(`%PDF-1.4\n% scan ${opts.tag}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`, 'latin1');
  const b64body = pdf.toString('base64').replace(/.{1,76}/g, '$&\r\n');
  return Buffer.from(
    [
      `From: ${opts.from}`,
      `To: ${opts.to}`,
      `Subject: Scan ${opts.tag}`,
      'Date: Tue, 04 Mar 2025 09:15:00 +0100',
      `Message-ID: <${opts.tag}@scanner.agency.example>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      `Scan ${opts.tag}`,
      '.a line that starts with a dot (sent dot-stuffed, stored as is)',
      '--b1',
      'Content-Type: application/pdf; name="scan.pdf"',
      'Content-Disposition: attachment; filename="scan.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      b64body.replace(/\r\n$/, ''),
      '--b1--',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

/**
 * One envelope and DATA over an open, greeted connection.
 * @returns the replies to MAIL, each RCPT, DATA and the final one (absent when a step failed)
 */
export async function transaction(
  smtp: Smtp,
  opts: { from: string; to: string[]; data: Buffer },
): Promise<{ mail: Reply; rcpt: Reply[]; data?: Reply; final?: Reply }> {
  const mail = await smtp.command(`MAIL FROM:<${opts.from}>`);
  if (mail.code !== 250) return { mail, rcpt: [] };
  const rcpt: Reply[] = [];
  for (const r of opts.to) rcpt.push(await smtp.command(`RCPT TO:<${r}>`));
  if (!rcpt.some((r) => r.code === 250)) return { mail, rcpt };
  const data = await smtp.command('DATA');
  if (data.code !== 354) return { mail, rcpt, data };
  smtp.write(dataPayload(opts.data));
  return { mail, rcpt, data, final: await smtp.next() };
}

// ---------------------------------------------------------------------------------------------
// gateway

/** One JSON log line of the gateway. */
export type LogLine = { level: number; msg: string; [key: string]: unknown };

/**
 * Like test/helpers/env.ts testGateway (free loopback ports, temp DATA_DIR, a fresh PostgreSQL
 * database when DATABASE_URL is set), but the gateway logs at `info` into `logs`, so that tests
 * can check the log lines the issue asks for.
 */
export async function dialogueGateway(
  env: Record<string, string> = {},
  opts: { dataDir?: string } = {},
): Promise<{ gateway: Gateway; dataDir: string; db: Db; logs: LogLine[]; close(): Promise<void> }> {
  const tmp = opts.dataDir ? { dir: opts.dataDir, cleanup: () => {} } : tempDir('pe-dialogue-');
  let drop = async () => {};
  const extra: Record<string, string> = { ...env };
  if (driver === 'postgres' && !('DATABASE_URL' in env)) {
    const fresh = await freshPostgresDatabase();
    extra.DATABASE_URL = fresh.url;
    drop = fresh.drop;
  }
  const logs: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  let gateway: Gateway;
  try {
    gateway = await startGateway(testConfig(tmp.dir, { ...extra, LOG_LEVEL: 'info' }), log);
  } catch (err) {
    await drop();
    tmp.cleanup();
    throw err;
  }
  let closed = false;
  const untrack = trackGateway(gateway);
  return {
    gateway,
    dataDir: tmp.dir,
    db: gateway.ctx.db,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      untrack();
      await gateway.stop();
      await drop();
      tmp.cleanup();
    },
  };
}

/** Log lines at warn (40) or above, or any level, whose message matches `re`. */
export function logsMatching(logs: LogLine[], re: RegExp): LogLine[] {
  return logs.filter((l) => re.test(l.msg));
}

/**
 * Checks a reply's code and its RFC 3463 enhanced status code.
 * - the class digit of any enhanced code must equal the reply's first digit (RFC 3463 §2);
 * - `enhanced`: the codes the RFCs give for this case; when present it must be one of them;
 * - `required`: the enhanced code must be present (the receiver writes it itself).
 */
export function expectReply(reply: Reply, code: number, opts: { enhanced?: string[]; required?: boolean } = {}, note = ''): void {
  const where = `${note ? `${note}: ` : ''}reply ${JSON.stringify(reply.raw)}`;
  if (reply.code !== code) throw new Error(`${where}: expected code ${code}`);
  if (reply.enhanced && reply.enhanced[0] !== String(code)[0]) throw new Error(`${where}: enhanced code class does not match the reply code`);
  if (opts.required && !reply.enhanced) throw new Error(`${where}: expected an enhanced status code ${opts.enhanced?.join(' or ')}`);
  if (reply.enhanced && opts.enhanced && !opts.enhanced.includes(reply.enhanced)) {
    throw new Error(`${where}: enhanced code ${reply.enhanced}, expected ${opts.enhanced.join(' or ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// database

export async function messageIds(db: Db): Promise<number[]> {
  return (await db.select({ id: message.id }).from(message).orderBy(asc(message.id))).map((r) => r.id);
}

export async function countRows(db: Db): Promise<{ messages: number; receipts: number; tasks: number }> {
  const [m, r, t] = await Promise.all([db.select({ id: message.id }).from(message), db.select({ id: receipt.id }).from(receipt), db.select({ id: task.id }).from(task)]);
  return { messages: m.length, receipts: r.length, tasks: t.length };
}

export async function tasksOf(db: Db, messageId: number) {
  return db.select().from(task).where(eq(task.messageId, messageId)).orderBy(asc(task.id));
}

/** The stored message with the given SHA-256 of its raw bytes, or null. */
export async function messageBySha(db: Db, rawSha256: string) {
  const [row] = await db.select({ id: message.id }).from(message).where(eq(message.rawSha256, rawSha256));
  return row ? showMessage(db, row.id) : null;
}

/** The SMTP source recorded with the first receipt of a message. */
export async function smtpSourceOf(db: Db, messageId: number): Promise<SmtpSource> {
  const m = await showMessage(db, messageId);
  const source = m.receipts[0]?.source as SmtpSource | undefined;
  if (!source || source.kind !== 'smtp') throw new Error(`message ${messageId} has no SMTP receipt`);
  return source;
}

/** The stored raw bytes of a message. */
export async function storedRaw(db: Db, messageId: number): Promise<Buffer> {
  const m = await showMessage(db, messageId);
  const bytes = await readBlobBuffer(db, m.sha256);
  if (!bytes) throw new Error(`raw bytes of message ${messageId} missing`);
  return bytes;
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---------------------------------------------------------------------------------------------
// child processes

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as bytes (for `messages raw`) */
  stdoutBytes?: Buffer;
  stderr: string;
}

export const describeRun = (r: Run) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Runs a program; resolves when it exits (killed after `timeoutMs`). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string | Buffer; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code, signal, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/**
 * Runs `swaks` (Debian) with `args` (the server included); never throws for a non-zero exit.
 * When its transcript shows a `250 … queued as …`, resolves once the in-process gateways'
 * inbound queues are drained, so that the message is in the database when the test looks.
 */
export async function swaks(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<Run> {
  const r = await run('swaks', ['--timeout', '20', ...args], { stdin: opts.stdin, timeoutMs: opts.timeoutMs ?? 40_000 });
  if (swaksReplies(r.stdout).some((line) => isQueuedReply(Number(line.slice(0, 3)), line))) await queuesDrained();
  return r;
}

/** Reply lines swaks printed (`<-` before TLS, `<~` after, `<**`/`<~*` for errors), e.g. `235 …`. */
export const swaksReplies = (out: string) => out.split('\n').filter((l) => /^\s*<[-~*]+\s+\d{3}[ -]/.test(l)).map((l) => l.replace(/^\s*<[-~*]+\s+/, ''));

/**
 * A child process driven line by line: `expect(re)` waits until its stdout (after what earlier
 * expectations consumed) matches, `send` writes to its stdin. For `openssl s_client`, which must
 * not talk before the server's greeting (smtp-server answers early talkers with 421).
 */
export function interactive(cmd: string, args: string[], timeoutMs = 30_000) {
  const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let consumed = 0;
  const exited = new Promise<Run>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.on('error', () => {});
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  exited.then(() => clearTimeout(killer), () => {});
  return {
    async expect(re: RegExp, ms = 15_000): Promise<RegExpExecArray> {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(stdout.slice(consumed));
        if (m) {
          consumed += m.index + m[0].length;
          return m;
        }
        if (Date.now() > end || child.exitCode !== null) throw new Error(`expected ${re} in output:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    send(line: string) {
      child.stdin.write(`${line}\n`);
    },
    end() {
      child.stdin.end();
    },
    exited,
    get stdout() {
      return stdout;
    },
  };
}

/** The environment for a CLI child: the caller's minus DATABASE_URL, plus `env`. */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.DATABASE_URL; // only the database the test chose
  return { ...base, LOG_LEVEL: 'warn', ...env };
}

/** `posteingang <args>` as a child process. */
export function runCli(args: string[], env: Record<string, string>, stdin?: string): Promise<Run> {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: cliEnv(env), stdin });
}
