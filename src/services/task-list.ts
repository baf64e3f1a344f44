import { stringify } from 'csv-stringify/sync';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import * as staffRepo from '../db/repositories/staff.js';
import {
  countOpenTasks,
  OPEN_STATUSES,
  selectOpenTasks,
  TASK_LIST_SORTS,
  type OpenTaskFilter,
  type OpenTaskRow,
} from '../db/repositories/task-list.js';
import { activityType, CHANNELS, type Channel } from '../db/schema.js';
import { ValidationError } from './errors.js';
import type { Viewer } from './messages.js';
import { normaliseAddress } from './validate.js';

export { OPEN_STATUSES, TASK_LIST_SORTS, type OpenTaskRow };

const dateOrDateTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
  error: (i) => `"${String(i.input)}" is not a date (YYYY-MM-DD) or a date-time with a zone (2024-03-01T08:00:00+01:00)`,
});
const text = (what: string) => z.string({ error: `expected ${what}` }).trim().min(1, { error: `expected ${what}` });

/**
 * Filters and order of the open-task list ("Listengenerator"), as query parameters (all strings).
 * `assignee` is a login or `none`; `sender` a part of the sender address or name, `senderAddress`
 * the address exactly (both case-insensitive); `olderThanDays` counts from now; `createdFrom` /
 * `createdTo` are inclusive (a date means the whole day in the gateway's time zone).
 */
export const openTaskFilterQuery = z
  .object({
    status: z.enum(OPEN_STATUSES, { error: (i) => `"${String(i.input)}" is not the status of an open task; use one of: ${OPEN_STATUSES.join(', ')}` }).optional(),
    channel: z.enum(CHANNELS, { error: (i) => `"${String(i.input)}" is not a channel; use one of: ${CHANNELS.join(', ')}` }).optional(),
    activityType: text('the name of an activity type').optional(),
    assignee: text('a login, or none').optional(),
    sender: text('a part of the sender address or name').optional(),
    senderAddress: text('an e-mail address').optional(),
    olderThanDays: z.coerce
      .number({ error: 'expected a number of days' })
      .int({ error: (i) => `"${String(i.input)}" is not a whole number of days` })
      .min(1, { error: 'at least 1 day' })
      .max(36500, { error: 'at most 36500 days' })
      .optional(),
    createdFrom: dateOrDateTime.optional(),
    createdTo: dateOrDateTime.optional(),
    sort: z.enum(TASK_LIST_SORTS, { error: (i) => `"${String(i.input)}" is not a sort column; use one of: ${TASK_LIST_SORTS.join(', ')}` }).default('created'),
    order: z.enum(['asc', 'desc'], { error: (i) => `"${String(i.input)}" is not an order; use asc or desc` }).default('asc'),
  })
  .strict();

/** Query of `GET /api/v1/tasks/open`: the filters plus `limit` (1–1000, default 50) and `offset`. */
export const openTaskListQuery = openTaskFilterQuery
  .extend({
    limit: z.coerce
      .number({ error: 'expected a number' })
      .int({ error: 'expected a whole number' })
      .min(1, { error: 'at least 1' })
      .max(1000, { error: 'at most 1000' })
      .default(50),
    offset: z.coerce
      .number({ error: 'expected a number' })
      .int({ error: 'expected a whole number' })
      .min(0, { error: 'at least 0' })
      .default(0),
  })
  .strict();

/** Query of `GET /api/v1/tasks/open.csv`: the filters plus `excel` (true: `;`, UTF-8 BOM, CRLF, formula guard). */
export const openTaskCsvQuery = openTaskFilterQuery
  .extend({ excel: z.enum(['true', 'false', '1', '0'], { error: (i) => `"${String(i.input)}" is not true or false` }).optional() })
  .strict();

export type OpenTaskListQuery = z.infer<typeof openTaskListQuery>;
export type OpenTaskFilterQuery = z.infer<typeof openTaskFilterQuery>;

/**
 * Parses query parameters (HTTP query or CLI options, as strings) with one of the schemas above.
 * @throws ValidationError naming the parameter and the reason (an unknown parameter is refused too)
 */
