import type { AppContext } from '../context.js';
import type { QueueStats } from '../ingest/queue.js';
import * as repo from '../db/repositories/dashboard.js';
import { CHANNELS, type Channel } from '../db/schema.js';
import { listInboundAddresses } from './addresses.js';
import { showMailbox } from './mailboxes.js';
import { listChannelSettings } from './settings.js';

/** One channel on the dashboard: its SMTP side and its polled mailbox. */
export interface DashboardChannel {
  channel: Channel;
  inboundAddresses: string[];
  /** SMTP deliveries for this channel since local midnight */
  smtpToday: number;
  mailbox: null | {
    protocol: string;
    host: string;
    port: number;
    username: string;
    enabled: boolean;
    intervalMinutes: number;
    lastSuccessAt: Date | null;
    lastError: string | null;
    lastErrorAt: Date | null;
    consecutiveFailures: number;
    /** set (to twice the interval, minutes) when no poll succeeded for longer than that */
    staleMinutes: number | null;
  };
}

/** What the dashboard shows (issue 6, item 2). */
export interface DashboardModel {
  at: Date;
  /** seconds between the fragment's htmx polls */
  pollSeconds: number;
  /** `host:port` of the SMTP listener (and the implicit-TLS one), null when not running in this process */
  smtp: string | null;
  channels: DashboardChannel[];
  unassigned: number;
  /** open and unassigned */
  openTotal: number;
  byActivity: { name: string; count: number }[];
  /** the inbound queue (accepted by SMTP, not yet ingested); null when no receiver runs in this process */
  queue: QueueStats | null;
}

/**
 * Gathers the dashboard: per channel the SMTP receiver (listening address, inbound addresses,
 * deliveries today) and the mailbox health (last success, last error in plain words, failures in a
 * row, stale when no success for more than twice the poll interval while automatic import is on),
 * plus unassigned and open tasks by activity type.
 * @param now the moment to judge staleness and "today" (local midnight) against
 */
export async function dashboard(ctx: AppContext, now = new Date(), pollSeconds = 5): Promise<DashboardModel> {
  const midnight = new Date(now);
  midnight.setHours(0, 0, 0, 0);
  const [addresses, settings, counts] = await Promise.all([listInboundAddresses(ctx.db), listChannelSettings(ctx.db), repo.countOpenTasksByActivity(ctx.db)]);
  const channels: DashboardChannel[] = [];
  for (const channel of CHANNELS) {
    const setting = settings.find((s) => s.channel === channel);
    const interval = setting?.pollIntervalMinutes ?? 15;
    const m = await showMailbox(ctx, channel);
    let mailbox: DashboardChannel['mailbox'] = null;
    if (m) {
      const since = m.health?.lastSuccessAt ?? m.updatedAt;
      const watched = m.enabled && (setting?.autoImport ?? true);
      const stale = watched && now.getTime() - since.getTime() > 2 * interval * 60_000;
      mailbox = {
        protocol: m.protocol,
        host: m.host,
        port: m.port,
        username: m.username,
        enabled: m.enabled,
        intervalMinutes: interval,
        lastSuccessAt: m.health?.lastSuccessAt ?? null,
        lastError: m.health?.lastError ?? null,
        lastErrorAt: m.health?.lastErrorAt ?? null,
        consecutiveFailures: m.health?.consecutiveFailures ?? 0,
        staleMinutes: stale ? 2 * interval : null,
      };
    }
    channels.push({
      channel,
      inboundAddresses: addresses.filter((a) => a.channel === channel).map((a) => a.address),
      smtpToday: await repo.countSmtpReceiptsSince(ctx.db, channel, midnight),
      mailbox,
    });
  }
  const byName = new Map<string, number>();
  for (const row of counts) byName.set(row.name, (byName.get(row.name) ?? 0) + Number(row.n));
  const l = ctx.listeners;
  const address = (a: { address: string; port: number }) => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
  return {
    at: now,
    pollSeconds,
    smtp: l?.smtp ? [l.smtp, l.smtpTls].filter((a) => a !== null).map(address).join(', ') : null,
    channels,
    unassigned: counts.filter((r) => r.status === 'unassigned').reduce((n, r) => n + Number(r.n), 0),
    openTotal: counts.reduce((n, r) => n + Number(r.n), 0),
    byActivity: [...byName].map(([name, count]) => ({ name, count })),
    queue: ctx.queue?.stats() ?? null,
  };
}
