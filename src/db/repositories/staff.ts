import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { senderMapping, staff } from '../schema.js';

export type StaffRow = typeof staff.$inferSelect;

/** Staff without their password hash: what listings and the API show. */
export function listStaff(db: Db) {
  return db
    .select({
      id: staff.id,
      name: staff.name,
      email: staff.email,
      login: staff.login,
      role: staff.role,
      active: staff.active,
      external: staff.external,
      mailImport: staff.mailImport,
      createdAt: staff.createdAt,
    })
    .from(staff)
    .orderBy(staff.name, staff.id);
}

export async function findActiveStaffByEmail(db: Db, email: string): Promise<StaffRow | null> {
  const [row] = await db
    .select()
    .from(staff)
    .where(and(eq(staff.active, true), sql`lower(${staff.email}) = ${email.toLowerCase()}`));
  return row ?? null;
}

export async function findStaffByLogin(db: Db, login: string): Promise<StaffRow | null> {
  const [row] = await db.select().from(staff).where(sql`lower(${staff.login}) = ${login.toLowerCase()}`);
  return row ?? null;
}

export async function setStaffPasswordHash(db: Db, id: number, passwordHash: string): Promise<void> {
  await db.update(staff).set({ passwordHash }).where(eq(staff.id, id));
}

export async function insertStaff(db: Db, values: typeof staff.$inferInsert): Promise<StaffRow> {
  const [row] = await db.insert(staff).values(values).returning();
  return row!;
}

export function listMappings(db: Db) {
  return db
    .select({
      id: senderMapping.id,
      from: senderMapping.fromAddress,
      toStaffId: staff.id,
      toLogin: staff.login,
      toName: staff.name,
    })
    .from(senderMapping)
    .innerJoin(staff, eq(staff.id, senderMapping.toStaffId))
    .orderBy(senderMapping.fromAddress, staff.name);
}

/** @returns false when the pair existed already */
export async function insertMapping(db: Db, fromAddress: string, toStaffId: number): Promise<boolean> {
  const rows = await db.insert(senderMapping).values({ fromAddress, toStaffId }).onConflictDoNothing().returning();
  return rows.length > 0;
}
