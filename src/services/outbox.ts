import { simpleParser, type AddressObject } from 'mailparser';
import type { AppContext } from '../context.js';
import { readBlob } from '../db/blobs.js';
import { getMessage } from '../db/repositories/messages.js';
import * as repo from '../db/repositories/outbox.js';
import { OUTBOX_STATES, type OutboxState } from '../db/schema.js';
import { safeFilename } from '../ingest/filename.js';
import { rawFromBuffer } from '../ingest/raw.js';
import { composeMessage, LINE_BREAK, newMessageId, oneLine, parseAddresses } from '../outbound/compose.js';
import { OUTBOX_NOTIFY_CHANNEL } from '../outbound/outbox.js';
import { ForbiddenError, NotFoundError, ValidationError } from './errors.js';
import { attachmentContent } from './messages.js';
import { checkRecipientLimit, getSendLimits, holdSendRate } from './send-limits.js';
import { loadSmtpAccount } from './smtp-account.js';
import { getTask, type Actor } from './task-actions.js';

/** An attachment of a new message: a stored one (of a message the sender may see) or uploaded as base64. */
export type AttachmentInput = { attachmentId: number } | { filename: string; contentType?: string; contentBase64: string };

export interface OutgoingInput {
  to?: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  subject: string;
  text: string;
  html?: string | null;
  attachments?: AttachmentInput[];
}

