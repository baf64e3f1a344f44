import { and, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { authKnownClient, authThrottle } from '../schema.js';

export type ThrottleRow = typeof authThrottle.$inferSelect;

/**
 * Runs `fn` in a transaction holding the row locks of `keys` (created when missing, with no
 * attempts and no wait; locked in the order given, which callers sort to avoid deadlocks). `fn` gets the rows
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
      .values(keys.map((keySha256) => ({ keySha256, failures: 0, refused: 0, lastAt: now, nextAllowedAt: new Date(0) })))
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

/** Whether the pair key `keySha256` had a success at or after `since`. */
export async function knownSince(db: Db, keySha256: string, since: Date): Promise<boolean> {
  const [row] = await db
    .select({ k: authKnownClient.keySha256 })
    .from(authKnownClient)
    .where(and(eq(authKnownClient.keySha256, keySha256), gte(authKnownClient.lastSuccessAt, since)));
  return row !== undefined;
}

/**
 * After a success, in one transaction: removes the `cleared` keys; takes one attempt back from
 * the `lowered` ones and, where nothing was counted after it (`last_at` = `at`), the wait it set;
 * marks `known` (a pair key) as having succeeded at `at`.
 */
export async function forgive(db: Db, cleared: string[], lowered: string[], at: Date, known?: string): Promise<void> {
  await db.transaction(async (tx) => {
    if (cleared.length) await tx.delete(authThrottle).where(inArray(authThrottle.keySha256, cleared));
    if (lowered.length) {
      await tx
        .update(authThrottle)
        .set({
          failures: sql`greatest(${authThrottle.failures} - 1, 0)`,
          nextAllowedAt: sql`case when ${authThrottle.lastAt} = ${at.toISOString()}::timestamptz then least(${authThrottle.nextAllowedAt}, ${at.toISOString()}::timestamptz) else ${authThrottle.nextAllowedAt} end`,
        })
        .where(inArray(authThrottle.keySha256, lowered));
    }
    if (known) {
      await tx
        .insert(authKnownClient)
        .values({ keySha256: known, lastSuccessAt: at })
        .onConflictDoUpdate({ target: authKnownClient.keySha256, set: { lastSuccessAt: at } });
    }
  });
}

/** Removes keys whose last attempt is older than `cutoff`, and known pairs without a success since `knownCutoff`. @returns how many */
export async function deleteOlderThan(db: Db, cutoff: Date, knownCutoff: Date): Promise<number> {
  const keys = await db.delete(authThrottle).where(lt(authThrottle.lastAt, cutoff)).returning({ k: authThrottle.keySha256 });
  const known = await db.delete(authKnownClient).where(lt(authKnownClient.lastSuccessAt, knownCutoff)).returning({ k: authKnownClient.keySha256 });
  return keys.length + known.length;
}
