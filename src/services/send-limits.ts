import type { AppContext } from '../context.js';
import type { Db, Tx } from '../db/client.js';
import * as repo from '../db/repositories/send-limits.js';
import { RateLimitError, ValidationError } from './errors.js';

/**
 * Limits on what a person sends through the central account (issue 14): recipients per message
 * (To, Cc and Bcc together, as they go into the envelope) and messages queued per minute per
 * person. They hold for every staff member, admins included; the local operator (CLI, no person)
 * and the gateway's own automatic replies are not limited. Admins set them on the settings page
 * (Versand), with `PATCH /api/v1/send-limits` or `posteingang smtp limits set`.
 */
export interface SendLimits {
  /** recipients (To, Cc and Bcc together) one message may have */
  maxRecipients: number;
  /** messages one person may queue within a minute (a sliding window of 60 s) */
  maxPerMinute: number;
  /** when an admin last changed them; null while the defaults apply */
  updatedAt: Date | null;
}

/** The defaults while no admin has set limits (the same as the column defaults of `send_limit`). */
export const DEFAULT_SEND_LIMITS = { maxRecipients: 50, maxPerMinute: 10 } as const;

/** The bounds an admin may choose within, by field (whole numbers, inclusive). */
export const SEND_LIMIT_BOUNDS = {
  maxRecipients: { min: 1, max: 1000 },
  maxPerMinute: { min: 1, max: 1000 },
} as const;

export type SendLimitField = keyof typeof SEND_LIMIT_BOUNDS;

/** The window of the per-minute limit, in seconds. */
export const SEND_RATE_WINDOW_SECONDS = 60;

/**
 * The limits in force: the stored ones, or the defaults when none were set.
 * @returns whole numbers (recipients, messages per minute) and when they were set
 */
export async function getSendLimits(db: Db | Tx): Promise<SendLimits> {
  const row = await repo.getSendLimitRow(db);
  return row ? { maxRecipients: row.maxRecipients, maxPerMinute: row.maxPerMinute, updatedAt: row.updatedAt } : { ...DEFAULT_SEND_LIMITS, updatedAt: null };
}

/**
 * One limit as entered: a whole number (a number, or digits as text) within its bounds.
 * @throws ValidationError naming `field`, code `send-limit-invalid` with {value, min, max}
 */
export function parseSendLimit(field: SendLimitField, value: unknown): number {
  const { min, max } = SEND_LIMIT_BOUNDS[field];
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const n = typeof value === 'number' ? value : /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    const shown = typeof value === 'number' || typeof value === 'string' ? text : JSON.stringify(value) ?? '';
    throw new ValidationError(field, `"${shown}" is not a whole number between ${min} and ${max}`, { code: 'send-limit-invalid', params: { value: shown, min, max } });
  }
  return n;
}

/**
 * Changes the sending limits; a field left out keeps its value (or the default).
 * @param input maxRecipients (recipients per message) and/or maxPerMinute (messages per person
 *   per minute): whole numbers 1–1000, as numbers or digits
 * @returns the limits now in force
 * @throws ValidationError naming the field (`maxRecipients`, `maxPerMinute`, code
 *   `send-limit-invalid`), or `limits` when neither is given
 */
export async function setSendLimits(ctx: AppContext, input: { maxRecipients?: unknown; maxPerMinute?: unknown }, by: number | null = null): Promise<SendLimits> {
  if (input.maxRecipients === undefined && input.maxPerMinute === undefined) throw new ValidationError('limits', 'nothing to change: give maxRecipients or maxPerMinute (CLI: --max-recipients, --max-per-minute)');
  const current = await getSendLimits(ctx.db);
  const maxRecipients = input.maxRecipients === undefined ? current.maxRecipients : parseSendLimit('maxRecipients', input.maxRecipients);
  const maxPerMinute = input.maxPerMinute === undefined ? current.maxPerMinute : parseSendLimit('maxPerMinute', input.maxPerMinute);
  const row = await repo.saveSendLimits(ctx.db, { maxRecipients, maxPerMinute });
  ctx.log.info({ component: 'send-limits', maxRecipients, maxPerMinute, by }, 'sending limits changed');
  return { maxRecipients: row.maxRecipients, maxPerMinute: row.maxPerMinute, updatedAt: row.updatedAt };
}

/**
 * Refuses a message with more recipients than allowed.
 * @param recipients the number of envelope recipients (To, Cc and Bcc together, each address once)
 * @throws ValidationError (field `recipients`, code `send-too-many-recipients` with
 *   {maxRecipients, recipients}) above `limits.maxRecipients`
 */
export function checkRecipientLimit(limits: Pick<SendLimits, 'maxRecipients'>, recipients: number): void {
  if (recipients <= limits.maxRecipients) return;
  throw new ValidationError('recipients', `${recipients} recipients (To, Cc and Bcc together); at most ${limits.maxRecipients} per message are allowed (maxRecipients)`, {
    code: 'send-too-many-recipients',
    params: { maxRecipients: limits.maxRecipients, recipients },
  });
}

/**
 * Inside the transaction that queues a message for `staffId`: takes the person's lock (their
 * enqueues run one after the other; others' in parallel) and refuses the message when they have
 * queued `limits.maxPerMinute` messages within the last 60 s. The count and the insert commit
 * together, so parallel requests cannot pass the limit between them.
 * @throws RateLimitError (code `send-rate-exceeded` with {maxPerMinute, retryAfterSeconds}):
 *   `retryAfterSeconds` whole seconds until a message of the last minute ages out so that one
 *   more fits
 */
export async function holdSendRate(tx: Tx, staffId: number, limits: Pick<SendLimits, 'maxPerMinute'>): Promise<void> {
  await repo.lockSender(tx, staffId);
  const wait = await repo.sendWaitSeconds(tx, staffId, limits.maxPerMinute, SEND_RATE_WINDOW_SECONDS);
  if (wait !== null) throw rateExceeded(limits, wait);
}

/**
 * The same check without the lock, before a message's body is read, so that a person over the
 * rate does not get a large body parsed first; holdSendRate decides at the insert.
 * @throws RateLimitError as holdSendRate
 */
export async function precheckSendRate(db: Db, staffId: number): Promise<void> {
  const limits = await getSendLimits(db);
  const wait = await repo.sendWaitSeconds(db as unknown as Tx, staffId, limits.maxPerMinute, SEND_RATE_WINDOW_SECONDS);
  if (wait !== null) throw rateExceeded(limits, wait);
}

function rateExceeded(limits: Pick<SendLimits, 'maxPerMinute'>, wait: number): RateLimitError {
  return new RateLimitError(
    `at most ${limits.maxPerMinute} messages per minute per person may be queued (maxPerMinute); retry after ${wait} s`,
    'send-rate-exceeded',
    { maxPerMinute: limits.maxPerMinute, retryAfterSeconds: wait },
    wait,
  );
}
