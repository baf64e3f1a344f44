import { Hono, type Context, type Next } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { CHANNELS, STAFF_ROLES } from '../../db/schema.js';
import { addActivityType, listActivityTypes, renameActivityTypeById } from '../../services/activity-types.js';
import { CSV_ENCODINGS, importMappingsCsv, importStaffCsv } from '../../services/csv-import.js';
import { getSendLimits, SEND_LIMIT_BOUNDS, setSendLimits } from '../../services/send-limits.js';
import { changeChannelSettings, listChannelSettings } from '../../services/settings.js';
import { routeAfterMapping, routeWaitingTasks } from '../../services/staff-lifecycle.js';
import { addMapping, addStaff, getStaff, listMappings, listStaff, removeMapping, setStaffPasswordById, updateStaff } from '../../services/staff.js';
import type { Principal } from '../../services/tokens.js';
import { document, idParams, jsonBody, validate } from '../api-spec.js';

type ApiEnv = { Variables: { principal: Principal } };

const address = (what: string) => z.string().max(320).meta({ description: what });
const flag = (what: string) => z.boolean().optional().meta({ description: what });

/** Fields of a staff record an admin sets (the password has its own endpoint; the hash is never shown). */
const staffFields = {
  name: z.string().max(200).meta({ description: '"Nachname, Vorname"' }),
  email: address('e-mail address, unique among active staff (case-insensitive)'),
  login: z.string().max(64).meta({ description: 'login name; external people have none' }),
  external: flag('external person: no login, no licence; recorded so the address can be mapped'),
  active: flag('"Aktuell"; false deactivates: unclaimed candidacies end, tasks left without candidate become unassigned'),
  role: z.enum(STAFF_ROLES).optional().meta({ description: 'admin manages everything (needs a login); staff (default) sees own tasks' }),
  mailImport: flag('permission mail.import ("E-Mails automatisch einlesen"); default: yes with a login'),
};

/** Body of `POST /staff`. */
export const staffCreateBody = z.strictObject({ ...staffFields, login: staffFields.login.optional() });

/** Body of `PATCH /staff/{id}`: any of the fields; `login: null` removes the login. */
export const staffPatchBody = z.strictObject({
  ...staffFields,
  name: staffFields.name.optional(),
  email: staffFields.email.optional(),
  login: staffFields.login.nullable().optional(),
});

/** Body of `PUT /staff/{id}/password`. */
export const staffPasswordBody = z.strictObject({ password: z.string().max(1024).meta({ description: 'at least 10 characters, one line; stored as an argon2id hash' }) });

/** Body of `POST /mappings`: a row Von → An. */
export const mappingBody = z.strictObject({
  from: address('sender address: the e-mail of an active staff record (external people included)'),
  to: z
    .union([z.string().min(1).max(64), z.number().int().min(1)])
    .meta({ description: 'login (or id) of an active staff member with a login and mail.import' }),
  routeWaiting: flag('also route the unassigned tasks already waiting from this sender'),
});

/** Body of `POST /mappings/route`. */
export const mappingRouteBody = z.strictObject({ from: address('sender address whose waiting unassigned tasks are routed by the current mapping') });

/** Body of `POST /activity-types` and `PATCH /activity-types/{id}`. */
export const activityTypeBody = z.strictObject({ name: z.string().max(1000).meta({ description: 'at most 100 characters, unique regardless of case' }) });

/** Path of `PATCH /settings/{channel}`. */
export const channelParams = z.object({ channel: z.enum(CHANNELS) });

/** Body of `PATCH /settings/{channel}`: at least one field. */
export const settingsBody = z.strictObject({
  activityType: z.string().min(1).max(1000).optional().meta({ description: 'name of the activity type new tasks of the channel get' }),
  autoImport: flag('"E-Mails automatisch einlesen": poll on a cycle; false: at start and on sync'),
  pollIntervalMinutes: z.number().int().min(1).max(1440).optional().meta({ description: '"Automatisches Einlesen alle x Minuten", 1–1440' }),
  autoComplete: flag('"E-Mails automatisch abschließen": new tasks are created completed'),
});

/**
 * Body of `PATCH /send-limits`: at least one field. The bounds are checked by the service (one
 * rule for the API, the admin page and the CLI), so the schema takes any whole number.
 */
