// The task CLI as child processes (issue 5 item 8): tasks sync|complete|reopen|forward|assign|
// history|day, staff deactivate, mapping add --route-waiting and mapping route, each with --json,
// against a temporary DATA_DIR (PGlite) or a fresh PostgreSQL database. Expected values follow
// from the arguments, the fixtures' senders and the rules, never from output.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, runCli } from '../helpers/cli.js';
import { driver, freshPostgresDatabase, tempDir } from '../helpers/env.js';

const SCAN = 'test/fixtures/scanner-basic.eml'; // From: scanner-2og@agency.example
const JUERGEN = 'test/fixtures/latin1-split-encoded-word.eml'; // From: Juergen.Weiss@Agency.Example

interface TaskJson {
  id: number;
  status: string;
  assignee: { login: string | null } | null;
}

describe(`task CLI (${driver})`, () => {
  let env: Record<string, string>;
  let cleanup = async () => {};
  const task: Record<string, number> = {};

  before(async () => {
    const tmp = tempDir('pe-tasks-cli-');
    env = { DATA_DIR: tmp.dir };
    let drop = async () => {};
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
    cleanup = async () => {
      await drop();
      tmp.cleanup();
    };
    await ok('migrate');
    await ok('staff', 'add', '--name', 'Admin, Anna', '--email', 'anna@agency.example', '--login', 'anna', '--admin');
    await ok('staff', 'add', '--name', 'Weiß, Susi', '--email', 'susi@agency.example', '--login', 'susi');
    await ok('staff', 'add', '--name', 'Jansen, Jan', '--email', 'jan@agency.example', '--login', 'jan');
    await ok('staff', 'add', '--name', 'MFP 2. OG', '--email', 'scanner-2og@agency.example', '--external');
    await ok('staff', 'add', '--name', 'Weiß, Jürgen', '--email', 'juergen.weiss@agency.example', '--external');
    await ok('mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'susi');
    await ok('mapping', 'add', '--from', 'scanner-2og@agency.example', '--to', 'jan');
    const ingested = await okJson<{ tasks: { id: number; status: string }[] }[]>('ingest', SCAN, JUERGEN, '--channel', 'scanner', '--json');
    task.scan = ingested[0]!.tasks[0]!.id;
    task.juergen = ingested[1]!.tasks[0]!.id;
    assert.deepEqual(ingested.map((r) => r.tasks[0]!.status), ['open', 'unassigned'], 'Jürgen is not mapped yet');
  });
  after(() => cleanup());

  const cli = (...args: string[]) => runCli(args, env);
  async function ok(...args: string[]): Promise<string> {
    const r = await cli(...args);
    assert.equal(r.code, 0, `posteingang ${args.join(' ')}\n${describeRun(r)}`);
    return r.stdout.toString('utf8');
  }
  const okJson = async <T = unknown>(...args: string[]): Promise<T> => JSON.parse(await ok(...args)) as T;
  /** Exit code 1, one `refused (<field>): <message>` line on stderr, nothing on stdout. */
  async function refused(args: string[], field: string, message: string) {
    const r = await cli(...args);
    assert.equal(r.code, 1, `posteingang ${args.join(' ')} must be refused\n${describeRun(r)}`);
    assert.deepEqual(r.stderr.split('\n').filter((l) => l.startsWith('refused (')), [`refused (${field}): ${message}`], describeRun(r));
    assert.equal(r.stdout.length, 0);
  }

  test('tasks sync <login> --json claims the scan for the first who syncs', async () => {
    const r = await okJson<{ claimed: number[]; tasks: TaskJson[] }>('tasks', 'sync', 'jan', '--json');
    assert.deepEqual(r.claimed, [task.scan]);
    assert.deepEqual(r.tasks.map((t) => [t.id, t.assignee?.login]), [[task.scan, 'jan']]);
    assert.deepEqual((await okJson<{ claimed: number[] }>('tasks', 'sync', 'susi', '--json')).claimed, []);
    await refused(['tasks', 'sync', 'nobody'], 'login', 'no staff member has the login "nobody"');
  });

  test('tasks complete/reopen with --as: the rules of the person apply; without --as the operator acts', async () => {
    // Jan claimed it first: for Susi, the other candidate, it no longer exists
    const notHers = await cli('tasks', 'complete', String(task.scan), '--as', 'susi');
    assert.equal(notHers.code, 1);
    assert.match(notHers.stderr, new RegExp(`^no task with id ${task.scan}$`, 'm'));
    const done = await okJson<TaskJson>('tasks', 'complete', String(task.scan), '--as', 'jan', '--json');
    assert.equal(done.status, 'completed');
    await refused(['tasks', 'complete', String(task.scan)], 'status', `task ${task.scan} is already completed`);
    const open = await okJson<TaskJson>('tasks', 'reopen', String(task.scan), '--json');
    assert.deepEqual([open.status, open.assignee?.login], ['open', 'jan']);
    await refused(['tasks', 'reopen', 'x1'], 'id', '"x1" is not a positive whole number');
    const r = await cli('tasks', 'complete', '999999');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^no task with id 999999$/m);
  });

  test('tasks forward --to and tasks assign --to', async () => {
    await refused(['tasks', 'forward', String(task.scan), '--to', 'jan', '--as', 'jan'], 'to', `task ${task.scan} is already assigned to "Jansen, Jan"`);
    const fwd = await okJson<TaskJson>('tasks', 'forward', String(task.scan), '--to', 'susi', '--as', 'jan', '--json');
    assert.equal(fwd.assignee?.login, 'susi');
    await refused(['tasks', 'assign', String(task.juergen), '--to', 'susi', '--as', 'susi'], 'permission', 'only an admin may assign tasks by hand');
    await refused(['tasks', 'assign', String(task.scan), '--to', 'jan'], 'status', `task ${task.scan} is not in the unassigned queue (status open); forward it instead`);
    const assigned = await okJson<TaskJson>('tasks', 'assign', String(task.juergen), '--to', 'jan', '--as', 'anna', '--json');
    assert.deepEqual([assigned.status, assigned.assignee?.login], ['open', 'jan']);
  });

  test('tasks history <id> --json: the actions in order with the people; text output names them', async () => {
    const h = await okJson<{ action: string; actor: { login: string } | null }[]>('tasks', 'history', String(task.scan), '--json');
    assert.deepEqual(
      h.map((e) => [e.action, e.actor?.login ?? null]),
      [
        ['created', null],
        ['claimed', 'jan'],
        ['completed', 'jan'],
        ['reopened', null],
        ['forwarded', 'jan'],
      ],
    );
    const text = await ok('tasks', 'history', String(task.scan));
    assert.match(text, /forwarded\s+jan/);
  });

  test('tasks day <login> --json: grouped by activity type', async () => {
    const susi = await okJson<{ groups: { activityType: string; tasks: TaskJson[] }[] }>('tasks', 'day', 'susi', '--json');
    assert.deepEqual(susi.groups.map((g) => [g.activityType, g.tasks.map((t) => t.id)]), [['Scan-Eingang', [task.scan]]]);
    const jan = await okJson<{ groups: { activityType: string; tasks: TaskJson[] }[] }>('tasks', 'day', 'jan', '--json');
    assert.deepEqual(jan.groups.map((g) => [g.activityType, g.tasks.map((t) => t.id)]), [['Scan-Eingang', [task.juergen]]]);
    await refused(['tasks', 'day', 'jan', '--date', '2024-02-30'], 'date', '"2024-02-30" is not a date (YYYY-MM-DD)');
  });

  test('mapping add says how many tasks wait and how to route them; mapping route and --route-waiting route them; staff deactivate returns them to the queue', async () => {
    const dir = env.DATA_DIR!;
    const eml = (name: string, from: string, n: number) => {
      const file = path.join(dir, name);
      writeFileSync(file, `From: <${from}>\r\nTo: scan@agency.example\r\nSubject: Brief ${n}\r\nMessage-ID: <brief-${n}@amt.example>\r\n\r\nBrief ${n}\r\n`);
      return file;
    };
    await ok('staff', 'add', '--name', 'Amt, Post', '--email', 'post@amt.example', '--external');
    await ok('staff', 'add', '--name', 'Amt, Zweite Stelle', '--email', 'amt2@amt.example', '--external');
    const kai = await okJson<{ id: number }>('staff', 'add', '--name', 'Kurz, Kai', '--email', 'kai@agency.example', '--login', 'kai', '--json');
    const waiting = await okJson<{ tasks: { id: number; status: string }[] }[]>(
      'ingest', eml('b1.eml', 'post@amt.example', 1), eml('b2.eml', 'Post@Amt.example', 2), eml('b3.eml', 'amt2@amt.example', 3), '--channel', 'general', '--json',
    );
    assert.deepEqual(waiting.map((w) => w.tasks[0]!.status), ['unassigned', 'unassigned', 'unassigned']);
    const [b1, b2, b3] = waiting.map((w) => w.tasks[0]!.id);

    assert.equal(
      await ok('mapping', 'add', '--from', 'post@amt.example', '--to', 'kai'),
      'post@amt.example → kai\n2 unassigned task(s) from post@amt.example are waiting; route them with: posteingang mapping route --from post@amt.example\n',
    );
    assert.deepEqual(await okJson('mapping', 'route', '--from', 'post@amt.example', '--json'), { routed: [b1, b2], candidates: [kai.id] });
    assert.deepEqual(await okJson('mapping', 'add', '--from', 'amt2@amt.example', '--to', 'susi', '--route-waiting', '--json'), {
      from: 'amt2@amt.example',
      to: 'susi',
      waiting: 1,
      routed: [b3],
    });
    await refused(['mapping', 'route', '--from', 'jan@agency.example'], 'from', 'jan@agency.example is not mapped to any active staff member with the permission mail.import; add a mapping first');

    // Kai never synchronised: deactivating him ends both candidacies and the tasks wait again
    const r = await okJson('staff', 'deactivate', 'kai', '--json');
    assert.deepEqual(r, { staff: { id: kai.id, login: 'kai', name: 'Kurz, Kai' }, candidaciesEnded: [b1, b2], unassigned: [b1, b2], stillAssigned: [] });
    await refused(['staff', 'deactivate', 'kai'], 'login', '"Kurz, Kai" is already inactive');
    await refused(['tasks', 'sync', 'kai'], 'login', '"Kurz, Kai" is not active');
    const h = await okJson<{ action: string }[]>('tasks', 'history', String(b1), '--json');
    assert.deepEqual(h.map((e) => e.action), ['created', 'routed', 'unassigned']);
  });
});
