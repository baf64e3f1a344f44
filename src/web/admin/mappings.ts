import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { MappingEditRow, MappingRouteResult, MappingRow, type MappingChoices } from '../../../views/fragments/MappingRow.js';
import { MappingsPage } from '../../../views/pages/Mappings.js';
import type { AppContext } from '../../context.js';
import { routeAfterMapping, routeWaitingTasks } from '../../services/staff-lifecycle.js';
import { addMapping, changeMapping, getMapping, getStaff, listMappings, listStaff, removeMapping } from '../../services/staff.js';
import { fragment, page, view, type AdminEnv } from './render.js';
import { fieldErrors, idParam, readForm } from './staff.js';

const MAPPING_FIELDS = ['from', 'to'] as const;

/** The An value of the form: a staff id ('' or anything else stays a string for the service to refuse). */
const target = (value: string): string | number => (/^\d{1,9}$/.test(value) ? Number(value) : value);

/**
 * The mapping grid ("E-Mail-Adressen verwalten", issue 6 item 6), admin only. `GET /mappings` the
 * page; htmx fragments (each a `<tr>`, the same component the page renders):
 * `GET /mappings/new` an editing row, `POST /mappings` add (the row, with the number of waiting
 * unassigned tasks from that sender and a button to route them), `GET /mappings/:id` the row,
 * `GET /mappings/:id/edit` its editing row, `PUT /mappings/:id` change, `DELETE /mappings/:id`
 * remove (empty answer; the row goes), `GET /mappings/cancel` nothing (a new row is dropped),
 * `POST /mappings/route` routes the waiting tasks (the service behind `mapping add --route-waiting`)
 * and says how many. The services check the reference's rules; a refusal answers 400 with the
 * editing row and the reason beside the field.
 */
export function mappingRoutes(ctx: AppContext): Hono<AdminEnv> {
  const r = new Hono<AdminEnv>();
  const { db } = ctx;
  const actor = (c: Context<AdminEnv>) => c.get('session')?.staffId ?? null;

  async function choices(): Promise<MappingChoices> {
    const active = (await listStaff(db)).filter((s) => s.active);
    return {
      emails: [...new Set(active.map((s) => s.email.toLowerCase()))].sort(),
      eligible: active.filter((s) => s.login && s.mailImport).map((s) => ({ id: s.id, name: s.name, login: s.login! })),
    };
  }

  r.get('/mappings', async (c) => page(c, MappingsPage({ view: view(c), rows: await listMappings(db), choices: await choices() })));

  r.get('/mappings/new', async (c) => fragment(c, MappingEditRow({ view: view(c), key: randomUUID().slice(0, 8), from: '', choices: await choices() })));

  r.get('/mappings/cancel', (c) => c.body(null, 200));

  r.post('/mappings', async (c) => {
    const f = await readForm(c);
    const [from, to] = [f.text('from'), f.text('to')];
    const result = await fieldErrors(MAPPING_FIELDS, () => addMapping(db, from, target(to)), view(c).lang);
    if ('errors' in result) {
      return fragment(c, MappingEditRow({ view: view(c), key: randomUUID().slice(0, 8), from, toStaffId: Number(to) || undefined, choices: await choices(), errors: result.errors }), 400);
    }
    ctx.log.info({ mappingId: result.ok.id, by: actor(c) }, 'mapping added in the admin');
    const { waiting } = await routeAfterMapping(db, result.ok.from, false);
    return fragment(c, MappingRow({ view: view(c), row: await getMapping(db, result.ok.id), status: { saved: true, waiting } }));
  });

  r.post('/mappings/route', async (c) => {
    const from = (await readForm(c)).text('from');
    const result = await fieldErrors(['from'], () => routeWaitingTasks(db, from, actor(c)), view(c).lang);
    if ('errors' in result) return fragment(c, MappingRouteResult({ view: view(c), error: result.errors.from ?? result.errors._form }), 400);
    ctx.log.info({ routed: result.ok.routed.length, by: actor(c) }, 'waiting tasks routed in the admin');
    return fragment(c, MappingRouteResult({ view: view(c), routed: result.ok.routed.length }));
  });

  r.get('/mappings/:id', async (c) => fragment(c, MappingRow({ view: view(c), row: await getMapping(db, idParam(c, 'mapping')) })));

  r.get('/mappings/:id/edit', async (c) => {
    const row = await getMapping(db, idParam(c, 'mapping'));
    const current = await getStaff(db, row.toStaffId);
    return fragment(c, MappingEditRow({ view: view(c), id: row.id, key: String(row.id), from: row.from, toStaffId: row.toStaffId, choices: await choices(), current }));
  });

  r.put('/mappings/:id', async (c) => {
    const id = idParam(c, 'mapping');
    const f = await readForm(c);
    const [from, to] = [f.text('from'), f.text('to')];
    const result = await fieldErrors(MAPPING_FIELDS, () => changeMapping(db, id, from, target(to)), view(c).lang);
    if ('errors' in result) {
      const before = await getMapping(db, id);
      const current = await getStaff(db, before.toStaffId);
      return fragment(c, MappingEditRow({ view: view(c), id, key: String(id), from, toStaffId: Number(to) || undefined, choices: await choices(), errors: result.errors, current }), 400);
    }
    ctx.log.info({ mappingId: result.ok.id, replaced: id, by: actor(c) }, 'mapping changed in the admin');
    const { waiting } = await routeAfterMapping(db, result.ok.from, false);
    return fragment(c, MappingRow({ view: view(c), row: await getMapping(db, result.ok.id), status: { saved: true, waiting } }));
  });

  r.delete('/mappings/:id', async (c) => {
    const removed = await removeMapping(db, idParam(c, 'mapping'));
    ctx.log.info({ mappingId: removed.id, by: actor(c) }, 'mapping removed in the admin');
    return c.body(null, 200);
  });

  return r;
}
