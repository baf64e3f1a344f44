import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { adminSession, staff } from '../schema.js';

/** A live session with the columns of its staff member the admin needs (never the password hash). */
export interface SessionRow {
  tokenSha256: string;
  csrfToken: string;
  createdAt: Date;
  expiresAt: Date;
  staffId: number;
  name: string;
  login: string | null;
  role: 'admin' | 'staff';
  active: boolean;
}

export async function insertSession(db: Db, values: typeof adminSession.$inferInsert): Promise<void> {
  await db.insert(adminSession).values(values);
}

/** The session with this token hash, unexpired at `now`; null otherwise. */
export async function findLiveSession(db: Db, tokenSha256: string, now: Date): Promise<SessionRow | null> {
  const [row] = await db
    .select({
      tokenSha256: adminSession.tokenSha256,
      csrfToken: adminSession.csrfToken,
      createdAt: adminSession.createdAt,
      expiresAt: adminSession.expiresAt,
      staffId: staff.id,
      name: staff.name,
      login: staff.login,
      role: staff.role,
      active: staff.active,
    })
    .from(adminSession)
    .innerJoin(staff, eq(staff.id, adminSession.staffId))
    .where(and(eq(adminSession.tokenSha256, tokenSha256), gt(adminSession.expiresAt, now)));
  return row ?? null;
}

export async function touchSession(db: Db, tokenSha256: string, now: Date, expiresAt: Date): Promise<void> {
  await db.update(adminSession).set({ lastSeenAt: now, expiresAt }).where(eq(adminSession.tokenSha256, tokenSha256));
}

export async function deleteSession(db: Db, tokenSha256: string): Promise<void> {
  await db.delete(adminSession).where(eq(adminSession.tokenSha256, tokenSha256));
}

/** Removes sessions expired at `now`. @returns how many */
export async function deleteExpiredSessions(db: Db, now: Date): Promise<number> {
  return (await db.delete(adminSession).where(lte(adminSession.expiresAt, now)).returning({ t: adminSession.tokenSha256 })).length;
}

/** Whether an active admin who can log in (has a password) exists. */
export async function activeAdminExists(db: Db): Promise<boolean> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(staff)
    .where(and(eq(staff.role, 'admin'), eq(staff.active, true), sql`${staff.passwordHash} is not null`));
  return (row?.n ?? 0) > 0;
}
