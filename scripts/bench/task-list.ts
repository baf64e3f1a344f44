/**
 * Open-task list with many tasks: fills the database (bulk INSERT … SELECT generate_series), then
 * times pages of the list through the service (drizzle, as the API does) against a reference
 * measured in the same run on the same table, a bare `select … from task limit 50`.
 * Prints JSON: p50/p95 in milliseconds per case and the ratio to the reference.
 * Usage: npx tsx scripts/bench/task-list.ts [tasks=100000] [runs=30] (service-level detail;
 * `npm run bench` times the same lists over HTTP and reuses `fillTasks`)
 * With DATABASE_URL set it runs on a fresh database on that PostgreSQL server, else on PGlite.
 */
import { sql, type SQL } from 'drizzle-orm';
import { pathToFileURL } from 'node:url';
import type { Db } from '../../src/db/client.js';
import { queryRows } from '../../src/db/rows.js';
import { exportOpenTasksCsv, listOpenTasks, openTaskFilterQuery, openTaskListQuery, parseTaskListQuery } from '../../src/services/task-list.js';
import type { Viewer } from '../../src/services/messages.js';

/** Staff with logins `bench-01` … `bench-20`; tasks of the claimed kind are spread over them. */
export const BENCH_STAFF = 20;
/** Distinct sender addresses `sender-0000@agency.example` … `sender-0999@agency.example`. */
export const BENCH_SENDERS = 1000;

/**
 * Fills a migrated, seeded database with `n` messages and one task each, in a few statements.
 * Task i (1-based): channel scanner when i % 3 = 0, else general; by i % 10: 0–4 completed (by a
 * staff member), 5 unassigned, 6–7 open and claimed (assignee set), 8–9 open and unclaimed
 * (candidates only); created i × 5 minutes ago; sender `sender-<i % 1000>`.
 * @returns how many tasks are open (open or unassigned)
 */
export async function fillTasks(db: Db, n: number): Promise<number> {
  await db.execute(sql`insert into blob (sha256, size) values ('bench', 0) on conflict do nothing`);
  await db.execute(sql`
    insert into staff (name, email, login, role, mail_import)
    select 'Bench, Person ' || lpad(s::text, 2, '0'), 'bench-' || lpad(s::text, 2, '0') || '@agency.example',
           'bench-' || lpad(s::text, 2, '0'), 'staff', true
    from generate_series(1, ${BENCH_STAFF}) s`);
  await db.execute(sql`
    insert into message (raw_sha256, size, fingerprint, sender_address, sender_name, subject, date, date_from_header)
    select 'bench', 100, 'bench-' || i,
           'sender-' || lpad((i % ${BENCH_SENDERS})::text, 4, '0') || '@agency.example',
           'Absender ' || (i % ${BENCH_SENDERS}),
           'Betreff ' || md5(i::text), now() - i * interval '5 minutes', true
    from generate_series(1, ${n}) i`);
  await db.execute(sql`
    insert into task (message_id, channel, activity_type_id, status, assignee_id, created_at, completed_at)
    select m.id,
           case when m.i % 3 = 0 then 'scanner' else 'general' end,
           (select activity_type_id from channel_setting where channel = case when m.i % 3 = 0 then 'scanner' else 'general' end),
           case when m.i % 10 < 5 then 'completed' when m.i % 10 = 5 then 'unassigned' else 'open' end,
           case when m.i % 10 < 5 or m.i % 10 in (6, 7) then (select min(id) from staff where login like 'bench-%') + (m.i / 10) % ${BENCH_STAFF} end,
           now() - m.i * interval '5 minutes',
           case when m.i % 10 < 5 then now() end
    from (select id, substr(fingerprint, 7)::int as i from message where fingerprint like 'bench-%') m`);
  // unclaimed open tasks have two candidates each
  await db.execute(sql`
    insert into task_candidate (task_id, staff_id)
    select t.id, (select min(id) from staff where login like 'bench-%') + ((t.id + k) % ${BENCH_STAFF})
    from task t, generate_series(0, 1) k
    where t.status = 'open' and t.assignee_id is null`);
  await db.execute(sql`analyze`);
  return (await rows<{ n: number }>(db, sql`select count(*)::int as n from task where status in ('open', 'unassigned')`))[0]!.n;
}

