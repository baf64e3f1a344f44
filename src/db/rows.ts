import type { SQL } from 'drizzle-orm';
import type { Db, Tx } from './client.js';

/**
 * Runs a hand-written statement and returns its rows as plain objects keyed by the column names
 * the statement gives (no drizzle mapping: cast in SQL what the driver would return differently,
 * e.g. `::text` for json, and convert bigint ids with `Number()`), alike on postgres.js (an array)
 * and PGlite (`{ rows }`).
 * @throws the driver's error when the statement fails
 */
export async function queryRows<T>(db: Db | Tx, query: SQL): Promise<T[]> {
  const r = (await db.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(r) ? r : r.rows;
}
