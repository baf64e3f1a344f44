// Reading `strace -f -ttt -T -y -s N` output: which process wrote or flushed which file or
// socket, when. Used by the durability tests to prove that an acknowledgement (SMTP 250, IMAP
// \Seen, POP3 DELE) is written to its socket only after the bytes it acknowledges were flushed.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** One traced system call. Times are seconds since the epoch (CLOCK_REALTIME, µs). */
export interface Syscall {
  pid: number;
  call: string;
  /** the path strace -y printed for the first (fd) argument: a file path, or `socket:[…]`, `TCP:[…]` */
  target: string;
  /** the argument text after the fd (the written data as strace escapes it, truncated at -s) */
  args: string;
  start: number;
  end: number;
}

/** The strace options the parser expects, for the given system calls. */
export function straceArgs(outFile: string, calls: string[]): string[] {
  return ['strace', '-f', '-qq', '-ttt', '-T', '-y', '-s', '20000', '-e', `trace=${calls.join(',')}`, '-o', outFile];
}

const LINE = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/;
const CALL = /^([a-z0-9_]+)\((\d+)<([^>]*)>(.*)$/s;
const DURATION = /<(\d+\.\d+)>\s*$/;

/**
 * Parses an strace output file written with straceArgs (several pids; `<unfinished …>` and
 * `<… resumed>` halves joined: the call's end is the resumed half's time plus its duration).
 */
export function parseTrace(file: string): Syscall[] {
  const calls: Syscall[] = [];
  const pending = new Map<number, Syscall>();
  for (const line of readFileSync(file, 'latin1').split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const time = Number(m[2]);
    const rest = m[3]!;
    if (rest.startsWith('<...')) {
      const open = pending.get(pid);
      if (!open) continue;
      pending.delete(pid);
      open.end = time + Number(DURATION.exec(rest)?.[1] ?? 0);
      calls.push(open);
      continue;
    }
    const c = CALL.exec(rest);
    if (!c) continue;
    const entry: Syscall = { pid, call: c[1]!, target: c[3]!, args: c[4]!, start: time, end: time };
    if (rest.endsWith('<unfinished ...>')) {
      pending.set(pid, entry);
      continue;
    }
    entry.end = time + Number(DURATION.exec(rest)?.[1] ?? 0);
    calls.push(entry);
  }
  return calls.sort((a, b) => a.start - b.start);
}

/** A traced rename(2)/renameat(2)/renameat2(2) that succeeded. */
export interface Rename {
  pid: number;
  from: string;
  to: string;
  start: number;
  end: number;
}

const RENAME = /^(\d+)\s+(\d+\.\d+)\s+(?:rename|renameat|renameat2)\((.*)\)\s*=\s*0\s*<(\d+\.\d+)>\s*$/;

/** The successful renames in an strace output file (paths as strace quotes them: the first and the last quoted argument). */
export function parseRenames(file: string): Rename[] {
  const renames: Rename[] = [];
  for (const line of readFileSync(file, 'latin1').split('\n')) {
    const m = RENAME.exec(line);
    if (!m) continue;
    const paths = [...m[3]!.matchAll(/"([^"]*)"/g)].map((q) => q[1]!);
    if (paths.length < 2) continue;
    const start = Number(m[2]);
    renames.push({ pid: Number(m[1]), from: paths[0]!, to: paths.at(-1)!, start, end: start + Number(m[4]) });
  }
  return renames;
}

export const isSocket = (s: Syscall) => /^(socket|TCP|TCPv6|UNIX):\[/.test(s.target);
const WRITES = new Set(['write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'sendto', 'sendmsg']);
const FLUSHES = new Set(['fsync', 'fdatasync']);
export const isWrite = (s: Syscall) => WRITES.has(s.call);
export const isFlush = (s: Syscall) => FLUSHES.has(s.call);

/**
 * The proof: the last write of `marker` to a file that starts before `ack` is followed by a
 * flush of that same file which ends before `ack` starts.
 * @returns a description of the failure, or null when the order holds
 */
export function flushedBefore(calls: Syscall[], marker: string, ack: Syscall): string | null {
  const writes = calls.filter((c) => isWrite(c) && !isSocket(c) && c.start < ack.start && c.args.includes(marker));
  const last = writes.at(-1);
  if (!last) return `no write of ${marker} to any file before the acknowledgement`;
  const flush = calls.find((c) => isFlush(c) && c.target === last.target && c.start >= last.end && c.end <= ack.start);
  if (!flush) return `${last.call} of ${marker} to ${last.target} (pid ${last.pid}, ${last.end}) has no flush of that file before the acknowledgement at ${ack.start}`;
  return null;
}

/** The first socket write whose data contains `text`, at or after `from` (seconds). */
export function socketWrite(calls: Syscall[], text: string, from = 0): Syscall | undefined {
  return calls.find((c) => isWrite(c) && isSocket(c) && c.start >= from && c.args.includes(text));
}

/**
 * Attaches strace to running processes (and the children they fork later); resolves once every
 * one is attached. `stop()` detaches and resolves when the output file is complete.
 */
export async function attachStrace(pids: number[], outFile: string, calls: string[]): Promise<{ stop(): Promise<void> }> {
  const args = straceArgs(outFile, calls).filter((a) => a !== '-qq');
  const child = spawn(args[0]!, [...args.slice(1), ...pids.flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strace did not attach:\n${err}`)), 15_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      // a process that ended meanwhile (a backend of a closed connection) is not waited for
      const settled = new Set([...err.matchAll(/Process (\d+) attached|PTRACE_SEIZE, (\d+)\): No such process/g)].map((m) => Number(m[1] ?? m[2])));
      if (pids.every((p) => settled.has(p))) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`strace exited:\n${err}`)));
  });
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}
