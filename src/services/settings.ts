import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/settings.js';
import type { Database } from '../db/client.js';
import { publish } from '../events.js';
import { useActivityType } from './activity-types.js';
import { NotFoundError, ValidationError } from './errors.js';
import { parseChannel } from './validate.js';

export const listChannelSettings = repo.listChannelSettings;
export const ensureSeed = repo.ensureSeed;

/** Turns "E-Mails automatisch abschließen" on or off for a channel. @throws ValidationError */
export async function setAutoComplete(db: Db, channel: string, on: boolean): Promise<void> {
  await repo.updateChannelSetting(db, parseChannel(channel), { autoComplete: on });
}

/** @throws ValidationError unless `n` is undefined or a whole number 1–1440 */
function checkPollInterval(n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 1440)) {
    throw new ValidationError('pollIntervalMinutes', `"${n}" is not a whole number of minutes between 1 and 1440`);
  }
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
  checkPollInterval(input.pollIntervalMinutes);
  await repo.updateChannelSetting(db, channel, input);
  await publish(database, 'mailbox.changed', { channel });
}

/** All settings of a channel at once: the import settings and the activity type of new tasks. */
export interface ChannelSettingsInput extends ImportSettingsInput {
  /** name of the activity type ("Tätigkeit") new tasks of the channel get */
  activityType?: string;
}

/**
 * Changes a channel's settings: the activity type through {@link useActivityType}, the import
 * settings through {@link setImportSettings} (the scheduler re-plans). Everything is checked
 * before anything is written.
 * @returns the channel's settings afterwards (channel, activityType, autoImport, pollIntervalMinutes, autoComplete)
 * @throws ValidationError naming the field: unknown channel, unknown activity type, interval outside 1–1440, nothing to change
 */
export async function changeChannelSettings(ctx: { db: Db; database: Database }, channelName: string, input: ChannelSettingsInput) {
  const channel = parseChannel(channelName);
  const { activityType, ...importSettings } = input;
  const imports = Object.fromEntries(Object.entries(importSettings).filter(([, v]) => v !== undefined)) as ImportSettingsInput;
  if (activityType === undefined && !Object.keys(imports).length) {
    throw new ValidationError('body', 'nothing to change: give activityType, autoImport, pollIntervalMinutes or autoComplete');
  }
  checkPollInterval(imports.pollIntervalMinutes);
  if (activityType !== undefined) {
    try {
      await useActivityType(ctx.db, activityType, channel);
    } catch (err) {
      if (err instanceof NotFoundError) throw new ValidationError('activityType', err.message);
      throw err;
    }
  }
  if (Object.keys(imports).length) await setImportSettings(ctx, channel, imports);
  return (await repo.listChannelSettings(ctx.db)).find((s) => s.channel === channel)!;
}

/** Channel bound to an inbound address (lower-cased), or null. */
export async function channelOfInboundAddress(db: Db, address: string) {
  return (await repo.findInboundAddress(db, address))?.channel ?? null;
}
