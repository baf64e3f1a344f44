import { Hono, type Context } from 'hono';
import type { FieldErrors } from '../../../views/fragments/FormErrors.js';
import { ActivityTypesPage, type ActivityTypeForms } from '../../../views/pages/ActivityTypes.js';
import type { AppContext } from '../../context.js';
import { CHANNELS, type Channel } from '../../db/schema.js';
import { addActivityType, listActivityTypes, renameActivityTypeById } from '../../services/activity-types.js';
import { changeChannelSettings, listChannelSettings } from '../../services/settings.js';
import { page, view, type AdminEnv } from './render.js';
import { fieldErrors, idParam, readForm } from './staff.js';

/**
 * The activity types page ("Tätigkeiten", issue 6 item 5), admin only: `GET /activity-types`;
 * `POST /activity-types` create; `POST /activity-types/:id/rename`; `POST /activity-types/channels`
 * chooses the type of new tasks per channel (general mail, scans) through the channel settings
 * service. A refusal re-renders the page with the reason beside the field (400).
 */
export function activityTypeRoutes(ctx: AppContext): Hono<AdminEnv> {
  const r = new Hono<AdminEnv>();
  const { db } = ctx;

  async function render(c: Context<AdminEnv>, extra: { forms?: ActivityTypeForms; errors?: FieldErrors; notice?: string } = {}) {
    const settings = await listChannelSettings(db);
    const current = Object.fromEntries(settings.map((s) => [s.channel, s.activityType])) as Record<Channel, string>;
    return page(c, ActivityTypesPage({ view: view(c), types: await listActivityTypes(db), current, ...extra }), extra.errors ? 400 : 200);
  }

  r.get('/activity-types', (c) => render(c));

  r.post('/activity-types', async (c) => {
    const name = (await readForm(c)).text('name');
    const result = await fieldErrors(['name'], () => addActivityType(db, name), view(c).lang);
    if ('errors' in result) return render(c, { forms: { newName: name }, errors: result.errors });
    return render(c, { notice: view(c).t.activityTypePages.created(result.ok.name) });
  });

  r.post('/activity-types/:id/rename', async (c) => {
    const id = idParam(c, 'activity type');
    const name = (await readForm(c)).text('name');
    const before = (await listActivityTypes(db)).find((a) => a.id === id);
    const result = await fieldErrors(['name'], () => renameActivityTypeById(db, id, name), view(c).lang);
    if ('errors' in result) {
      const reason = result.errors.name ?? result.errors._form;
      return render(c, { forms: { rename: { id, name } }, errors: { [`rename-${id}`]: reason } });
    }
    return render(c, { notice: view(c).t.activityTypePages.renamed(before?.name ?? '', result.ok.name) });
  });

  r.post('/activity-types/channels', async (c) => {
    const f = await readForm(c);
    const chosen = Object.fromEntries(CHANNELS.map((ch) => [ch, f.text(ch)])) as Record<Channel, string>;
    for (const ch of CHANNELS) {
      const result = await fieldErrors(['activityType'], () => changeChannelSettings(ctx, ch, { activityType: chosen[ch] }), view(c).lang);
      if ('errors' in result) return render(c, { forms: { channels: chosen }, errors: { [`channel-${ch}`]: result.errors.activityType ?? result.errors._form } });
    }
    return render(c, { notice: view(c).t.activityTypePages.channelsSaved });
  });

  return r;
}
