/**
 * Claim: `tasks` open, unclaimed tasks, each with 3 of 10 staff members as candidates; 50
 * concurrent `POST /api/v1/sync` (5 per staff member) against a running gateway. Figure: tasks
 * claimed per second; check: every task has exactly one assignee, who is one of its candidates,
 * and exactly one `claimed` event. Ceiling: one plain `UPDATE … RETURNING` assigning the same rows
 * in a single statement (then undone), in the same run on the same database.
 */
import { sql } from 'drizzle-orm';
import { createToken } from '../../src/services/tokens.js';
import { now, rateRow, type Row } from './lib.js';
import { benchGateway } from './smtp.js';
import { rows } from './task-list.js';

const STAFF = 10;
const CANDIDATES_PER_TASK = 3;

/** Runs the claim bench on `driver`. @returns rows: claims/s against the one-statement ceiling, and the exactly-once check */
export async function benchClaim(opts: { tasks: number; syncs: number; driver: 'pglite' | 'postgres'; pgBaseUrl: string }, log: (s: string) => void): Promise<Row[]> {
  const g = await benchGateway(opts.driver, opts.pgBaseUrl);
  try {
    const { db } = g;
    await db.execute(sql`insert into blob (sha256, size) values ('bench', 0) on conflict do nothing`);
    await db.execute(sql`
      insert into staff (name, email, login, role, mail_import)
      select 'Claim, Person ' || s, 'claim-' || s || '@agency.example', 'claim-' || s, 'staff', true
      from generate_series(1, ${STAFF}) s`);
    await db.execute(sql`
      insert into message (raw_sha256, size, fingerprint, sender_address, subject, date, date_from_header)
      select 'bench', 100, 'claim-' || i, 'sender@agency.example', 'Betreff ' || i, now(), true
      from generate_series(1, ${opts.tasks}) i`);
    await db.execute(sql`
      insert into task (message_id, channel, activity_type_id, status)
      select m.id, 'general', (select activity_type_id from channel_setting where channel = 'general'), 'open'
      from message m where m.fingerprint like 'claim-%'`);
    // task t: candidates claim-((t + 0·3) mod 10 + 1), claim-((t + 1·3) mod 10 + 1), claim-((t + 2·3) mod 10 + 1)
    await db.execute(sql`
      insert into task_candidate (task_id, staff_id)
      select t.id, s.id
      from task t, generate_series(0, ${CANDIDATES_PER_TASK - 1}) k, staff s
      where t.status = 'open' and s.login = 'claim-' || ((t.id + k * 3) % ${STAFF} + 1)
      on conflict do nothing`);
    await db.execute(sql`analyze`);
    const logins = Array.from({ length: STAFF }, (_, i) => `claim-${i + 1}`);
    const tokens = await Promise.all(logins.map((l) => createToken(db, l, `bench-${l}`)));

    // ceiling: one statement assigning every row to its first candidate, then undone
    const t0 = now();
    const updated = await rows<{ id: number }>(db, sql`
      update task set assignee_id = (select min(c.staff_id) from task_candidate c where c.task_id = task.id)
      where status = 'open' and assignee_id is null returning id`);
    const ceilingMs = now() - t0;
    await db.execute(sql`update task set assignee_id = null where status = 'open'`);
    if (updated.length !== opts.tasks) throw new Error(`ceiling UPDATE touched ${updated.length} of ${opts.tasks} rows`);

    const base = `http://127.0.0.1:${g.gw.gateway.http.port}/api/v1/sync`;
    const t1 = now();
    const answers = await Promise.all(
      Array.from({ length: opts.syncs }, async (_, i) => {
        const res = await fetch(base, { method: 'POST', headers: { authorization: `Bearer ${tokens[i % STAFF]}` } });
        if (res.status !== 200) throw new Error(`sync ${i}: HTTP ${res.status} ${await res.text()}`);
        return ((await res.json()) as { claimed: number[] }).claimed;
      }),
    );
    const syncMs = now() - t1;
    const claimedInAnswers = answers.flat();
    const [check] = await rows<{ unassigned: number; notCandidate: number; badEvents: number; total: number }>(db, sql`
      select
        (select count(*)::int from task where status = 'open' and assignee_id is null) as "unassigned",
        (select count(*)::int from task t where t.assignee_id is not null
           and not exists (select 1 from task_candidate c where c.task_id = t.id and c.staff_id = t.assignee_id)) as "notCandidate",
        (select count(*)::int from (select t.id from task t left join task_event e on e.task_id = t.id and e.action = 'claimed'
           group by t.id having count(e.id) <> 1) x) as "badEvents",
        (select count(*)::int from task) as "total"`);
    const duplicatesInAnswers = claimedInAnswers.length - new Set(claimedInAnswers).size;
    const ok = check!.unassigned === 0 && check!.notCandidate === 0 && check!.badEvents === 0 && duplicatesInAnswers === 0 && claimedInAnswers.length === opts.tasks;
    const rate = (opts.tasks / syncMs) * 1000;
    const ceilingRate = (opts.tasks / ceilingMs) * 1000;
    log(`claim ${opts.driver}: ${opts.syncs} syncs claimed ${claimedInAnswers.length}/${opts.tasks} in ${syncMs.toFixed(0)} ms; one UPDATE ${ceilingMs.toFixed(0)} ms; check ${JSON.stringify({ ...check, duplicatesInAnswers })}`);
    const figure = `${opts.driver}, ${opts.tasks} tasks, ${opts.syncs} concurrent syncs`;
    return [
      rateRow('Claim', `${figure}: claims/s`, 'tasks/s', rate, ceilingRate, 'one UPDATE … RETURNING', null),
      {
        bench: 'Claim', figure: `${figure}: each task claimed exactly once`, unit: 'tasks wrong', ceiling: null, ceilingName: '', ratio: null,
        value: check!.unassigned + check!.notCandidate + check!.badEvents + duplicatesInAnswers + Math.abs(opts.tasks - claimedInAnswers.length),
        target: { kind: 'max', value: 0 }, pass: ok,
      },
    ];
  } finally {
    await g.close();
  }
}
