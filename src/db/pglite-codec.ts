/** PostgreSQL's type OID of `bytea`. */
const BYTEA_OID = 17;

/**
 * `bytea` in PGlite's text protocol (hex format, PostgreSQL docs §8.4.1) converted by Node's
 * native hex codec. PGlite's own converters go byte by byte through JavaScript arrays
 * (`Array.from(bytes).map(…).join('')`): measured for 100 KB, 14 ms → 0.4 ms to send and
 * 10 ms → 0.2 ms to read back (a 50 MB scan's raw read for a download: ~5 s → 0.1 s).
 */
export const pgliteByteaCodec = {
  serializers: {
    [BYTEA_OID]: (value: unknown) => {
      if (!(value instanceof Uint8Array)) throw new TypeError('bytea parameter must be a Uint8Array');
      return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
    },
  },
  parsers: {
    [BYTEA_OID]: (text: string) => Buffer.from(text.startsWith('\\x') ? text.slice(2) : text, 'hex'),
  },
};
