/**
 * What may be logged, stored or shown of an error. drizzle-orm wraps a failed statement in an
 * error whose message is the whole statement and its parameters — for ingest the message's bytes
 * (base64), elsewhere addresses or password hashes — which must never reach a log (brief:
 * "never log secrets or whole messages"). For such an error this gives the database's own words
 * and its SQLSTATE (PostgreSQL Appendix A), e.g. `database error: the database system is
 * shutting down (57P03)`; for any other error its message.
 * @param err anything thrown
 * @returns one line of text
 */
export function describeError(err: unknown): string {
  if (isStatementError(err)) {
    const cause = err.cause as { message?: string; code?: string } | undefined;
    const words = cause?.message?.split('\n')[0] ?? 'the statement failed';
    return `database error: ${words}${cause?.code ? ` (${cause.code})` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** drizzle-orm's DrizzleQueryError (recognised by shape: it carries `query` and `params`). */
function isStatementError(err: unknown): err is Error & { query: string; params: unknown[]; cause?: unknown } {
  return err instanceof Error && 'query' in err && 'params' in err;
}

/**
 * The same error without the statement and its parameters (see describeError), in its message
 * and in its `cause`: the driver's error carries them as well (PGlite's as `query` and `params`,
 * printed with it by Node and by loggers that walk the cause chain). The cause kept is the
 * database's own words with its `code` (SQLSTATE) and `severity`, so that sqlstateOf still works;
 * any other error is returned unchanged.
 */
export function withoutParameters(err: unknown): unknown {
  if (!isStatementError(err)) return err;
  const driver = err.cause as { message?: string; code?: string; severity?: string } | undefined;
  const cause = driver ? Object.assign(new Error(driver.message?.split('\n')[0] ?? 'the statement failed'), { code: driver.code, severity: driver.severity }) : undefined;
  const safe = new Error(describeError(err), { cause });
  (safe as Error & { code?: string }).code = driver?.code;
  return safe;
}

/**
 * The SQLSTATE (PostgreSQL Appendix A) of a statement the database refused: the `code` of the
 * server's error (postgres.js PostgresError, PGlite DatabaseError; both carry `severity`), looked
 * for through the `cause` chain (drizzle's wrapper, withoutParameters).
 * @returns e.g. `22021`; undefined for any other error
 */
export function sqlstateOf(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; severity?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && typeof e.severity === 'string') return e.code;
  }
  return undefined;
}
