import { and, eq, isNotNull } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import { senderMapping, staff } from '../db/schema.js';

/**
 * The query behind candidatesFor, not yet run: one column `id`, ascending. Ingest embeds it in
 * its first statement so that routing costs no round trip of its own.
 * @param senderAddress a lower-cased address (not null)
 */
export function candidatesQuery(tx: Tx, senderAddress: string) {
  return tx
    .select({ id: staff.id })
    .from(senderMapping)
    .innerJoin(staff, eq(staff.id, senderMapping.toStaffId))
    .where(and(eq(senderMapping.fromAddress, senderAddress.toLowerCase()), eq(staff.active, true), isNotNull(staff.login), eq(staff.mailImport, true)))
    .orderBy(staff.id);
}

/**
 * Staff members who are candidates for a message from `senderAddress`, by the sender mapping
 * ("E-Mail-Adressen verwalten", domain.md item 5): every `An` of a mapping whose `Von` equals the
 * sender (compared lower-case), limited to active staff with a login and the permission mail.import.
 * @param senderAddress lower-cased address from `From`, or null
 * @returns staff ids, ascending; empty → the task is unassigned
 */
export async function candidatesFor(tx: Tx, senderAddress: string | null): Promise<number[]> {
  if (!senderAddress) return [];
  return (await candidatesQuery(tx, senderAddress)).map((r) => r.id);
}
