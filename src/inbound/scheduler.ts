import { createHash } from 'node:crypto';
import type { AppContext } from '../context.js';
import { CHANNELS, type Channel } from '../db/schema.js';
import { getHealth, getMailbox } from '../db/repositories/mailboxes.js';
import { listChannelSettings } from '../db/repositories/settings.js';
import { LEASE_SECONDS, LeaseHeldError, loadMailboxSettings, pollMailbox, type MailboxAdapters } from '../services/mailboxes.js';
import type { MailboxSettings, PollDeps, PollReport } from './mailbox/types.js';
import { describeError } from '../db/errors.js';

/**
 * Starts an IMAP IDLE watch that calls `onNewMail` when the server reports new messages, and
 * `onLoginFailed` (then gives up) when the server refuses the login.
 */
export type Watch = (
  settings: MailboxSettings,
  deps: PollDeps,
  onNewMail: () => void,
  onLoginFailed?: (reason: string) => void,
) => { stop(): Promise<void> };

export interface Scheduler {
  /**
   * Polls a channel now; when a poll is running, one more is queued behind it, and the report
   * then covers both (addReports), so that "poll now" during an import answers what was
   * imported, not the empty tail.
   * @throws as pollMailbox (the queued poll's error; a failure of the running one only if the
   *   queued one fails too)
   */
  pollNow(channel: Channel): Promise<PollReport>;
  /** Stops timers and watches; a running poll stops between two batches of messages. */
  stop(): Promise<void>;
}

/** First retry after a failed poll, in milliseconds; doubled per failure, capped at the interval. */
const FIRST_RETRY_MS = 30_000;
/**
 * First retry after a refused login, in milliseconds (at least this, or the interval if longer);
 * doubled per failure up to LOGIN_RETRY_MAX_MS. Directory servers lock an account after a few
 * failed logins (Active Directory's lockout threshold, often 5 in 30 minutes), so a wrong password
 * is tried rarely; `mailbox set` with the right one re-plans and polls at once.
 */
const LOGIN_RETRY_MS = 15 * 60_000;
const LOGIN_RETRY_MAX_MS = 4 * 60 * 60_000;

/**
 * A running poll's report and the one of the poll after it, as one: what either stored (imported,
 * duplicates) added up; what is left on the server (failed, too large, skipped) as the later one
 * found it, since it tries the earlier one's failures again and would count them twice.
 */
function addReports(earlier: PollReport, later: PollReport): PollReport {
  return { ...later, imported: earlier.imported + later.imported, duplicates: earlier.duplicates + later.duplicates };
}

/** Why a channel is (re-)planned. */
type Trigger = 'start' | 'timer' | 'changed';

/**
 * Milliseconds until the next poll of a channel, from its last outcome.
 * @param failures consecutive failed polls (0 after a success)
 * @param lastError the last error, `<step>: <words>` as recorded in the mailbox health
 * @param intervalMs the configured poll interval
 */
export function nextPollDelay(failures: number, lastError: string | null, intervalMs: number): number {
  if (failures <= 0) return intervalMs;
  if (lastError?.startsWith('login:')) return Math.min(LOGIN_RETRY_MAX_MS, Math.max(LOGIN_RETRY_MS, intervalMs) * 2 ** (failures - 1));
  return Math.min(intervalMs, FIRST_RETRY_MS * 2 ** (failures - 1));
}

/** A key that changes whenever any mailbox setting changes (password included); never stored. */
function settingsKey(settings: MailboxSettings): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

/**
 * Plans the mailbox polls (reference: "E-Mails automatisch einlesen"): every channel with a
 * mailbox is polled once at start; with auto-import on, again every `pollIntervalMinutes`, and at
 * once when IMAP IDLE reports new mail; with it off, only at start and when asked (`pollNow`).
 * A failed poll is retried with exponential backoff from 30 s up to the interval; a refused login
 * much more slowly (see LOGIN_RETRY_MS), and the IDLE watch waits until a poll logged in again.
 * When a channel's settings change (`mailbox.changed`) a running poll stops between batches and
 * the channel is re-planned: polled at once with auto-import on, not polled with it off.
 * A poll refused because another instance holds the lease is logged and tried again once the
 * lease can have expired.
 */
