import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig, type Config } from '../../src/config.js';
import { createContext, type AppContext } from '../../src/context.js';
import { openPglite, openPostgres, type Database } from '../../src/db/client.js';
import { createEvents } from '../../src/events.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { ensureSeed } from '../../src/services/settings.js';

/** Gateways started in this test process (testGateway, dialogueGateway), for queuesDrained(). */
const runningGateways = new Set<Gateway>();

/** Registers an in-process gateway for queuesDrained(); returns a function that unregisters it. */
export function trackGateway(gateway: Gateway): () => void {
  runningGateways.add(gateway);
  return () => runningGateways.delete(gateway);
}

/**
 * Resolves when every in-process gateway's inbound queue has committed what SMTP accepted: a
 * `250` now means "on disk in the queue", the task follows (ingest/queue.ts). Test clients call
 * it after a `250 … queued as …` before they look into the database.
 */
export async function queuesDrained(): Promise<void> {
  await Promise.all([...runningGateways].map((g) => g.ctx.queue?.drained()));
}

/** True for the reply the receiver gives once a message is in the inbound queue. */
export const isQueuedReply = (code: number, text: string) => code === 250 && /\bqueued as [0-9a-z]+/.test(text);

/** The suite's driver: PostgreSQL when DATABASE_URL is set (CI's second run), else PGlite. */
export const driver = process.env.DATABASE_URL ? 'postgres' : 'pglite';

/** A new temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'pe-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A fresh, empty PostgreSQL database on the server of `baseUrl` (default: DATABASE_URL).
 * @returns its URL and a function that drops it
 */
export async function freshPostgresDatabase(baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres') {
  const name = `pe_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/** Configuration for a test: ports 0 (any free), loopback, a temp DATA_DIR, quiet logs. */
export function testConfig(dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATA_DIR: dataDir,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

/**
 * A migrated, seeded database of the suite's driver with an AppContext around it.
 * PGlite runs in memory; PostgreSQL gets a fresh database.
 */
export async function testContext(env: Record<string, string> = {}): Promise<{ ctx: AppContext; close(): Promise<void> }> {
  const tmp = tempDir();
  let database: Database;
  let drop = async () => {};
  if (driver === 'postgres') {
    const fresh = await freshPostgresDatabase();
    database = openPostgres(fresh.url);
    drop = fresh.drop;
  } else {
    database = await openPglite(undefined);
  }
  await database.migrate();
  await ensureSeed(database.db);
  const config = testConfig(tmp.dir, env);
  const ctx = createContext(config, database, createEvents(), createLogger('silent'));
  return {
    ctx,
    async close() {
      await database.close();
      await drop();
      tmp.cleanup();
    },
  };
}

/** A whole running gateway (SMTP, HTTP, admin socket) on free loopback ports, with the suite's driver. */
export async function testGateway(env: Record<string, string> = {}): Promise<{ gateway: Gateway; dataDir: string; databaseUrl?: string; close(): Promise<void> }> {
  const tmp = tempDir();
  let drop = async () => {};
  const extra: Record<string, string> = { ...env };
  if (driver === 'postgres' && !('DATABASE_URL' in env)) {
    const fresh = await freshPostgresDatabase();
    extra.DATABASE_URL = fresh.url;
    drop = fresh.drop;
  }
  const gateway = await startGateway(testConfig(tmp.dir, extra), createLogger('silent'));
  const untrack = trackGateway(gateway);
  return {
    gateway,
    dataDir: tmp.dir,
    databaseUrl: extra.DATABASE_URL,
    async close() {
      untrack();
      await gateway.stop();
      await drop();
      tmp.cleanup();
    },
  };
}
