import { eq, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { deviceAccount } from '../schema.js';

export type DeviceRow = typeof deviceAccount.$inferSelect;
const byName = (name: string) => sql`lower(${deviceAccount.name}) = ${name.toLowerCase()}`;

export async function findDevice(db: Db, name: string): Promise<DeviceRow | null> {
  const [row] = await db.select().from(deviceAccount).where(byName(name));
  return row ?? null;
}

export function listDevices(db: Db) {
  return db
    .select({ id: deviceAccount.id, name: deviceAccount.name, active: deviceAccount.active, createdAt: deviceAccount.createdAt, lastAuthAt: deviceAccount.lastAuthAt })
    .from(deviceAccount)
    .orderBy(deviceAccount.name);
}

/** @returns false when the name is taken */
export async function insertDevice(db: Db, name: string, passwordHash: string): Promise<boolean> {
  const rows = await db.insert(deviceAccount).values({ name, passwordHash }).onConflictDoNothing().returning({ id: deviceAccount.id });
  return rows.length > 0;
}

export async function updateDevice(db: Db, name: string, values: Partial<Pick<DeviceRow, 'passwordHash' | 'active' | 'lastAuthAt'>>): Promise<boolean> {
  const rows = await db.update(deviceAccount).set(values).where(byName(name)).returning({ id: deviceAccount.id });
  return rows.length > 0;
}

export async function deleteDevice(db: Db, id: number): Promise<void> {
  await db.delete(deviceAccount).where(eq(deviceAccount.id, id));
}
