import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { describeError } from '../db/errors.js';
import type { BatchItem, IngestResult } from './ingest.js';
import type { RawMessage } from './raw.js';
import { openQueueFiles, type QueueEntry } from './queue-files.js';
import type { SmtpSource } from './source.js';

/** What the dashboard and /healthz show of the inbound queue. */
export interface QueueStats {
  /** messages acknowledged (`250`) whose queue file is still there: not yet committed, or committed a moment ago and its file being removed */
  depth: number;
  /** age of the oldest of them in seconds, 0 when empty */
  oldestSeconds: number;
  /** 95th percentile of the time from `250` to the committed task, in milliseconds, over the last LATENCY_SAMPLES messages; null before the first */
  latencyP95Ms: number | null;
  /** messages whose ingest failed and waits for a retry */
  retrying: number;
}

export interface InboundQueue {
  /**
   * Writes a message durably into the queue (see queue-files.ts) and schedules its ingest.
   * Resolves once the bytes are on disk; the caller may then acknowledge.
   * @returns the queue id (named in the `250` reply and kept in the receipt's source)
   * @throws SizeLimitError past `maxBytes` (bytes); the stream's error; fs errors
   */
  accept(stream: Readable, source: SmtpSource, maxBytes: number): Promise<string>;
  stats(): QueueStats;
  /** Resolves when every accepted message is committed (tests, orderly stop). */
  drained(): Promise<void>;
  /** Stops taking new work, waits for the ingests in flight, closes the files. What is left stays for the next start. */
  close(): Promise<void>;
}

export interface QueueDeps {
  /** e.g. DATA_DIR/queue */
  dir: string;
  log: Logger;
  /** The ingest pipeline (resolves after the commit). */
  ingest(raw: RawMessage, source: SmtpSource): Promise<IngestResult>;
  /** Queue ids among `ids` that already have a receipt (a crash came between commit and removal). */
  alreadyStored(ids: string[]): Promise<Set<string>>;
  /** Ingests (single or batch) run at the same time (default 1). */
  concurrency?: number;
  /**
   * Several messages in one transaction (ingest.ts ingestBatch); per message its result or the
   * error that kept it out. Without it every message goes through `ingest` alone.
   */
  ingestBatch?(items: BatchItem[]): Promise<(IngestResult | Error)[]>;
}

/** How many recent `250`→task times the p95 is computed over. */
const LATENCY_SAMPLES = 1000;
/** A batch holds at most this many messages and this many bytes (their raw sizes). */
const BATCH_MAX = 32;
const BATCH_BYTES = 16 * 1024 * 1024;
const RETRY_FIRST_SECONDS = 1;
const RETRY_MAX_SECONDS = 60;

/**
 * The inbound queue: SMTP acknowledges once the message is on disk (queue-files.ts), and this
 * worker ingests from there, `concurrency` at a time, oldest first; a backlog goes in batches
 * (one transaction and one flush for up to BATCH_MAX messages, a savepoint each). An entry is removed only
 * after its ingest committed; a failed ingest (database down) is retried with backoff without
 * holding up the others. At start, what the previous run left is replayed; an entry whose
 * queue id already has a receipt is only removed (no second receipt).
 * @throws fs errors when DATA_DIR/queue cannot be created or read
 */
