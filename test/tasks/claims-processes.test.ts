// Claiming across two gateway processes on one PostgreSQL database (issue 5 item 4): two real
// `posteingang serve` children, 10 staff tokens, 50 concurrent `POST /api/v1/sync` spread over
// both. Runs on the real PostgreSQL at 127.0.0.1:5432 (or DATABASE_URL) in either suite run:
// PGlite admits only one process, so this property exists only on PostgreSQL.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openPostgres } from '../../src/db/client.js';
import { ensureSeed } from '../../src/services/settings.js';
import { addStaff } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { ROOT } from '../helpers/cli.js';
import { freshPostgresDatabase, tempDir } from '../helpers/env.js';
import { eventsOf, insertTasks, taskRows } from './seed.js';

interface Child {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `posteingang serve` and resolves with its HTTP port from the "gateway started" log line. */
function serve(env: Record<string, string>): Promise<Child> {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/posteingang.js'), 'serve'], {
    cwd: ROOT,
    env: { ...base, LOG_LEVEL: 'info', SMTP_HOST: '127.0.0.1', SMTP_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within 60 s:\n${text}`)), 60_000);
    proc.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      for (const line of text.split('\n')) {
        if (!line.includes('Posteingang gateway started')) continue;
        const entry = JSON.parse(line) as { http: string };
        clearTimeout(timer);
        resolve({ proc, port: Number(entry.http.split(':').pop()), stderr: () => text, exited });
        return;
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before it started:\n${text}`));
    });
  });
}

describe('claiming across two gateway processes on PostgreSQL', () => {
  let fresh: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  const dirs: ReturnType<typeof tempDir>[] = [];
  const children: Child[] = [];
  let database: ReturnType<typeof openPostgres>;
  const tokens: { staffId: number; token: string }[] = [];
  let ids: number[] = [];

  before(async () => {
    fresh = await freshPostgresDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    database = openPostgres(fresh.url);
    await database.migrate();
    await ensureSeed(database.db);
    const people: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const s = await addStaff(database.db, { name: `Person, Nr ${i}`, email: `p${i}@agency.example`, login: `p${i}` });
      people.push(s.id);
      tokens.push({ staffId: s.id, token: await createToken(database.db, `p${i}`) });
    }
    ids = await insertTasks(database.db, { count: 1000, candidates: people });
    for (let i = 0; i < 2; i++) {
      const dir = tempDir('pe-claims-');
      dirs.push(dir);
      children.push(await serve({ DATABASE_URL: fresh.url, DATA_DIR: dir.dir }));
    }
  });

  after(async () => {
    for (const c of children) {
      c.proc.kill('SIGTERM');
      await c.exited;
    }
    await database?.close();
    await fresh?.drop();
    for (const d of dirs) d.cleanup();
  });

  test('50 concurrent syncs from 10 staff over both gateways: every one of 1,000 tasks claimed exactly once', async (t) => {
    assert.equal(children.length, 2);
    assert.notEqual(children[0]!.port, children[1]!.port);
    const calls = Array.from({ length: 50 }, (_, i) => ({ ...tokens[i % 10]!, gateway: children[i % 2]! }));
    const responses = await Promise.all(
      calls.map(async (call) => {
        const r = await fetch(`http://127.0.0.1:${call.gateway.port}/api/v1/sync`, { method: 'POST', headers: { Authorization: `Bearer ${call.token}` } });
        assert.equal(r.status, 200, await r.clone().text());
        return { staffId: call.staffId, body: (await r.json()) as { claimed: number[]; tasks: { id: number; assignee: { id: number } }[] } };
      }),
    );

    const claimedBy = new Map<number, number[]>();
    for (const { staffId, body } of responses) for (const id of body.claimed) claimedBy.set(id, [...(claimedBy.get(id) ?? []), staffId]);
    assert.deepEqual([...claimedBy.keys()].sort((a, b) => a - b), ids, 'every task was reported claimed');
    assert.ok([...claimedBy.values()].every((who) => who.length === 1), 'no task was reported to two syncs');

    const rows = await taskRows(database.db);
    const perTask = new Map<number, (number | null)[]>();
    for (const e of await eventsOf(database.db, 'claimed')) perTask.set(e.taskId, [...(perTask.get(e.taskId) ?? []), e.actorId]);
    for (const id of ids) {
      assert.equal(perTask.get(id)?.length, 1, `task ${id}: exactly one claimed event`);
      assert.equal(rows.get(id)!.assigneeId, perTask.get(id)![0], `task ${id}: assignee = claimer`);
      assert.equal(rows.get(id)!.assigneeId, claimedBy.get(id)![0], `task ${id}: assignee = the sync that reported it`);
    }
    const perGateway = [0, 1].map((g) => responses.filter((_, i) => i % 2 === g).reduce((n, r) => n + r.body.claimed.length, 0));
    t.diagnostic(`claimed through gateway 1: ${perGateway[0]}, gateway 2: ${perGateway[1]}`);
  });

  test('tasks arriving while both gateways sync: still exactly one claim per task', async (t) => {
    const people = tokens.map((x) => x.staffId);
    const arrived: number[] = [];
    const claims: { gateway: number; staffId: number; claimed: number[] }[] = [];
    for (let wave = 0; wave < 20; wave++) {
      // 50 new tasks and 10 syncs (one per person, alternating gateways) at the same time
      const [newIds, ...bodies] = await Promise.all([
        insertTasks(database.db, { count: 50, candidates: people }),
        ...tokens.map(async ({ staffId, token }, i) => {
          const gateway = (i + wave) % 2;
          const r = await fetch(`http://127.0.0.1:${children[gateway]!.port}/api/v1/sync`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
          assert.equal(r.status, 200);
          return { gateway, staffId, claimed: ((await r.json()) as { claimed: number[] }).claimed };
        }),
      ]);
      arrived.push(...(newIds as number[]));
      claims.push(...(bodies as typeof claims));
    }
    // a last round picks up what arrived after the last syncs of the loop
    for (const [i, { staffId, token }] of tokens.entries()) {
      const r = await fetch(`http://127.0.0.1:${children[i % 2]!.port}/api/v1/sync`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      claims.push({ gateway: i % 2, staffId, claimed: ((await r.json()) as { claimed: number[] }).claimed });
    }
    const claimedBy = new Map<number, number[]>();
    for (const c of claims) for (const id of c.claimed) claimedBy.set(id, [...(claimedBy.get(id) ?? []), c.staffId]);
    assert.deepEqual([...claimedBy.keys()].sort((a, b) => a - b), arrived.sort((a, b) => a - b), 'each of the 1,000 new tasks was claimed');
    assert.ok([...claimedBy.values()].every((who) => who.length === 1), 'by one sync each');
    const rows = await taskRows(database.db);
    const perTask = new Map<number, number>();
    for (const e of await eventsOf(database.db, 'claimed')) perTask.set(e.taskId, (perTask.get(e.taskId) ?? 0) + 1);
    for (const id of arrived) {
      assert.equal(perTask.get(id), 1, `task ${id}: exactly one claimed event`);
      assert.equal(rows.get(id)!.assigneeId, claimedBy.get(id)![0]);
    }
    const byGateway = [0, 1].map((g) => claims.filter((c) => c.gateway === g).reduce((n, c) => n + c.claimed.length, 0));
    const byPerson = people.map((p) => claims.filter((c) => c.staffId === p).reduce((n, c) => n + c.claimed.length, 0));
    t.diagnostic(`claimed through gateway 1: ${byGateway[0]}, gateway 2: ${byGateway[1]}; per person: ${byPerson.join(' ')}`);
  });
});
