import { eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { apiToken } from '../schema.js';

export async function insertToken(db: Db, name: string, tokenSha256: string): Promise<boolean> {
  const rows = await db.insert(apiToken).values({ name, tokenSha256 }).onConflictDoNothing().returning();
  return rows.length > 0;
}

export async function findTokenByHash(db: Db, tokenSha256: string) {
  const [row] = await db.select().from(apiToken).where(eq(apiToken.tokenSha256, tokenSha256));
  return row ?? null;
}