export async function openInboundQueue(deps: QueueDeps): Promise<InboundQueue> {
  const { log } = deps;
  const files = await openQueueFiles(deps.dir);
  const concurrency = deps.concurrency ?? 1;
  const waiting: QueueEntry[] = [];
  const pending = new Map<string, QueueEntry>();
  const retries = new Map<string, { attempts: number; timer: NodeJS.Timeout }>();
  const latencies: number[] = [];
  let latencyNext = 0;
  let running = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];
  const inFlight = new Set<Promise<void>>();

  function settleIdle() {
    if (pending.size > 0) return;
    for (const w of idleWaiters.splice(0)) w();
  }

  function pump() {
    while (!closed && running < concurrency && waiting.length > 0) {
      const batch = takeBatch();
      running++;
      const p = (batch.length === 1 ? runOne(batch[0]!) : runBatch(batch)).finally(() => {
        running--;
        inFlight.delete(p);
        pump();
        settleIdle();
      });
      inFlight.add(p);
    }
  }

  /**
   * The next work: the oldest entry, and when a backlog waits behind it (and a batch ingest is
   * available) up to BATCH_MAX of the following ones, BATCH_BYTES in all. An entry that failed
   * before goes alone.
   */
  function takeBatch(): QueueEntry[] {
    const first = waiting.shift()!;
    const batch = [first];
    if (!deps.ingestBatch || retries.has(first.id)) return batch;
    let bytes = first.raw.size;
    while (batch.length < BATCH_MAX && waiting.length > 0) {
      const next = waiting[0]!;
      if (retries.has(next.id) || bytes + next.raw.size > BATCH_BYTES) break;
      batch.push(waiting.shift()!);
      bytes += next.raw.size;
    }
    return batch;
  }

  async function runOne(entry: QueueEntry) {
    try {
      // after a failure the commit may have happened all the same (its answer was lost): then
      // the message is stored, and a second ingest would only add a second receipt
      const stored = retries.has(entry.id) && (await deps.alreadyStored([entry.id])).has(entry.id);
      if (!stored) await deps.ingest(entry.raw, entry.meta.source);
    } catch (err) {
      failed(entry, err);
      return;
    }
    await committed(entry);
  }

  async function runBatch(batch: QueueEntry[]) {
    let outcomes: (IngestResult | Error | undefined)[];
    try {
      outcomes = await deps.ingestBatch!(batch.map((e) => ({ raw: e.raw, source: e.meta.source })));
    } catch (err) {
      outcomes = batch.map(() => err as Error);
    }
    for (const [i, entry] of batch.entries()) {
      const outcome = outcomes[i];
      if (outcome === undefined || outcome instanceof Error) failed(entry, outcome ?? new Error('no outcome for this message'));
      else await committed(entry);
    }
  }

  /** An ingest failed: the entry stays on disk and is tried again, alone, after a backoff. */
  function failed(entry: QueueEntry, err: unknown) {
    const attempts = (retries.get(entry.id)?.attempts ?? 0) + 1;
    const seconds = Math.min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (attempts - 1));
    log.error({ queueId: entry.id, attempts, retryInSeconds: seconds, err: describeError(err) }, 'ingest of a queued message failed; it stays in the queue and is retried');
    if (closed) return;
    const timer = setTimeout(() => {
      if (closed) return;
      waiting.push(entry);
      pump();
    }, seconds * 1000);
    retries.set(entry.id, { attempts, timer });
  }

  /** The entry's message is committed: its file goes, its time is measured. */
  async function committed(entry: QueueEntry) {
    retries.delete(entry.id);
    latencies[latencyNext] = Date.now() - entry.meta.acceptedAt;
    latencyNext = (latencyNext + 1) % LATENCY_SAMPLES;
    try {
      await files.remove(entry.id);
    } catch (err) {
      // harmless: the next start finds the receipt and only removes the file
      log.warn({ queueId: entry.id, err: describeError(err) }, 'a committed message could not be removed from the queue');
    }
    pending.delete(entry.id);
  }

  function enqueue(entry: QueueEntry) {
    pending.set(entry.id, entry);
    waiting.push(entry);
    pump();
  }

  const left = await files.list((id, reason) =>
    log.error({ queueId: id, reason, movedTo: 'queue/bad' }, 'a file in the inbound queue is not a queue entry; moved aside, not deleted'),
  );
  if (left.length > 0) {
    const stored = await deps.alreadyStored(left.map((e) => e.id));
    for (const e of left) {
      if (stored.has(e.id)) await files.remove(e.id);
      else enqueue(e);
    }
    log.info({ replayed: left.length - stored.size, alreadyStored: stored.size }, 'inbound queue: messages from the previous run');
  }

  return {
    async accept(stream, source, maxBytes) {
      if (closed) throw new Error('the inbound queue is closed');
      const entry = await files.write(stream, source, maxBytes);
      enqueue(entry);
      return entry.id;
    },
    stats() {
      const now = Date.now();
      let oldest = now;
      for (const e of pending.values()) oldest = Math.min(oldest, e.meta.acceptedAt);
      const sorted = latencies.slice().sort((a, b) => a - b);
      return {
        depth: pending.size,
        oldestSeconds: Math.max(0, Math.round((now - oldest) / 1000)),
        latencyP95Ms: sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]! : null,
        retrying: retries.size,
      };
    },
    drained() {
      if (pending.size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async close() {
      closed = true;
      for (const r of retries.values()) clearTimeout(r.timer);
      await Promise.all([...inFlight]);
      idleWaiters.forEach((w) => w());
      idleWaiters = [];
      await files.close();
    },
  };
}
