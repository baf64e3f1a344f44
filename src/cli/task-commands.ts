import type { Command } from 'commander';
import type { AppContext } from '../context.js';
import type { Db } from '../db/client.js';
import { findStaffByLogin } from '../db/repositories/staff.js';
import type { TaskView } from '../db/repositories/task-views.js';
import { syncStaff } from '../services/claims.js';
import { ValidationError } from '../services/errors.js';
import { deactivateStaff, routeAfterMapping, routeWaitingTasks } from '../services/staff-lifecycle.js';
import {
  actorByLogin,
  assignTask,
  completeTask,
  dayView,
  forwardTask,
  OPERATOR,
  reopenTask,
  taskHistoryFor,
  type Actor,
} from '../services/task-actions.js';
import type { CliIo } from './commands.js';
import { table, taskFlags } from './table.js';

const json = (io: CliIo, value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);

/** @throws ValidationError naming `name` unless `value` is a positive whole number */
function taskId(value: string, name = 'id'): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new ValidationError(name, `"${value}" is not a positive whole number`);
  return n;
}

/** `--as <login>`: act as that staff member (their rights apply); without it, as the local operator (admin). */
async function actor(db: Db, as: string | undefined): Promise<Actor> {
  return as === undefined ? OPERATOR : actorByLogin(db, as);
}

const who = (p: { login: string | null; name: string } | null) => (p ? (p.login ?? p.name) : '');

function taskLine(t: TaskView): string {
  return `task ${t.id} ${t.status}${t.assignee ? `, assignee ${who(t.assignee)}` : ''}\n`;
}

function taskTable(tasks: TaskView[]): string {
  return table(
    tasks.map((t) => ({ ...t, assignee: who(t.assignee), candidates: t.candidates.map(who).join(', '), flags: taskFlags(t) })),
    ['id', 'status', 'channel', 'activityType', 'sender', 'subject', 'assignee', 'candidates', 'flags'],
  );
}

/**
 * After `mapping add`: routes the waiting unassigned tasks from the sender when asked
 * (`--route-waiting`), else counts them and says how to route them (issue 5 item 3).
 * @returns what to add to the command's JSON output, and the text to print
 */
export async function waitingAfterMapping(db: Db, from: string, route: boolean): Promise<{ waiting: number; routed: number[]; text: string }> {
  const { waiting, routed } = await routeAfterMapping(db, from, route);
  if (route) return { waiting, routed, text: routed.length ? `routed ${routed.length} waiting task(s) from ${from}: ${routed.join(', ')}\n` : '' };
  const text = waiting
    ? `${waiting} unassigned task(s) from ${from} are waiting; route them with: posteingang mapping route --from ${from}\n`
    : '';
  return { waiting, routed: [], text };
}

/**
 * The CLI commands of issue 5 items 1, 3, 4, 5: `tasks sync|complete|reopen|forward|assign|history|day`,
 * `staff deactivate`, `mapping route`; each with `--json`. Task actions act as the local operator
 * (admin rights, history without a person) unless `--as <login>` names a staff member.
 */