/** What an outbox entry looks like to callers (CLI, API, admin). */
export function outboxView(row: repo.OutboxRow) {
  return {
    id: row.id,
    state: row.state,
    messageId: row.messageIdHeader,
    from: row.envelopeFrom,
    to: row.toAddresses,
    recipients: row.envelopeTo,
    subject: row.subject,
    size: row.size,
    attempts: row.attempts,
    recoveries: row.recoveries,
    nextAttemptAt: row.state === 'queued' ? row.nextAttemptAt : null,
    lastAttemptAt: row.lastAttemptAt,
    lastReply: row.lastReply,
    sentAt: row.sentAt,
    taskId: row.taskId,
    replyToMessageId: row.replyToMessageId,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}
export type OutboxView = ReturnType<typeof outboxView>;

const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

async function loadAttachments(ctx: AppContext, actor: Actor, inputs: AttachmentInput[]) {
  const out: { filename: string; contentType: string; content: Buffer }[] = [];
  for (const [i, a] of inputs.entries()) {
    const field = `attachments.${i}`;
    if ('attachmentId' in a) {
      const viewer = actor.id === null ? undefined : { id: actor.id, role: actor.role };
      const { attachment, chunks } = await attachmentContent(ctx.db, a.attachmentId, viewer).catch((err: Error) => {
        throw err instanceof NotFoundError ? new ValidationError(`${field}.attachmentId`, err.message) : err;
      });
      const parts: Buffer[] = [];
      for await (const c of chunks) parts.push(c);
      out.push({ filename: attachment.filename, contentType: attachment.contentType, content: Buffer.concat(parts) });
    } else {
      const filename = safeFilename(oneLine(a.filename ?? '', `${field}.filename`), i + 1);
      const contentType = (a.contentType ?? 'application/octet-stream').trim();
      if (!CONTENT_TYPE.test(contentType)) throw new ValidationError(`${field}.contentType`, `"${contentType}" is not a content type such as application/pdf`);
      const b64 = (a.contentBase64 ?? '').replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new ValidationError(`${field}.contentBase64`, 'is not base64');
      out.push({ filename, contentType, content: Buffer.from(b64, 'base64') });
    }
  }
  return out;
}

interface EnqueueExtra {
  inReplyTo?: string | null;
  references?: string[];
  headers?: Record<string, string>;
  taskId?: number;
  replyToMessageId?: number;
  /** default To when the input names none (a reply: the original's Reply-To or From) */
  defaultTo?: string;
  /** the gateway's own automatic reply: not held to the sending limits */
  automatic?: boolean;
}

async function enqueue(ctx: AppContext, actor: Actor, input: OutgoingInput, extra: EnqueueExtra = {}): Promise<OutboxView> {
  let to: ReturnType<typeof parseAddresses>;
  try {
    to = parseAddresses(input.to ?? extra.defaultTo, 'to');
  } catch (err) {
    // the original's sender, not anything the user typed: say so
    if (!(err instanceof ValidationError) || input.to) throw err;
    throw new ValidationError('to', `the sender of the original message cannot be replied to as it is (${err.message}); give the recipient with "to"`);
  }
  const cc = parseAddresses(input.cc, 'cc');
  const bcc = parseAddresses(input.bcc, 'bcc');
  if (to.length + cc.length + bcc.length === 0) throw new ValidationError('to', 'at least one recipient is required');
  const envelopeTo = [...new Set([...to, ...cc, ...bcc].map((a) => a.address))];
  // a person is held to the sending limits; the local operator and automatic replies are not
  const limited = actor.id !== null && !extra.automatic;
  const limits = limited ? await getSendLimits(ctx.db) : null;
  if (limits) checkRecipientLimit(limits, envelopeTo.length);
  if (typeof input.subject !== 'string') throw new ValidationError('subject', 'is required');
  const subject = oneLine(input.subject, 'subject');
  if (typeof input.text !== 'string') throw new ValidationError('text', 'is required');
  const attachments = await loadAttachments(ctx, actor, input.attachments ?? []);
  let account;
  try {
    account = await loadSmtpAccount(ctx);
  } catch (err) {
    if (err instanceof NotFoundError) throw new ValidationError('smtp', err.message);
    throw err;
  }
  const messageId = newMessageId(account.from.address);
  const bytes = await composeMessage({
    from: account.from,
    to,
    cc,
    subject,
    text: input.text,
    html: input.html,
    attachments,
    messageId,
    inReplyTo: extra.inReplyTo,
    references: extra.references,
    headers: extra.headers,
  });
  if (bytes.length > ctx.config.SMTP_MAX_MESSAGE_BYTES) {
    throw new ValidationError('attachments', `the message would be ${bytes.length} bytes, more than SMTP_MAX_MESSAGE_BYTES (${ctx.config.SMTP_MAX_MESSAGE_BYTES})`);
  }
  const row = await repo.insertOutbox(
    ctx.db,
    rawFromBuffer(bytes),
    {
      messageIdHeader: messageId,
      envelopeFrom: account.from.address,
      envelopeTo,
      toAddresses: to.map((a) => a.address).join(', '),
      subject,
      taskId: extra.taskId ?? null,
      replyToMessageId: extra.replyToMessageId ?? null,
      createdBy: actor.id,
    },
    extra.taskId ? { taskId: extra.taskId, actorId: actor.id, action: 'replied' } : undefined,
    limits && actor.id !== null ? (tx) => holdSendRate(tx, actor.id!, limits) : undefined,
  );
  ctx.log.info({ component: 'outbox', outboxId: row.id, messageId, recipients: row.envelopeTo.length, size: row.size }, 'message queued');
  await ctx.database.notify(OUTBOX_NOTIFY_CHANNEL, String(row.id)).catch(() => {});
  return outboxView(row);
}

/**
 * Queues a new message for sending through the central account (issue 7 item 3). The message
 * is built at once (Message-ID fixed, RFC 5322 §3.6.4) and stored; the outbox worker sends it.
 * Addresses are parsed with nodemailer's addressparser; a line break in any header value
 * (to, cc, bcc, subject, file name) is refused. A person (not the local operator) is held to the
 * sending limits (services/send-limits.ts): recipients per message and messages per minute.
 * @param actor who queues it (staff: stored attachments only of messages they may see)
 * @returns the outbox entry, state `queued`
 * @throws ValidationError naming the field (`to`, `cc`, `bcc`, `subject`, `text`, `attachments.N…`,
 *   `smtp` when no account is set; `recipients` with code `send-too-many-recipients` above the
 *   recipient limit); RateLimitError (code `send-rate-exceeded`, `retryAfterSeconds`) when the
 *   person has queued the most messages allowed within the last minute
 */
export function enqueueMessage(ctx: AppContext, actor: Actor, input: OutgoingInput): Promise<OutboxView> {
  return enqueue(ctx, actor, input);
}

/** Reply prefixes a subject may already carry: AW (German), RE (RFC 5322 §3.6.5), case as it comes, with counters like `Re[2]:`. */
const REPLY_PREFIX = /^\s*(?:aw|re|antw|antwort)\s*(?:\[\d+\])?\s*:\s*/i;

/** "AW: " + the subject without the reply prefixes it had (never "AW: AW: …"). */
export function replySubject(subject: string | null): string {
  let s = subject ?? '';
  while (REPLY_PREFIX.test(s)) s = s.replace(REPLY_PREFIX, '');
  return `AW: ${s.trim()}`;
}

/** The header section of a stored message, parsed (only the first stored chunk is read). */
async function originalHeaders(ctx: AppContext, sha256: string) {
  const blob = await readBlob(ctx.db, sha256);
  if (!blob) return null;
  let head: Buffer | undefined;
  for await (const chunk of blob.chunks) {
    head = chunk;
    break;
  }
  if (!head) return null;
  const text = head.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return simpleParser(end >= 0 ? head.subarray(0, end) : head, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
}

const addressesOf = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : [])
    .flatMap((o) => o.value)
    .flatMap((v) => v.group ?? [v])
    .filter((v) => v.address);

/**
 * Replies to the message of a task (issue 7 item 3): To the original's Reply-To or else its
 * From (RFC 5322 §3.6.3) unless `input.to` names others; `In-Reply-To` the original's
 * Message-ID and `References` its References plus its Message-ID (RFC 5322 §3.6.4); subject
 * "AW: " + the decoded original subject without doubled prefixes, unless `input.subject` is given.
 * Loop protection (RFC 3834 §2): an automatic reply (`opts.automatic`) to a message flagged
 * as bounce, auto-submitted, list or bulk mail is refused; a person's reply is allowed. Automatic
 * replies carry `Auto-Submitted: auto-replied` and are not held to the sending limits; a
 * person's reply is (recipients per message, messages per minute: see enqueueMessage).
 * @throws NotFoundError unknown or invisible task; ForbiddenError automatic reply to automated
 *   mail; ValidationError naming the field (an address or subject from the original with a line
 *   break in it is refused; `recipients` above the recipient limit); RateLimitError above the
 *   per-minute limit
 */
export async function replyToTask(
  ctx: AppContext,
  actor: Actor,
  taskId: number,
  input: Omit<OutgoingInput, 'subject'> & { subject?: string },
  opts: { automatic?: boolean } = {},
): Promise<OutboxView> {
  const task = await getTask(ctx.db, actor, taskId);
  const original = await getMessage(ctx.db, task.messageId);
  if (!original) throw new NotFoundError(`the message of task ${taskId} is missing`);
  const automated = await repo.messageAutomated(ctx.db, original.id);
  if (opts.automatic && automated) {
    throw new ForbiddenError(`no automatic reply to message ${original.id}: it is ${automated} mail (RFC 3834); a person may still reply`);
  }
  const headers = await originalHeaders(ctx, original.sha256);
  const replyTo = addressesOf(headers?.replyTo);
  const from = replyTo.length ? replyTo : addressesOf(headers?.from);
  // the original's addresses go through the same checks as typed ones (a line break is refused,
  // enqueue says it came from the original); display names quoted (RFC 5322 §3.2.4), so that a
  // comma or an @ in a name stays part of it
  const defaultTo = from.map((a) => `${a.name ? `"${a.name.replace(/["\\]/g, '')}" ` : ''}<${a.address}>`).join(', ') || undefined;
  if (!input.to && !defaultTo) throw new ValidationError('to', `message ${original.id} has no sender address to reply to`);
  const parentId = original.messageIdHeader ? oneLine(original.messageIdHeader, 'inReplyTo') : null;
  const prior = headers?.references ? (Array.isArray(headers.references) ? headers.references : headers.references.split(/\s+/)).filter(Boolean) : [];
  const references = parentId ? [...prior.filter((r) => r !== parentId), parentId] : prior;
  const subject = input.subject ?? replySubject(original.subject);
  if (input.subject === undefined && LINE_BREAK.test(subject)) {
    throw new ValidationError('subject', `the subject of the original message contains a line break, which may not go into a header; give a subject with "subject"`);
  }
  return enqueue(
    ctx,
    actor,
    { ...input, subject },
    {
      inReplyTo: parentId,
      references: references.map((r) => oneLine(r, 'references')),
      headers: opts.automatic ? { 'Auto-Submitted': 'auto-replied' } : undefined,
      taskId,
      replyToMessageId: original.id,
      defaultTo,
      automatic: opts.automatic,
    },
  );
}

