import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AppContext } from '../context.js';
import * as repo from '../db/repositories/mailboxes.js';
import { MAILBOX_PROTOCOLS, MAILBOX_SECURITY, type Channel, type MailboxProtocol, type MailboxSecurity } from '../db/schema.js';
import { describeMailboxError } from '../inbound/mailbox/connection.js';
import { MailboxError, type MailboxAdapter, type MailboxSettings, type PollReport, type TestStep } from '../inbound/mailbox/types.js';
import { publish } from '../events.js';
import { checkCaFile } from './ca-file.js';
import { NotFoundError, ValidationError } from './errors.js';
import { hostName, parseChannel } from './validate.js';
import { describeError } from '../db/errors.js';

/** Protocol adapters by protocol; built in inbound/mailbox/adapters.ts. */
export type MailboxAdapters = Record<MailboxProtocol, MailboxAdapter>;

/** Default ports (RFC 8314 §7, RFC 3501, RFC 1939): implicit TLS 993/995, else 143/110. */
export function defaultPort(protocol: MailboxProtocol, security: MailboxSecurity): number {
  if (protocol === 'imap') return security === 'tls' ? 993 : 143;
  return security === 'tls' ? 995 : 110;
}

const DEFAULT_AFTER_IMPORT: Record<MailboxProtocol, string> = { imap: 'seen', pop3: 'delete' };

function checkAfterImport(protocol: MailboxProtocol, value: string): string {
  const v = value.trim();
  if (protocol === 'pop3') {
    if (v === 'delete' || v === 'keep') return v;
    throw new ValidationError('afterImport', `"${value}" is not an after-import action for POP3; use delete or keep`);
  }
  if (v === 'seen' || v === 'delete' || v === 'keep') return v;
  if (v.startsWith('move:') && v.slice(5).trim()) return `move:${v.slice(5).trim()}`;
  throw new ValidationError('afterImport', `"${value}" is not an after-import action for IMAP; use seen, move:<folder>, delete or keep`);
}

/**
 * An IMAP folder name as servers resolve it: trailing hierarchy separators ('/' or '.') dropped
 * (`INBOX/` is INBOX) and the INBOX prefix upper-cased, since INBOX is case-insensitive
 * (RFC 3501 §5.1); the rest compares exactly.
 */
function canonicalFolder(name: string): string {
  const trimmed = name.trim().replace(/[/.]+$/, '');
  return /^inbox(?=$|[/.])/i.test(trimmed) ? `INBOX${trimmed.slice(5)}` : trimmed;
}

function sameFolder(a: string, b: string): boolean {
  return canonicalFolder(a) === canonicalFolder(b);
}

function oneLine(value: string, field: string): string {
  if (/[\r\n\0]/.test(value)) throw new ValidationError(field, 'must be one line');
  return value;
}

export interface MailboxInput {
  protocol?: string;
  host?: string;
  port?: number | string;
  security?: string;
  username?: string;
  /** only set when given: an empty or missing value keeps the stored password */
  password?: string;
  folder?: string;
  afterImport?: string;
  /** path of a PEM CA file; empty string removes it */
  caFile?: string;
  tlsLegacy?: boolean;
  /** ISO date or date-time; empty string removes it */
  importSince?: string;
  enabled?: boolean;
}

/**
 * Creates or changes the mailbox of a channel (domain.md item 1). Unset fields keep their stored
 * value; a new mailbox needs protocol, host, user and password. The port defaults from protocol
 * and security. The password is stored encrypted (secrets.ts) and never returned.
 * @throws ValidationError naming the field and why
 */
