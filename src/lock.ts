import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Locks the data directory for this process (PGlite takes no lock of its own).
 * The lock is a directory `<dataDir>/gateway.lock` refreshed every 5 s (proper-lockfile), with the
 * holder's pid in `<dataDir>/gateway.pid`. A lock whose holder no longer runs (killed, crashed) is
 * taken over at once; one not refreshed for 10 s counts as stale too.
 * @returns a function that releases the lock
 * @throws DataDirLockedError when another live process holds it
 */
export async function lockDataDir(dataDir: string, onCompromised?: (err: Error) => void): Promise<() => Promise<void>> {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, 'gateway.lock');
  const pidFile = path.join(dataDir, 'gateway.pid');
  const take = () =>
    lockfile.lock(dataDir, {
      lockfilePath: lockPath,
      stale: LOCK_STALE_MS,
      update: 5_000,
      realpath: false,
      onCompromised: onCompromised ?? ((err) => { throw err; }),
    });
  let release: () => Promise<void>;
  try {
    release = await take();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    let holder = NaN;
    try {
      holder = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      // no pid recorded: the holder is still starting, or predates pid files
    }
    if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid || processAlive(holder)) throw new DataDirLockedError(dataDir);
    rmSync(lockPath, { recursive: true, force: true }); // its holder is gone
    try {
      release = await take();
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirLockedError(dataDir);
      throw again;
    }
  }
  writeFileSync(pidFile, `${process.pid}\n`);
  return async () => {
    rmSync(pidFile, { force: true });
    await release();
  };
}
