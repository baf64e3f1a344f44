import { count, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { activityType, channelSetting, task, type Channel } from '../db/schema.js';
import { NotFoundError, ValidationError } from './errors.js';
import { parseChannel } from './validate.js';

/** Longest activity type name accepted. */
export const ACTIVITY_TYPE_NAME_MAX = 100;

/** One activity type with where it is used. */
export interface ActivityTypeView {
  id: number;
  name: string;
  /** channels whose new tasks get this type */
  channels: Channel[];
  /** tasks of this type */
  tasks: number;
}

/** @throws ValidationError unless the name is non-empty, at most 100 characters, without control characters */
function checkName(value: string, field: string): string {
  const name = value.trim();
  if (!name) throw new ValidationError(field, 'an activity type needs a name');
  if ([...name].length > ACTIVITY_TYPE_NAME_MAX) throw new ValidationError(field, `"${name}" is longer than ${ACTIVITY_TYPE_NAME_MAX} characters`);
  if (/\p{Cc}/u.test(name)) throw new ValidationError(field, 'an activity type name cannot contain control characters');
  return name;
}

async function findByName(db: Db, name: string) {
  const [row] = await db.select().from(activityType).where(sql`lower(${activityType.name}) = ${name.toLowerCase()}`);
  return row ?? null;
}

/** Activity types ("Tätigkeiten") by name, with the channels using them and their number of tasks. */
export async function listActivityTypes(db: Db): Promise<ActivityTypeView[]> {
  const types = await db.select().from(activityType).orderBy(sql`lower(${activityType.name})`, activityType.id);
  const settings = await db.select({ channel: channelSetting.channel, id: channelSetting.activityTypeId }).from(channelSetting).orderBy(channelSetting.channel);
  const counts = await db.select({ id: task.activityTypeId, n: count() }).from(task).groupBy(task.activityTypeId);
  return types.map((t) => ({
    id: t.id,
    name: t.name,
    channels: settings.filter((s) => s.id === t.id).map((s) => s.channel),
    tasks: counts.find((c) => c.id === t.id)?.n ?? 0,
  }));
}

/**
 * Adds an activity type ("Tätigkeit").
 * Rules: a name (trimmed, at most 100 characters, no control characters), unique regardless of case.
 * @throws ValidationError naming `name`
 */
export async function addActivityType(db: Db, name: string): Promise<{ id: number; name: string }> {
  const clean = checkName(name, 'name');
  const other = await findByName(db, clean);
  if (other) throw new ValidationError('name', `an activity type named "${other.name}" exists`);
  const [row] = await db.insert(activityType).values({ name: clean }).onConflictDoNothing().returning();
  // lost a race against an insert of the same name (the unique index on lower(name) decides)
  if (!row) throw new ValidationError('name', `an activity type named "${clean}" exists`);
  return row;
}

/**
 * Renames an activity type; its tasks and channel settings keep it. Changing only the case of
 * the name is allowed.
 * @throws NotFoundError when no type is named `from` (regardless of case)
 * @throws ValidationError when `to` breaks the name rules or another type has it
 */
export async function renameActivityType(db: Db, from: string, to: string): Promise<{ id: number; name: string }> {
  const current = await findByName(db, from.trim());
  if (!current) throw new NotFoundError(`no activity type is named "${from.trim()}"`);
  return rename(db, current.id, to, 'to');
}

/** Gives type `id` the name `to` (checked as `field`). @throws ValidationError when it breaks the rules or another type has it */
async function rename(db: Db, id: number, to: string, field: string): Promise<{ id: number; name: string }> {
  const clean = checkName(to, field);
  const other = await findByName(db, clean);
  if (other && other.id !== id) throw new ValidationError(field, `an activity type named "${other.name}" exists`);
  const [row] = await db.update(activityType).set({ name: clean }).where(eq(activityType.id, id)).returning();
  return row!;
}

/**
 * Renames the activity type with this id (as {@link renameActivityType}; the new name is checked as `name`).
 * @throws NotFoundError for an unknown id; ValidationError (`name`) when the name breaks the rules or another type has it
 */
export async function renameActivityTypeById(db: Db, id: number, name: string): Promise<{ id: number; name: string }> {
  const [current] = await db.select({ id: activityType.id }).from(activityType).where(eq(activityType.id, id));
  if (!current) throw new NotFoundError(`no activity type has the id ${id}`);
  return rename(db, id, name, 'name');
}

/**
 * Makes new tasks of a channel get this activity type (the reference's "Tätigkeit" per mailbox);
 * tasks that exist keep theirs.
 * @throws NotFoundError for an unknown type, ValidationError for an unknown channel
 */
export async function useActivityType(db: Db, name: string, channelName: string): Promise<{ channel: Channel; activityType: string }> {
  const channel = parseChannel(channelName);
  const type = await findByName(db, name.trim());
  if (!type) throw new NotFoundError(`no activity type is named "${name.trim()}"`);
  await db.update(channelSetting).set({ activityTypeId: type.id }).where(eq(channelSetting.channel, channel));
  return { channel, activityType: type.name };
}
