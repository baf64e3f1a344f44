import { z } from 'zod';
import { CHANNELS, type Channel } from '../db/schema.js';
import { ValidationError } from './errors.js';

const emailSchema = z.email();

/**
 * Checks and normalises an e-mail address (RFC 5321 §4.1.2 mailbox, as zod's `email()` accepts it).
 * Dots out of place in the local part (`device.@x`, `a..b@x`, `.a@x`) are accepted as well: scanners
 * send such addresses, the receiver takes them, and the sender mapping must be able to name them.
 * @returns the address lower-cased and trimmed
 * @throws ValidationError naming `field`
 */
export function normaliseAddress(value: string, field: string): string {
  const v = value.trim().toLowerCase();
  const at = v.lastIndexOf('@');
  const tidy = `${v.slice(0, Math.max(at, 0)).replace(/\.{2,}/g, '.').replace(/^\.|\.$/g, '')}${v.slice(Math.max(at, 0))}`;
  if (!emailSchema.safeParse(v).success && !(at > 0 && emailSchema.safeParse(tidy).success)) {
    throw new ValidationError(field, `"${value}" is not an e-mail address`);
  }
  return v;
}

/** @throws ValidationError unless `value` is `general` or `scanner` */
export function parseChannel(value: string, field = 'channel'): Channel {
  if ((CHANNELS as readonly string[]).includes(value)) return value as Channel;
  throw new ValidationError(field, `"${value}" is not a channel; use one of: ${CHANNELS.join(', ')}`);
}
