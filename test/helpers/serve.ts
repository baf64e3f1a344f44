// A real `posteingang serve` as a child process, optionally under a wrapper command (strace).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cliEnv, REPO_ROOT } from '../smtp-dialogues/lib.js';

/** A running `posteingang serve` child. */
export interface Served {
  child: ChildProcess;
  /** the gateway's own process id (under a wrapper: the wrapper's child) */
  pid: number;
  smtpPort: number;
  httpPort: number;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node --import tsx src/cli/main.ts serve` with `env` (on free ports, LOG_LEVEL info);
 * resolves when the 'Posteingang gateway started' line shows the SMTP and HTTP ports.
 * @param wrapper a command and its arguments to run the gateway under (e.g. strace …), or none
 */
export function serve(env: Record<string, string>, wrapper: string[] = []): Promise<Served> {
  const command = [...wrapper, process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'serve'];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: REPO_ROOT,
    env: cliEnv({ SMTP_HOST: '127.0.0.1', SMTP_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', ...env, LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stdout!.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start:\n${err}`));
    }, 60_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString('utf8');
      for (const line of err.split('\n')) {
        if (!line.startsWith('{')) continue;
        let entry: { msg?: string; smtp?: string; http?: string };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue;
        }
        if (entry.msg === 'Posteingang gateway started' && entry.smtp) {
          clearTimeout(timer);
          const port = (a: string | undefined) => Number(a?.split(':').pop());
          const pid = wrapper.length === 0 ? child.pid! : (childrenOf(child.pid!)[0] ?? child.pid!);
          resolve({ child, pid, smtpPort: port(entry.smtp), httpPort: port(entry.http), stderr: () => err, exited });
          return;
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? signal}) before it started:\n${err}`));
    });
  });
}

/** The process ids whose parent is `pid` (from /proc). */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after ')'
        return Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * SIGTERM to the gateway (not to a wrapper, which would detach and leave it running), then
 * SIGKILL after 20 s; resolves when the child (and so the gateway) has exited.
 */
export async function stop(s: Served): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(s.pid, sig);
    } catch {
      // gone already
    }
  };
  if (s.child.exitCode === null && s.child.signalCode === null) signal('SIGTERM');
  const r = await Promise.race([s.exited, new Promise<null>((res) => setTimeout(() => res(null), 20_000))]);
  if (r === null) {
    signal('SIGKILL');
    s.child.kill('SIGKILL');
    await s.exited;
  }
}

/**
 * Resolves once the served gateway's inbound queue is empty (`/healthz` reports `queue.depth`
 * 0): every message it answered `250` for is committed, the replay at start included.
 * @throws after `timeoutMs` (milliseconds)
 */
export async function queueDrained(s: Served, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${s.httpPort}/healthz`);
    const body = (await r.json()) as { queue?: { depth: number } };
    if (!body.queue) throw new Error(`/healthz has no queue: ${JSON.stringify(body)}`);
    if (body.queue.depth === 0) return;
    if (Date.now() - started > timeoutMs) throw new Error(`the inbound queue still holds ${body.queue.depth} message(s) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