export function registerTaskCommands(groups: { tasks: Command; staff: Command; mapping: Command }, io: CliIo, getContext: () => Promise<AppContext>): void {
  const { tasks } = groups;
  tasks
    .command('sync <login>')
    .description('claim every open unclaimed task <login> is a candidate of (first to sync gets it); polls mailboxes with auto-import off first')
    .option('--json', 'machine-readable output')
    .action(async (login: string, o: { json?: boolean }) => {
      const ctx = await getContext();
      const person = await findStaffByLogin(ctx.db, login.trim());
      if (!person) throw new ValidationError('login', `no staff member has the login "${login}"`);
      const r = await syncStaff(ctx, person.id);
      if (o.json) return json(io, r);
      for (const p of r.polled) io.out(p.ok ? `polled ${p.channel}: imported ${p.imported}\n` : `poll of ${p.channel} failed: ${p.error}\n`);
      io.out(`claimed ${r.claimed.length}${r.claimed.length ? `: ${r.claimed.join(', ')}` : ''}; open tasks of ${person.login}: ${r.tasks.length}\n`);
      if (r.tasks.length) io.out(taskTable(r.tasks));
    });

  for (const [name, run, text] of [
    ['complete', completeTask, 'complete a task (assignee or admin)'],
    ['reopen', reopenTask, 'reopen a completed task (assignee or admin)'],
  ] as const) {
    tasks
      .command(`${name} <id>`)
      .description(text)
      .option('--as <login>', 'act as this staff member')
      .option('--json', 'machine-readable output')
      .action(async (id: string, o: { as?: string; json?: boolean }) => {
        const { db } = await getContext();
        const t = await run(db, await actor(db, o.as), taskId(id));
        o.json ? json(io, t) : io.out(taskLine(t));
      });
  }
  for (const [name, run, text] of [
    ['forward', forwardTask, 'forward an open task to another staff member ("weiterleiten"; assignee or admin)'],
    ['assign', assignTask, 'assign a task from the unassigned queue by hand (admins)'],
  ] as const) {
    tasks
      .command(`${name} <id>`)
      .description(text)
      .requiredOption('--to <login>', 'the staff member who gets the task')
      .option('--as <login>', 'act as this staff member')
      .option('--json', 'machine-readable output')
      .action(async (id: string, o: { to: string; as?: string; json?: boolean }) => {
        const { db } = await getContext();
        const t = await run(db, await actor(db, o.as), taskId(id), o.to);
        o.json ? json(io, t) : io.out(taskLine(t));
      });
  }
  tasks
    .command('history <id>')
    .description('who did what when with a task')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const { db } = await getContext();
      const events = await taskHistoryFor(db, OPERATOR, taskId(id));
      if (o.json) return json(io, events);
      io.out(
        table(
          events.map((e) => ({ at: e.at.toISOString(), action: e.action, actor: e.actor ? who(e.actor) : '(gateway)', detail: e.detail ? JSON.stringify(e.detail) : '' })),
          ['at', 'action', 'actor', 'detail'],
        ),
      );
    });
  tasks
    .command('day <login>')
    .description("a staff member's tasks of a day, grouped by activity type (\"Tagesansicht\")")
    .option('--date <YYYY-MM-DD>', "the day, in the gateway's time zone (default today)")
    .option('--json', 'machine-readable output')
    .action(async (login: string, o: { date?: string; json?: boolean }) => {
      const { db } = await getContext();
      const person = await findStaffByLogin(db, login.trim());
      if (!person) throw new ValidationError('login', `no staff member has the login "${login}"`);
      const view = await dayView(db, person.id, o.date);
      if (o.json) return json(io, view);
      io.out(`${person.name}, ${view.date} (${view.timeZone})\n`);
      if (!view.groups.length) io.out('no tasks\n');
      for (const g of view.groups) io.out(`\n${g.activityType} (${g.tasks.length})\n${taskTable(g.tasks)}`);
    });

  groups.staff
    .command('deactivate <login>')
    .description('set a staff member inactive: unclaimed candidacies end, tasks left without candidate become unassigned')
    .option('--json', 'machine-readable output')
    .action(async (login: string, o: { json?: boolean }) => {
      const r = await deactivateStaff((await getContext()).db, login);
      if (o.json) return json(io, r);
      io.out(
        `deactivated ${r.staff.name}; candidacies ended: ${r.candidaciesEnded.length}, now unassigned: ${r.unassigned.length}` +
          `${r.unassigned.length ? ` (${r.unassigned.join(', ')})` : ''}\n`,
      );
      if (r.stillAssigned.length) {
        io.out(`still assigned to ${who(r.staff)}: ${r.stillAssigned.join(', ')}; forward them with: posteingang tasks forward <id> --to <login>\n`);
      }
    });

  groups.mapping
    .command('route')
    .description('route the waiting unassigned tasks from a sender by the current mapping')
    .requiredOption('--from <address>', 'sender address')
    .option('--json', 'machine-readable output')
    .action(async (o: { from: string; json?: boolean }) => {
      const r = await routeWaitingTasks((await getContext()).db, o.from);
      o.json ? json(io, r) : io.out(`routed ${r.routed.length} waiting task(s)${r.routed.length ? `: ${r.routed.join(', ')}` : ''}\n`);
    });
}
