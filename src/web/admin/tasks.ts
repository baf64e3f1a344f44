import { create as contentDisposition } from 'content-disposition';
import { Hono, type Context } from 'hono';
import { PER_PAGE, TASK_SORTS, taskListUrl, type TaskListOptions, type TaskListState } from '../../../views/fragments/TasksTable.js';
import { TasksQueue, type QueueError } from '../../../views/fragments/TasksQueue.js';
import { TasksTable } from '../../../views/fragments/TasksTable.js';
import { TasksPage, TasksUnassignedPage } from '../../../views/pages/Tasks.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import type { AppContext } from '../../context.js';
import { listActivityTypes } from '../../services/activity-types.js';
import { ValidationError } from '../../services/errors.js';
import { routeAfterMapping } from '../../services/staff-lifecycle.js';
import { addMapping, listStaff } from '../../services/staff.js';
import { assignTask } from '../../services/task-actions.js';
import { exportOpenTasksCsv, listOpenTasks, openTaskCsvQuery, openTaskListQuery, parseTaskListQuery } from '../../services/task-list.js';
import { activeStaffAddresses, eligibleStaff } from '../../services/task-pages.js';
import { actorOf, renderTaskDetail } from './messages.js';
import { fragment, isHtmx, page, view, type AdminEnv } from './render.js';

const FILTER_KEYS = ['status', 'channel', 'activityType', 'assignee', 'sender', 'olderThanDays'] as const;

/** The list state from the query string: filter values as typed, order, page and page size. */
export function listState(query: Record<string, string>): TaskListState {
  const str = (k: string) => (query[k] ?? '').trim();
  const sort = (TASK_SORTS as readonly string[]).includes(str('sort')) ? (str('sort') as TaskListState['sort']) : 'created';
  const perPage = Number(str('perPage'));
  const pageNo = Number(str('page'));
  return {
    ...(Object.fromEntries(FILTER_KEYS.map((k) => [k, str(k)])) as Pick<TaskListState, (typeof FILTER_KEYS)[number]>),
    sort,
    order: str('order') === 'desc' ? 'desc' : 'asc',
    page: Number.isInteger(pageNo) && pageNo >= 1 ? pageNo : 1,
    perPage: (PER_PAGE as readonly number[]).includes(perPage) ? perPage : 20,
  };
}

/** The service query of a state: only the filters that are set (the service validates them). */
function serviceFilters(state: TaskListState, raw: Record<string, string>): Record<string, string> {
  const q: Record<string, string> = {};
  for (const k of FILTER_KEYS) if (state[k]) q[k] = state[k];
  // an unknown sort or order is passed on, so that the service names it in its error
  for (const k of ['sort', 'order'] as const) if (raw[k]) q[k] = raw[k].trim();
  return q;
}

/**
 * Renders an open-task list (the admin's `/tasks` or anybody's `/meine-vorgaenge`): the page, or
 * with `HX-Request` (not a history restore) the `#task-list` fragment with `HX-Push-Url` set to
 * the canonical URL of the list. A filter the service refuses is shown beside its field (400).
 */
export async function renderTaskList(
  ctx: AppContext,
  c: Context<AdminEnv>,
  opts: { base: string; title: string; tabs: boolean; options: TaskListOptions; exportBase?: string; notice?: string },
): Promise<Response> {
  const v = view(c);
  const raw = c.req.query();
  const state = listState(raw);
  const session = c.get('session')!;
  const viewer = { id: session.staffId, role: session.role };
  let result = { total: 0, items: [] as Awaited<ReturnType<typeof listOpenTasks>>['items'] };
  let error: { field: string; message: string } | undefined;
  try {
    const query = parseTaskListQuery(openTaskListQuery, { ...serviceFilters(state, raw), limit: state.perPage, offset: (state.page - 1) * state.perPage });
    result = await listOpenTasks(ctx.db, query, viewer);
    const pages = Math.max(1, Math.ceil(result.total / state.perPage));
    if (state.page > pages) {
      // past the end (fewer tasks than when the link was made): show the last page
      state.page = pages;
      result = await listOpenTasks(ctx.db, { ...query, offset: (pages - 1) * state.perPage }, viewer);
    }
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    error = { field: err.field, message: localizeRefusal(err.message, v.lang) };
  }
  const props = { view: v, base: opts.base, state, options: opts.options, result, error, exportBase: opts.exportBase };
  const status = error ? 400 : 200;
  if (isHtmx(c) && c.req.header('HX-History-Restore-Request') !== 'true') {
    c.header('HX-Push-Url', taskListUrl(opts.base, state));
    return fragment(c, TasksTable(props), status);
  }
  return page(c, TasksPage({ ...props, title: opts.title, tabs: opts.tabs, notice: opts.notice }), status);
}