export function parseTaskListQuery<S extends z.ZodObject>(schema: S, input: Record<string, unknown>): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new ValidationError(issue.keys[0]!, `"${issue.keys[0]}" is not a parameter of the task list`);
  throw new ValidationError(issue.path.join('.'), issue.message);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Start of a date (YYYY-MM-DD) in the gateway's local time zone, or the instant of a date-time. */
function instant(value: string, nextDay = false): Date {
  const m = DATE.exec(value);
  if (!m) return new Date(value);
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (nextDay ? 1 : 0));
}

/** Resolves names to ids and dates to instants. @throws ValidationError for unknown names or an empty range */
async function resolveFilter(db: Db, q: OpenTaskFilterQuery, viewer: Viewer): Promise<OpenTaskFilter> {
  const f: OpenTaskFilter = { status: q.status, channel: q.channel as Channel | undefined };
  if (q.activityType !== undefined) {
    const [type] = await db
      .select({ id: activityType.id })
      .from(activityType)
      .where(sql`lower(${activityType.name}) = ${q.activityType.toLowerCase()}`);
    if (!type) throw new ValidationError('activityType', `no activity type is named "${q.activityType}"`);
    f.activityTypeId = type.id;
  }
  if (q.assignee !== undefined) {
    if (q.assignee.toLowerCase() === 'none') f.assigneeId = null;
    else {
      const person = await staffRepo.findStaffByLogin(db, q.assignee);
      if (!person) throw new ValidationError('assignee', `no staff member has the login "${q.assignee}"`);
      f.assigneeId = person.id;
    }
  }
  if (q.senderAddress !== undefined) f.senderAddress = normaliseAddress(q.senderAddress, 'senderAddress');
  if (q.sender !== undefined) f.senderContains = q.sender;
  if (q.olderThanDays !== undefined) f.createdBefore = new Date(Date.now() - q.olderThanDays * 86_400_000);
  if (q.createdFrom !== undefined) f.createdFrom = instant(q.createdFrom);
  if (q.createdTo !== undefined) {
    // a date includes its whole day: up to the start of the next one
    const wholeDay = DATE.test(q.createdTo);
    const end = instant(q.createdTo, wholeDay);
    if (f.createdFrom && (wholeDay ? end.getTime() <= f.createdFrom.getTime() : end.getTime() < f.createdFrom.getTime())) {
      throw new ValidationError('createdTo', `createdTo (${q.createdTo}) is before createdFrom (${q.createdFrom})`);
    }
    if (wholeDay) f.createdBefore = f.createdBefore && f.createdBefore.getTime() < end.getTime() ? f.createdBefore : end;
    else f.createdUntil = end;
  }
  if (viewer && viewer.role !== 'admin') f.visibleTo = viewer.id;
  return f;
}

/** One page of the open-task list, with the total of matching tasks. */
export interface OpenTaskPage {
  total: number;
  limit: number;
  offset: number;
  items: OpenTaskRow[];
}

/**
 * The open-task list ("Listengenerator", domain.md item 8): imported tasks not yet completed
 * (status open or unassigned), filtered, sorted, one page.
 * @param viewer staff (not admins) see only tasks they are assignee or candidate of; omitted: the CLI
 * @throws ValidationError for an unknown activity type or login, or a date range that ends before it starts
 */
export async function listOpenTasks(db: Db, query: OpenTaskListQuery, viewer?: Viewer): Promise<OpenTaskPage> {
  const filter = await resolveFilter(db, query, viewer);
  const order = { sort: query.sort, order: query.order };
  const [items, total] = await Promise.all([
    selectOpenTasks(db, filter, order, { limit: query.limit, offset: query.offset }),
    countOpenTasks(db, filter),
  ]);
  return { total, limit: query.limit, offset: query.offset, items };
}

