import { eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { apiToken, staff } from '../schema.js';

export async function insertToken(db: Db, staffId: number, name: string, tokenSha256: string): Promise<boolean> {
  const rows = await db.insert(apiToken).values({ staffId, name, tokenSha256 }).onConflictDoNothing().returning();
  return rows.length > 0;
}

/** The token's owner, when the token exists and its owner is active. */
export async function findTokenOwner(db: Db, tokenSha256: string) {
  const [row] = await db
    .select({ tokenName: apiToken.name, id: staff.id, login: staff.login, name: staff.name, role: staff.role, active: staff.active })
    .from(apiToken)
    .innerJoin(staff, eq(staff.id, apiToken.staffId))
    .where(eq(apiToken.tokenSha256, tokenSha256));
  // valid only while the person is active and has a login (issue 14)
  return row && row.active && row.login !== null ? row : null;
}

export function listTokens(db: Db) {
  return db
    .select({ id: apiToken.id, name: apiToken.name, login: staff.login, createdAt: apiToken.createdAt })
    .from(apiToken)
    .leftJoin(staff, eq(staff.id, apiToken.staffId))
    .orderBy(apiToken.id);
}

export async function deleteToken(db: Db, name: string): Promise<boolean> {
  return (await db.delete(apiToken).where(eq(apiToken.name, name)).returning()).length > 0;
}
