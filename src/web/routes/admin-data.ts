import { Hono, type Context, type Next } from 'hono';
import type { AppContext } from '../../context.js';
import { listActivityTypes } from '../../services/activity-types.js';
import { listChannelSettings } from '../../services/settings.js';
import { listMappings, listStaff } from '../../services/staff.js';
import type { Principal } from '../../services/tokens.js';
import { document } from '../api-spec.js';

type ApiEnv = { Variables: { principal: Principal } };

document({ method: 'get', path: '/activity-types', summary: 'activity types ("Tätigkeiten") with the channels using them and their number of tasks' });
document({ method: 'get', path: '/settings', summary: 'import settings per channel: activity type, auto-import, poll interval, auto-complete' });
document({ method: 'get', path: '/staff', summary: 'staff members (never a password hash)', access: 'admin' });
document({ method: 'get', path: '/mappings', summary: 'sender mapping rows Von → An', access: 'admin' });

/** Answers 403 unless the token's staff member is an admin. */
async function adminsOnly(c: Context<ApiEnv>, next: Next) {
  if (c.get('principal').role !== 'admin') return c.json({ error: 'admins only' }, 403);
  await next();
}

/**
 * Reference data under `/api/v1`: `GET /activity-types` and `GET /settings` for every token;
 * `GET /staff` and `GET /mappings` for admins (403 for staff).
 */
export function adminDataRoutes(ctx: AppContext): Hono<ApiEnv> {
  const { db } = ctx;
  const r = new Hono<ApiEnv>();
  r.get('/activity-types', async (c) => c.json(await listActivityTypes(db)));
  r.get('/settings', async (c) => c.json(await listChannelSettings(db)));
  r.get('/staff', adminsOnly, async (c) => c.json(await listStaff(db)));
  r.get('/mappings', adminsOnly, async (c) => c.json(await listMappings(db)));
  return r;
}
