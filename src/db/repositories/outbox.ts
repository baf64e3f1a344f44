import { and, asc, desc, eq, inArray, lt, lte, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../client.js';
import { putBlob } from '../blobs.js';
import type { RawMessage } from '../../ingest/raw.js';
import { message, outboxMessage, taskEvent, type OutboxState } from '../schema.js';

export type OutboxRow = typeof outboxMessage.$inferSelect;
export type OutboxInsert = Omit<typeof outboxMessage.$inferInsert, 'id' | 'rawSha256' | 'size'>;

/**
 * Stores the built message and queues it, in one transaction; with `taskEvent`, records it in
 * the task's history too. `before` runs first in the same transaction (the sending limits lock
 * and count there); what it throws rolls everything back. `created_at` is the time of the insert
 * (clock_timestamp(), not the start of a transaction that may have waited for a lock).
 */
export async function insertOutbox(
  db: Db,
  raw: RawMessage,
  values: OutboxInsert,
  history?: { taskId: number; actorId: number | null; action: string },
  before?: (tx: Tx) => Promise<void>,
): Promise<OutboxRow> {
  return db.transaction(async (tx) => {
    if (before) await before(tx);
    await putBlob(tx, raw);
    const [row] = await tx
      .insert(outboxMessage)
      .values({ ...values, rawSha256: raw.sha256, size: raw.size, createdAt: sql`clock_timestamp()` })
      .returning();
    if (history) {
      await tx.insert(taskEvent).values({ taskId: history.taskId, actorId: history.actorId, action: history.action, detail: { outboxId: row!.id, messageId: row!.messageIdHeader } });
    }
    return row!;
  });
}

export async function getOutbox(db: Db, id: number): Promise<OutboxRow | null> {
  const [row] = await db.select().from(outboxMessage).where(eq(outboxMessage.id, id));
  return row ?? null;
}

/** Newest first; optionally only some states or only what one staff member queued. */
export function listOutbox(db: Db, opts: { states?: OutboxState[]; createdBy?: number; limit: number; offset: number }) {
  return db
    .select()
    .from(outboxMessage)
    .where(
      and(
        opts.states?.length ? inArray(outboxMessage.state, opts.states) : undefined,
        opts.createdBy === undefined ? undefined : eq(outboxMessage.createdBy, opts.createdBy),
      ),
    )
    .orderBy(desc(outboxMessage.id))
    .limit(opts.limit)
    .offset(opts.offset);
}

/** What `claimNext` found and did. */
export type Claim =
  | { kind: 'send'; row: OutboxRow; recovered: boolean }
  /** a crashed attempt taken over a second time: failed instead of sent a third time */
  | { kind: 'gave-up'; row: OutboxRow };

const due = () =>
  or(
    and(eq(outboxMessage.state, 'queued'), lte(outboxMessage.nextAttemptAt, sql`now()`)),
    and(eq(outboxMessage.state, 'sending'), lt(outboxMessage.leaseExpiresAt, sql`now()`)),
  );

/**
 * Claims the next due message for `holder`: a queued one whose time has come, or one left in
 * `sending` whose lease ran out (its sender died). `FOR UPDATE SKIP LOCKED` lets several gateways
 * claim at once without waiting on or taking each other's row; the claim (state `sending`,
 * lease, attempt counted) is committed before anything is sent.
 * A row taken over after a crash more than `maxRecoveries` times is failed instead.
 * @returns null when nothing is due
 */
export async function claimNext(db: Db, holder: string, leaseSeconds: number, maxRecoveries: number, reason: string): Promise<Claim | null> {
  return db.transaction(async (tx) => {
    const [candidate] = await tx
      .select({ id: outboxMessage.id, state: outboxMessage.state, recoveries: outboxMessage.recoveries })
      .from(outboxMessage)
      .where(due())
      .orderBy(asc(outboxMessage.nextAttemptAt), asc(outboxMessage.id))
      .limit(1)
      .for('update', { skipLocked: true });
    if (!candidate) return null;
    const recovered = candidate.state === 'sending';
    if (recovered && candidate.recoveries >= maxRecoveries) {
      const [row] = await tx
        .update(outboxMessage)
        .set({ state: 'failed', leaseHolder: null, leaseExpiresAt: null, lastReply: reason })
        .where(eq(outboxMessage.id, candidate.id))
        .returning();
      return { kind: 'gave-up', row: row! };
    }
    const [row] = await tx
      .update(outboxMessage)
      .set({
        state: 'sending',
        leaseHolder: holder,
        leaseExpiresAt: sql`now() + make_interval(secs => ${leaseSeconds})`,
        attempts: sql`${outboxMessage.attempts} + 1`,
        recoveries: recovered ? sql`${outboxMessage.recoveries} + 1` : undefined,
        lastAttemptAt: sql`now()`,
      })
      .where(eq(outboxMessage.id, candidate.id))
      .returning();
    return { kind: 'send', row: row!, recovered };
  });
}

/** Extends the lease while the message is being sent. @returns false when `holder` lost it */
export async function renewLease(db: Db, id: number, holder: string, leaseSeconds: number): Promise<boolean> {
  const rows = await db
    .update(outboxMessage)
    .set({ leaseExpiresAt: sql`now() + make_interval(secs => ${leaseSeconds})` })
    .where(and(eq(outboxMessage.id, id), eq(outboxMessage.state, 'sending'), eq(outboxMessage.leaseHolder, holder)))
    .returning({ id: outboxMessage.id });
  return rows.length > 0;
}

/** Records the server's acceptance: state `sent` with its reply. Whoever held the lease, acceptance is a fact. */
export async function markSent(db: Db, id: number, reply: string): Promise<void> {
  await db
    .update(outboxMessage)
    .set({ state: 'sent', sentAt: sql`now()`, lastReply: reply, leaseHolder: null, leaseExpiresAt: null })
    .where(eq(outboxMessage.id, id));
}

/** After a temporary failure: queued again for `nextAttemptAt`, or `failed` when `nextAttemptAt` is null. */
export async function markUnsent(db: Db, id: number, holder: string, reply: string, nextAttemptAt: Date | null): Promise<void> {
  await db
    .update(outboxMessage)
    .set(nextAttemptAt ? { state: 'queued', nextAttemptAt, lastReply: reply, leaseHolder: null, leaseExpiresAt: null } : { state: 'failed', lastReply: reply, leaseHolder: null, leaseExpiresAt: null })
    .where(and(eq(outboxMessage.id, id), eq(outboxMessage.state, 'sending'), eq(outboxMessage.leaseHolder, holder)));
}

/**
 * After the server took the message for some recipients and refused others for now: the
 * envelope shrinks to those others (the ones that have it are never sent it again), queued for
 * `nextAttemptAt`, or `failed` when that is null (attempts used up).
 */
export async function markPartlySent(db: Db, id: number, holder: string, remaining: string[], reply: string, nextAttemptAt: Date | null): Promise<void> {
  await db
    .update(outboxMessage)
    .set({ envelopeTo: remaining, lastReply: reply, leaseHolder: null, leaseExpiresAt: null, ...(nextAttemptAt ? { state: 'queued' as const, nextAttemptAt } : { state: 'failed' as const }) })
    .where(and(eq(outboxMessage.id, id), eq(outboxMessage.state, 'sending'), eq(outboxMessage.leaseHolder, holder)));
}

/** Queues a failed message again with a fresh count of attempts. @returns the row, or null when it was not failed */
export async function requeueFailed(db: Db, id: number): Promise<OutboxRow | null> {
  const [row] = await db
    .update(outboxMessage)
    .set({ state: 'queued', attempts: 0, recoveries: 0, nextAttemptAt: sql`now()` })
    .where(and(eq(outboxMessage.id, id), eq(outboxMessage.state, 'failed')))
    .returning();
  return row ?? null;
}

/**
 * Ends the leases of every message left in `sending`: only for the embedded database, whose
 * data-directory lock proves that no other gateway is sending.
 */
export async function expireAllLeases(db: Db): Promise<void> {
  await db.update(outboxMessage).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(outboxMessage.state, 'sending'));
}

/** When the next message falls due (a queued one's time, or a lease running out); null when none waits. */
export async function nextDueAt(db: Db): Promise<Date | null> {
  const [row] = await db
    .select({
      at: sql<string | null>`least(
        (select min(${outboxMessage.nextAttemptAt}) from ${outboxMessage} where ${outboxMessage.state} = 'queued'),
        (select min(${outboxMessage.leaseExpiresAt}) from ${outboxMessage} where ${outboxMessage.state} = 'sending'))`,
    })
    .from(sql`(select 1) as one`);
  return row?.at ? new Date(row.at) : null;
}

/** The RFC 3834 flag of a stored message (bounce, auto-submitted, list, bulk), or null. */
export async function messageAutomated(db: Db, messageId: number): Promise<string | null> {
  const [row] = await db.select({ automated: message.automated }).from(message).where(eq(message.id, messageId));
  return row?.automated ?? null;
}