/** German column headers of the CSV export. */
export const CSV_HEADERS = ['Vorgang', 'Status', 'Kanal', 'Tätigkeit', 'Absender', 'Betreff', 'Zuständig', 'Eingang'] as const;
const STATUS_DE: Record<string, string> = { open: 'offen', unassigned: 'nicht zugeordnet' };
const CHANNEL_DE: Record<Channel, string> = { general: 'Allgemein', scanner: 'Scanner' };

/** A formula start: `= + - @`, their fullwidth forms (Apple Numbers folds them), tab, CR. */
const FORMULA_AT_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
/** A line break (CRLF, CR or LF: spreadsheets and RFC 4180 readers split lines at each) before a formula start. */
const FORMULA_AT_LINE_START = /(\r\n|\r|\n)(?=[=+\-@\t\uFF1D\uFF0B\uFF0D\uFF20])/g;

/**
 * Makes a cell inert for spreadsheets (CSV/formula injection, OWASP "CSV Injection"): a value
 * starting with `=`, `+`, `-`, `@` (or their fullwidth forms U+FF1D, U+FF0B, U+FF0D, U+FF20),
 * tab or CR gets a leading apostrophe, so Excel shows it as text; so does every line inside the
 * value that starts with one of them after a CR, LF or CRLF — a reader that splits rows at a
 * line break inside a quoted cell must not find a formula there either.
 * @param value the cell's text
 * @returns the text with an apostrophe before each formula start; unchanged when there is none
 */
export function guardFormula(value: string): string {
  const lines = value.replace(FORMULA_AT_LINE_START, "$1'");
  return FORMULA_AT_START.test(lines) ? `'${lines}` : lines;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** `YYYY-MM-DD HH:MM:SS` in the gateway's time zone: what a German Excel reads as a date-time. */
const localDateTime = (d: Date) =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;

/**
 * The rows as CSV with the German headers {@link CSV_HEADERS}. Plain: `,`, UTF-8, LF, Eingang in
 * ISO 8601 (UTC). Excel: `;`, UTF-8 with BOM, CRLF, Eingang as local `YYYY-MM-DD HH:MM:SS`. In
 * both every cell is guarded against formula injection, at its start and at every line start
 * inside it ({@link guardFormula}), and every cell holding a CR or LF is quoted (RFC 4180 §2.6):
 * whoever downloads a CSV may open it in a spreadsheet (the JSON API gives the values untouched).
 * Status and channel are written in German ("offen", "nicht zugeordnet"; "Allgemein", "Scanner").
 */
export function openTasksCsv(rows: OpenTaskRow[], opts: { excel?: boolean } = {}): Buffer {
  const excel = Boolean(opts.excel);
  const cell = guardFormula;
  const records = rows.map((r) =>
    [
      String(r.id),
      STATUS_DE[r.status] ?? r.status,
      CHANNEL_DE[r.channel] ?? r.channel,
      r.activityType,
      r.sender ?? '',
      r.subject ?? '',
      r.assignee?.name ?? '',
      excel ? localDateTime(r.createdAt) : r.createdAt.toISOString(),
    ].map(cell),
  );
  const text = stringify(records, {
    header: true,
    columns: [...CSV_HEADERS],
    delimiter: excel ? ';' : ',',
    record_delimiter: excel ? '\r\n' : '\n',
    // every cell holding a CR or LF is quoted, whichever record delimiter is written: readers
    // (csv-parse, Excel) end a row at a bare CR or LF as well (RFC 4180 §2.6)
    quote_record_delimiter: true,
    bom: excel,
  });
  return Buffer.from(text, 'utf8');
}

/**
 * The whole open-task list under the filters and order of `query`, as CSV ({@link openTasksCsv}).
 * @param viewer as for {@link listOpenTasks}
 * @throws ValidationError as for {@link listOpenTasks}
 */
export async function exportOpenTasksCsv(db: Db, query: OpenTaskFilterQuery, opts: { excel?: boolean } = {}, viewer?: Viewer): Promise<Buffer> {
  const filter = await resolveFilter(db, query, viewer);
  const rows = await selectOpenTasks(db, filter, { sort: query.sort, order: query.order }, { offset: 0 });
  return openTasksCsv(rows, opts);
}
