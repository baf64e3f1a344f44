import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/settings.js';
import type { Channel } from '../db/schema.js';
import { ValidationError } from './errors.js';
import { normaliseAddress, parseChannel } from './validate.js';

/**
 * Binds an inbound address (accepted in SMTP `RCPT TO`) to a channel.
 * @throws ValidationError for an invalid address or channel, or an address bound already
 */
export async function addInboundAddress(db: Db, address: string, channel: string): Promise<{ address: string; channel: Channel }> {
  const a = normaliseAddress(address, 'address');
  const c = parseChannel(channel);
  if (!(await repo.insertInboundAddress(db, a, c))) {
    const existing = await repo.findInboundAddress(db, a);
    throw new ValidationError('address', `${a} is already an inbound address of channel ${existing?.channel}`);
  }
  return { address: a, channel: c };
}

/** @throws ValidationError when the address is not an inbound address */
export async function removeInboundAddress(db: Db, address: string): Promise<void> {
  if (!(await repo.deleteInboundAddress(db, address.trim().toLowerCase()))) {
    throw new ValidationError('address', `${address} is not an inbound address`);
  }
}

export const listInboundAddresses = repo.listInboundAddresses;
