import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { syncStaff } from '../../services/claims.js';
import { assignTask, completeTask, dayView, forwardTask, getTask, reopenTask, taskHistoryFor } from '../../services/task-actions.js';
import { document, idParams, jsonBody, taskViewResponse, validate } from '../api-spec.js';
import type { ApiEnv } from '../app.js';

/** Body of `POST /tasks/:id/forward` and `/assign`: the login of the staff member who gets the task. */
export const taskTargetBody = z.strictObject({ to: z.string().trim().min(1).max(64) });

/** Query of `GET /tasks?view=day`: the day view, of today or of `date` (YYYY-MM-DD, gateway's local time zone). */
export const dayViewQuery = z.object({
  view: z.literal('day'),
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD')
    .optional(),
});

document({ method: 'post', path: '/sync', summary: 'claim every open unclaimed task I am a candidate of (first to sync gets it); polls manual-import mailboxes first' });
document({ method: 'get', path: '/tasks/{id}', summary: 'a task I may see; automated flags bounces, auto-replies and list mail (never answered automatically)', params: idParams, response: taskViewResponse });
document({ method: 'get', path: '/tasks/{id}/history', summary: 'who did what when on a task', params: idParams });
document({ method: 'post', path: '/tasks/{id}/complete', summary: 'complete a task (assignee or admin)', params: idParams });
document({ method: 'post', path: '/tasks/{id}/reopen', summary: 'reopen a completed task', params: idParams });
document({ method: 'post', path: '/tasks/{id}/forward', summary: 'forward a task to another staff member ("weitergeleitet")', params: idParams, body: taskTargetBody });
document({ method: 'post', path: '/tasks/{id}/assign', summary: 'assign a task from the unassigned queue', access: 'admin', params: idParams, body: taskTargetBody });

/**
 * Task routes under `/api/v1` (issue 5 items 4 and 5), acting as the token's staff member:
 * `POST /sync`; `GET /tasks?view=day`; `GET /tasks/:id`, `GET /tasks/:id/history`;
 * `POST /tasks/:id/complete`, `/reopen`, `/forward` `{to}`, `/assign` `{to}` (admins).
 * Errors: 400 with field and reason, 403 for an action the principal may not do on a task they
 * see, 404 for unknown ids and tasks they may not see. `GET /tasks` without `view` falls through
 * to the task list.
 */
export function taskRoutes(ctx: AppContext): Hono<ApiEnv> {
  const { db } = ctx;
  const r = new Hono<ApiEnv>();

  r.post('/sync', async (c) => c.json(await syncStaff(ctx, c.get('principal').id)));

  r.get('/tasks', async (c, next) => {
    const query = c.req.query();
    if (query.view === undefined) return next();
    const { date } = validate(dayViewQuery, query);
    return c.json(await dayView(db, c.get('principal').id, date));
  });

  r.get('/tasks/:id', async (c) => c.json(await getTask(db, c.get('principal'), validate(idParams, c.req.param()).id)));
  r.get('/tasks/:id/history', async (c) => c.json(await taskHistoryFor(db, c.get('principal'), validate(idParams, c.req.param()).id)));
  r.post('/tasks/:id/complete', async (c) => c.json(await completeTask(db, c.get('principal'), validate(idParams, c.req.param()).id)));
  r.post('/tasks/:id/reopen', async (c) => c.json(await reopenTask(db, c.get('principal'), validate(idParams, c.req.param()).id)));
  r.post('/tasks/:id/forward', async (c) => {
    const { id } = validate(idParams, c.req.param());
    const { to } = validate(taskTargetBody, await jsonBody(c));
    return c.json(await forwardTask(db, c.get('principal'), id, to));
  });
  r.post('/tasks/:id/assign', async (c) => {
    const { id } = validate(idParams, c.req.param());
    const { to } = validate(taskTargetBody, await jsonBody(c));
    return c.json(await assignTask(db, c.get('principal'), id, to));
  });
  return r;
}
