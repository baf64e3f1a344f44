import { Hono, type Context } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import type { AppContext } from '../context.js';
import { ping } from '../db/client.js';
import { describeError } from '../db/errors.js';
import { z } from 'zod';
import { CHANNELS, TASK_STATUSES } from '../db/schema.js';
import { ForbiddenError, NotFoundError, RateLimitError, uniqueViolation, ValidationError } from '../services/errors.js';
import * as messages from '../services/messages.js';
import { listTasks } from '../services/tasks.js';
import { verifyToken, type Principal } from '../services/tokens.js';
import { document, idParams, messageResponse, messageSummaryResponse, openApiDocument, pagingQuery, taskViewResponse, validate } from './api-spec.js';
import { adminRoutes } from './admin/index.js';
import { clientAddress } from './admin/middleware.js';
import { beginAttempt } from '../services/auth-throttle.js';
import { bodyLimitFor, limitBody } from './body-limit.js';
import { downloadResponse } from './download.js';
import { adminDataRoutes } from './routes/admin-data.js';
import { taskListRoutes } from './routes/task-list.js';
import { outboxRoutes } from './routes/outbox.js';
import { taskRoutes } from './routes/tasks.js';

/** Variables of every /api/v1 request: the staff member the bearer token acts as. */
export type ApiEnv = { Variables: { principal: Principal } };

const taskListQuery = pagingQuery.extend({
  status: z.enum(TASK_STATUSES).optional(),
  channel: z.enum(CHANNELS).optional(),
});

document({ method: 'get', path: '/openapi.json', summary: 'this document', produces: 'application/json' });
document({ method: 'get', path: '/messages', summary: 'stored messages, newest first (staff: those of their tasks)', query: pagingQuery, response: z.array(messageSummaryResponse) });
document({ method: 'get', path: '/messages/{id}', summary: 'a message with attachments and receipts; automated flags bounces, auto-replies and list mail', params: idParams, response: messageResponse });
document({ method: 'get', path: '/messages/{id}/raw', summary: 'the raw message, byte for byte as received', params: idParams, produces: 'message/rfc822' });
document({ method: 'get', path: '/attachments/{id}', summary: 'an attachment, as a download under its safe file name', params: idParams, produces: 'application/octet-stream' });
document({
  method: 'get',
  path: '/tasks',
  summary: 'tasks, newest first (staff: their own); with view=day (and date=YYYY-MM-DD) my day view grouped by activity type',
  query: taskListQuery.extend({ view: z.literal('day').optional(), date: z.string().optional() }),
  // the list; the day view (view=day) answers { date, groups: [{ activityType, tasks }] } with tasks of this shape
  response: z.array(taskViewResponse),
});

export interface AppOptions {
  /** the clock of the authentication throttle (tests freeze it); default the real time */
  now?: () => Date;
}

/**
 * The HTTP application (hono). Built from the context only, so tests create it with their own
 * database and no port. `/healthz` is open and carries no data; everything under `/api/v1`
 * needs a per-user API token (`Authorization: Bearer …`, `posteingang token create <login>`);
 * staff see only their own tasks and the messages of those, admins everything.
 */
