import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config.js';
import { openContext, startGateway } from '../gateway.js';
import { DataDirLockedError, lockDataDir } from '../lock.js';
import { createLogger } from '../log.js';
import { runCommand } from './commands.js';
import { forwardCommand } from './socket.js';
import { describeError } from '../db/errors.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Entry point of `posteingang`. `serve` runs the gateway; every other command runs against the
 * database directly, or, when a gateway holds the embedded database, through its admin socket.
 */
async function main(argv: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 78; // EX_CONFIG
    }
    throw err;
  }
  const io = {
    out: (c: string | Buffer) => void process.stdout.write(c),
    err: (t: string) => void process.stderr.write(t),
    cwd: process.cwd(),
    readStdin,
  };
  const command = argv[0];

  if (!command || command.startsWith('-') || argv.includes('--help') || argv.includes('-h')) {
    return runCommand(argv, io, () => Promise.reject(new Error('no database for help')));
  }

  if (command === 'serve') {
    const log = createLogger(config.LOG_LEVEL);
    let gateway;
    try {
      gateway = await startGateway(config, log);
    } catch (err) {
      if (err instanceof DataDirLockedError) {
        process.stderr.write(`${err.message}\n`);
        return 75; // EX_TEMPFAIL
      }
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
        return 78; // EX_CONFIG
      }
      log.fatal({ err: describeError(err) }, 'start failed');
      return 1;
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'signal received');
        gateway.stop().then(resolve, (err: Error) => {
          log.error({ err: describeError(err) }, 'stop failed');
          resolve();
        });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  }

  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  if (!config.DATABASE_URL && command !== 'migrate' && !existsSync(config.dataDir)) {
    // most likely the CLI runs in another directory than the gateway: never start an empty database there
    process.stderr.write(
      `No data directory at ${config.dataDir}: run the CLI in the directory where the gateway runs, ` +
        'or set DATA_DIR (or DATABASE_URL) as the gateway has it. To create a new database here, run `posteingang migrate` first.\n',
    );
    return 1;
  }
  if (!config.DATABASE_URL) {
    // The embedded database admits one process: when the gateway holds it, go through the gateway.
    let release: (() => Promise<void>) | undefined;
    try {
      release = await lockDataDir(config.dataDir);
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
      return forwardCommand(config.dataDir, argv, process.cwd(), argv.includes('--password-stdin') ? await readStdin() : undefined);
    }
    await release();
  }
  let opened: Awaited<ReturnType<typeof openContext>> | undefined;
  try {
    return await runCommand(argv, io, async () => {
      opened ??= await openContext(config, log, { lock: true });
      return opened.ctx;
    });
  } finally {
    await opened?.close();
  }
}

/** Exits once everything written to stdout and stderr has been handed on (a pipe may still be reading). */
function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(exitAfterFlush, (err: Error) => {
  process.stderr.write(`error: ${err.message}\n`);
  exitAfterFlush(1);
});