/**
 * The stored row of an outbox entry the actor may see: staff only what they queued.
 * @throws NotFoundError unknown id, or one the actor may not see (the same answer)
 */
export async function visibleOutboxRow(ctx: AppContext, actor: Actor, id: number): Promise<repo.OutboxRow> {
  const row = await repo.getOutbox(ctx.db, id);
  if (!row || (actor.id !== null && actor.role !== 'admin' && row.createdBy !== actor.id)) throw new NotFoundError(`no outbox message with id ${id}`);
  return row;
}

/** An outbox entry; staff see only what they queued. @throws NotFoundError */
export async function showOutbox(ctx: AppContext, actor: Actor, id: number): Promise<OutboxView> {
  return outboxView(await visibleOutboxRow(ctx, actor, id));
}

/**
 * Outbox entries, newest first (admin page, `outbox list`).
 * @param states only these states (default all) @throws ValidationError (field `state`)
 */
export async function listOutbox(ctx: AppContext, opts: { states?: string[]; limit?: number; offset?: number } = {}): Promise<OutboxView[]> {
  for (const s of opts.states ?? []) {
    if (!(OUTBOX_STATES as readonly string[]).includes(s)) throw new ValidationError('state', `"${s}" is not one of: ${OUTBOX_STATES.join(', ')}`);
  }
  const rows = await repo.listOutbox(ctx.db, { states: opts.states as OutboxState[] | undefined, limit: opts.limit ?? 100, offset: opts.offset ?? 0 });
  return rows.map(outboxView);
}

/**
 * Queues a failed message again (admin "retry"), with a fresh count of attempts and the same
 * Message-ID; the workers are woken.
 * @throws NotFoundError unknown id; ValidationError (field `state`) when it is not failed
 */
export async function retryOutbox(ctx: AppContext, id: number): Promise<OutboxView> {
  const row = await repo.requeueFailed(ctx.db, id);
  if (!row) {
    const existing = await repo.getOutbox(ctx.db, id);
    if (!existing) throw new NotFoundError(`no outbox message with id ${id}`);
    throw new ValidationError('state', `message ${id} is ${existing.state}; only failed messages can be retried`);
  }
  ctx.log.info({ component: 'outbox', outboxId: id }, 'message queued again');
  await ctx.database.notify(OUTBOX_NOTIFY_CHANNEL, String(id)).catch(() => {});
  return outboxView(row);
}
