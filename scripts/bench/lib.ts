/**
 * Shared pieces of the benchmark run (scripts/bench/run.ts): result rows, the table, timing,
 * percentiles, Postfix's smtp-source as the SMTP client and a bare smtp-server as the SMTP ceiling.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * One line of the table. `value` and `ceiling` are in `unit`; `ratio` is value / ceiling for
 * rates (higher is better) and ceiling / value for times (so that 1.0 is always "as fast as the
 * ceiling"). `target` is a minimum ratio (`kind: 'ratio'`) or a maximum value (`kind: 'max'`).
 */
export interface Row {
  bench: string;
  figure: string;
  unit: string;
  value: number;
  ceiling: number | null;
  ceilingName: string;
  ratio: number | null;
  target: { kind: 'ratio' | 'max'; value: number } | null;
  pass: boolean | null;
  note?: string;
}

/** Builds a row for a rate (higher is better): ratio = value / ceiling, pass = ratio ≥ minRatio. */
export function rateRow(bench: string, figure: string, unit: string, value: number, ceiling: number, ceilingName: string, minRatio: number | null, note?: string): Row {
  const ratio = ceiling > 0 ? value / ceiling : null;
  return {
    bench, figure, unit, value, ceiling, ceilingName, ratio, note,
    target: minRatio === null ? null : { kind: 'ratio', value: minRatio },
    pass: minRatio === null || ratio === null ? null : ratio >= minRatio,
  };
}

/**
 * Builds a row for a time or size with an absolute limit: ratio = ceiling / value (reference
 * over figure) when a reference exists, pass = value ≤ max.
 */
export function maxRow(bench: string, figure: string, unit: string, value: number, ceiling: number | null, ceilingName: string, max: number | null, note?: string): Row {
  return {
    bench, figure, unit, value, ceiling, ceilingName, note,
    ratio: ceiling !== null && value > 0 ? ceiling / value : null,
    target: max === null ? null : { kind: 'max', value: max },
    pass: max === null ? null : value <= max,
  };
}

const fmt = (x: number | null) => (x === null || Number.isNaN(x) ? '–' : Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The rows as one fixed-width text table (figure | value | ceiling | ratio | target | result). */
export function formatTable(rows: Row[]): string {
  const head = ['bench', 'figure', 'value', 'ceiling (same run)', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.bench,
    r.figure,
    `${fmt(r.value)} ${r.unit}`,
    r.ceiling === null ? '–' : `${fmt(r.ceiling)} ${r.unit} (${r.ceilingName})`,
    fmt(r.ratio),
    r.target === null ? '–' : r.target.kind === 'ratio' ? `ratio ≥ ${r.target.value}` : `≤ ${r.target.value} ${r.unit}`,
    r.pass === null ? 'info' : r.pass ? 'pass' : 'MISS',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** p-th percentile (nearest rank, p in 0…100) of samples; throws on an empty list. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Milliseconds since an arbitrary origin (monotonic). */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Milliseconds `fn` took. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t = now();
  await fn();
  return now() - t;
}

export const SMTP_SOURCE = process.env.SMTP_SOURCE ?? '/usr/sbin/smtp-source';

/**
 * Runs Postfix's smtp-source (see `man smtp-source`) against 127.0.0.1:`port`.
 * Without `file`, each message gets smtp-source's own From/To/Date/unique Message-Id headers and
 * `payloadBytes` of body; with `file`, every message is that file verbatim (LF lines sent as CRLF).
 * smtp-source aborts on any reply other than the expected 2xx/3xx, so exit code 0 means every
 * message was answered 250.
 * @param opts.messages `-m`; opts.sessions `-s`; opts.reuse → `-d` (no disconnect between messages)
 * @returns wall-clock milliseconds
 * @throws when smtp-source exits non-zero (its stderr in the message)
 */
export function smtpSource(port: number, opts: { messages: number; sessions: number; reuse: boolean; payloadBytes?: number; file?: string; from: string; to: string }): Promise<number> {
  const args = ['-4', '-m', String(opts.messages), '-s', String(opts.sessions), '-f', opts.from, '-t', opts.to, '-M', 'bench.example'];
  if (opts.reuse) args.push('-d');
  if (opts.file) args.push('-F', opts.file);
  else args.push('-l', String(opts.payloadBytes ?? 0));
  args.push(`inet:127.0.0.1:${port}`);
  const start = now();
  return new Promise((resolve, reject) => {
    const child = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(now() - start) : reject(new Error(`smtp-source ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

/**
 * The SMTP ceiling: a bare smtp-server with the receiver's relevant options (size limit, no
 * reverse lookup, no AUTH/STARTTLS) that reads DATA, discards it and answers 250.
 * @returns its port and a close function
 */
export async function startSink(sizeBytes: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = new SMTPServer({
    size: sizeBytes,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => cb());
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
