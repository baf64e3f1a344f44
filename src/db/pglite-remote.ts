import { Worker } from 'node:worker_threads';
import { errorFromWire, type WireError } from '../threads/wire.js';
import type { Reply, Request, WorkerInit } from './pglite-protocol.js';

type Results = { rows: unknown[]; fields: { name: string; dataTypeID: number }[]; affectedRows?: number };
type QueryOptions = { rowMode?: 'array' | 'object'; parsers?: Record<number, unknown> };
/** Distributes `Omit` over a union (Request without its id, per variant). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The query interface of one transaction of RemotePglite (the part of PGlite's `Transaction` drizzle-orm uses). */
export interface RemoteTransaction {
  query(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results>;
  exec(sql: string): Promise<Results[]>;
}

/** The embedded database stopped (its worker exited or failed): every later call is refused with this. */
export class DatabaseWorkerGone extends Error {
  readonly code = 'database-worker-gone';
  constructor(reason: string) {
    super(`the embedded database's thread has ended: ${reason}`);
  }
}

/**
 * Embedded PGlite in a worker thread of its own, with the part of PGlite's interface that
 * drizzle-orm's PGlite driver and db/client.ts call (`query`, `exec`, `transaction`, `listen`,
 * `close`). PostgreSQL's execution (WebAssembly) and PGlite's protocol layer then run beside the
 * gateway's thread instead of on it: SMTP sessions, parsing and the admin no longer wait for them
 * (issue 13; measured in docs/performance.md). Statements run in the worker one at a time, in
 * the order they arrive, as in PGlite itself; a transaction holds the database until it ends.
 *
 * Query options cross as data: a `parsers` entry is taken to return the text unchanged (drizzle's
 * are, for dates and times); the bytea codec (pglite-codec.ts) is applied in the worker. `bytea`
 * values arrive as Buffers.
 */
export class RemotePglite {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  readonly #listeners = new Map<number, (payload: string) => void>();
  #nextId = 1;
  #gone: Error | undefined;
  /** Resolves once PGlite in the worker is ready; rejects with its start-up error. */
  readonly waitReady: Promise<void>;

  /**
   * Starts the worker and PGlite in it (on disk in `dir`, durable as db/durable-pglite.ts
   * describes; in memory when `dir` is undefined). Await `waitReady` before use.
   */
  constructor(dir: string | undefined) {
    const init: WorkerInit = { module: new URL('./pglite-worker.ts', import.meta.url).href, dir };
    this.#worker = new Worker(new URL('../threads/entry.mjs', import.meta.url), { workerData: init });
    this.waitReady = new Promise((resolve, reject) => {
      const onReady = (message: { ready?: boolean; error?: WireError }) => {
        if (message.ready === undefined) return;
        this.#worker.off('message', onReady);
        this.#refWhileBusy();
        if (message.ready) resolve();
        else reject(errorFromWire(message.error!));
      };
      this.#worker.on('message', onReady);
      this.#worker.once('exit', (code) => reject(new DatabaseWorkerGone(`exit code ${code} during start`)));
    });
    this.#worker.on('message', (message: Reply | { notify: number; payload: string }) => {
      if ('notify' in message) return this.#listeners.get(message.notify)?.(message.payload);
      if (!('id' in message)) return;
      const call = this.#pending.get(message.id);
      if (!call) return;
      this.#pending.delete(message.id);
      this.#refWhileBusy();
      if (message.ok) call.resolve(message.result);
      else call.reject(errorFromWire(message.error));
    });
    this.#worker.on('error', (err) => this.#end(new DatabaseWorkerGone(err.message)));
    this.#worker.on('exit', (code) => this.#end(new DatabaseWorkerGone(`exit code ${code}`)));
  }

  #end(err: Error) {
    this.#gone ??= err;
    for (const call of this.#pending.values()) call.reject(this.#gone);
    this.#pending.clear();
  }

  /** The worker keeps the process alive only while an answer is awaited (like a socket with a request in flight). */
  #refWhileBusy() {
    if (this.#pending.size > 0) this.#worker.ref();
    else this.#worker.unref();
  }

  #call<T>(request: WithoutId<Request>): Promise<T> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#refWhileBusy();
      this.#worker.postMessage({ ...request, id });
    });
  }

  async #query(tx: number | undefined, sql: string, params?: unknown[], options?: QueryOptions): Promise<Results> {
    const wireOptions = options && { rowMode: options.rowMode, identityOids: Object.keys(options.parsers ?? {}).map(Number) };
    const results = await this.#call<Results>({ op: 'query', tx, sql, params, options: wireOptions });
    buffersIn(results);
    return results;
  }

  /** One statement with parameters ($1…), as PGlite's `query`; resolves to `{ rows, fields, affectedRows }`. */
  query(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results> {
    return this.#query(undefined, sql, params, options);
  }

  async #exec(tx: number | undefined, sql: string): Promise<Results[]> {
    const all = await this.#call<Results[]>({ op: 'exec', tx, sql });
    for (const r of all) buffersIn(r);
    return all;
  }

  /** Statements without parameters, as PGlite's `exec`. */
  exec(sql: string): Promise<Results[]> {
    return this.#exec(undefined, sql);
  }

  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws (its
   * error is rethrown). As PGlite's `transaction`.
   * @throws the error of `fn`, or the database's when the commit fails
   */
  async transaction<T>(fn: (tx: RemoteTransaction) => Promise<T>): Promise<T> {
    const tx = await this.#call<number>({ op: 'begin' });
    const handle: RemoteTransaction = {
      query: (sql, params, options) => this.#query(tx, sql, params, options),
      exec: (sql) => this.#exec(tx, sql),
    };
    let result: T;
    try {
      result = await fn(handle);
    } catch (err) {
      await this.#call({ op: 'end', tx, commit: false }).catch(() => {});
      throw err;
    }
    await this.#call({ op: 'end', tx, commit: true });
    return result;
  }

  /** PostgreSQL LISTEN; resolves to a function that stops listening. */
  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    const listener = await this.#call<number>({ op: 'listen', channel });
    this.#listeners.set(listener, onPayload);
    return async () => {
      this.#listeners.delete(listener);
      await this.#call({ op: 'unlisten', listener });
    };
  }

  /** Closes the database (PGlite's checkpoint and shutdown) and ends the worker. */
  async close(): Promise<void> {
    if (this.#gone) return;
    await this.#call({ op: 'close' });
    this.#gone = new DatabaseWorkerGone('closed');
    await this.#worker.terminate();
  }
}

/** Structured cloning turns Buffers into plain Uint8Arrays: the values of each row become Buffers again (no copy). */
function buffersIn(results: Results) {
  for (const row of results.rows ?? []) {
    const record = row as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const value = record[key];
      if (value instanceof Uint8Array && !Buffer.isBuffer(value)) record[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
}
