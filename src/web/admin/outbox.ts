import { Hono } from 'hono';
import { OUTBOX_FILTERS, OutboxPage } from '../../../views/pages/Outbox.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import type { AppContext } from '../../context.js';
import { ValidationError } from '../../services/errors.js';
import { listOutbox, retryOutbox } from '../../services/outbox.js';
import { page, view, type AdminEnv } from './render.js';

/**
 * The outbox page (issue 7 item 5): `GET /outbox[?state=queued|sending|failed|sent]`
 * (`/postausgang` redirects there), newest first, and `POST /outbox/:id/retry` (CSRF field),
 * which queues a failed message again through services/outbox.ts retryOutbox and returns to the
 * list (303); a message that is not failed is refused with the reason (400).
 */
export function outboxRoutes(ctx: AppContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();

  async function render(c: Parameters<typeof view>[0], opts: { notice?: string; error?: string; status?: 200 | 400 } = {}) {
    const v = view(c);
    const s = c.req.query('state');
    const state = (OUTBOX_FILTERS as readonly string[]).includes(s ?? '') ? s : undefined;
    const rows = await listOutbox(ctx, { states: state ? [state] : undefined, limit: 200 });
    return page(c, OutboxPage({ view: v, rows, state, ...opts }), opts.status ?? 200);
  }

  app.get('/postausgang', (c) => c.redirect('/outbox', 301));

  app.get('/outbox', async (c) => {
    const retried = Number(c.req.query('retried'));
    return render(c, { notice: Number.isInteger(retried) && retried > 0 ? view(c).t.outboxPages.retried(retried) : undefined });
  });

  app.post('/outbox/:id/retry', async (c) => {
    const id = Number(c.req.param('id'));
    if (!Number.isInteger(id) || id < 1) return render(c, { error: view(c).t.settingsPages.fieldInvalid(localizeRefusal(`"${c.req.param('id')}" is not a message number`, view(c).lang)), status: 400 });
    try {
      await retryOutbox(ctx, id);
    } catch (err) {
      if (err instanceof ValidationError) return render(c, { error: view(c).t.settingsPages.fieldInvalid(localizeRefusal(err.message, view(c).lang)), status: 400 });
      throw err;
    }
    ctx.log.info({ outboxId: id, user: c.get('session')?.staffId }, 'outbox message retried in the admin');
    return c.redirect(`/outbox?retried=${id}`, 303);
  });

  return app;
}
