import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from './errors.js';

/**
 * The CA file setting of a mail account (mailbox or SMTP): `''` (or blanks) removes it, anything
 * else must be a readable PEM certificate (an intranet CA, RFC 5280).
 * @param value the path as entered; relative paths resolve against the working directory
 * @returns the absolute path, or null when removed
 * @throws ValidationError (field `caFile`) when the file is missing or not a certificate
 */
export async function checkCaFile(value: string): Promise<string | null> {
  const file = value.trim() ? path.resolve(value.trim()) : null;
  if (!file) return null;
  try {
    new X509Certificate(await readFile(file));
  } catch (err) {
    throw new ValidationError('caFile', `${file} ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not a PEM certificate'}`);
  }
  return file;
}
