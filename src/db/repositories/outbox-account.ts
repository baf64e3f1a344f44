import { eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { smtpAccount } from '../schema.js';

export type SmtpAccountRow = typeof smtpAccount.$inferSelect;

/** The one sending account ("Versand"), row id 1; null when none is set. */
export async function getSmtpAccount(db: Db): Promise<SmtpAccountRow | null> {
  const [row] = await db.select().from(smtpAccount).where(eq(smtpAccount.id, 1));
  return row ?? null;
}

/** Creates or replaces the sending account (row id 1). */
export async function saveSmtpAccount(db: Db, values: Omit<typeof smtpAccount.$inferInsert, 'id' | 'updatedAt'>): Promise<void> {
  await db
    .insert(smtpAccount)
    .values({ ...values, id: 1 })
    .onConflictDoUpdate({ target: smtpAccount.id, set: { ...values, updatedAt: new Date() } });
}