/**
 * The admin's task pages (issue 6 item 7), admin only: `GET /tasks` the open-task list with
 * filters, sort, pagination; `GET /tasks/export.csv` its CSV export (`excel=true`: the Excel
 * variant) under the same filters; `GET /tasks/unassigned` the unassigned queue;
 * `POST /tasks/:id/assign` (from the queue with htmx: the queue back; from the detail page: a
 * redirect to it) and `POST /tasks/unassigned/mapping` (a mapping Von → An for the sender of a
 * queued task, routing the sender's waiting tasks).
 */
export function tasksAdminRoutes(ctx: AppContext): Hono<AdminEnv> {
  const { db } = ctx;
  const r = new Hono<AdminEnv>();

  r.get('/tasks', async (c) => {
    const v = view(c);
    const [types, staff] = await Promise.all([listActivityTypes(db), listStaff(db)]);
    const options = { activityTypes: types.map((t) => t.name), assignees: staff.filter((s) => s.login).map((s) => ({ login: s.login!, name: s.name })) };
    return renderTaskList(ctx, c, { base: '/tasks', title: v.t.tasksPages.title, tabs: true, options, exportBase: '/tasks/export.csv' });
  });

  r.get('/tasks/export.csv', async (c) => {
    const raw = c.req.query();
    const { excel, ...rest } = raw;
    const state = listState(rest);
    const isExcel = excel === 'true' || excel === '1';
    const query = parseTaskListQuery(openTaskCsvQuery, serviceFilters(state, rest));
    const session = c.get('session')!;
    const body = await exportOpenTasksCsv(db, query, { excel: isExcel }, { id: session.staffId, role: session.role });
    return c.body(new Uint8Array(body), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': contentDisposition(`offene-vorgaenge${isExcel ? '-excel' : ''}.csv`),
    });
  });

  async function queue(c: Context<AdminEnv>, extra: { notice?: string; error?: QueueError } = {}) {
    const v = view(c);
    const session = c.get('session')!;
    const [list, people, staffAddresses] = await Promise.all([
      listOpenTasks(db, parseTaskListQuery(openTaskListQuery, { status: 'unassigned', limit: 200 }), { id: session.staffId, role: session.role }),
      eligibleStaff(db),
      activeStaffAddresses(db),
    ]);
    const props = { view: v, rows: list.items, total: list.total, people, staffAddresses, ...extra };
    if (isHtmx(c)) return fragment(c, TasksQueue(props), extra.error ? 400 : 200);
    return page(c, TasksUnassignedPage(props), extra.error ? 400 : 200);
  }

  r.get('/tasks/unassigned', (c) => queue(c));

  r.post('/tasks/:id{[0-9]+}/assign', async (c) => {
    const v = view(c);
    const id = Number(c.req.param('id'));
    const form = await c.req.parseBody();
    const to = typeof form.to === 'string' ? form.to : '';
    try {
      const task = await assignTask(db, actorOf(c), id, to);
      if (isHtmx(c)) return queue(c, { notice: v.t.tasksPages.queue.assigned(id, task.assignee?.name ?? to) });
      return c.redirect(`/tasks/${id}?done=assigned`, 303);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const message = localizeRefusal(err.message, v.lang);
      // from the queue (with htmx, or as a plain form without JavaScript): the queue again, with
      // the reason beside the row or above the list when the row has left it
      if (isHtmx(c) || form.from === 'queue') return queue(c, { error: { taskId: id, form: 'assign', message } });
      return renderTaskDetail(ctx, c, id, { error: { form: 'assign', message } });
    }
  });

  r.post('/tasks/unassigned/mapping', async (c) => {
    const v = view(c);
    const form = await c.req.parseBody();
    const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '');
    const taskId = Number(text('taskId'));
    try {
      const m = await addMapping(db, text('from'), text('to'));
      const routed = await routeAfterMapping(db, m.from, true, c.get('session')!.staffId);
      const person = (await eligibleStaff(db)).find((p) => p.id === m.toStaffId);
      ctx.log.info({ from: m.from, toStaffId: m.toStaffId, routed: routed.routed.length }, 'mapping created from the unassigned queue');
      return queue(c, { notice: v.t.tasksPages.queue.mappingCreated(m.from, person?.name ?? text('to'), routed.routed.length) });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return queue(c, { error: { taskId, form: 'mapping', message: localizeRefusal(err.message, v.lang) } });
    }
  });
  return r;
}
