import { Readable } from 'node:stream';
import type { AppContext } from '../context.js';
import { readBlob } from '../db/blobs.js';
import * as repo from '../db/repositories/outbox.js';
import { loadSmtpAccount } from '../services/smtp-account.js';
import { deliver, DeliveryError, type DeliveryHandle, type RefusedRecipient } from './transport.js';
import { describeError } from '../db/errors.js';

/** PostgreSQL NOTIFY channel on which an enqueue wakes the outbox workers of every gateway. */
export const OUTBOX_NOTIFY_CHANNEL = 'posteingang_outbox';

/**
 * How often a message left in `sending` by a crashed gateway is taken over and sent again.
 * Once: the crash may have come after the server accepted the message and before the gateway
 * recorded it, so the one resend may deliver it a second time, with the same Message-ID (the
 * recipient's system can recognise it). A second crash on the same message fails it instead,
 * for an admin to look at.
 */
export const MAX_RECOVERIES = 1;

const GAVE_UP =
  'the gateway stopped twice while sending this message: the server may have accepted it already, so it is not sent a third time automatically; check with the recipient, then retry';

/** A recipient refused with a 4yz reply: worth another attempt (RFC 5321 §4.2.1). */
const temporarilyRefused = (r: RefusedRecipient) => r.code !== null && r.code >= 400 && r.code < 500;

/** `refused: a@x (550 5.1.1 …), b@y (…)` for the last reply. */
const refusedWords = (list: RefusedRecipient[], what: string) => `${what}: ${list.map((r) => `${r.address} (${r.reply})`).join(', ')}`;

/**
 * Wait before attempt `attempts + 1` after a temporary failure: `base · 2^(attempts−1)`,
 * capped at `max` (seconds).
 * @returns milliseconds
 */
export function backoffMs(attempts: number, baseSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, baseSeconds * 2 ** Math.max(0, attempts - 1)) * 1000;
}

export interface OutboxWorker {
  /** Looks for due mail now (also called on every enqueue, through NOTIFY). */
  wake(): void;
  /** Stops: no new claims; a delivery in progress gets a few seconds, then it is interrupted (and queued again). */
  stop(): Promise<void>;
}

/**
 * Sends one claimed message and records the outcome: acceptance first of all, then a retry
 * with backoff for a temporary failure (RFC 5321 4yz, connection problems, timeouts) until
 * OUTBOX_MAX_ATTEMPTS, else `failed` with the server's reply (5yz: at once).
 */
async function sendClaimed(ctx: AppContext, row: repo.OutboxRow, onHandle: (h: DeliveryHandle | null) => void): Promise<void> {
  const { config } = ctx;
  const log = ctx.log.child({ component: 'outbox', outboxId: row.id, messageId: row.messageIdHeader });
  // an earlier attempt delivered to some recipients and named those refused for good: that
  // summary stays part of every later reply, or nobody could tell who never got the message
  const partial = row.lastReply ? /(?:^|; before that: )(sent to .*)$/.exec(row.lastReply)?.[1] : undefined;
  const carry = (reply: string) => (partial ? `${reply}; before that: ${partial}` : reply);
  const renew = setInterval(() => {
    repo.renewLease(ctx.db, row.id, ctx.instanceId, config.OUTBOX_LEASE_SECONDS).catch((err: Error) => log.warn({ err: describeError(err) }, 'lease renewal failed'));
  }, Math.max(500, (config.OUTBOX_LEASE_SECONDS * 1000) / 3));
  try {
    let accepted: Awaited<ReturnType<typeof deliver>>;
    try {
      const account = await loadSmtpAccount(ctx);
      const blob = await readBlob(ctx.db, row.rawSha256);
      if (!blob) throw new DeliveryError('send', `the stored message ${row.rawSha256} is missing`, false, null, null);
      accepted = await deliver(account.settings, { from: row.envelopeFrom, to: row.envelopeTo }, Readable.from(blob.chunks), { handle: onHandle });
    } catch (err) {
      const e = err instanceof DeliveryError ? err : new DeliveryError('connect', (err as Error).message, true, null, null);
      const reply = e.response ? `${e.step}: ${e.response}` : `${e.step}: ${e.message}`;
      const retry = e.temporary && row.attempts < config.OUTBOX_MAX_ATTEMPTS;
      const next = retry ? new Date(Date.now() + backoffMs(row.attempts, config.OUTBOX_RETRY_BASE_SECONDS, config.OUTBOX_RETRY_MAX_SECONDS)) : null;
      // every recipient refused, some only for now: the next attempt goes to those only
      const later = e.refused.filter(temporarilyRefused).map((r) => r.address);
      const never = e.refused.filter((r) => !temporarilyRefused(r));
      if (retry && later.length > 0 && never.length > 0) {
        await repo.markPartlySent(ctx.db, row.id, ctx.instanceId, later, carry(`${reply}; ${refusedWords(never, 'refused')}`), next);
      } else await repo.markUnsent(ctx.db, row.id, ctx.instanceId, carry(reply), next);
      log.warn({ step: e.step, code: e.responseCode ?? undefined, attempts: row.attempts, retryAt: next?.toISOString() }, retry ? 'delivery deferred' : 'delivery failed');
      return;
    }
    // the server has the message: record that before anything else can go wrong. Recipients it
    // refused for good are named with its reply; those it refused for now (4yz at RCPT TO,
    // RFC 5321 §4.2.1) stay queued alone, with the same Message-ID, until they are accepted too
    // or the attempts run out.
    const later = accepted.refused.filter(temporarilyRefused);
    const never = accepted.refused.filter((r) => !temporarilyRefused(r));
    const words = [accepted.response, ...(never.length ? [refusedWords(never, 'refused')] : []), ...(later.length ? [refusedWords(later, 'refused for now')] : [])].join('; ');
    if (later.length === 0) {
      await repo.markSent(ctx.db, row.id, carry(words));
      log.info({ attempts: row.attempts, response: accepted.response, refused: never.length || undefined }, 'message sent');
      return;
    }
    const retry = row.attempts < config.OUTBOX_MAX_ATTEMPTS;
    const next = retry ? new Date(Date.now() + backoffMs(row.attempts, config.OUTBOX_RETRY_BASE_SECONDS, config.OUTBOX_RETRY_MAX_SECONDS)) : null;
    await repo.markPartlySent(ctx.db, row.id, ctx.instanceId, later.map((r) => r.address), carry(`sent to ${accepted.accepted.join(', ')}: ${words}`), next);
    log.warn({ attempts: row.attempts, deferred: later.length, retryAt: next?.toISOString() }, retry ? 'message sent to some recipients; the others are tried again' : 'message sent to some recipients; the others failed');
  } finally {
    clearInterval(renew);
    onHandle(null);
  }
}

