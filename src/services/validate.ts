import { z } from 'zod';
import { CHANNELS, type Channel } from '../db/schema.js';
import { ValidationError } from './errors.js';

const emailSchema = z.email();

/**
 * Checks and normalises an e-mail address (RFC 5321 §4.1.2 mailbox, as zod's `email()` accepts it).
 * @returns the address lower-cased and trimmed
 * @throws ValidationError naming `field`
 */
export function normaliseAddress(value: string, field: string): string {
  const v = value.trim().toLowerCase();
  if (!emailSchema.safeParse(v).success) throw new ValidationError(field, `"${value}" is not an e-mail address`);
  return v;
}

/** @throws ValidationError unless `value` is `general` or `scanner` */
export function parseChannel(value: string, field = 'channel'): Channel {
  if ((CHANNELS as readonly string[]).includes(value)) return value as Channel;
  throw new ValidationError(field, `"${value}" is not a channel; use one of: ${CHANNELS.join(', ')}`);
}
