import { eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { authThrottle } from '../schema.js';

export type ThrottleRow = typeof authThrottle.$inferSelect;

/**
 * Runs `fn` in a transaction holding the row locks of `keys` (created when missing, with no
 * attempts; locked in the order given, which callers sort to avoid deadlocks). `fn` gets the rows
 * and a writer that stores changed rows in the same transaction.
 */
export async function withLockedKeys<T>(
  db: Db,
  keys: string[],
  now: Date,
  fn: (rows: ThrottleRow[], write: (rows: ThrottleRow[]) => Promise<void>) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await t
      .insert(authThrottle)
      .values(keys.map((keySha256) => ({ keySha256, failures: 0, refused: 0, lastAt: now, nextAllowedAt: now })))
      .onConflictDoNothing();
    const rows = await t.select().from(authThrottle).where(inArray(authThrottle.keySha256, keys)).orderBy(authThrottle.keySha256).for('update');
    return fn(rows, async (changed) => {
      for (const row of changed) {
        await t
          .update(authThrottle)
          .set({ failures: row.failures, refused: row.refused, lastAt: row.lastAt, nextAllowedAt: row.nextAllowedAt })
          .where(eq(authThrottle.keySha256, row.keySha256));
      }
    });
  });
}

/** Removes the `cleared` keys and takes one attempt back from the `lowered` ones, in one transaction. */
export async function forgive(db: Db, cleared: string[], lowered: string[]): Promise<void> {
  await db.transaction(async (tx) => {
    if (cleared.length) await tx.delete(authThrottle).where(inArray(authThrottle.keySha256, cleared));
    if (lowered.length) {
      await tx
        .update(authThrottle)
        .set({ failures: sql`greatest(${authThrottle.failures} - 1, 0)` })
        .where(inArray(authThrottle.keySha256, lowered));
    }
  });
}

/** Removes keys whose last attempt is older than `cutoff`. @returns how many */
export async function deleteOlderThan(db: Db, cutoff: Date): Promise<number> {
  return (await db.delete(authThrottle).where(lt(authThrottle.lastAt, cutoff)).returning({ k: authThrottle.keySha256 })).length;
}
