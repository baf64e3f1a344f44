import { Hono } from 'hono';
import type { Principal } from '../../services/tokens.js';
import {
  exportOpenTasksCsv,
  listOpenTasks,
  openTaskCsvQuery,
  openTaskListQuery,
  parseTaskListQuery,
} from '../../services/task-list.js';
import type { AppContext } from '../../context.js';
import { document, openTaskPageResponse } from '../api-spec.js';

type ApiEnv = { Variables: { principal: Principal } };

document({
  method: 'get',
  path: '/tasks/open',
  summary: 'open-task list ("Listengenerator"): tasks not completed, filtered, sorted, paginated, with the total (staff: their own)',
  query: openTaskListQuery,
  response: openTaskPageResponse,
});
document({
  method: 'get',
  path: '/tasks/open.csv',
  summary: 'the open-task list as CSV with German headers; excel=true: ";", UTF-8 BOM, CRLF, formula-guarded cells',
  query: openTaskCsvQuery,
  produces: 'text/csv',
});

/**
 * The open-task list under `/api/v1` (issue 5 item 6): `GET /tasks/open` (JSON page with `total`)
 * and `GET /tasks/open.csv` (the whole list as a download). Staff see only tasks they are assignee
 * or candidate of, admins all. Mount before any `/tasks/:id` route.
 */
export function taskListRoutes(ctx: AppContext): Hono<ApiEnv> {
  const { db } = ctx;
  const r = new Hono<ApiEnv>();
  r.get('/tasks/open', async (c) => c.json(await listOpenTasks(db, parseTaskListQuery(openTaskListQuery, c.req.query()), c.get('principal'))));
  r.get('/tasks/open.csv', async (c) => {
    const { excel, ...query } = parseTaskListQuery(openTaskCsvQuery, c.req.query());
    const isExcel = excel === 'true' || excel === '1';
    const body = await exportOpenTasksCsv(db, query, { excel: isExcel }, c.get('principal'));
    return new Response(new Uint8Array(body), {
      headers: {
        'Content-Type': 'text/csv; charset=utf-8; header=present',
        'Content-Disposition': `attachment; filename="offene-vorgaenge${isExcel ? '-excel' : ''}.csv"`,
        'X-Content-Type-Options': 'nosniff',
      },
    });
  });
  return r;
}