export const sendLimitsBody = z.strictObject({
  maxRecipients: z
    .number()
    .int()
    .optional()
    .meta({ description: `recipients (To, Cc and Bcc together) per message, ${SEND_LIMIT_BOUNDS.maxRecipients.min}–${SEND_LIMIT_BOUNDS.maxRecipients.max}; default 50` }),
  maxPerMinute: z
    .number()
    .int()
    .optional()
    .meta({ description: `messages one person may queue per minute, ${SEND_LIMIT_BOUNDS.maxPerMinute.min}–${SEND_LIMIT_BOUNDS.maxPerMinute.max}; default 10` }),
});

/** Query of the CSV imports; the body is the file (`text/csv`). */
export const csvImportQuery = z.object({
  skipInvalid: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .meta({ description: 'import the valid rows when some are refused (default: import nothing then)' }),
  encoding: z.enum(CSV_ENCODINGS).default('auto').meta({ description: 'auto: valid UTF-8, else Windows-1252' }),
});

document({ method: 'get', path: '/activity-types', summary: 'activity types ("Tätigkeiten") with the channels using them and their number of tasks' });
document({ method: 'post', path: '/activity-types', summary: 'add an activity type', access: 'admin', body: activityTypeBody, successStatus: 201 });
document({ method: 'patch', path: '/activity-types/{id}', summary: 'rename an activity type', access: 'admin', params: idParams, body: activityTypeBody });
document({ method: 'get', path: '/settings', summary: 'import settings per channel: activity type, auto-import, poll interval, auto-complete' });
document({
  method: 'patch',
  path: '/settings/{channel}',
  summary: "change a channel's activity type and import settings (the scheduler re-plans)",
  access: 'admin',
  params: channelParams,
  body: settingsBody,
});
document({ method: 'get', path: '/send-limits', summary: 'sending limits per person: maxRecipients per message, maxPerMinute messages (the defaults while updatedAt is null)' });
document({
  method: 'patch',
  path: '/send-limits',
  summary: 'change the sending limits per person (POST /outbox and replies: 400 above maxRecipients, 429 with Retry-After above maxPerMinute)',
  access: 'admin',
  body: sendLimitsBody,
});
document({ method: 'get', path: '/staff', summary: 'staff members (never a password hash)', access: 'admin' });
document({ method: 'post', path: '/staff', summary: 'add a staff member', access: 'admin', body: staffCreateBody, successStatus: 201 });
document({ method: 'get', path: '/staff/{id}', summary: 'a staff member (never a password hash)', access: 'admin', params: idParams });
document({
  method: 'patch',
  path: '/staff/{id}',
  summary: 'change a staff member; answers {staff, deactivation?, candidacies?} with what happened to their tasks',
  access: 'admin',
  params: idParams,
  body: staffPatchBody,
});
document({ method: 'put', path: '/staff/{id}/password', summary: 'set the login password (answers 204; never returned)', access: 'admin', params: idParams, body: staffPasswordBody, successStatus: 204 });
document({
  method: 'post',
  path: '/staff/import',
  summary: 'import staff from CSV (Name, E-Mail, Login, Extern, Aktuell, Admin, E-Mails einlesen); refused rows by line; 400 when nothing was imported',
  access: 'admin',
  query: csvImportQuery,
  consumes: 'text/csv',
});
document({ method: 'get', path: '/mappings', summary: 'sender mapping rows Von → An', access: 'admin' });
document({ method: 'post', path: '/mappings', summary: 'add a mapping row Von → An; reports (or with routeWaiting routes) the waiting unassigned tasks from the sender', access: 'admin', body: mappingBody, successStatus: 201 });
document({ method: 'delete', path: '/mappings/{id}', summary: 'remove a mapping row (existing candidacies stay)', access: 'admin', params: idParams });
document({ method: 'post', path: '/mappings/route', summary: 'route the waiting unassigned tasks from a sender by the current mapping', access: 'admin', body: mappingRouteBody });
document({
  method: 'post',
  path: '/mappings/import',
  summary: 'import mappings from CSV (Von, An); refused rows by line; 400 when nothing was imported',
  access: 'admin',
  query: csvImportQuery,
  consumes: 'text/csv',
});

/** Answers 403 unless the token's staff member is an admin. */
async function adminsOnly(c: Context<ApiEnv>, next: Next) {
  if (c.get('principal').role !== 'admin') return c.json({ error: 'admins only' }, 403);
  await next();
}

