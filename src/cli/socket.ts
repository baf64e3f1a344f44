import { createHash } from 'node:crypto';
import { chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import path from 'node:path';
import type { AppContext } from '../context.js';
import { LOCK_STALE_MS } from '../lock.js';
import { LOCAL_ONLY, runCommand } from './commands.js';
import { describeError } from '../db/errors.js';

/** Unix socket paths are limited to 108 bytes (sun_path); leave room for the terminating NUL. */
const MAX_SOCKET_PATH = 100;

/**
 * Path of the running gateway's local admin socket (mode 0600, so only its own user reaches it):
 * `<dataDir>/admin.sock`, or, when that path is too long for a Unix socket, a name in the
 * system's temporary directory derived from the data directory's SHA-256.
 */
export function adminSocketPath(dataDir: string): string {
  const inDataDir = path.join(dataDir, 'admin.sock');
  if (Buffer.byteLength(inDataDir) <= MAX_SOCKET_PATH) return inDataDir;
  const digest = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 24);
  return path.join(tmpdir(), `posteingang-${digest}.sock`);
}

interface Reply {
  exitCode: number;
  stdout: string; // base64
  stderr: string;
}

/**
 * Serves CLI commands inside the running gateway over a Unix socket in DATA_DIR, so that the
 * CLI works while the gateway holds the embedded database (PGlite admits one process).
 * POST /cli with `{argv, cwd, stdin?}` → `{exitCode, stdout (base64), stderr}`.
 */
export async function serveAdminSocket(ctx: AppContext): Promise<http.Server> {
  const file = adminSocketPath(ctx.config.dataDir);
  await rm(file, { force: true }); // we hold the data-directory lock: any socket left here is stale
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/cli') {
      res.writeHead(404).end();
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', async () => {
      const out: Buffer[] = [];
      let stderr = '';
      let exitCode: number;
      try {
        const { argv, cwd, stdin } = JSON.parse(Buffer.concat(parts).toString('utf8')) as { argv: string[]; cwd: string; stdin?: string };
        if (LOCAL_ONLY.has(argv[0] ?? '')) {
          stderr = argv[0] === 'serve' ? `a gateway is already running on ${ctx.config.dataDir}\n` : 'the running gateway has applied the migrations\n';
          exitCode = argv[0] === 'serve' ? 1 : 0;
        } else {
          exitCode = await runCommand(
            argv,
            { out: (c) => out.push(Buffer.from(c)), err: (t) => (stderr += t), cwd, readStdin: async () => stdin ?? '' },
            async () => ctx,
          );
        }
      } catch (err) {
        ctx.log.error({ err: describeError(err) }, 'admin socket command failed');
        stderr += `error: ${(err as Error).message}\n`;
        exitCode = 1;
      }
      const reply: Reply = { exitCode, stdout: Buffer.concat(out).toString('base64'), stderr };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => resolve());
  });
  await chmod(file, 0o600);
  return server;
}

/**
 * Sends a CLI command to the running gateway.
 * @returns the exit code, after writing its output to this process's stdout/stderr
 * @throws the socket error when no gateway answers
 */
export function forwardCommand(dataDir: string, argv: string[], cwd: string, stdin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: adminSocketPath(dataDir), path: '/cli', method: 'POST' }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        try {
          const reply = JSON.parse(Buffer.concat(parts).toString('utf8')) as Reply;
          process.stdout.write(Buffer.from(reply.stdout, 'base64'));
          process.stderr.write(reply.stderr);
          resolve(reply.exitCode);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') {
        reject(
          new Error(
            `${dataDir} is locked by a gateway that does not answer (it may have stopped a moment ago; ` +
              `its lock is taken over after ${LOCK_STALE_MS / 1000} s). Try again shortly.`,
          ),
        );
      } else reject(err);
    });
    req.end(JSON.stringify({ argv, cwd, stdin }));
  });
}
