// What crosses between the gateway's threads besides plain data: errors.

/** An error as it crosses: its message and name, and its own fields (PGlite's DatabaseError: code, severity, detail…). */
export interface WireError {
  message: string;
  name: string;
  fields: Record<string, unknown>;
}

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
