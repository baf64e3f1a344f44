/**
 * Helpers for the SMTP receiver tests: a raw SMTP socket client, a nodemailer sender, a TCP proxy
 * that can cut the database connection, corpus fixtures, and database setup through the services.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { asc, eq } from 'drizzle-orm';
import nodemailer from 'nodemailer';
import type { Db } from '../../src/db/client.js';
import { attachment, message, receipt, task } from '../../src/db/schema.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { isQueuedReply, queuesDrained } from '../helpers/env.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(here, '../fixtures');
export const REPO_ROOT = path.resolve(here, '../..');

/** The bytes of a corpus file in test/fixtures. */
export function fixture(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export const SCAN = 'scan@agency.example';
export const TAUOFFICE = 'tauoffice@agency.example';
export const SCANNER_SENDER = 'scanner-2og@agency.example';
export const STAFF_LOGIN = 'mmuster';
export const STAFF_EMAIL = 'max.muster@agency.example';

/**
 * The set-up an office would make: scan@ → scanner, tauoffice@ → general; the 2nd-floor scanner
 * as an external staff record; Max Muster (login mmuster) gets its scans.
 * @returns the id of the staff member with the login
 */
export async function setupOffice(db: Db): Promise<{ staffId: number }> {
  await addInboundAddress(db, SCAN, 'scanner');
  await addInboundAddress(db, TAUOFFICE, 'general');
  await addStaff(db, { name: 'Scanner, 2. OG', email: SCANNER_SENDER, external: true });
  const person = await addStaff(db, { name: 'Muster, Max', email: STAFF_EMAIL, login: STAFF_LOGIN });
  await addMapping(db, SCANNER_SENDER, STAFF_LOGIN);
  return { staffId: person.id };
}

/** All stored messages, tasks, receipts and attachments, in id order. */
export async function snapshot(db: Db) {
  const messages = await db.select().from(message).orderBy(asc(message.id));
  const tasks = await db.select().from(task).orderBy(asc(task.id));
  const receipts = await db.select().from(receipt).orderBy(asc(receipt.id));
  const attachments = await db.select().from(attachment).orderBy(asc(attachment.id));
  return { messages, tasks, receipts, attachments };
}

export async function attachmentsOf(db: Db, messageId: number) {
  return db.select().from(attachment).where(eq(attachment.messageId, messageId)).orderBy(asc(attachment.position));
}

// ---------------------------------------------------------------------------------------------
// nodemailer

export interface SendOutcome {
  ok: boolean;
  /** SMTP reply code of the final answer (the DATA reply on success, the failing one otherwise) */
  code: number | undefined;
  /** the reply line(s) as nodemailer reports them */
  response: string;
  accepted: string[];
  rejected: string[];
  error?: Error & { code?: string; responseCode?: number; response?: string; permanent?: boolean; command?: string };
}

/**
 * Sends raw message bytes with nodemailer, one connection per call, the way a client library
 * would: `raw` plus an explicit envelope. Never throws for an SMTP refusal; returns it.
 */
export async function sendRaw(port: number, envelope: { from: string; to: string[] }, raw: Buffer): Promise<SendOutcome> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await transport.sendMail({ envelope, raw });
    const response = String(info.response ?? '');
    if (isQueuedReply(Number(response.slice(0, 3)), response)) await queuesDrained();
    return {
      ok: true,
      code: Number(response.slice(0, 3)),
      response,
      accepted: (info.accepted ?? []).map(String),
      rejected: (info.rejected ?? []).map(String),
    };
  } catch (e) {
    const error = e as SendOutcome['error'] & { rejected?: unknown[] };
    return {
      ok: false,
      code: error!.responseCode,
      response: String(error!.response ?? error!.message),
      accepted: [],
      rejected: (error!.rejected ?? []).map(String),
      error: error!,
    };
  } finally {
    transport.close();
  }
}

// ---------------------------------------------------------------------------------------------
// raw SMTP dialogue

export interface Reply {
  code: number;
  /** each line without the code and separator, e.g. `SIZE 52428800` */
  lines: string[];
  /** the reply as received, lines joined by \n */
  text: string;
}

/**
 * A line-oriented SMTP client over a plain socket (RFC 5321 §4.2: a reply is one or more lines
 * `ddd-text`, the last one `ddd text`). Used where the exact dialogue matters.
 */
