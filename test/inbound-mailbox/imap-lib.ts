/**
 * Helpers of the IMAP adapter tests: settings for a harness account, messages built here,
 * database counts, a counting wrapper around ctx.ingest, and a TCP proxy that records what the
 * client sends and can freeze its connections (a silently dead network).
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { count } from 'drizzle-orm';
import type { AppContext } from '../../src/context.js';
import { message, mailboxFailure, task } from '../../src/db/schema.js';
import type { RawMessage } from '../../src/ingest/raw.js';
import type { Source } from '../../src/ingest/source.js';
import type { MailboxSettings, PollDeps } from '../../src/inbound/mailbox/types.js';
import { createLogger } from '../../src/log.js';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Settings for `user` on a server at 127.0.0.1 (account key as loadMailboxSettings builds it). */
export function imapSettings(o: { port: number; user: string; password: string; security?: MailboxSettings['security']; ca?: string | null } & Partial<MailboxSettings>): MailboxSettings {
  const { port, user, password, security = 'tls', ca = null, ...rest } = o;
  return {
    channel: 'scanner',
    protocol: 'imap',
    host: '127.0.0.1',
    port,
    security,
    username: user,
    password,
    folder: 'INBOX',
    afterImport: 'seen',
    ca,
    tlsLegacy: false,
    importSince: null,
    account: `imap://${user}@127.0.0.1:${port}`,
    ...rest,
  };
}

export function pollDeps(ctx: AppContext, maxBytes = 10 * 1024 * 1024): PollDeps {
  return { ctx, log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), maxBytes };
}

/** One small RFC 5322 message with CRLF line ends (as IMAP serves them), unique by `n` and `tag`. */
export function mail(n: number, tag = 'imap', extra = ''): Buffer {
  return Buffer.from(
    [
      'From: Scanner 2.OG <scanner-2og@agency.example>',
      'To: scan@agency.example',
      `Subject: Scan ${tag} ${n}`,
      'Date: Tue, 02 Mar 2021 10:00:00 +0100',
      `Message-ID: <${tag}-${n}@scanner.agency.example>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      `Seite ${n} von ${tag}: Grüße aus dem Scanner.${extra}`,
      '',
    ].join('\r\n'),
  );
}

export async function counts(ctx: AppContext): Promise<{ messages: number; tasks: number; failures: number }> {
  const [m] = await ctx.db.select({ n: count() }).from(message);
  const [t] = await ctx.db.select({ n: count() }).from(task);
  const [f] = await ctx.db.select({ n: count() }).from(mailboxFailure);
  return { messages: Number(m!.n), tasks: Number(t!.n), failures: Number(f!.n) };
}

/** SHA-256 of every stored raw message, sorted. */
export async function storedHashes(ctx: AppContext): Promise<string[]> {
  const rows = await ctx.db.select({ h: message.rawSha256 }).from(message);
  return rows.map((r) => r.h).sort();
}

/**
 * A context that counts the messages handed to ingest (one per `ingest` call, one per item of an
 * `ingestBatch` call) and optionally runs `after` once each call resolved, with the count so far
 * (throwing there: a failure right after the commit).
 */
export function countingIngest(ctx: AppContext, after?: (messages: number) => Promise<void> | void): { ctx: AppContext; calls(): number } {
  let n = 0;
  const wrapped: AppContext = {
    ...ctx,
    async ingest(raw, source, also) {
      const result = await ctx.ingest(raw, source, also);
      n++;
      await after?.(n);
      return result;
    },
    async ingestBatch(items, also) {
      const results = await ctx.ingestBatch(items, also);
      n += items.length;
      await after?.(n);
      return results;
    },
  };
  return { ctx: wrapped, calls: () => n };
}

/**
 * A context in which the messages `pick` chooses cannot be read while they are stored (their
 * bytes' stream fails, as a spool file that vanished would), in a batch and alone: a real failure
 * of one message inside ingest, the others of its batch untouched.
 */
export function failingFor(ctx: AppContext, pick: (source: Source) => boolean): AppContext {
  const broken = (raw: RawMessage): RawMessage => ({
    ...raw,
    open: () => new Readable({ read() { this.destroy(new Error('the spooled bytes cannot be read')); } }),
  });
  return {
    ...ctx,
    ingest: (raw, source, also) => ctx.ingest(pick(source) ? broken(raw) : raw, source, also),
    ingestBatch: (items, also) => ctx.ingestBatch(items.map((i) => (pick(i.source) ? { ...i, raw: broken(i.raw) } : i)), also),
  };
}

export interface Proxy {
  port: number;
  /** connections accepted so far */
  connections(): number;
  /** everything the clients sent, all connections in order, as Latin-1 text */
  clientText(): string;
  /** forget what was recorded */
  reset(): void;
  /** existing connections stop forwarding in both directions, sockets stay open (new ones work) */
  freeze(): void;
  /** closes every existing connection (as a server restart would) */
  dropAll(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to `targetPort`, recording the client's bytes. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  let accepted = 0;
  let recorded: Buffer[] = [];
  const live = new Set<{ frozen: boolean; a: net.Socket; b: net.Socket }>();
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair = { frozen: false, a: client, b: upstream };
    live.add(pair);
    client.on('data', (d) => {
      if (pair.frozen) return;
      recorded.push(d);
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!pair.frozen) client.write(d);
    });
    const end = () => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    clientText: () => Buffer.concat(recorded).toString('latin1'),
    reset: () => {
      recorded = [];
    },
    freeze: () => {
      for (const p of live) p.frozen = true;
    },
    dropAll: () => {
      for (const p of live) {
        p.a.destroy();
        p.b.destroy();
      }
    },
    async close() {
      for (const p of live) {
        p.a.destroy();
        p.b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves when `cond()` holds, polling every 50 ms; rejects after `ms` with `what`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
