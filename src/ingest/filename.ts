import path from 'node:path';

const MAX_BYTES = 200;

/**
 * Makes an attachment's declared file name safe to store and to offer for download:
 * drops any path part (`/` and `\`), control characters (C0, DEL, C1) and Unicode format
 * characters (bidi overrides, zero-width), replaces characters that Windows forbids (`<>:"|?*`)
 * with `_`, trims leading dots and surrounding spaces, and caps the length at 200 bytes
 * (UTF-8) keeping the extension. Falls back to `attachment-<n>` (plus an extension from
 * `fallbackExtension`) when nothing usable remains.
 * @param declared the name from `Content-Disposition`/`Content-Type` (already decoded, RFC 2231/2047)
 * @param position 1-based position of the part, for the fallback name
 */
export function safeFilename(declared: string | undefined, position: number, fallbackExtension?: string): string {
  let name = (declared ?? '').normalize('NFC');
  name = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  // C0/C1 controls and the Unicode format characters used to disguise names (bidi overrides such
  // as U+202E turn "gpj.exe" around; zero-width characters hide parts)
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '').replace(/[<>:"|?*]/g, '_');
  name = name.trim().replace(/^\.+/, '').trim();
  if (!name) return `attachment-${position}${fallbackExtension ? `.${fallbackExtension}` : ''}`;
  if (Buffer.byteLength(name) > MAX_BYTES) {
    // By code points, so that a surrogate pair is never cut in half; a code point is at least one
    // byte, so at most MAX_BYTES of them can stay (keeps this linear for a huge declared name).
    const chars = [...name];
    const ext = [...path.extname(name)].slice(0, 20).join('');
    const stem = chars.slice(0, Math.min(chars.length - [...ext].length, MAX_BYTES));
    while (stem.length > 0 && Buffer.byteLength(stem.join('') + ext) > MAX_BYTES) stem.pop();
    name = stem.join('') + ext;
  }
  // Windows forbids names that end in a dot or a space
  name = name.replace(/[. ]+$/, '');
  return name || `attachment-${position}${fallbackExtension ? `.${fallbackExtension}` : ''}`;
}
