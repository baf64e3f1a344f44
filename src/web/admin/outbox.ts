import { Hono } from 'hono';
import { OUTBOX_FILTERS, OutboxDetailPage, OutboxPage } from '../../../views/pages/Outbox.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import type { AppContext } from '../../context.js';
import { ValidationError } from '../../services/errors.js';
import { listOutbox, retryOutbox } from '../../services/outbox.js';
import { outboxDetail } from '../../services/outbox-detail.js';
import { actorOf } from './messages.js';
import { page, view, type AdminEnv } from './render.js';

/**
 * The outbox page (issue 7 item 5): `GET /outbox[?state=queued|sending|failed|sent]`
 * (`/postausgang` redirects there), newest first — any other `state` is refused beside the
 * filter (400); `GET /outbox/:id` one entry with To/Cc/Bcc, the task it replies to, attempts and
 * the full last server reply; and `POST /outbox/:id/retry` (CSRF field), which queues a failed
 * message again through services/outbox.ts retryOutbox and returns to the list with its filter
 * kept (or, with `?from=detail`, to the entry) (303); a message that is not failed is refused
 * with the reason (400).
 */
export function outboxRoutes(ctx: AppContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();

  async function render(c: Parameters<typeof view>[0], opts: { notice?: string; error?: string; status?: 200 | 400 } = {}) {
    const v = view(c);
    const s = (c.req.query('state') ?? '').trim();
    const state = (OUTBOX_FILTERS as readonly string[]).includes(s) ? s : undefined;
    // an unknown state is refused beside the filter, not silently taken for "all"
    const stateError = s && !state ? v.t.outboxPages.badState(s) : undefined;
    const rows = stateError ? [] : await listOutbox(ctx, { states: state ? [state] : undefined, limit: 200 });
    return page(c, OutboxPage({ view: v, rows, state, stateError, ...opts }), stateError ? 400 : (opts.status ?? 200));
  }

  /** The detail page of one entry, with a notice or a refused retry (400 then). */
  async function renderDetail(c: Parameters<typeof view>[0], id: number, opts: { notice?: string; error?: string } = {}) {
    const entry = await outboxDetail(ctx, actorOf(c), id);
    return page(c, OutboxDetailPage({ view: view(c), entry, ...opts }), opts.error ? 400 : 200);
  }

  app.get('/postausgang', (c) => c.redirect('/outbox', 301));

  app.get('/outbox', async (c) => {
    const retried = Number(c.req.query('retried'));
    return render(c, { notice: Number.isInteger(retried) && retried > 0 ? view(c).t.outboxPages.retried(retried) : undefined });
  });

  app.get('/outbox/:id{[0-9]+}', (c) => {
    const id = Number(c.req.param('id'));
    return renderDetail(c, id, { notice: c.req.query('retried') ? view(c).t.outboxPages.retried(id) : undefined });
  });

  app.post('/outbox/:id/retry', async (c) => {
    const id = Number(c.req.param('id'));
    const fromDetail = c.req.query('from') === 'detail';
    if (!Number.isInteger(id) || id < 1) return render(c, { error: view(c).t.settingsPages.fieldInvalid(localizeRefusal(`"${c.req.param('id')}" is not a message number`, view(c).lang)), status: 400 });
    try {
      await retryOutbox(ctx, id);
    } catch (err) {
      if (err instanceof ValidationError) {
        const error = view(c).t.settingsPages.fieldInvalid(localizeRefusal(err.message, view(c).lang));
        return fromDetail ? renderDetail(c, id, { error }) : render(c, { error, status: 400 });
      }
      throw err;
    }
    ctx.log.info({ outboxId: id, user: c.get('session')?.staffId }, 'outbox message retried in the admin');
    if (fromDetail) return c.redirect(`/outbox/${id}?retried=1`, 303);
    // back to the list as it was filtered
    const state = c.req.query('state') ?? '';
    return c.redirect(`/outbox?${(OUTBOX_FILTERS as readonly string[]).includes(state) ? `state=${state}&` : ''}retried=${id}`, 303);
  });

  return app;
}