export async function setMailbox(ctx: AppContext, channelName: string, input: MailboxInput): Promise<void> {
  const channel = parseChannel(channelName);
  const current = await repo.getMailbox(ctx.db, channel);
  const protocolValue = input.protocol ?? current?.protocol;
  if (!protocolValue) throw new ValidationError('protocol', 'a new mailbox needs a protocol: imap or pop3');
  if (!(MAILBOX_PROTOCOLS as readonly string[]).includes(protocolValue)) throw new ValidationError('protocol', `"${protocolValue}" is not imap or pop3`);
  const protocol = protocolValue as MailboxProtocol;
  const securityValue = input.security ?? current?.security ?? 'tls';
  if (!(MAILBOX_SECURITY as readonly string[]).includes(securityValue)) throw new ValidationError('security', `"${securityValue}" is not tls, starttls or none`);
  const security = securityValue as MailboxSecurity;
  const host = hostName(oneLine(input.host ?? current?.host ?? '', 'host'));
  let port: number;
  const portText = typeof input.port === 'string' ? input.port.trim() : input.port;
  if (portText !== undefined && portText !== '') {
    port = Number(portText);
    if (!/^\d+$/.test(String(portText)) || !Number.isInteger(port) || port < 1 || port > 65535) throw new ValidationError('port', `"${input.port}" is not a port (1–65535)`);
  } else if (portText === undefined && current && input.protocol === undefined && input.security === undefined) {
    port = current.port;
  } else {
    port = defaultPort(protocol, security);
  }
  const username = oneLine(input.username ?? current?.username ?? '', 'user');
  if (!username) throw new ValidationError('user', 'a user name is required');
  let passwordEncrypted = current?.passwordEncrypted;
  if (input.password) passwordEncrypted = ctx.secrets.encrypt(oneLine(input.password, 'password'), `mailbox:${channel}`);
  if (!passwordEncrypted) throw new ValidationError('password', 'a new mailbox needs a password');
  if (protocol === 'pop3' && input.folder !== undefined && input.folder.trim().toUpperCase() !== 'INBOX') {
    throw new ValidationError('folder', 'POP3 has no folders: the server hands out the one mailbox of the user; leave the folder out');
  }
  const folder = protocol === 'pop3' ? 'INBOX' : oneLine((input.folder ?? current?.folder ?? 'INBOX').trim(), 'folder');
  if (!folder) throw new ValidationError('folder', 'must not be empty');
  const keepAfter = current && (input.protocol === undefined || input.protocol === current.protocol);
  const afterImport = checkAfterImport(protocol, input.afterImport ?? (keepAfter ? current.afterImport : DEFAULT_AFTER_IMPORT[protocol]));
  if (afterImport.startsWith('move:') && sameFolder(afterImport.slice(5), folder)) {
    throw new ValidationError('afterImport', `"${afterImport}" moves each message into the folder being polled (${folder}), so it would be read again and again; choose another folder`);
  }
  let caFile = current?.caFile ?? null;
  if (input.caFile !== undefined) {
    caFile = await checkCaFile(input.caFile);
  }
  let importSince = current?.importSince ?? null;
  if (input.importSince !== undefined) {
    importSince = input.importSince.trim() ? new Date(input.importSince.trim()) : null;
    if (importSince && Number.isNaN(importSince.getTime())) throw new ValidationError('importSince', `"${input.importSince}" is not a date (YYYY-MM-DD)`);
  }
  await repo.upsertMailbox(ctx.db, {
    channel,
    protocol,
    host,
    port,
    security,
    username,
    passwordEncrypted,
    folder,
    afterImport,
    caFile,
    tlsLegacy: input.tlsLegacy ?? current?.tlsLegacy ?? false,
    importSince,
    enabled: input.enabled ?? current?.enabled ?? true,
  });
  await publish(ctx.database, 'mailbox.changed', { channel });
}

/** Key of a mailbox account for checkpoints, UIDLs and failures: `<protocol>://<username>@<host>:<port>`. */
function accountKey(row: Pick<repo.MailboxRow, 'protocol' | 'username' | 'host' | 'port'>): string {
  return `${row.protocol}://${row.username}@${row.host.toLowerCase()}:${row.port}`;
}

/**
 * The mailbox of a channel without its password, with its poll health and the messages left on
 * the server (too large, or failing with their reason); null when none is set.
 */
export async function showMailbox(ctx: AppContext, channel: Channel) {
  const row = await repo.getMailbox(ctx.db, channel);
  if (!row) return null;
  const { passwordEncrypted: _omit, ...visible } = row;
  const health = await repo.getHealth(ctx.db, channel);
  return {
    ...visible,
    // POP3 has no folders (RFC 1939): nothing to show
    folder: row.protocol === 'pop3' ? null : row.folder,
    hasPassword: true,
    health: health
      ? {
          lastPollAt: health.lastPollAt,
          lastSuccessAt: health.lastSuccessAt,
          lastError: health.lastError,
          lastErrorAt: health.lastErrorAt,
          consecutiveFailures: health.consecutiveFailures,
          importedTotal: health.importedTotal,
        }
      : null,
    leftOnServer: (await repo.listFailures(ctx.db, accountKey(row))).map((f) => ({ item: f.itemKey, reason: f.reason, permanent: f.permanent, attempts: f.attempts })),
  };
}

/**
 * The settings the adapters use, password decrypted and CA file read.
 * @throws NotFoundError when the channel has no mailbox; SecretError when the key changed
 */
export async function loadMailboxSettings(ctx: AppContext, channel: Channel): Promise<MailboxSettings> {
  const row = await repo.getMailbox(ctx.db, channel);
  if (!row) throw new NotFoundError(`channel ${channel} has no mailbox; set one with: mailbox set ${channel} --protocol …`);
  return {
    channel,
    protocol: row.protocol,
    host: row.host,
    port: row.port,
    security: row.security,
    username: row.username,
    password: ctx.secrets.decrypt(row.passwordEncrypted, `mailbox:${channel}`),
    folder: row.folder,
    afterImport: row.afterImport,
    ca: row.caFile ? await readCaFile(row.caFile) : null,
    tlsLegacy: row.tlsLegacy,
    importSince: row.importSince,
    account: accountKey(row),
  };
}

