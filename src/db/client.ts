import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { RemotePglite } from './pglite-remote.js';
import { ConfigError } from '../config.js';
import { queryRows } from './rows.js';
import * as schema from './schema.js';

export type Schema = typeof schema;
/** One database type for both drivers: every query is written once against it. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
/** A transaction handle; same query API as `Db`. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** PostgreSQL NOTIFY on `channel` (reaches every process on the database, this one included). */
  notify(channel: string, payload: string): Promise<void>;
  /** PostgreSQL LISTEN; resolves to a function that stops listening. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /** Applies the committed migrations in `drizzle/` (idempotent; serialised across processes on PostgreSQL). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
/** Arbitrary constant key for the advisory lock that serialises migrations between gateway processes. */
const MIGRATION_LOCK_KEY = 7_305_117_001;

/**
 * Opens PostgreSQL through postgres.js.
 * @param url a `postgres://` connection URL
 */
export function openPostgres(url: string, options: { max?: number } = {}): Database {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    // a COMMIT returns only after its WAL is flushed, whatever the database or role defaults say
    // (an acknowledgement must never rest on an asynchronous commit; PostgreSQL 17 §28.4)
    connection: { synchronous_commit: 'on' },
  });
  const db = drizzlePostgres(namedStatements(client), { schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    async listen(channel, onPayload) {
      const { unlisten } = await client.listen(channel, onPayload);
      return unlisten;
    },
    async migrate() {
      const one = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        await one`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
        await migratePostgres(drizzlePostgres(one), { migrationsFolder: MIGRATIONS });
        await one`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
      } finally {
        await one.end();
      }
    },
    close: () => client.end({ timeout: 5 }),
  };
}

type Sql = ReturnType<typeof postgres>;

/**
 * The postgres.js client as drizzle should use it: every statement as a named prepared statement
 * (postgres.js caches it per connection), so that a repeated statement is one round trip
 * (Bind/Execute) instead of Parse/Describe first. drizzle's query builder asks for unnamed
 * statements (`prepare: false`) unless a query is given a name; this wrapper overrides that, in
 * transactions too. Measured in issue 13.
 */
function namedStatements(sql: Sql): Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(query, params as never, { ...options, prepare: true });
      }
      if (prop === 'begin') {
        return (...args: unknown[]) => {
          const fn = args.at(-1) as (tx: Sql) => unknown;
          return (target.begin as (...a: unknown[]) => unknown)(...args.slice(0, -1), (tx: Sql) => fn(namedStatements(tx)));
        };
      }
      if (prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.at(-1) as (tx: Sql) => unknown;
          return ((target as unknown as { savepoint: (...a: unknown[]) => unknown }).savepoint)(...args.slice(0, -1), (tx: Sql) => fn(namedStatements(tx)));
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export { pgliteByteaCodec } from './pglite-codec.js';

/**
 * Opens embedded PGlite in `dir` (created if missing), or in memory when `dir` is undefined.
 * On disk every COMMIT is flushed (fsync of its WAL) before it returns, as on PostgreSQL with
 * its defaults (durable-pglite.ts); in memory nothing is durable (tests, benches).
 * PGlite admits a single process: the caller must hold the data-directory lock (see lock.ts).
 */
export async function openPglite(dir: string | undefined): Promise<Database> {
  if (dir) mkdirSync(dir, { recursive: true });
  const client = new RemotePglite(dir);
  await client.waitReady;
  const db = drizzlePglite(client as unknown as PGlite, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    async notify(channel, payload) {
      await client.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async listen(channel, onPayload) {
      const stop = await client.listen(channel, onPayload);
      return () => stop();
    },
    async migrate() {
      await migratePglite(drizzlePglite(client as unknown as PGlite), { migrationsFolder: MIGRATIONS });
    },
    close: () => client.close(),
  };
}

/**
 * Opens the configured database: PostgreSQL when `databaseUrl` is set, else PGlite under `<dataDir>/pglite`.
 */
export async function openDatabase(opts: { databaseUrl?: string; dataDir: string }): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl) : openPglite(path.join(opts.dataDir, 'pglite'));
}

/**
 * Refuses a PostgreSQL server that does not flush commits (`fsync = off`): the gateway would
 * acknowledge mail (SMTP 250, IMAP \\Seen, POP3 DELE) that a power cut could take away.
 * PGlite on disk always flushes (durable-pglite.ts); in memory it holds nothing durable anyway.
 * @throws ConfigError naming DATABASE_URL when the server runs with fsync off
 */
export async function assertDurable(database: Database): Promise<void> {
  if (database.kind !== 'postgres') return;
  const [row] = await queryRows<{ fsync: string }>(database.db, sql`show fsync`);
  if (row?.fsync !== 'on') throw new ConfigError('DATABASE_URL', 'points to a PostgreSQL server with fsync = off: it would lose acknowledged mail in a power cut; set fsync = on in its postgresql.conf');
}

/** Round-trip to the database; throws when it cannot be reached. */
export async function ping(db: Db): Promise<void> {
  await db.execute(sql`select 1`);
}