/** Rows of a raw query on either driver (src/db/rows.ts). */
export const rows = queryRows;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The cases timed by {@link benchTaskList}: a name and the call. */
export function benchCases(db: Db, staffViewer: Viewer) {
  const page = (q: Record<string, string>, viewer?: Viewer) => () => listOpenTasks(db, parseTaskListQuery(openTaskListQuery, q), viewer);
  return {
    /** default list: oldest open first, 50 rows, with the total */
    firstPage: page({}),
    /** channel + status + age, newest first */
    filteredPage: page({ channel: 'scanner', status: 'open', olderThanDays: '30', order: 'desc' }),
    senderExactPage: page({ senderAddress: 'sender-0042@agency.example' }),
    senderSubstringPage: page({ sender: 'sender-004' }),
    assigneePage: page({ assignee: 'bench-07' }),
    unclaimedPage: page({ assignee: 'none', status: 'open' }),
    sortBySubjectPage: page({ sort: 'subject' }),
    deepPage: page({ offset: '20000' }),
    staffViewPage: page({}, staffViewer),
  };
}

/**
 * Times each case `runs` times (after two warm-up rounds, cases interleaved round by round) and the
 * reference query likewise; one full CSV export of all open tasks is timed once per round for the
 * first 3 rounds.
 * @returns p50/p95 per case in ms and ratios to the reference's p50/p95
 */
export async function benchTaskList(db: Db, opts: { runs: number; staffViewer: Viewer }) {
  const cases = benchCases(db, opts.staffViewer);
  const reference = () => db.execute(sql`select id, status, created_at from task limit 50`);
  const names = Object.keys(cases) as (keyof typeof cases)[];
  const samples: Record<string, number[]> = { reference: [] };
  for (const n of names) samples[n] = [];
  const csv: number[] = [];
  for (let round = -2; round < opts.runs; round++) {
    const r = await timeIt(reference);
    if (round >= 0) samples.reference!.push(r);
    for (const n of names) {
      const t = await timeIt(cases[n]);
      if (round >= 0) samples[n]!.push(t);
    }
    if (round >= 0 && round < 3) csv.push(await timeIt(() => exportOpenTasksCsv(db, parseTaskListQuery(openTaskFilterQuery, {}), { excel: true })));
  }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50Ms: round2(percentile(s, 50)), p95Ms: round2(percentile(s, 95)) };
  };
  const ref = stats(samples.reference!);
  const out: Record<string, { p50Ms: number; p95Ms: number; ratioP50?: number; ratioP95?: number }> = {};
  for (const n of names) {
    const s = stats(samples[n]!);
    out[n] = { ...s, ratioP50: round2(s.p50Ms / ref.p50Ms), ratioP95: round2(s.p95Ms / ref.p95Ms) };
  }
  return { reference: ref, cases: out, csvExportAllOpen: stats(csv) };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

async function main() {
  const { driver, testContext } = await import('../../test/helpers/env.js');
  const tasks = Number(process.argv[2] ?? 100_000);
  const runs = Number(process.argv[3] ?? 30);
  const env = await testContext();
  try {
    const { db } = env.ctx;
    const fillStart = Date.now();
    const openTasks = await fillTasks(db, tasks);
    const fillSeconds = (Date.now() - fillStart) / 1000;
    const staffId = (await rows<{ id: number }>(db, sql`select id from staff where login = 'bench-03'`))[0]!.id;
    const result = await benchTaskList(db, { runs, staffViewer: { id: staffId, role: 'staff' } });
    process.stdout.write(`${JSON.stringify({ driver, tasks, openTasks, fillSeconds, runs, ...result }, null, 2)}\n`);
  } finally {
    await env.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
