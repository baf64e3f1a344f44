import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { precheckSendRate } from '../../services/send-limits.js';
import { OUTBOX_STATES } from '../../db/schema.js';
import { ForbiddenError } from '../../services/errors.js';
import { enqueueMessage, listOutbox, replyToTask, retryOutbox, showOutbox } from '../../services/outbox.js';
import type { Principal } from '../../services/tokens.js';
import { document, idParams, jsonBody, pagingQuery, validate } from '../api-spec.js';

type ApiEnv = { Variables: { principal: Principal } };

const addresses = (what: string) =>
  z
    .union([z.string().max(10_000), z.array(z.string().max(1000)).max(500)])
    .optional()
    .meta({ description: `${what}: "Name <a@b>, c@d" or a list of such; a line break is refused` });

const attachment = z.union([
  z.strictObject({ attachmentId: z.number().int().min(1).meta({ description: 'id of a stored attachment (GET /attachments/{id}) of a message you may see' }) }),
  z.strictObject({
    filename: z.string().min(1).max(255),
    contentType: z.string().max(255).optional().meta({ description: 'default application/octet-stream' }),
    contentBase64: z.string().meta({ description: 'the file, base64' }),
  }),
]);

const content = {
  cc: addresses('Cc'),
  bcc: addresses('Bcc (only in the envelope, never in the message)'),
  text: z.string().max(5_000_000).meta({ description: 'plain-text body' }),
  html: z.string().max(5_000_000).optional().meta({ description: 'HTML body (sent as an alternative to the text)' }),
  attachments: z.array(attachment).max(50).optional(),
};

/** Body of `POST /outbox`. */
export const outboxBody = z.strictObject({
  to: addresses('To'),
  subject: z.string().max(998).meta({ description: 'one line (RFC 5322 §2.1.1: at most 998 characters)' }),
  ...content,
});

/** Body of `POST /tasks/{id}/reply`: To defaults to the original's Reply-To or From, the subject to "AW: <subject>". */
export const replyBody = z.strictObject({
  to: addresses('To (default: the original sender)'),
  subject: z.string().max(998).optional().meta({ description: 'default "AW: " + the original subject' }),
  ...content,
});

export const outboxListQuery = pagingQuery.extend({ state: z.enum(OUTBOX_STATES).optional() });

/** The answers of the sending limits (services/send-limits.ts), on every route that queues a message. */
const LIMIT_ANSWERS = {
  '400': 'invalid input: `{ error, field }`; above the recipient limit `field: "recipients"`, `code: "send-too-many-recipients"`, `params: { maxRecipients, recipients }`',
  '429': 'more messages within the last minute than the per-person limit: `{ error, code: "send-rate-exceeded", params: { maxPerMinute, retryAfterSeconds }, retryAfterSeconds }` and a `Retry-After` header (seconds)',
};

document({
  method: 'post',
  path: '/outbox',
  summary: 'queue a message for sending through the central SMTP account (sending limits: GET /send-limits)',
  body: outboxBody,
  successStatus: 201,
  answers: LIMIT_ANSWERS,
});
document({ method: 'get', path: '/outbox', summary: 'outbox entries, newest first, with state and last server reply', access: 'admin', query: outboxListQuery });
document({ method: 'get', path: '/outbox/{id}', summary: 'an outbox entry: state (queued, sending, sent, failed), attempts, last server reply (staff: their own)', params: idParams });
document({ method: 'post', path: '/outbox/{id}/retry', summary: 'queue a failed message again (same Message-ID)', access: 'admin', params: idParams });
document({
  method: 'post',
  path: '/tasks/{id}/reply',
  summary: 'reply to the message of a task: In-Reply-To, References, "AW: <subject>"',
  params: idParams,
  body: replyBody,
  successStatus: 201,
  answers: LIMIT_ANSWERS,
});

function requireAdmin(p: Principal): void {
  if (p.role !== 'admin') throw new ForbiddenError('only admins may do this');
}

/**
 * Sending routes under `/api/v1` (issue 7 item 3): `POST /outbox`, `GET /outbox` (admins),
 * `GET /outbox/:id`, `POST /outbox/:id/retry` (admins), `POST /tasks/:id/reply`. A line break in
 * an address field or the subject is answered 400 naming the field. A person is held to the
 * sending limits: more recipients than allowed is answered 400 (field `recipients`), more
 * messages per minute 429 with `Retry-After` (app.ts maps the errors).
 */
export function outboxRoutes(ctx: AppContext): Hono<ApiEnv> {
  const r = new Hono<ApiEnv>();
  // over the rate: answered before the (possibly large) body is read
  r.post('/outbox', async (c) => {
    await precheckSendRate(ctx.db, c.get('principal').id);
    return c.json(await enqueueMessage(ctx, c.get('principal'), validate(outboxBody, await jsonBody(c))), 201);
  });
  r.get('/outbox', async (c) => {
    requireAdmin(c.get('principal'));
    const q = validate(outboxListQuery, c.req.query());
    return c.json(await listOutbox(ctx, { states: q.state ? [q.state] : undefined, limit: q.limit, offset: q.offset }));
  });
  r.get('/outbox/:id', async (c) => c.json(await showOutbox(ctx, c.get('principal'), validate(idParams, c.req.param()).id)));
  r.post('/outbox/:id/retry', async (c) => {
    requireAdmin(c.get('principal'));
    return c.json(await retryOutbox(ctx, validate(idParams, c.req.param()).id));
  });
  r.post('/tasks/:id/reply', async (c) => {
    const { id } = validate(idParams, c.req.param());
    await precheckSendRate(ctx.db, c.get('principal').id);
    return c.json(await replyToTask(ctx, c.get('principal'), id, validate(replyBody, await jsonBody(c))), 201);
  });
  return r;
}