export function createApp(ctx: AppContext, options: AppOptions = {}): Hono {
  const app = new Hono();
  const { db } = ctx;

  app.onError((thrown, c) => {
    const err = uniqueViolation(thrown) ?? thrown;
    if (err instanceof NotFoundError) return c.json({ error: err.message }, 404);
    if (err instanceof ValidationError) return c.json({ error: err.message, field: err.field, ...(err.code ? { code: err.code, params: err.params } : {}) }, 400);
    if (err instanceof RateLimitError) {
      c.header('Retry-After', String(err.retryAfterSeconds));
      return c.json({ error: err.message, code: err.code, params: err.params, retryAfterSeconds: err.retryAfterSeconds }, 429);
    }
    if (err instanceof ForbiddenError) return c.json({ error: err.message }, 403);
    if ('getResponse' in err && typeof err.getResponse === 'function') return err.getResponse() as Response;
    ctx.log.error({ err: describeError(err), path: c.req.path }, 'request failed');
    return c.json({ error: 'internal error' }, 500);
  });

  // every body has a limit, the public routes a small one (issue 14)
  app.use('*', limitBody((c) => bodyLimitFor(ctx.config, c.req.path)));

  app.get('/healthz', async (c) => {
    try {
      await ping(db);
      // the inbound queue: messages acknowledged by SMTP and not yet tasks (figures only, no mail data)
      return c.json({ status: 'ok', database: ctx.database.kind, ...(ctx.queue ? { queue: ctx.queue.stats() } : {}) });
    } catch {
      return c.json({ status: 'error', database: 'unreachable' }, 503);
    }
  });

  const api = new Hono<ApiEnv>();
  api.use(
    '*',
    bearerAuth({
      // A valid token is served from any address (a town hall's NAT may put an attacker and
      // clerks behind one); wrong ones are counted per address and answered 429 once throttled.
      verifyToken: async (token, c) => {
        const principal = await verifyToken(db, token);
        if (principal) {
          (c as Context<ApiEnv>).set('principal', principal);
          return true;
        }
        const address = clientAddress(ctx, c);
        const attempt = await beginAttempt(db, 'api', { address }, options.now?.());
        if (attempt.logWorthy) ctx.log.warn({ address, failures: attempt.allowed ? attempt.attempt.failures : undefined, refused: attempt.allowed ? undefined : attempt.refused }, 'API token refused');
        if (!attempt.allowed) {
          throw new HTTPException(429, { res: Response.json({ error: `too many wrong tokens from this address; retry after ${attempt.retryAfterSeconds} s`, retryAfterSeconds: attempt.retryAfterSeconds }, { status: 429, headers: { 'Retry-After': String(attempt.retryAfterSeconds) } }) });
        }
        return false;
      },
    }),
  );

  api.get('/openapi.json', (c) => c.json(openApiDocument()));
  api.get('/messages', async (c) => c.json(await messages.listMessages(db, validate(pagingQuery, c.req.query()), c.get('principal'))));
  api.get('/messages/:id', async (c) => c.json(await messages.showMessage(db, validate(idParams, c.req.param()).id, c.get('principal'))));
  api.get('/messages/:id/raw', async (c) => {
    const { id } = validate(idParams, c.req.param());
    const raw = await messages.rawMessage(db, id, c.get('principal'));
    return downloadResponse(raw.chunks, { contentType: 'message/rfc822', size: raw.size, filename: `message-${id}.eml` }, { ETag: `"${raw.sha256}"` });
  });
  api.get('/attachments/:id', async (c) => {
    const { attachment, chunks } = await messages.attachmentContent(db, validate(idParams, c.req.param()).id, c.get('principal'));
    return downloadResponse(chunks, attachment);
  });
  // open-task list (before any /tasks/:id route) and reference data: activity types, settings, staff, mappings
  api.route('/', taskListRoutes(ctx));
  api.route('/', adminDataRoutes(ctx));
  // sync, day view (GET /tasks?view=day, before the list) and task actions
  api.route('/', taskRoutes(ctx));
  // issue 7: outbox and replies to a task's message
  api.route('/', outboxRoutes(ctx));
  api.get('/tasks', async (c) => {
    const q = validate(taskListQuery, c.req.query());
    const principal = c.get('principal');
    return c.json(
      await listTasks(db, {
        ...q,
        // staff see only the tasks they are assignee or candidate of
        visibleTo: principal.role === 'admin' ? undefined : principal.id,
      }),
    );
  });
  app.route('/api/v1', api);
  // the browser admin (issue 6): pages and htmx fragments, every path but /api and /healthz
  app.route('/', adminRoutes(ctx, { now: options.now }));
  return app;
}
