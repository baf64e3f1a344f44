import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { imapCheckpoint, mailbox, mailboxFailure, mailboxHealth, pop3Seen, type Channel } from '../schema.js';

export type MailboxRow = typeof mailbox.$inferSelect;
export type MailboxHealthRow = typeof mailboxHealth.$inferSelect;

export async function getMailbox(db: Db, channel: Channel): Promise<MailboxRow | null> {
  const [row] = await db.select().from(mailbox).where(eq(mailbox.channel, channel));
  return row ?? null;
}

export function listMailboxes(db: Db) {
  return db.select().from(mailbox).orderBy(mailbox.channel);
}

export async function upsertMailbox(db: Db, values: typeof mailbox.$inferInsert): Promise<void> {
  const { channel, ...rest } = values;
  await db
    .insert(mailbox)
    .values(values)
    .onConflictDoUpdate({ target: mailbox.channel, set: { ...rest, updatedAt: new Date() } });
}

export async function deleteMailbox(db: Db, channel: Channel): Promise<boolean> {
  return (await db.delete(mailbox).where(eq(mailbox.channel, channel)).returning()).length > 0;
}

export async function getHealth(db: Db, channel: Channel): Promise<MailboxHealthRow | null> {
  const [row] = await db.select().from(mailboxHealth).where(eq(mailboxHealth.channel, channel));
  return row ?? null;
}

/**
 * Takes or renews the poll lease of a channel for `holder` (one instance polls a mailbox at a
 * time). @returns true when `holder` holds the lease until now + `seconds`
 */
export async function takeLease(db: Db, channel: Channel, holder: string, seconds: number): Promise<boolean> {
  await db.insert(mailboxHealth).values({ channel }).onConflictDoNothing();
  const rows = await db
    .update(mailboxHealth)
    .set({ leaseHolder: holder, leaseExpiresAt: sql`now() + make_interval(secs => ${seconds})` })
    .where(
      and(
        eq(mailboxHealth.channel, channel),
        or(isNull(mailboxHealth.leaseHolder), eq(mailboxHealth.leaseHolder, holder), lt(mailboxHealth.leaseExpiresAt, sql`now()`)),
      ),
    )
    .returning({ channel: mailboxHealth.channel });
  return rows.length > 0;
}

export async function releaseLease(db: Db, channel: Channel, holder: string): Promise<void> {
  await db
    .update(mailboxHealth)
    .set({ leaseHolder: null, leaseExpiresAt: null })
    .where(and(eq(mailboxHealth.channel, channel), eq(mailboxHealth.leaseHolder, holder)));
}

/**
 * Drops every poll lease. Only for a gateway that is the database's sole user (embedded PGlite,
 * whose data directory is locked to one process): a lease found at its start was left by a crash.
 */
export async function clearAllLeases(db: Db): Promise<void> {
  await db.update(mailboxHealth).set({ leaseHolder: null, leaseExpiresAt: null });
}

/** Counts one newly imported message of a channel (at once, so a poll cut short still counts). */
export async function countImported(db: Db, channel: Channel, n = 1): Promise<void> {
  // one round trip per imported message: an upsert instead of insert-if-missing plus update
  await db
    .insert(mailboxHealth)
    .values({ channel, importedTotal: n })
    .onConflictDoUpdate({ target: mailboxHealth.channel, set: { importedTotal: sql`${mailboxHealth.importedTotal} + ${n}` } });
}

/** Records the outcome of one poll (its imports are counted one by one with countImported). */
export async function recordPoll(db: Db, channel: Channel, outcome: { ok: true } | { ok: false; error: string }): Promise<void> {
  await db.insert(mailboxHealth).values({ channel }).onConflictDoNothing();
  const now = new Date();
  await db
    .update(mailboxHealth)
    .set(
      outcome.ok
        ? {
            lastPollAt: now,
            lastSuccessAt: now,
            consecutiveFailures: 0,
          }
        : {
            lastPollAt: now,
            lastError: outcome.error,
            lastErrorAt: now,
            consecutiveFailures: sql`${mailboxHealth.consecutiveFailures} + 1`,
          },
    )
    .where(eq(mailboxHealth.channel, channel));
}

export async function getCheckpoint(db: Db, account: string, folder: string) {
  const [row] = await db
    .select()
    .from(imapCheckpoint)
    .where(and(eq(imapCheckpoint.account, account), eq(imapCheckpoint.folder, folder)));
  return row ?? null;
}

export async function saveCheckpoint(db: Db, account: string, folder: string, uidValidity: string, lastUid: number): Promise<void> {
  await db
    .insert(imapCheckpoint)
    .values({ account, folder, uidValidity, lastUid })
    .onConflictDoUpdate({ target: [imapCheckpoint.account, imapCheckpoint.folder], set: { uidValidity, lastUid, updatedAt: new Date() } });
}

export async function seenUidls(db: Db, account: string): Promise<Set<string>> {
  const rows = await db.select({ uidl: pop3Seen.uidl }).from(pop3Seen).where(eq(pop3Seen.account, account));
  return new Set(rows.map((r) => r.uidl));
}

export async function markUidlSeen(db: Db, account: string, uidl: string): Promise<void> {
  await db.insert(pop3Seen).values({ account, uidl }).onConflictDoNothing();
}

export async function listFailures(db: Db, account: string) {
  return db.select().from(mailboxFailure).where(eq(mailboxFailure.account, account));
}

export async function recordFailure(db: Db, account: string, itemKey: string, reason: string, permanent: boolean): Promise<void> {
  await db
    .insert(mailboxFailure)
    .values({ account, itemKey, reason, permanent })
    .onConflictDoUpdate({
      target: [mailboxFailure.account, mailboxFailure.itemKey],
      set: { reason, permanent, attempts: sql`${mailboxFailure.attempts} + 1`, lastAttemptAt: new Date() },
    });
}

export async function clearFailure(db: Db, account: string, itemKey: string): Promise<void> {
  await db.delete(mailboxFailure).where(and(eq(mailboxFailure.account, account), eq(mailboxFailure.itemKey, itemKey)));
}
