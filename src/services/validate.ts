import { isIP } from 'node:net';
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

/**
 * A server's host name or IP address as a connection takes it: an IPv4 or IPv6 address (brackets
 * around IPv6, as in a URL, are removed) or a DNS name of labels of letters, digits and hyphens,
 * none starting or ending with a hyphen, each at most 63 and all at most 253 characters
 * (RFC 1123 §2.1, RFC 1035 §2.3.4). A port written after the name (`mail:587`) is refused with a
 * pointer to the port field.
 * @param value the host as typed (trimmed here)
 * @returns the host to connect to
 * @throws ValidationError (field `field`): empty, or not a host name or address
 */
export function hostName(value: string, field = 'host'): string {
  const host = value.trim();
  if (!host) throw new ValidationError(field, 'a host name or address is required');
  const unbracketed = /^\[(.*)\]$/.exec(host)?.[1] ?? host;
  if (isIP(unbracketed)) return unbracketed;
  const withPort = /^([^:\s]+):(\d+)$/.exec(host);
  if (withPort) throw new ValidationError(field, `"${host}" contains a port: give the host (${withPort[1]}) here and the port (${withPort[2]}) in the port field`);
  const labels = host.replace(/\.$/, '').split('.');
  const valid = host.length <= 253 && labels.every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
  if (!valid) throw new ValidationError(field, `"${host}" is not a host name or IP address`);
  return host;
}
