// The open-task list with 100,000 tasks: the totals match the fill (counted here independently),
// the planner reads the indexes for the pages (EXPLAIN), and the benchmark runs and reports ratios
// against its in-run reference. No absolute times are asserted.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { after, before, describe, test } from 'node:test';
import { benchTaskList, BENCH_STAFF, fillTasks, rows } from '../../scripts/bench/task-list.js';
import { countQuery, pageIdsQuery, type OpenTaskFilter, type OpenTaskOrder } from '../../src/db/repositories/task-list.js';
import { listOpenTasks, openTaskListQuery, parseTaskListQuery } from '../../src/services/task-list.js';
import { driver, testContext } from '../helpers/env.js';

const N = 100_000;

/** How many fill indexes i (1…N) satisfy `pred`: the fill's rules applied by hand (see fillTasks). */
function countFill(pred: (i: number) => boolean): number {
  let n = 0;
  for (let i = 1; i <= N; i++) if (pred(i)) n++;
  return n;
}
const isOpen = (i: number) => i % 10 >= 5; // 5 unassigned, 6–9 open
const isScanner = (i: number) => i % 3 === 0;
const ageMinutes = (i: number) => i * 5;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (p: PlanNode): PlanNode[] => [p, ...(p.Plans ?? []).flatMap(nodes)];

describe(`open-task list with ${N} tasks (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  let open: number;
  let bench07: number;
  let bench03: number;

  before(async () => {
    env = await testContext();
    open = await fillTasks(env.ctx.db, N);
    const ids = await rows<{ login: string; id: number }>(env.ctx.db, sql`select login, id from staff where login in ('bench-03', 'bench-07')`);
    bench03 = ids.find((r) => r.login === 'bench-03')!.id;
    bench07 = ids.find((r) => r.login === 'bench-07')!.id;
  });
  after(() => env?.close());

  const page = (q: Record<string, string>) => listOpenTasks(env.ctx.db, parseTaskListQuery(openTaskListQuery, q));

  test('totals match the fill, counted independently', async () => {
    assert.equal(open, countFill(isOpen));
    const first = await page({});
    assert.equal(first.total, 50_000);
    assert.equal(first.items.length, 50);
    // oldest first: task i is i × 5 minutes old; 99999…99995 are open or unassigned, 99994 completed
    assert.deepEqual(
      first.items.slice(0, 6).map((t) => t.subject),
      [99999, 99998, 99997, 99996, 99995, 99989].map((i) => `Betreff ${createHash('md5').update(String(i)).digest('hex')}`),
    );
    const filtered = await page({ channel: 'scanner', status: 'open', olderThanDays: '30' });
    assert.equal(filtered.total, countFill((i) => isScanner(i) && i % 10 >= 6 && ageMinutes(i) > 30 * 24 * 60));
    const bench = await page({ assignee: 'bench-07' });
    assert.equal(bench.total, countFill((i) => [6, 7].includes(i % 10) && Math.floor(i / 10) % BENCH_STAFF === 6));
    const sender = await page({ senderAddress: 'sender-0047@agency.example' });
    assert.equal(sender.total, countFill((i) => isOpen(i) && i % 1000 === 47));
    const deep = await page({ offset: '49990' });
    assert.equal(deep.items.length, 10);
  });

  /** The plan of a query, its bind parameters written in as literals (EXPLAIN takes none here). */
  async function explain(q: { sql: string; params: unknown[] }): Promise<PlanNode[]> {
    const text = q.sql.replace(/\$(\d+)/g, (_, n: string) => {
      const v = q.params[Number(n) - 1];
      if (typeof v === 'number') return String(v);
      const s = v instanceof Date ? v.toISOString() : String(v);
      return `'${s.replace(/'/g, "''")}'`;
    });
    const [row] = await rows<Record<string, unknown>>(env.ctx.db, sql.raw(`explain (format json) ${text}`));
    const raw = Object.values(row!)[0];
    const doc = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
    return nodes(doc[0]!.Plan);
  }
  const plan = (filter: OpenTaskFilter, order: OpenTaskOrder, offset = 0) => explain(pageIdsQuery(env.ctx.db, filter, order, { limit: 50, offset }).toSQL());
  const countPlan = (filter: OpenTaskFilter) => explain(countQuery(env.ctx.db, filter).toSQL());
  const indexes = (ns: PlanNode[]) => ns.map((n) => n['Index Name']).filter(Boolean);
  const types = (ns: PlanNode[]) => ns.map((n) => n['Node Type']);

  test('the first page walks the partial index of open tasks in order: no sort, either direction', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const ns = await plan({}, { sort: 'created', order });
      assert.ok(indexes(ns).includes('task_open_created_idx'), JSON.stringify(ns));
      assert.ok(!types(ns).includes('Sort'), JSON.stringify(types(ns)));
      assert.ok(!types(ns).includes('Seq Scan'), JSON.stringify(types(ns)));
    }
  });

  test('a filtered page (channel, status, age) walks the same index, without sorting', async () => {
    const ns = await plan({ channel: 'scanner', status: 'open', createdBefore: new Date(Date.now() - 30 * 86_400_000) }, { sort: 'created', order: 'desc' });
    assert.ok(indexes(ns).includes('task_open_created_idx'), JSON.stringify(ns));
    assert.ok(!types(ns).includes('Sort'), JSON.stringify(types(ns)));
  });

  test('an assignee page reads an index, never the whole table; its total reads the assignee index', async () => {
    const ns = await plan({ assigneeId: bench07 }, { sort: 'created', order: 'asc' });
    assert.ok(!types(ns).includes('Seq Scan') && !types(ns).includes('Sort'), JSON.stringify(types(ns)));
    assert.ok(indexes(await countPlan({ assigneeId: bench07 })).includes('task_assignee_idx'));
  });

  test('an exact sender is looked up by the sender index, for the page and the total', async () => {
    const filter = { senderAddress: 'sender-0047@agency.example' };
    assert.ok(indexes(await plan(filter, { sort: 'created', order: 'asc' })).includes('message_sender_idx'));
    assert.ok(indexes(await countPlan(filter)).includes('message_sender_idx'));
  });

  test('a deep page finds its ids on task alone: message, activity type and staff are read for its 50 rows only', async () => {
    const ns = await plan({}, { sort: 'created', order: 'asc' }, 20_000);
    assert.deepEqual([...new Set(ns.map((n) => n['Relation Name']).filter(Boolean))], ['task']);
  });

  test('the benchmark reports p50/p95 per case and ratios against its reference from the same run', async () => {
    const result = await benchTaskList(env.ctx.db, { runs: 3, staffViewer: { id: bench03, role: 'staff' } });
    assert.ok(result.reference.p50Ms > 0 && result.reference.p95Ms >= result.reference.p50Ms);
    assert.deepEqual(Object.keys(result.cases), [
      'firstPage',
      'filteredPage',
      'senderExactPage',
      'senderSubstringPage',
      'assigneePage',
      'unclaimedPage',
      'sortBySubjectPage',
      'deepPage',
      'staffViewPage',
    ]);
    for (const [name, c] of Object.entries(result.cases)) {
      assert.ok(c.p50Ms > 0 && c.p95Ms >= c.p50Ms, name);
      assert.ok(Math.abs(c.ratioP50! - c.p50Ms / result.reference.p50Ms) < 0.01 * c.ratioP50! + 0.01, name);
    }
    assert.ok(result.csvExportAllOpen.p50Ms > 0);
  });
});
