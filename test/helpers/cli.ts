import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `posteingang <args>` (the real CLI through bin/posteingang.js, as a child process with piped output) with a clean
 * environment plus `env`; resolves when it exits.
 * @param opts.cwd working directory (default: the project); `stdin` is written and closed
 */
export function runCli(args: string[], env: Record<string, string>, opts: { timeoutMs?: number; cwd?: string; stdin?: string } = {}): Promise<Run> {
  const base = { ...process.env };
  delete base.DATABASE_URL; // only the database the test chose
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/posteingang.js'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...base, LOG_LEVEL: 'warn', ...env },
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export const describeRun = (r: Run) =>
  `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout.toString('utf8')}\nstderr: ${r.stderr}`;
