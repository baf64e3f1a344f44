import type { Context } from 'hono';
import { z } from 'zod';
import { CHANNELS, TASK_STATUSES } from '../db/schema.js';
import type { AutomatedKind } from '../ingest/auto-reply.js';
import { ValidationError } from '../services/errors.js';

/** One documented API operation; its zod schemas are the ones the route validates with. */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path under /api/v1, with `{param}` placeholders */
  path: string;
  summary: string;
  /** who may call it (documentation; the route enforces it) */
  access?: 'any' | 'admin';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** media type of a non-JSON request body (e.g. `text/csv`); documented as a string of that type */
  consumes?: string;
  /** status of a successful answer when not 200 (e.g. 201 for a created record) */
  successStatus?: number;
  /** JSON response; omit for non-JSON responses and describe them in `produces` */
  response?: z.ZodType;
  produces?: string;
  /** further answers by status, e.g. `{ 429: 'rate limit: …' }` */
  answers?: Record<string, string>;
}

const operations: Operation[] = [];

/** Registers an operation for the OpenAPI document (idempotent per method and path). */
export function document(op: Operation): Operation {
  if (!operations.some((o) => o.method === op.method && o.path === op.path)) operations.push(op);
  return op;
}

/**
 * Validates input against a schema; the first problem becomes a ValidationError naming the field.
 * @throws ValidationError (answered 400 with `field` and `error`)
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // an unknown key (strict objects) is named itself, not its parent object
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  throw new ValidationError(path.join('.') || 'body', issue.message);
}

function parameters(kind: 'path' | 'query', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: kind,
    required: kind === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

/**
 * The OpenAPI 3.1 document of /api/v1, generated from the registered operations and the same zod
 * schemas that validate the requests (zod's JSON Schema output).
 */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const responses: Record<string, unknown> = {
      [String(op.successStatus ?? 200)]: op.response
        ? { description: 'OK', content: { 'application/json': { schema: z.toJSONSchema(op.response, { io: 'output', unrepresentable: 'any' }) } } }
        : { description: 'OK', content: { [op.produces ?? 'application/octet-stream']: {} } },
      '400': { description: 'invalid input: `{ error, field }`' },
      '401': { description: 'missing or unknown token' },
      '404': { description: 'unknown id, or one the caller may not see' },
    };
    if (op.access === 'admin') responses['403'] = { description: 'admins only' };
    for (const [status, description] of Object.entries(op.answers ?? {})) responses[status] = { description };
    paths[`/api/v1${op.path}`] ??= {};
    paths[`/api/v1${op.path}`]![op.method] = {
      summary: op.summary,
      security: [{ bearer: [] }],
      parameters: [...parameters('path', op.params), ...parameters('query', op.query)],
      ...(op.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(op.body, { io: 'input', unrepresentable: 'any' }) } } } }
        : op.consumes
          ? { requestBody: { required: true, content: { [op.consumes]: { schema: { type: 'string' } } } } }
          : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Posteingang API', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'per-user token: posteingang token create <login>' } } },
    paths,
  };
}

/** Query `limit` (1–1000, default 100) and `offset` (default 0). */
export const pagingQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

/**
 * The request body parsed as JSON, for {@link validate}.
 * @throws ValidationError (`body`) when it is not JSON
 */
export async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new ValidationError('body', 'expected a JSON object (Content-Type: application/json)');
  }
}

/** A positive id in the path. */
export const idParams = z.object({ id: z.coerce.number().int().min(1) });

/** The kinds of automated mail ingest recognises (ingest/auto-reply.ts, RFC 3834). */
const AUTOMATED_KINDS = ['bounce', 'auto-submitted', 'list', 'bulk'] as const satisfies readonly AutomatedKind[];

/** `automated` of a message or task in responses: the loop-protection flag set at ingest. */
export const automatedField = z
  .enum(AUTOMATED_KINDS)
  .nullable()
  .meta({
    description:
      'RFC 3834 loop protection, set at ingest: bounce (null sender, delivery report), auto-submitted (Auto-Submitted other than no), list (List-Id, Precedence: list), bulk (Precedence: bulk/junk); null for mail from a person. Flagged messages are never answered automatically.',
  });

const personRef = z.object({ id: z.number().int(), login: z.string().nullable(), name: z.string() });

/** A task as `GET /tasks`, `GET /tasks/{id}` and the task actions answer it (db/repositories/task-views.ts TaskView). */
export const taskViewResponse = z.object({
  id: z.number().int(),
  status: z.enum(TASK_STATUSES),
  channel: z.enum(CHANNELS),
  activityTypeId: z.number().int(),
  activityType: z.string(),
  unreadable: z.boolean(),
  messageId: z.number().int(),
  sender: z.string().nullable(),
  senderName: z.string().nullable(),
  subject: z.string().nullable(),
  automated: automatedField,
  createdAt: z.iso.datetime(),
  completedAt: z.iso.datetime().nullable(),
  assignee: personRef.nullable(),
  candidates: z.array(personRef),
});

/** A stored message as `GET /messages` lists it (db/repositories/messages.ts summary). */
export const messageSummaryResponse = z.object({
  id: z.number().int(),
  receivedAt: z.iso.datetime(),
  senderAddress: z.string().nullable(),
  senderName: z.string().nullable(),
  subject: z.string().nullable(),
  date: z.iso.datetime(),
  messageIdHeader: z.string().nullable(),
  size: z.number().int(),
  sha256: z.string(),
  parseError: z.string().nullable(),
  /** What the parse adapted or lost in the parsed copy (the raw bytes are unchanged); ingest/parse.ts ParseIssueCode */
  parseIssues: z.array(z.object({ code: z.string(), params: z.record(z.string(), z.union([z.string(), z.number(), z.array(z.string())])).optional() })),
  /** true when an issue means something of the message could not be taken over into the parsed copy: look at the original (.eml) */
  incomplete: z.boolean(),
  automated: automatedField,
});

/** A message as `GET /messages/{id}` answers it: the summary with bodies, attachments and receipts. */
export const messageResponse = messageSummaryResponse.extend({
  text: z.string().nullable(),
  html: z.string().nullable(),
  dateFromHeader: z.boolean(),
  attachments: z.array(
    z.object({
      id: z.number().int(),
      position: z.number().int(),
      filename: z.string(),
      contentType: z.string(),
      declaredContentType: z.string(),
      size: z.number().int(),
      sha256: z.string(),
    }),
  ),
  receipts: z.array(z.object({ sourceKind: z.string(), source: z.unknown(), duplicate: z.boolean(), receivedAt: z.iso.datetime() })),
});

/** `GET /tasks/open`: one page of open tasks with the total (db/repositories/task-list.ts OpenTaskRow). */
export const openTaskPageResponse = z.object({
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
  items: z.array(
    taskViewResponse.pick({ id: true, channel: true, activityType: true, messageId: true, sender: true, senderName: true, subject: true, unreadable: true, automated: true, assignee: true, createdAt: true }).extend({
      status: z.enum(['open', 'unassigned']),
    }),
  ),
});
