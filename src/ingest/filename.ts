import path from 'node:path';

const MAX_BYTES = 200;

/**
 * Makes an attachment's declared file name safe to store and to offer for download:
 * drops any path part (`/` and `\`), control characters (C0, DEL, C1) and characters that
 * Windows forbids, trims leading dots and surrounding spaces, and caps the length at 200 bytes
 * (UTF-8) keeping the extension. Falls back to `attachment-<n>` (plus an extension from
 * `fallbackExtension`) when nothing usable remains.
 * @param declared the name from `Content-Disposition`/`Content-Type` (already decoded, RFC 2231/2047)
 * @param position 1-based position of the part, for the fallback name
 */
export function safeFilename(declared: string | undefined, position: number, fallbackExtension?: string): string {
  let name = (declared ?? '').normalize('NFC');
  name = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  name = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').replace(/[<>:"|?*]/g, '_');
  name = name.trim().replace(/^\.+/, '').trim();
  if (!name) return `attachment-${position}${fallbackExtension ? `.${fallbackExtension}` : ''}`;
  if (Buffer.byteLength(name) > MAX_BYTES) {
    const ext = path.extname(name).slice(0, 20);
    let stem = name.slice(0, name.length - ext.length);
    while (Buffer.byteLength(stem + ext) > MAX_BYTES) stem = [...stem].slice(0, -1).join('');
    name = stem + ext;
  }
  return name;
}