/**
 * Starts the outbox worker of this gateway: claims due messages one at a time (see
 * repositories/outbox.ts claimNext for why several gateways never send the same one) and sends
 * them through the central account. Wakes on enqueue (NOTIFY), when the next retry falls due,
 * and every OUTBOX_POLL_SECONDS. On the embedded database, messages left `sending` by a crash
 * are taken over at once (the data-directory lock proves no other gateway sends); on PostgreSQL
 * when their lease runs out.
 */
export async function startOutboxWorker(ctx: AppContext): Promise<OutboxWorker> {
  const log = ctx.log.child({ component: 'outbox' });
  const { config } = ctx;
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let handle: DeliveryHandle | null = null;

  if (ctx.database.kind === 'pglite') await repo.expireAllLeases(ctx.db);

  async function drain(): Promise<void> {
    while (!stopped) {
      const claim = await repo.claimNext(ctx.db, ctx.instanceId, config.OUTBOX_LEASE_SECONDS, MAX_RECOVERIES, GAVE_UP);
      if (!claim) return;
      if (claim.kind === 'gave-up') {
        log.error({ outboxId: claim.row.id, messageId: claim.row.messageIdHeader }, 'delivery failed: interrupted twice, outcome unknown');
        continue;
      }
      if (claim.recovered) log.warn({ outboxId: claim.row.id, messageId: claim.row.messageIdHeader }, 'taking over a delivery interrupted by a crash: sending it once more with the same Message-ID');
      await sendClaimed(ctx, claim.row, (h) => (handle = h));
    }
  }

  async function plan(): Promise<void> {
    clearTimeout(timer);
    if (stopped) return;
    const next = await repo.nextDueAt(ctx.db);
    const wait = Math.min(config.OUTBOX_POLL_SECONDS * 1000, next ? Math.max(0, next.getTime() - Date.now()) + 50 : Infinity);
    timer = setTimeout(wake, wait).unref();
  }

  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((err: Error) => log.error({ err: describeError(err) }, 'outbox run failed; trying again later'))
      .then(() => plan())
      .catch((err: Error) => {
        log.error({ err: describeError(err) }, 'outbox planning failed');
        timer = setTimeout(wake, config.OUTBOX_POLL_SECONDS * 1000).unref();
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  const unlisten = await ctx.database.listen(OUTBOX_NOTIFY_CHANNEL, () => wake());
  wake();

  return {
    wake,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await unlisten().catch(() => {});
      const inFlight = running;
      if (!inFlight) return;
      const grace = setTimeout(() => handle?.abort(), 5000);
      await inFlight;
      clearTimeout(grace);
    },
  };
}