export function startScheduler(ctx: AppContext, adapters: MailboxAdapters, watch?: Watch): Scheduler {
  const log = ctx.log.child({ component: 'scheduler' });
  const timers = new Map<Channel, NodeJS.Timeout>();
  const running = new Map<Channel, { done: Promise<PollReport>; abort: AbortController }>();
  const queued = new Map<Channel, Promise<PollReport>>();
  const watches = new Map<Channel, { stop(): Promise<void>; key: string }>();
  let stopped = false;

  /**
   * A poll that starts after this call: when one is running, one more is queued behind it
   * (and shared by everyone who asks meanwhile), so that mail that arrived just now is seen.
   */
  function pollNow(channel: Channel): Promise<PollReport> {
    if (stopped) return Promise.reject(new Error('the gateway is stopping; poll not started'));
    const inFlight = running.get(channel);
    if (!inFlight) {
      const abort = new AbortController();
      const done = pollMailbox(ctx, adapters, channel, abort.signal).finally(() => running.delete(channel));
      running.set(channel, { done, abort });
      return done;
    }
    let next = queued.get(channel);
    if (!next) {
      next = inFlight.done
        .catch(() => null)
        .then(async (ran) => {
          queued.delete(channel);
          const own = await pollNow(channel);
          return ran ? addReports(ran, own) : own;
        });
      queued.set(channel, next);
    }
    return next;
  }

  function later(channel: Channel, delayMs: number, trigger: Trigger = 'timer'): void {
    clearTimeout(timers.get(channel));
    if (!stopped) timers.set(channel, setTimeout(() => planSafely(channel, trigger), delayMs).unref());
  }

  /** Polls and reports whether another instance held the lease (the poll did not run). */
  async function pollLogged(channel: Channel): Promise<'ok' | 'failed' | 'lease'> {
    try {
      await pollNow(channel);
      return 'ok';
    } catch (err) {
      if (err instanceof LeaseHeldError) {
        log.info({ channel, retryInSeconds: LEASE_SECONDS }, 'poll skipped: another gateway instance holds the lease');
        return 'lease';
      }
      log.warn({ channel, err: describeError(err) }, 'poll failed');
      return 'failed';
    }
  }

  async function plan(channel: Channel, trigger: Trigger): Promise<void> {
    clearTimeout(timers.get(channel));
    if (stopped) return;
    const mailbox = await getMailbox(ctx.db, channel);
    const setting = (await listChannelSettings(ctx.db)).find((s) => s.channel === channel);
    if (trigger === 'changed') running.get(channel)?.abort.abort(); // new settings apply from the next message on
    if (!mailbox || !mailbox.enabled) {
      await stopWatch(channel);
      return;
    }
    const autoImport = setting?.autoImport ?? false;
    if (!autoImport) await stopWatch(channel);
    if (trigger === 'changed' && !autoImport) return; // off: polled only at start and when asked
    const outcome = await pollLogged(channel);
    if (stopped || !autoImport) return;
    const interval = (setting?.pollIntervalMinutes ?? 15) * 60_000;
    if (outcome === 'lease') {
      later(channel, LEASE_SECONDS * 1000);
      return;
    }
    const health = await getHealth(ctx.db, channel);
    const failures = health?.consecutiveFailures ?? 0;
    later(channel, nextPollDelay(failures, health?.lastError ?? null, interval));
    if (mailbox.protocol === 'imap' && watch && failures === 0) await ensureWatch(channel);
    else await stopWatch(channel); // POP3 has no IDLE; while polls fail, the watch would fail the same way
  }

  async function ensureWatch(channel: Channel): Promise<void> {
    const settings = await loadMailboxSettings(ctx, channel);
    const key = settingsKey(settings);
    if (watches.get(channel)?.key === key) return;
    await stopWatch(channel);
    if (stopped) return;
    const deps = { ctx, log: ctx.log.child({ component: 'imap-idle', channel }), maxBytes: ctx.config.SMTP_MAX_MESSAGE_BYTES };
    const onNewMail = () => {
      pollNow(channel).catch((err: Error) => {
        if (err instanceof LeaseHeldError) {
          log.info({ channel, retryInSeconds: LEASE_SECONDS }, 'poll after IDLE notice skipped: another instance holds the lease; retrying');
          later(channel, LEASE_SECONDS * 1000);
        } else if (!stopped) {
          log.warn({ channel, err: describeError(err) }, 'poll after IDLE notice failed');
        }
      });
    };
    const onLoginFailed = () => {
      // the watch has given up; forget it so that the next successful poll starts a new one
      if (watches.get(channel) === entry) watches.delete(channel);
    };
    const handle = watch!(settings, deps, onNewMail, onLoginFailed);
    const entry = { stop: handle.stop, key };
    watches.set(channel, entry);
  }

  async function stopWatch(channel: Channel): Promise<void> {
    const w = watches.get(channel);
    watches.delete(channel);
    await w?.stop();
  }

  /** Plans a channel; a failure is logged and retried, never allowed to end the process. */
  function planSafely(channel: Channel, trigger: Trigger): void {
    plan(channel, trigger).catch((err: Error) => {
      log.error({ channel, err: describeError(err) }, 'scheduling failed; retrying');
      later(channel, FIRST_RETRY_MS);
    });
  }

  const onChanged = ({ channel }: { channel: Channel }) => planSafely(channel, 'changed');
  ctx.events.on('mailbox.changed', onChanged);
  for (const channel of CHANNELS) planSafely(channel, 'start');

  return {
    pollNow,
    async stop() {
      stopped = true;
      ctx.events.off('mailbox.changed', onChanged);
      for (const t of timers.values()) clearTimeout(t);
      for (const r of running.values()) r.abort.abort();
      await Promise.all([...watches.keys()].map(stopWatch));
      await Promise.allSettled([...running.values()].map((r) => r.done));
      await Promise.allSettled(queued.values());
    },
  };
}