/** @throws MailboxError (step tls) naming the CA file when it cannot be read any more */
async function readCaFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new MailboxError('tls', `the CA file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set it again with --ca-file`);
  }
}

/**
 * How long a poll lease lasts, in seconds. A running poll renews it every LEASE_RENEW_SECONDS, so a
 * lease left by a crashed instance blocks the other instances for at most this long.
 */
export const LEASE_SECONDS = 90;
const LEASE_RENEW_SECONDS = 30;

/** A poll did not run because another gateway instance holds the mailbox's lease. */
export class LeaseHeldError extends Error {
  constructor(channel: Channel) {
    super(`another gateway instance is polling the ${channel} mailbox right now`);
    this.name = 'LeaseHeldError';
  }
}

/**
 * Polls the mailbox of a channel once, through the adapter for its protocol, holding the
 * channel's lease so that replicas never poll in parallel (renewed while the poll runs; a poll
 * whose lease was lost stops between batches); records the outcome in its health and counts
 * each new message as it is committed.
 * @param signal aborting it stops the poll between two batches (shutdown, changed settings)
 * @throws NotFoundError (no mailbox), LeaseHeldError, MailboxError (with plain words) on failure
 */
export async function pollMailbox(ctx: AppContext, adapters: MailboxAdapters, channel: Channel, signal?: AbortSignal): Promise<PollReport> {
  let settings: MailboxSettings;
  try {
    settings = await loadMailboxSettings(ctx, channel);
  } catch (err) {
    if (err instanceof MailboxError) await repo.recordPoll(ctx.db, channel, { ok: false, error: `${err.step}: ${err.message}` });
    throw err;
  }
  if (!(await repo.takeLease(ctx.db, channel, ctx.instanceId, LEASE_SECONDS))) throw new LeaseHeldError(channel);
  const log = ctx.log.child({ component: settings.protocol, channel });
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) stop.abort();
  const renew = setInterval(() => {
    repo.takeLease(ctx.db, channel, ctx.instanceId, LEASE_SECONDS).then(
      (held) => {
        if (!held && !stop.signal.aborted) {
          log.warn('the poll lease was taken over by another instance; stopping this poll');
          stop.abort();
        }
      },
      (err: Error) => log.warn({ err: describeError(err) }, 'could not renew the poll lease'),
    );
  }, LEASE_RENEW_SECONDS * 1000);
  const counted: AppContext = {
    ...ctx,
    // the imported count commits with the message (one transaction, one flush)
    ingest: (raw, source, also) =>
      ctx.ingest(raw, source, async (tx, result) => {
        if (!result.duplicate) await repo.countImported(tx, channel);
        await also?.(tx, result);
      }),
    ingestBatch: (items, also) =>
      ctx.ingestBatch(items, async (tx, results) => {
        const fresh = results.filter((r) => !(r instanceof Error) && !r.duplicate).length;
        if (fresh > 0) await repo.countImported(tx, channel, fresh);
        await also?.(tx, results);
      }),
  };
  try {
    const report = await adapters[settings.protocol].poll(settings, { ctx: counted, log, maxBytes: ctx.config.SMTP_MAX_MESSAGE_BYTES, signal: stop.signal });
    await repo.recordPoll(ctx.db, channel, { ok: true });
    log.info({ ...report }, 'mailbox polled');
    return report;
  } catch (err) {
    const error = describeMailboxError(err, 'fetch');
    await repo.recordPoll(ctx.db, channel, { ok: false, error: `${error.step}: ${error.message}` });
    log.warn({ step: error.step, err: error.message }, 'mailbox poll failed');
    throw error;
  } finally {
    clearInterval(renew);
    signal?.removeEventListener('abort', onAbort);
    await repo.releaseLease(ctx.db, channel, ctx.instanceId);
  }
}

/**
 * Tests the connection of a channel's mailbox step by step (connect → TLS → login → folder →
 * fetch): the same adapters the scheduler uses. Never throws for a server problem.
 * @throws NotFoundError when the channel has no mailbox
 */
export async function testMailbox(ctx: AppContext, adapters: MailboxAdapters, channel: Channel): Promise<TestStep[]> {
  let settings: MailboxSettings;
  try {
    settings = await loadMailboxSettings(ctx, channel);
  } catch (err) {
    if (err instanceof MailboxError) return [{ step: err.step, ok: false, detail: err.message }];
    throw err;
  }
  const log = ctx.log.child({ component: settings.protocol, channel });
  return adapters[settings.protocol].test(settings, { ctx, log, maxBytes: ctx.config.SMTP_MAX_MESSAGE_BYTES });
}
