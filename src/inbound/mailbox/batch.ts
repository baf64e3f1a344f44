import type { AppContext } from '../../context.js';
import type { BatchItem, IngestResult } from '../../ingest/ingest.js';
import type { PollReport } from './types.js';

/** Messages a poll downloads and stores together (one transaction, one after-import round): at most this many… */
export const BATCH_MESSAGES = 100;
/** …and at most this many bytes by the server's size (RFC822.SIZE, LIST); one larger message is a batch of its own. */
export const BATCH_BYTES = 16 * 1024 * 1024;

/** Whether a message of `size` bytes no longer fits a batch that holds `count` messages of `bytes` bytes. */
export function batchFull(count: number, bytes: number, size: number): boolean {
  return count > 0 && (count >= BATCH_MESSAGES || bytes + size > BATCH_BYTES);
}

/**
 * Stores one batch of a poll with ctx.ingestBatch (one transaction, a savepoint per message). A
 * message whose savepoint failed while others of the batch were stored is tried once more alone
 * with ctx.ingest (a race with another delivery of the same bytes resolves there); when the whole
 * batch failed (the database), every message fails and is retried on the next poll. Counts the
 * stored ones in `report` (imported or duplicates).
 * @param entries the batch: a caller's key per message (UID, POP3 number) and its BatchItem
 * @returns the keys stored (in the entries' order), and per key that was not its reason in plain words
 */
export async function storeBatch<K>(ctx: AppContext, entries: { key: K; item: BatchItem }[], report: PollReport): Promise<{ stored: K[]; failed: Map<K, string> }> {
  const stored: K[] = [];
  const failed = new Map<K, string>();
  if (entries.length === 0) return { stored, failed };
  let results: (IngestResult | Error)[];
  try {
    results = await ctx.ingestBatch(entries.map((e) => e.item));
  } catch (err) {
    results = entries.map(() => err as Error);
  }
  const allFailed = results.every((r) => r instanceof Error);
  for (const [i, { key, item }] of entries.entries()) {
    let r = results[i]!;
    if (r instanceof Error && !allFailed) {
      try {
        r = await ctx.ingest(item.raw, item.source, item.also);
      } catch (err) {
        r = err as Error;
      }
    }
    if (r instanceof Error) {
      failed.set(key, `could not be stored: ${r.message}`);
      continue;
    }
    if (r.duplicate) report.duplicates++;
    else report.imported++;
    stored.push(key);
  }
  return { stored, failed };
}
