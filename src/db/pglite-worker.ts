// The embedded database in a thread of its own (issue 13): PGlite's PostgreSQL (WebAssembly) and
// its JavaScript protocol layer took ~57 % of ingest's time on the gateway's one thread, shared
// with every SMTP session. This module runs inside a worker_thread started by pglite-remote.ts
// and answers its requests (protocol in pglite-protocol.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { DurableNodeFS, durableStartParams } from './durable-pglite.js';
import { pgliteByteaCodec } from './pglite-codec.js';
import { errorToWire } from '../threads/wire.js';
import type { Reply, Request, WorkerInit } from './pglite-protocol.js';

const port = parentPort!;
const init = workerData as WorkerInit;

/** Rolls a transaction back when the main thread asks for it (thrown inside PGlite's transaction()). */
class RollbackRequested extends Error {}

const client = init.dir
  ? new PGlite({ fs: new DurableNodeFS(init.dir), startParams: durableStartParams(), ...pgliteByteaCodec })
  : new PGlite({ ...pgliteByteaCodec });

/** Open transactions by id, with the function that ends each (commit or rollback). */
const transactions = new Map<number, { tx: Transaction; end(commit: boolean, requestId: number): void }>();
const listeners = new Map<number, () => Promise<void>>();
let nextId = 1;

function reply(message: Reply) {
  port.postMessage(message);
}

/** PGlite's query options from their wire form: drizzle's parsers return the text unchanged (identity) for the listed type OIDs. */
function queryOptions(options: { rowMode?: 'array' | 'object'; identityOids?: number[] } | undefined) {
  if (!options) return undefined;
  const parsers: Record<number, (text: string) => string> = {};
  for (const oid of options.identityOids ?? []) parsers[oid] = (text) => text;
  return { rowMode: options.rowMode, parsers };
}

function begin(requestId: number) {
  const id = nextId++;
  let endRequest = 0;
  client
    .transaction(async (tx) => {
      const commit = await new Promise<boolean>((resolve) => {
        transactions.set(id, {
          tx,
          end: (c, rid) => {
            endRequest = rid;
            resolve(c);
          },
        });
        reply({ id: requestId, ok: true, result: id });
      });
      if (!commit) throw new RollbackRequested();
    })
    .then(
      () => reply({ id: endRequest, ok: true, result: null }),
      (err) => {
        if (!endRequest) return reply({ id: requestId, ok: false, error: errorToWire(err) });
        if (err instanceof RollbackRequested) reply({ id: endRequest, ok: true, result: null });
        else reply({ id: endRequest, ok: false, error: errorToWire(err) });
      },
    )
    .finally(() => transactions.delete(id));
}

/** Where a statement runs: its open transaction, or the database outside any. @throws when that transaction has ended */
function target(tx: number | undefined): PGlite | Transaction {
  const found = tx ? transactions.get(tx)?.tx : client;
  if (!found) throw new Error(`transaction ${tx} is not open`);
  return found;
}

async function handle(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'query':
      return target(request.tx).query(request.sql, request.params, queryOptions(request.options));
    case 'exec':
      return target(request.tx).exec(request.sql);
    case 'listen': {
      const id = nextId++;
      listeners.set(id, await client.listen(request.channel, (payload) => port.postMessage({ notify: id, payload })));
      return id;
    }
    case 'unlisten': {
      const stop = listeners.get(request.listener);
      listeners.delete(request.listener);
      await stop?.();
      return null;
    }
    case 'close':
      await client.close();
      return null;
    default:
      throw new Error(`unknown request ${(request as { op: string }).op}`);
  }
}

port.on('message', (request: Request) => {
  if (request.op === 'begin') return begin(request.id);
  if (request.op === 'end') {
    const open = transactions.get(request.tx);
    if (!open) return reply({ id: request.id, ok: false, error: errorToWire(new Error(`transaction ${request.tx} is not open`)) });
    return open.end(request.commit, request.id);
  }
  handle(request).then(
    (result) => reply({ id: request.id, ok: true, result }),
    (err) => reply({ id: request.id, ok: false, error: errorToWire(err) }),
  );
});

client.waitReady.then(
  () => port.postMessage({ ready: true }),
  (err) => port.postMessage({ ready: false, error: errorToWire(err) }),
);
