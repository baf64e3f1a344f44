/**
 * SMTP ingest: Postfix's smtp-source sends `messages` messages of `payloadBytes` over `sessions`
 * parallel sessions, once one message per connection (as scanners do) and once reusing the
 * connections (`-d`), to the gateway and, in the same run, to the reference: a real Postfix
 * accepting into its own queue (durable, postfix.ts). As context, the same load to a bare
 * smtp-server that discards DATA and to Postfix's smtp-sink (the wire).
 * Figures: messages per second answered 250 (on disk in the inbound queue), end to end until every
 * task exists (the bench polls the task count), and the queue's 95th percentile from 250 to task. Run on PGlite (on disk, flushed) and on a fresh PostgreSQL database.
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from '../../test/helpers/dovecot.js';
import { waitFor } from '../../test/smtp-dialogues/lib.js';
import { startPostfix } from './postfix.js';
import { sql } from 'drizzle-orm';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { freshPostgresDatabase, testGateway } from '../../test/helpers/env.js';
import { maxRow, rateRow, smtpSource, startSink, now, sleep, type Row } from './lib.js';
import { rows } from './task-list.js';

export interface SmtpOpts {
  messages: number;
  sessions: number;
  payloadBytes: number;
  drivers: ('pglite' | 'postgres')[];
  pgBaseUrl: string;
}

const SIZE_LIMIT = 50 * 1024 * 1024;
const FROM = 'scanner@bench.example';
const TO = 'scan@agency.example';

/**
 * A running gateway for the benches on the given driver (PGlite on disk in a temporary DATA_DIR, flushed as in production, or a fresh database
 * on `pgBaseUrl`), with connection limits raised so that 20 sessions opening and closing
 * connections quickly are never refused for a connection not yet released.
 */
export async function benchGateway(driver: 'pglite' | 'postgres', pgBaseUrl: string, env: Record<string, string> = {}) {
  const extra: Record<string, string> = { SMTP_MAX_CONNECTIONS: '500', SMTP_MAX_CONNECTIONS_PER_IP: '500', ...env };
  let drop = async () => {};
  if (driver === 'postgres') {
    const fresh = await freshPostgresDatabase(pgBaseUrl);
    extra.DATABASE_URL = fresh.url;
    drop = fresh.drop;
  }
  const gw = await testGateway(extra);
  const { db } = gw.gateway.ctx;
  await addInboundAddress(db, TO, 'scanner');
  await addStaff(db, { name: 'Bench, SMTP', email: 'smtp-bench@agency.example', login: 'smtp-bench' });
  await addStaff(db, { name: 'Scanner, Bench', email: FROM, external: true });
  await addMapping(db, FROM, 'smtp-bench');
  return {
    gw,
    db,
    port: gw.gateway.smtp.port,
    taskCount: async () => (await rows<{ n: number }>(db, sql`select count(*)::int as n from task`))[0]!.n,
    async close() {
      await gw.close();
      await drop();
    },
  };
}

/** Waits until `count()` reaches `target` (polled every 20 ms), up to `timeoutMs`. @returns the time it was reached */
async function waitForCount(count: () => Promise<number>, target: number, timeoutMs: number): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if ((await count()) >= target) return now();
    if (now() > deadline) throw new Error(`only ${await count()} of ${target} tasks after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Runs the SMTP bench. @returns table rows (accept rate and end-to-end rate per driver and mode) */
export async function benchSmtp(opts: SmtpOpts, log: (s: string) => void): Promise<Row[]> {
  const out: Row[] = [];
  const sink = await startSink(SIZE_LIMIT);
  const wire = await startSmtpSink();
  const postfix = await startPostfix();
  const send = (port: number, reuse: boolean, messages = opts.messages) =>
    smtpSource(port, { messages, sessions: opts.sessions, reuse, payloadBytes: opts.payloadBytes, from: FROM, to: TO });
  try {
    for (const driver of opts.drivers) {
      const g = await benchGateway(driver, opts.pgBaseUrl);
      try {
        // warm-up: JIT, connection pools, prepared statements
        await send(sink.port, true, opts.sessions * 2);
        await send(g.port, true, opts.sessions * 2);
        for (const reuse of [false, true]) {
          const mode = reuse ? 'reused connections' : '1 msg/connection';
          const sinkMs = await send(sink.port, reuse);
          const wireMs = await send(wire.port, reuse);
          const heldBefore = await postfix.held();
          const postfixMs = await send(postfix.port, reuse);
          const held = (await postfix.held()) - heldBefore;
          if (held !== opts.messages) log(`postfix: ${held} of ${opts.messages} messages in the hold queue`);
          const before = await g.taskCount();
          const start = now();
          const acceptMs = await send(g.port, reuse);
          const doneAt = await waitForCount(g.taskCount, before + opts.messages, 120_000);
          const e2eMs = doneAt - start;
          // the inbound queue's own figure: 250 → committed task, over its last 1,000 messages (the later, more backlogged half of the run)
          const latencyP95 = g.gw.gateway.ctx.queue!.stats().latencyP95Ms ?? NaN;
          const sinkRate = (opts.messages / sinkMs) * 1000;
          const rate = (opts.messages / acceptMs) * 1000;
          const e2eRate = (opts.messages / e2eMs) * 1000;
          const wireRate = (opts.messages / wireMs) * 1000;
          const postfixRate = (opts.messages / postfixMs) * 1000;
          log(`smtp ${driver} ${mode}: postfix queue ${postfixRate.toFixed(1)}/s, sink ${sinkRate.toFixed(1)}/s, wire ${wireRate.toFixed(1)}/s, gateway ${rate.toFixed(1)}/s, end to end ${e2eRate.toFixed(1)}/s, 250→task p95 ${latencyP95} ms`);
          out.push(rateRow('SMTP ingest', `${driver}, ${mode}: accepted 250`, 'msg/s', rate, postfixRate, 'Postfix into its queue', 1.0));
          out.push(rateRow('SMTP ingest', `${driver}, ${mode}: task exists`, 'msg/s', e2eRate, postfixRate, 'Postfix into its queue', 0.5));
          out.push(maxRow('SMTP ingest', `${driver}, ${mode}: 250 → task, p95 of the last 1,000`, 'ms', latencyP95, null, '', 1000));
          out.push(rateRow('SMTP ingest', `${driver}, ${mode}: accepted 250 (context)`, 'msg/s', rate, sinkRate, 'bare smtp-server', null));
          out.push(rateRow('SMTP ingest', `${driver}, ${mode}: accepted 250 (context)`, 'msg/s', rate, wireRate, 'smtp-sink (the wire)', null));
        }
      } finally {
        await g.close();
      }
    }
  } finally {
    await sink.close();
    await wire.close();
    await postfix.close();
  }
  return out;
}

/** Postfix's smtp-sink (Debian `postfix`) on a free loopback port: answers every command and discards DATA. */
async function startSmtpSink(): Promise<{ port: number; close(): Promise<void> }> {
  const port = await freePort();
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn('/usr/sbin/smtp-sink', [...user, `127.0.0.1:${port}`, '256'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = createConnection(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    5_000,
    'smtp-sink to listen',
  );
  return {
    port,
    async close() {
      child.kill();
      await exited;
    },
  };
}
