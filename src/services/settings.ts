import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/settings.js';
import type { Database } from '../db/client.js';
import { publish } from '../events.js';
import { ValidationError } from './errors.js';
import { parseChannel } from './validate.js';

export const listChannelSettings = repo.listChannelSettings;
export const ensureSeed = repo.ensureSeed;

/** Turns "E-Mails automatisch abschließen" on or off for a channel. @throws ValidationError */
export async function setAutoComplete(db: Db, channel: string, on: boolean): Promise<void> {
  await repo.updateChannelSetting(db, parseChannel(channel), { autoComplete: on });
}

export interface ImportSettingsInput {
  autoComplete?: boolean;
  /** "E-Mails automatisch einlesen" */
  autoImport?: boolean;
  /** "Automatisches Einlesen alle x Minuten": 1–1440 (the reference recommends 15) */
  pollIntervalMinutes?: number;
}

/**
 * Changes a channel's import settings (reference: "Automatisches Einlesen"); the scheduler re-plans.
 * @throws ValidationError naming the field
 */
export async function setImportSettings(
  { db, database }: { db: Db; database: Database },
  channelName: string,
  input: ImportSettingsInput,
): Promise<void> {
  const channel = parseChannel(channelName);
  const n = input.pollIntervalMinutes;
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 1440)) {
    throw new ValidationError('pollIntervalMinutes', `"${n}" is not a whole number of minutes between 1 and 1440`);
  }
  await repo.updateChannelSetting(db, channel, input);
  await publish(database, 'mailbox.changed', { channel });
}

/** Channel bound to an inbound address (lower-cased), or null. */
export async function channelOfInboundAddress(db: Db, address: string) {
  return (await repo.findInboundAddress(db, address))?.channel ?? null;
}
