import { mkdirSync } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/** Another process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `Another Posteingang gateway is already running on ${dataDir} (embedded PGlite admits one process). ` +
        'Stop it first, or use a different DATA_DIR. CLI commands reach the running gateway by themselves.',
    );
    this.name = 'DataDirLockedError';
  }
}

/** How long a lock of a crashed process stays, in milliseconds, before another process may take it over. */
export const LOCK_STALE_MS = 10_000;

/**
 * Locks the data directory for this process (PGlite takes no lock of its own).
 * The lock is a directory `<dataDir>/gateway.lock` refreshed every 5 s (proper-lockfile); a lock
 * not refreshed for 10 s counts as left by a crashed process and is taken over.
 * @returns a function that releases the lock
 * @throws DataDirLockedError when another live process holds it
 */
export async function lockDataDir(dataDir: string, onCompromised?: (err: Error) => void): Promise<() => Promise<void>> {
  mkdirSync(dataDir, { recursive: true });
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: path.join(dataDir, 'gateway.lock'),
      stale: LOCK_STALE_MS,
      update: 5_000,
      realpath: false,
      onCompromised: onCompromised ?? ((err) => { throw err; }),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirLockedError(dataDir);
    throw err;
  }
}
