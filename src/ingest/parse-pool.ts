import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { errorFromWire, type WireError } from '../threads/wire.js';
import type { ParsedAttachment, ParsedMessage } from './parse.js';
import { parseForIngest, type ParseOutcome } from './parse-step.js';
import { rawAt, type RawLocation, type RawMessage } from './raw.js';

/** A RawMessage as it crosses to a parse worker. */
interface RawOnWire {
  location: RawLocation;
  size: number;
  sha256: string;
}

export interface ParseRequest {
  id: number;
  raw: RawOnWire;
  spoolDir: string;
}

/** ParseOutcome with each attachment's content as a location. */
type OutcomeOnWire = Omit<ParseOutcome, 'parsed'> & {
  parsed: (Omit<ParsedMessage, 'attachments'> & { attachments: (Omit<ParsedAttachment, 'content'> & { content: RawOnWire })[] }) | null;
};

export type ParseReply = { id: number; ok: true; outcome: OutcomeOnWire } | { id: number; ok: false; error: WireError };

/** One worker thread and the requests it has not answered yet. */
interface Lane {
  worker: Worker;
  pending: Map<number, { resolve(o: ParseOutcome): void; reject(err: Error): void }>;
}

/**
 * Parses messages for ingest (parse-step.ts parseForIngest) in worker threads, so that
 * mailparser, the fingerprint and attachment hashing run beside the thread that answers SMTP and
 * HTTP instead of on it (issue 13: they were a third of that thread's time under load, while a
 * core stood idle). A message whose bytes have no `location` (RawMessage) is parsed in the
 * calling thread. A worker that dies fails its pending parses (the caller's retry parses again)
 * and is replaced on the next call.
 */
export class ParsePool {
  readonly #lanes: (Lane | undefined)[];
  #next = 0;
  #nextId = 1;

  /** @param threads worker threads (default: one less than the CPUs, at least 1, at most 4) */
  constructor(threads = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    this.#lanes = Array.from({ length: threads }, () => undefined);
  }

  #lane(): Lane {
    const i = this.#next++ % this.#lanes.length;
    let lane = this.#lanes[i];
    if (lane) return lane;
    const worker = new Worker(new URL('../threads/entry.mjs', import.meta.url), {
      workerData: { module: new URL('./parse-worker.ts', import.meta.url).href },
    });
    const created: Lane = { worker, pending: new Map() };
    lane = created;
    worker.unref();
    worker.on('message', (reply: ParseReply) => {
      const call = created.pending.get(reply.id);
      if (!call) return;
      created.pending.delete(reply.id);
      if (created.pending.size === 0) worker.unref();
      if (reply.ok) call.resolve(outcomeIn(reply.outcome));
      else call.reject(errorFromWire(reply.error));
    });
    const gone = (why: string) => {
      if (this.#lanes[i] === created) this.#lanes[i] = undefined;
      for (const call of created.pending.values()) call.reject(new Error(`the parse worker has ended: ${why}`));
      created.pending.clear();
    };
    worker.on('error', (err) => gone(err.message));
    worker.on('exit', (code) => gone(`exit code ${code}`));
    this.#lanes[i] = created;
    return created;
  }

  /**
   * Parses `raw` for ingest in a worker (or here, when its bytes have no location).
   * @param spoolDir directory for attachments too large for memory; their files are the caller's
   *   to remove (discardParsed), as with a parse in this thread
   * @returns as parseForIngest
   * @throws as parseForIngest; an Error when the worker ended before it answered
   */
  parse(raw: RawMessage, spoolDir: string): Promise<ParseOutcome> {
    if (!raw.location) return parseForIngest(raw, spoolDir);
    const lane = this.#lane();
    const id = this.#nextId++;
    return new Promise<ParseOutcome>((resolve, reject) => {
      lane.pending.set(id, { resolve, reject });
      lane.worker.ref();
      const request: ParseRequest = { id, raw: { location: raw.location!, size: raw.size, sha256: raw.sha256 }, spoolDir };
      lane.worker.postMessage(request);
    });
  }

  /** Ends the worker threads (parses under way fail). */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((lane) => lane?.worker.terminate()));
    this.#lanes.fill(undefined);
  }
}

/** The outcome with attachments as RawMessages again. */
function outcomeIn(wire: OutcomeOnWire): ParseOutcome {
  if (!wire.parsed) return { ...wire, parsed: null };
  const attachments = wire.parsed.attachments.map(({ content, ...a }) => ({ ...a, content: rawAt(content.location, content.size, content.sha256) }));
  return { ...wire, parsed: { ...wire.parsed, attachments } };
}

let shared: ParsePool | undefined;

/** The process's parse pool (created on first use; its idle workers keep no process alive). */
export function sharedParsePool(): ParsePool {
  shared ??= new ParsePool();
  return shared;
}
