/**
 * Text on its way into the database. PostgreSQL's `text` and `jsonb` refuse the character NUL
 * (U+0000: "invalid byte sequence for encoding UTF8: 0x00" / "unsupported Unicode escape
 * sequence"), and `jsonb` refuses half of a UTF-16 surrogate pair without its other half (the
 * drivers turn one in `text` into U+FFFD silently). Mail brings both: a quoted-printable `=00`, a
 * raw NUL in a header, a broken encoded-word. Such a message must still be stored (its raw bytes
 * are kept unchanged elsewhere), so the characters are taken out here, on both drivers, and the
 * caller learns which fields lost something.
 */

declare global {
  // ES2024, in Node 20's V8; not yet in the TypeScript lib this project targets
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

// eslint-disable-next-line no-control-regex
const NUL = /\u0000/g;

/**
 * One string made storable: NUL removed, a lone surrogate replaced by U+FFFD.
 * @returns the storable string and whether it differs from the input
 */
export function storableText(s: string): { value: string; changed: boolean } {
  let value = s.includes('\u0000') ? s.replace(NUL, '') : s;
  if (!value.isWellFormed()) value = value.toWellFormed();
  return { value, changed: value !== s };
}

/**
 * Makes every string in a value storable (storableText), walking arrays and plain objects;
 * other objects (Date, Buffer, streams, class instances) are returned as they are.
 * @param value what is about to be written
 * @param changed receives the dotted path of every string that was changed (`subject`,
 *   `attachments.2.filename`, `source.envelope.mailFrom`)
 * @param path the path of `value` itself ('' for the top)
 * @returns a copy where something changed, else the same value
 */
export function storable<T>(value: T, changed: string[], path = ''): T {
  if (typeof value === 'string') {
    const r = storableText(value);
    if (!r.changed) return value;
    changed.push(path || '(value)');
    return r.value as T;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((v, i) => {
      const r = storable(v, changed, path ? `${path}.${i}` : String(i));
      if (r !== v) (copy ??= [...value])[i] = r;
    });
    return (copy ?? value) as T;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    let copy: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(value)) {
      const r = storable(v, changed, path ? `${path}.${k}` : k);
      if (r !== v) (copy ??= { ...(value as Record<string, unknown>) })[k] = r;
    }
    return (copy ?? value) as T;
  }
  return value;
}
