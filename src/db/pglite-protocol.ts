// Messages between the gateway's thread and the embedded database's worker (pglite-remote.ts,
// pglite-worker.ts). Everything crosses by structured clone: no functions, so query options name
// the type OIDs whose text is kept as it is instead of carrying parser functions.
import type { WireError } from '../threads/wire.js';

/** What the worker is started with: the data directory, or none for an in-memory database. */
export interface WorkerInit {
  /** the worker's module (threads/entry.mjs loads it) */
  module: string;
  dir: string | undefined;
}

export type Request =
  | { op: 'query'; id: number; tx?: number; sql: string; params?: unknown[]; options?: { rowMode?: 'array' | 'object'; identityOids?: number[] } }
  | { op: 'exec'; id: number; tx?: number; sql: string }
  | { op: 'begin'; id: number }
  | { op: 'end'; id: number; tx: number; commit: boolean }
  | { op: 'listen'; id: number; channel: string }
  | { op: 'unlisten'; id: number; listener: number }
  | { op: 'close'; id: number };

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };
