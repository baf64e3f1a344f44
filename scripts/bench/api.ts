/**
 * Admin and API with many tasks: the database is filled with `tasks` tasks (task-list.ts
 * `fillTasks`, SQL generate_series), then `GET /api/v1/tasks` and the open-task list
 * `GET /api/v1/tasks/open` are requested over HTTP from a running gateway, first page and a
 * filtered page, interleaved round by round with `GET /healthz` (the reference: the same HTTP
 * path through hono without a query). Figures: p50 and p95 request time in ms; target p95 ≤ 100 ms.
 */
import { addStaff } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { maxRow, percentile, timeMs, type Row } from './lib.js';
import { benchGateway } from './smtp.js';
import { fillTasks } from './task-list.js';

/** Runs the API bench on `driver`. @returns p50 (info) and p95 (target ≤ 100 ms) rows per request, against /healthz */
export async function benchApi(opts: { tasks: number; runs: number; driver: 'pglite' | 'postgres'; pgBaseUrl: string }, log: (s: string) => void): Promise<Row[]> {
  const g = await benchGateway(opts.driver, opts.pgBaseUrl);
  try {
    const fillMs = await timeMs(() => fillTasks(g.db, opts.tasks));
    log(`api ${opts.driver}: ${opts.tasks} tasks filled in ${(fillMs / 1000).toFixed(1)} s`);
    await addStaff(g.db, { name: 'Bench, Admin', email: 'bench-admin@agency.example', login: 'bench-admin', role: 'admin' });
    const token = await createToken(g.db, 'bench-admin', 'bench-admin');
    const base = `http://127.0.0.1:${g.gw.gateway.http.port}`;
    const requests: Record<string, string> = {
      '/healthz': '/healthz',
      'tasks, first page': '/api/v1/tasks',
      'tasks, filtered (status=open, channel=scanner)': '/api/v1/tasks?status=open&channel=scanner',
      'open-task list, first page': '/api/v1/tasks/open',
      'open-task list, filtered (scanner, open, > 30 days, newest first)': '/api/v1/tasks/open?channel=scanner&status=open&olderThanDays=30&order=desc',
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(requests).map((k) => [k, []]));
    for (let round = -3; round < opts.runs; round++) {
      for (const [name, path] of Object.entries(requests)) {
        const ms = await timeMs(async () => {
          const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
          if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        });
        if (round >= 0) samples[name]!.push(ms);
      }
    }
    const ref50 = percentile(samples['/healthz']!, 50);
    const ref95 = percentile(samples['/healthz']!, 95);
    const out: Row[] = [];
    for (const name of Object.keys(requests)) {
      if (name === '/healthz') continue;
      const p50 = percentile(samples[name]!, 50);
      const p95 = percentile(samples[name]!, 95);
      log(`api ${opts.driver} ${name}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (healthz ${ref50.toFixed(1)}/${ref95.toFixed(1)})`);
      const figure = `${opts.driver}, ${opts.tasks} tasks, ${name}`;
      out.push(maxRow('Admin/API', `${figure}: p50`, 'ms', p50, ref50, '/healthz p50', null));
      out.push(maxRow('Admin/API', `${figure}: p95`, 'ms', p95, ref95, '/healthz p95', 100));
    }
    return out;
  } finally {
    await g.close();
  }
}
