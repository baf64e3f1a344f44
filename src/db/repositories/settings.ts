import { eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { activityType, channelSetting, inboundAddress, type Channel } from '../schema.js';

/** Activity types seeded on first start, per channel ("E-Mail-Eingang", "Scan-Eingang"). */
export const SEED_ACTIVITY_TYPES: Record<Channel, string> = { general: 'E-Mail-Eingang', scanner: 'Scan-Eingang' };

/** Inserts the seed activity types and one settings row per channel; leaves existing rows alone. */
export async function ensureSeed(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    for (const [channel, name] of Object.entries(SEED_ACTIVITY_TYPES) as [Channel, string][]) {
      await tx.insert(activityType).values({ name }).onConflictDoNothing();
      const [type] = await tx.select({ id: activityType.id }).from(activityType).where(eq(activityType.name, name));
      await tx.insert(channelSetting).values({ channel, activityTypeId: type!.id }).onConflictDoNothing();
    }
  });
}

export function listChannelSettings(db: Db) {
  return db
    .select({
      channel: channelSetting.channel,
      activityType: activityType.name,
      autoImport: channelSetting.autoImport,
      pollIntervalMinutes: channelSetting.pollIntervalMinutes,
      autoComplete: channelSetting.autoComplete,
    })
    .from(channelSetting)
    .innerJoin(activityType, eq(activityType.id, channelSetting.activityTypeId))
    .orderBy(channelSetting.channel);
}

export async function updateChannelSetting(
  db: Db,
  channel: Channel,
  values: Partial<Pick<typeof channelSetting.$inferInsert, 'autoComplete' | 'autoImport' | 'pollIntervalMinutes'>>,
): Promise<void> {
  await db.update(channelSetting).set(values).where(eq(channelSetting.channel, channel));
}

export async function findInboundAddress(db: Db, address: string) {
  const [row] = await db.select().from(inboundAddress).where(eq(inboundAddress.address, address));
  return row ?? null;
}

export function listInboundAddresses(db: Db) {
  return db.select().from(inboundAddress).orderBy(inboundAddress.address);
}

/** @returns false when the address was present already */
export async function insertInboundAddress(db: Db, address: string, channel: Channel): Promise<boolean> {
  const rows = await db.insert(inboundAddress).values({ address, channel }).onConflictDoNothing().returning();
  return rows.length > 0;
}

export async function deleteInboundAddress(db: Db, address: string): Promise<boolean> {
  const rows = await db.delete(inboundAddress).where(eq(inboundAddress.address, address)).returning();
  return rows.length > 0;
}
