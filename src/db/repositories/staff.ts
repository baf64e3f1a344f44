import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { senderMapping, staff } from '../schema.js';

export type StaffRow = typeof staff.$inferSelect;

/** The columns of a staff record that may be shown: everything but the password hash. */
const PUBLIC_STAFF_COLUMNS = {
  id: staff.id,
  name: staff.name,
  email: staff.email,
  login: staff.login,
  role: staff.role,
  active: staff.active,
  external: staff.external,
  mailImport: staff.mailImport,
  createdAt: staff.createdAt,
};

/** A staff record without its password hash. */
export type PublicStaffRow = Omit<StaffRow, 'passwordHash'>;

/** Staff without their password hash: what listings and the API show. */
export function listStaff(db: Db) {
  return db.select(PUBLIC_STAFF_COLUMNS).from(staff).orderBy(staff.name, staff.id);
}

/** One staff member without the password hash, or null. */
export async function findPublicStaffById(db: Db, id: number): Promise<PublicStaffRow | null> {
  const [row] = await db.select(PUBLIC_STAFF_COLUMNS).from(staff).where(eq(staff.id, id));
  return row ?? null;
}

/** One staff record (with the hash, for rule checks), or null; `forUpdate` locks the row in a transaction. */
export async function findStaffById(db: Db, id: number, forUpdate = false): Promise<StaffRow | null> {
  const query = db.select().from(staff).where(eq(staff.id, id));
  const [row] = forUpdate ? await query.for('update') : await query;
  return row ?? null;
}

/** Changes the given columns of a staff record. @returns the record without the hash, or null for an unknown id */
export async function updateStaffRow(
  db: Db,
  id: number,
  values: Partial<Pick<StaffRow, 'name' | 'email' | 'login' | 'external' | 'active' | 'role' | 'mailImport'>>,
): Promise<PublicStaffRow | null> {
  const [row] = await db.update(staff).set(values).where(eq(staff.id, id)).returning(PUBLIC_STAFF_COLUMNS);
  return row ?? null;
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

/** A mapping row as shown: Von and the An person's id, login and name. */
const MAPPING_COLUMNS = {
  id: senderMapping.id,
  from: senderMapping.fromAddress,
  toStaffId: staff.id,
  toLogin: staff.login,
  toName: staff.name,
  /** whether the mapping takes effect: An is active, has a login and mail.import (domain.md item 5) */
  toEligible: sql<boolean>`(${staff.active} and ${staff.login} is not null and ${staff.mailImport})`.mapWith(Boolean),
};

export function listMappings(db: Db) {
  return db
    .select(MAPPING_COLUMNS)
    .from(senderMapping)
    .innerJoin(staff, eq(staff.id, senderMapping.toStaffId))
    .orderBy(senderMapping.fromAddress, staff.name);
}

/** @returns the new mapping's id, or null when the pair existed already */
export async function insertMapping(db: Db, fromAddress: string, toStaffId: number): Promise<number | null> {
  const rows = await db.insert(senderMapping).values({ fromAddress, toStaffId }).onConflictDoNothing().returning({ id: senderMapping.id });
  return rows[0]?.id ?? null;
}

/** One mapping row with its target, or null. */
export async function findMappingById(db: Db, id: number) {
  const [row] = await db
    .select(MAPPING_COLUMNS)
    .from(senderMapping)
    .innerJoin(staff, eq(staff.id, senderMapping.toStaffId))
    .where(eq(senderMapping.id, id));
  return row ?? null;
}

/** @returns false when no mapping has this id */
export async function deleteMapping(db: Db, id: number): Promise<boolean> {
  const rows = await db.delete(senderMapping).where(eq(senderMapping.id, id)).returning({ id: senderMapping.id });
  return rows.length > 0;
}
