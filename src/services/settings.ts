import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/settings.js';
import { parseChannel } from './validate.js';

export const listChannelSettings = repo.listChannelSettings;
export const ensureSeed = repo.ensureSeed;

/** Turns "E-Mails automatisch abschließen" on or off for a channel. @throws ValidationError */
export async function setAutoComplete(db: Db, channel: string, on: boolean): Promise<void> {
  await repo.setAutoComplete(db, parseChannel(channel), on);
}

/** Channel bound to an inbound address (lower-cased), or null. */
export async function channelOfInboundAddress(db: Db, address: string) {
  return (await repo.findInboundAddress(db, address))?.channel ?? null;
}
