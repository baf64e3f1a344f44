import type { AppContext } from '../context.js';
import { CHANNELS, type Channel } from '../db/schema.js';
import { getHealth, getMailbox } from '../db/repositories/mailboxes.js';
import { listChannelSettings } from '../db/repositories/settings.js';
import { LeaseHeldError, loadMailboxSettings, pollMailbox, type MailboxAdapters } from '../services/mailboxes.js';
import type { MailboxSettings, PollDeps, PollReport } from './mailbox/types.js';

/** Starts an IMAP IDLE watch that calls `onNewMail` when the server reports new messages. */
export type Watch = (settings: MailboxSettings, deps: PollDeps, onNewMail: () => void) => { stop(): Promise<void> };

export interface Scheduler {
  /** Polls a channel now (coalesced with a poll already running). @throws as pollMailbox */
  pollNow(channel: Channel): Promise<PollReport>;
  stop(): Promise<void>;
}

/** First retry after a failed poll, in milliseconds; doubled per failure, capped at the interval. */
const FIRST_RETRY_MS = 30_000;

/**
 * Plans the mailbox polls (reference: "E-Mails automatisch einlesen"): every channel with a
 * mailbox is polled once at start; with auto-import on, again every `pollIntervalMinutes`, and at
 * once when IMAP IDLE reports new mail; with it off, only at start and when asked (`pollNow`).
 * A failed poll is retried with exponential backoff from 30 s up to the interval.
 * Re-plans a channel when its settings change (`mailbox.changed`).
 */
export function startScheduler(ctx: AppContext, adapters: MailboxAdapters, watch?: Watch): Scheduler {
  const log = ctx.log.child({ component: 'scheduler' });
  const timers = new Map<Channel, NodeJS.Timeout>();
  const running = new Map<Channel, Promise<PollReport>>();
  const watches = new Map<Channel, { stop(): Promise<void>; key: string }>();
  let stopped = false;

  const queued = new Map<Channel, Promise<PollReport>>();

  /**
   * A poll that starts after this call: when one is running, one more is queued behind it
   * (and shared by everyone who asks meanwhile), so that mail that arrived just now is seen.
   */
  function pollNow(channel: Channel): Promise<PollReport> {
    const inFlight = running.get(channel);
    if (!inFlight) {
      const p = pollMailbox(ctx, adapters, channel).finally(() => running.delete(channel));
      running.set(channel, p);
      return p;
    }
    let next = queued.get(channel);
    if (!next) {
      next = inFlight
        .catch(() => undefined)
        .then(() => {
          queued.delete(channel);
          return pollNow(channel);
        });
      queued.set(channel, next);
    }
    return next;
  }

  async function plan(channel: Channel, pollFirst: boolean): Promise<void> {
    clearTimeout(timers.get(channel));
    if (stopped) return;
    const mailbox = await getMailbox(ctx.db, channel);
    if (!mailbox || !mailbox.enabled) {
      await stopWatch(channel);
      return;
    }
    if (pollFirst) {
      try {
        await pollNow(channel);
      } catch (err) {
        if (!(err instanceof LeaseHeldError)) log.warn({ channel, err: (err as Error).message }, 'poll failed');
      }
      if (stopped) return;
    }
    const setting = (await listChannelSettings(ctx.db)).find((s) => s.channel === channel);
    if (!setting?.autoImport) {
      await stopWatch(channel);
      return;
    }
    const interval = setting.pollIntervalMinutes * 60_000;
    const failures = (await getHealth(ctx.db, channel))?.consecutiveFailures ?? 0;
    const delay = failures > 0 ? Math.min(interval, FIRST_RETRY_MS * 2 ** (failures - 1)) : interval;
    timers.set(channel, setTimeout(() => planSafely(channel), delay).unref());
    if (mailbox.protocol === 'imap' && watch) await ensureWatch(channel);
  }

  async function ensureWatch(channel: Channel): Promise<void> {
    const settings = await loadMailboxSettings(ctx, channel);
    const key = `${settings.account}/${settings.folder}/${settings.security}`;
    const existing = watches.get(channel);
    if (existing?.key === key) return;
    await stopWatch(channel);
    const deps = { ctx, log: ctx.log.child({ component: 'imap-idle', channel }), maxBytes: ctx.config.SMTP_MAX_MESSAGE_BYTES };
    const handle = watch!(settings, deps, () => {
      pollNow(channel).catch((err: Error) => {
        if (!(err instanceof LeaseHeldError)) log.warn({ channel, err: err.message }, 'poll after IDLE notice failed');
      });
    });
    watches.set(channel, { stop: handle.stop, key });
  }

  async function stopWatch(channel: Channel): Promise<void> {
    const w = watches.get(channel);
    watches.delete(channel);
    await w?.stop();
  }

  /** Plans a channel; a failure is logged and retried, never allowed to end the process. */
  function planSafely(channel: Channel): void {
    plan(channel, true).catch((err: Error) => {
      log.error({ channel, err: err.message }, 'scheduling failed; retrying');
      if (!stopped) timers.set(channel, setTimeout(() => planSafely(channel), FIRST_RETRY_MS).unref());
    });
  }

  const onChanged = ({ channel }: { channel: Channel }) => planSafely(channel);
  ctx.events.on('mailbox.changed', onChanged);
  for (const channel of CHANNELS) planSafely(channel);

  return {
    pollNow,
    async stop() {
      stopped = true;
      ctx.events.off('mailbox.changed', onChanged);
      for (const t of timers.values()) clearTimeout(t);
      await Promise.all([...watches.keys()].map(stopWatch));
      await Promise.allSettled(running.values());
    },
  };
}