/**
 * Reference data under `/api/v1` (issue 5 item 7). For every token: `GET /activity-types`,
 * `GET /settings`, `GET /send-limits`. For admins only (403 for staff): `GET /staff`, `GET /mappings` and the writes
 * `POST /staff`, `GET|PATCH /staff/{id}`, `PUT /staff/{id}/password`, `POST /staff/import`,
 * `POST /mappings`, `DELETE /mappings/{id}`, `POST /mappings/route`, `POST /mappings/import`,
 * `POST /activity-types`, `PATCH /activity-types/{id}`, `PATCH /settings/{channel}`, `PATCH /send-limits`. Each calls the
 * service the CLI calls; bodies are validated by the schemas above (400 `{error, field}`),
 * unknown ids answer 404.
 */
export function adminDataRoutes(ctx: AppContext): Hono<ApiEnv> {
  const { db } = ctx;
  const r = new Hono<ApiEnv>();
  const actor = (c: Context<ApiEnv>) => c.get('principal').id;
  const id = (c: Context<ApiEnv>) => validate(idParams, c.req.param()).id;

  r.get('/activity-types', async (c) => c.json(await listActivityTypes(db)));
  r.post('/activity-types', adminsOnly, async (c) => c.json(await addActivityType(db, validate(activityTypeBody, await jsonBody(c)).name), 201));
  r.patch('/activity-types/:id', adminsOnly, async (c) => {
    const typeId = id(c);
    return c.json(await renameActivityTypeById(db, typeId, validate(activityTypeBody, await jsonBody(c)).name));
  });

  r.get('/settings', async (c) => c.json(await listChannelSettings(db)));
  r.patch('/settings/:channel', adminsOnly, async (c) => {
    const { channel } = validate(channelParams, c.req.param());
    return c.json(await changeChannelSettings(ctx, channel, validate(settingsBody, await jsonBody(c))));
  });

  r.get('/send-limits', async (c) => c.json(await getSendLimits(db)));
  r.patch('/send-limits', adminsOnly, async (c) => c.json(await setSendLimits(ctx, validate(sendLimitsBody, await jsonBody(c)), actor(c))));

  r.get('/staff', adminsOnly, async (c) => c.json(await listStaff(db)));
  r.post('/staff', adminsOnly, async (c) => {
    const { active, ...input } = validate(staffCreateBody, await jsonBody(c));
    const s = await addStaff(db, { ...input, inactive: active === false });
    return c.json(await getStaff(db, s.id), 201);
  });
  r.post('/staff/import', adminsOnly, async (c) => csvImport(c, importStaffCsv));
  r.get('/staff/:id', adminsOnly, async (c) => c.json(await getStaff(db, id(c))));
  r.patch('/staff/:id', adminsOnly, async (c) => {
    const staffId = id(c);
    return c.json(await updateStaff(db, staffId, validate(staffPatchBody, await jsonBody(c)), actor(c)));
  });
  r.put('/staff/:id/password', adminsOnly, async (c) => {
    const staffId = id(c);
    await setStaffPasswordById(db, staffId, validate(staffPasswordBody, await jsonBody(c)).password);
    return c.body(null, 204);
  });

  r.get('/mappings', adminsOnly, async (c) => c.json(await listMappings(db)));
  r.post('/mappings', adminsOnly, async (c) => {
    const body = validate(mappingBody, await jsonBody(c));
    const m = await addMapping(db, body.from, body.to);
    return c.json({ ...m, ...(await routeAfterMapping(db, m.from, Boolean(body.routeWaiting), actor(c))) }, 201);
  });
  r.post('/mappings/route', adminsOnly, async (c) => c.json(await routeWaitingTasks(db, validate(mappingRouteBody, await jsonBody(c)).from, actor(c))));
  r.post('/mappings/import', adminsOnly, async (c) => csvImport(c, importMappingsCsv));
  r.delete('/mappings/:id', adminsOnly, async (c) => c.json(await removeMapping(db, id(c))));

  /** Runs a CSV import on the request body; answers the report, with 400 and `error`/`field` when nothing was imported. */
  async function csvImport(c: Context<ApiEnv>, run: typeof importStaffCsv | typeof importMappingsCsv) {
    const opts = validate(csvImportQuery, c.req.query());
    const report = await run(db, Buffer.from(await c.req.arrayBuffer()), opts);
    if (report.committed) return c.json(report);
    const error = `${report.refused.length} of ${report.rows} rows refused; nothing imported (skipInvalid=true imports the valid rows)`;
    return c.json({ error, field: 'file', ...report }, 400);
  }
  return r;
}
