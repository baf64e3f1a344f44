import { Hono, type Context } from 'hono';
import { MessageDetailPage, type MessageDetailModel } from '../../../views/pages/MessageDetail.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import type { AppContext } from '../../context.js';
import { listActivityTypes } from '../../services/activity-types.js';
import { ValidationError } from '../../services/errors.js';
import { mailHtmlCsp, sanitiseMailHtml } from '../../services/mail-html.js';
import { attachmentContent, rawMessage, showMessage } from '../../services/messages.js';
import { claimTask, completeTask, forwardTask, getTask, reopenTask, taskHistoryFor, type Actor } from '../../services/task-actions.js';
import { eligibleStaff, messageRecipients } from '../../services/task-pages.js';
import { downloadResponse } from '../download.js';
import { page, view, type AdminEnv } from './render.js';
import { renderTaskList } from './tasks.js';

/** The signed-in person as the task services' actor / viewer. */
export function actorOf(c: Context<AdminEnv>): Actor & { id: number } {
  const s = c.get('session')!;
  return { id: s.staffId, role: s.role };
}

/** A positive id from the path. */
const pathId = (c: Context) => Number(c.req.param('id'));

/**
 * Renders the message detail of task `id` (headers, text, sanitised HTML in a sandboxed frame,
 * attachments, history, actions), with a notice or an action's error (status 400 then).
 * @throws NotFoundError for a task the signed-in person may not see (the admin's 404 page)
 */
export async function renderTaskDetail(ctx: AppContext, c: Context<AdminEnv>, id: number, extra: Pick<MessageDetailModel, 'notice' | 'error'> = {}): Promise<Response> {
  const v = view(c);
  const actor = actorOf(c);
  const task = await getTask(ctx.db, actor, id);
  const [message, recipients, history, people] = await Promise.all([
    showMessage(ctx.db, task.messageId, actor),
    messageRecipients(ctx.db, task.messageId, actor),
    taskHistoryFor(ctx.db, actor, id),
    eligibleStaff(ctx.db),
  ]);
  const external = c.req.query('external') === '1';
  const blocked = message.html ? sanitiseMailHtml(message.html).blocked : 0;
  const done = c.req.query('done');
  const notice = extra.notice ?? (done ? v.t.tasksPages.detail.done[done] : undefined);
  const model: MessageDetailModel = { task, message, recipients, history, people, external, blocked, notice, error: extra.error };
  return page(c, MessageDetailPage({ view: v, model }), extra.error ? 400 : 200);
}

/**
 * Task pages for everybody signed in (staff see only their own tasks; the services answer 404
 * for others): `GET /meine-vorgaenge` (own open tasks, list as on /tasks), `GET /tasks/:id` the
 * message detail, `POST /tasks/:id/complete|reopen|forward` (plain forms, 303 back to the detail
 * with a notice; a refused action is shown beside its field, 400), `GET /messages/:id/raw` the
 * .eml, `GET /messages/:id/html` the sanitised HTML body for the sandboxed iframe (its own CSP:
 * nothing loads; `?external=1` allows remote images), `GET /attachments/:id` a download under
 * the stored safe file name (Content-Disposition: attachment).
 */
export function taskDetailRoutes(ctx: AppContext): Hono<AdminEnv> {
  const { db } = ctx;
  const r = new Hono<AdminEnv>();

  r.get('/meine-vorgaenge', async (c) => {
    const v = view(c);
    const options = { activityTypes: (await listActivityTypes(db)).map((t) => t.name) };
    const forwarded = Number(c.req.query('forwarded'));
    const taken = Number(c.req.query('taken'));
    const notice =
      Number.isInteger(forwarded) && forwarded > 0
        ? v.t.tasksPages.forwardedNotice(forwarded)
        : Number.isInteger(taken) && taken > 0
          ? v.t.tasksPages.takenNotice(taken)
          : undefined;
    return renderTaskList(ctx, c, { base: '/meine-vorgaenge', title: v.t.tasksPages.myTitle, tabs: false, options, notice });
  });

  r.get('/tasks/:id{[0-9]+}', (c) => renderTaskDetail(ctx, c, pathId(c)));

  const action = (name: 'claim' | 'complete' | 'reopen' | 'forward', done: string, run: (actor: Actor, id: number, to: string) => Promise<unknown>) =>
    r.post(`/tasks/:id{[0-9]+}/${name}`, async (c) => {
      const id = pathId(c);
      const form = await c.req.parseBody();
      try {
        await run(actorOf(c), id, typeof form.to === 'string' ? form.to : '');
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        // taken by someone else meanwhile: the task is no longer theirs to see
        if (name === 'claim' && c.get('session')!.role !== 'admin') return c.redirect(`/meine-vorgaenge?taken=${id}`, 303);
        return renderTaskDetail(ctx, c, id, { error: { form: name, message: localizeRefusal(err.message, view(c).lang) } });
      }
      // staff who forwarded their task no longer see it: back to their list, with a notice
      if (name === 'forward' && c.get('session')!.role !== 'admin') return c.redirect(`/meine-vorgaenge?forwarded=${id}`, 303);
      return c.redirect(`/tasks/${id}?done=${done}`, 303);
    });
  action('claim', 'claimed', (a, id) => claimTask(db, a, id));
  action('complete', 'completed', (a, id) => completeTask(db, a, id));
  action('reopen', 'reopened', (a, id) => reopenTask(db, a, id));
  action('forward', 'forwarded', (a, id, to) => forwardTask(db, a, id, to));

  r.get('/messages/:id{[0-9]+}/raw', async (c) => {
    const id = pathId(c);
    const raw = await rawMessage(db, id, actorOf(c));
    return downloadResponse(raw.chunks, { contentType: 'message/rfc822', size: raw.size, filename: `message-${id}.eml` });
  });

  r.get('/attachments/:id{[0-9]+}', async (c) => {
    const { attachment, chunks } = await attachmentContent(db, pathId(c), actorOf(c));
    return downloadResponse(chunks, attachment);
  });

  r.get('/messages/:id{[0-9]+}/html', async (c) => {
    const m = await showMessage(db, pathId(c), actorOf(c));
    const external = c.req.query('external') === '1';
    // the sanitiser's output (never the stored HTML) in a document of its own; the headers below
    // are kept by the admin's secure-headers guard (overwrite: false)
    const { html } = sanitiseMailHtml(m.html ?? '', { external });
    const doc = `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"></head><body>${html}</body></html>`;
    return c.body(doc, 200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': mailHtmlCsp(external),
      'X-Frame-Options': 'SAMEORIGIN',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
  });
  return r;
}