export class SmtpDialogue {
  private buffer = '';
  private replies: Reply[] = [];
  private waiters: { resolve(r: Reply): void; reject(e: Error): void }[] = [];
  private pending: string[] = [];
  private ended = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const end = () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed before a complete reply'));
    };
    socket.on('close', end);
    socket.on('error', () => {});
  }

  /** Connects and reads the greeting. */
  static async open(port: number, host = '127.0.0.1'): Promise<{ smtp: SmtpDialogue; greeting: Reply }> {
    const socket = net.connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const smtp = new SmtpDialogue(socket);
    const greeting = await smtp.next();
    return { smtp, greeting };
  }

  private onData(chunk: Buffer) {
    this.buffer += chunk.toString('latin1');
    let i: number;
    while ((i = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      this.pending.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const reply: Reply = {
          code: Number(line.slice(0, 3)),
          lines: this.pending.map((l) => l.slice(4)),
          text: this.pending.join('\n'),
        };
        this.pending = [];
        const w = this.waiters.shift();
        if (w) w.resolve(reply);
        else this.replies.push(reply);
      }
    }
  }

  /** The next complete reply; after a `250 … queued as …`, once the in-process queues are drained. */
  async next(): Promise<Reply> {
    const reply = await this.nextReply();
    if (isQueuedReply(reply.code, reply.text)) await queuesDrained();
    return reply;
  }

  private nextReply(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Sends one command line (CRLF appended) and reads its reply. */
  async command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.next();
  }

  /**
   * Sends message bytes after a 354: dot-stuffed (RFC 5321 §4.5.2), CRLF appended when missing,
   * then `.` CRLF; reads the reply.
   */
  async message(bytes: Buffer): Promise<Reply> {
    this.socket.write(dotStuff(bytes));
    return this.next();
  }

  async quit(): Promise<void> {
    if (!this.ended) {
      try {
        await this.command('QUIT');
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

/** The DATA payload for `bytes`: leading dots doubled, a final CRLF ensured (unless empty), end marker appended. */
export function dotStuff(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let lineStart = true;
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (lineStart && bytes[i] === 0x2e) {
      parts.push(bytes.subarray(start, i), Buffer.from('.'));
      start = i;
    }
    lineStart = bytes[i] === 0x0a;
  }
  parts.push(bytes.subarray(start));
  const endsWithCrlf = bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a;
  parts.push(Buffer.from(endsWithCrlf || bytes.length === 0 ? '.\r\n' : '\r\n.\r\n'));
  return Buffer.concat(parts);
}

/** One whole transaction over a raw socket; returns every reply. */
export async function rawTransaction(
  port: number,
  opts: { helo?: string; from: string; to: string[]; data: Buffer },
): Promise<{ greeting: Reply; ehlo: Reply; mail: Reply; rcpt: Reply[]; data?: Reply; final?: Reply }> {
  const { smtp, greeting } = await SmtpDialogue.open(port);
  try {
    const ehlo = await smtp.command(`EHLO ${opts.helo ?? 'test-client.agency.example'}`);
    const mail = await smtp.command(`MAIL FROM:<${opts.from}>`);
    const rcpt: Reply[] = [];
    for (const r of opts.to) rcpt.push(await smtp.command(`RCPT TO:<${r}>`));
    if (!rcpt.some((r) => r.code === 250)) return { greeting, ehlo, mail, rcpt };
    const data = await smtp.command('DATA');
    if (data.code !== 354) return { greeting, ehlo, mail, rcpt, data };
    const final = await smtp.message(opts.data);
    return { greeting, ehlo, mail, rcpt, data, final };
  } finally {
    await smtp.quit();
  }
}

// ---------------------------------------------------------------------------------------------
// messages

let counter = 0;

/** A small, unique RFC 5322 message with CRLF line endings. */
export function simpleMessage(opts: { from?: string; to?: string; subject?: string; body?: string } = {}): Buffer {
  counter++;
  const id = `${process.pid}.${Date.now()}.${counter}`;
  return Buffer.from(
    [
      `From: ${opts.from ?? `"Scanner 2. OG" <${SCANNER_SENDER}>`}`,
      `To: ${opts.to ?? SCAN}`,
      `Subject: ${opts.subject ?? `Test ${id}`}`,
      'Date: Mon, 01 Mar 2021 09:00:00 +0100',
      `Message-ID: <${id}@test.agency.example>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      opts.body ?? `Message ${id}`,
      '',
    ].join('\r\n'),
  );
}

/**
 * A small but well-formed one-page PDF whose text is `label`; offsets in the xref table are
 * computed so that readers accept it.
 */
export function makePdf(label: string): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    (() => {
      const stream = `BT /F1 12 Tf 72 720 Td (${label.replace(/[()\\]/g, '')}) Tj ET`;
      return `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
    })(),
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// a TCP proxy that can be cut

/**
 * Forwards 127.0.0.1:<port> to a target. `cut()` destroys every open connection and refuses new
 * ones (accepted, then reset at once), so the client sees the server as unreachable; `restore()`
 * forwards again. The listening port stays the same throughout.
 * `cutOn(pattern, direction)` arms a cut for the moment bytes containing `pattern` pass:
 * `toServer`: the client's bytes never reach the server (e.g. the text of an SQL statement);
 * `toClient`: the server acted on the request, but its answer (e.g. PostgreSQL's CommandComplete
 * tag `COMMIT`) never reaches the client.
 */
export async function startProxy(targetHost: string, targetPort: number) {
  const open = new Set<net.Socket>();
  let refusing = false;
  let trigger: { pattern: Buffer; direction: 'toServer' | 'toClient'; fired(): void } | null = null;

  const cut = () => {
    refusing = true;
    for (const s of open) s.resetAndDestroy();
    open.clear();
  };

  /** Copies from → to, unless the armed trigger matches in this direction: then cuts everything. */
  const forward = (from: net.Socket, to: net.Socket, direction: 'toServer' | 'toClient') => {
    from.on('data', (chunk: Buffer) => {
      const t = trigger;
      if (t && t.direction === direction && chunk.includes(t.pattern)) {
        trigger = null;
        cut();
        t.fired();
        return;
      }
      if (!to.destroyed && !to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  };

  const server = net.createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: targetHost, port: targetPort });
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    forward(client, upstream, 'toServer');
    forward(upstream, client, 'toClient');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut,
    /** @returns a promise that resolves once the cut happened */
    cutOn(pattern: string, direction: 'toServer' | 'toClient'): Promise<void> {
      return new Promise((resolve) => {
        trigger = { pattern: Buffer.from(pattern), direction, fired: resolve };
      });
    },
    restore() {
      refusing = false;
      trigger = null;
    },
    async close() {
      for (const s of open) s.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
