// Messages between the gateway's thread and the embedded database's worker (pglite-remote.ts,
// pglite-worker.ts). Everything crosses by structured clone: no functions, so query options name
// the type OIDs whose text is kept as it is instead of carrying parser functions.

/** What the worker is started with: the data directory, or none for an in-memory database. */
export interface WorkerInit {
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

/** An error as it crosses: its message and name, and its own fields (PGlite's DatabaseError: code, severity, detail…). */
export interface WireError {
  message: string;
  name: string;
  fields: Record<string, unknown>;
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };

/** The fields of an error that survive structured cloning (plain values only). */
export function errorToWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { message: String(err), name: 'Error', fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value) || Array.isArray(value)) fields[key] = value;
  }
  return { message: err.message, name: err.name, fields };
}

/** The error again, on the receiving side: an Error with the same message, name and fields. */
export function errorFromWire(wire: WireError): Error {
  const err = Object.assign(new Error(wire.message), wire.fields);
  err.name = wire.name;
  return err;
}
