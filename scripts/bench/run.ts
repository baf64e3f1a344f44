/**
 * `npm run bench [-- --quick] [--json <file>] [--only smtp,claim,api,large,imap,pop3]`: every benchmark in one
 * run, printed as one table — each figure beside its ceiling measured in the same run and the ratio
 * (the machines are shared and noisy, so only ratios are promised; docs/performance.md).
 * `--quick` uses smaller counts (under two minutes). PostgreSQL benches use fresh databases on
 * BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres); `--no-postgres` skips them,
 * `--driver pglite|postgres` runs one driver only (e.g. under `node --cpu-prof`).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { formatTable, type Row } from './lib.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('--quick');
const jsonFile = option('--json');
const only = option('--only')?.split(',');
const pgBaseUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const withPostgres = !flag('--no-postgres');
// the test helpers pick their driver from DATABASE_URL; the benches choose per run instead
delete process.env.DATABASE_URL;

const want = (name: string) => !only || only.includes(name);
const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${s}\n`);
const started = Date.now();
const rows: Row[] = [];
const errors: { bench: string; error: string }[] = [];

async function section(name: string, fn: () => Promise<Row[]>) {
  if (!want(name)) return;
  log(`${name} …`);
  try {
    rows.push(...(await fn()));
  } catch (err) {
    log(`${name} failed: ${(err as Error).stack ?? err}`);
    errors.push({ bench: name, error: (err as Error).message });
  }
}

const onlyDriver = option('--driver') as 'pglite' | 'postgres' | undefined;
const drivers: ('pglite' | 'postgres')[] = onlyDriver ? [onlyDriver] : withPostgres ? ['pglite', 'postgres'] : ['pglite'];

await section('smtp', async () => {
  const { benchSmtp } = await import('./smtp.js');
  return benchSmtp({ messages: quick ? 100 : 2000, sessions: 20, payloadBytes: 100 * 1024, drivers, pgBaseUrl }, log);
});

await section('claim', async () => {
  const { benchClaim } = await import('./claim.js');
  const out: Row[] = [];
  for (const driver of drivers) out.push(...(await benchClaim({ tasks: quick ? 2000 : 10_000, syncs: 50, driver, pgBaseUrl }, log)));
  return out;
});

await section('api', async () => {
  const { benchApi } = await import('./api.js');
  const out: Row[] = [];
  for (const driver of drivers) out.push(...(await benchApi({ tasks: quick ? 20_000 : 100_000, runs: quick ? 20 : 60, driver, pgBaseUrl }, log)));
  return out;
});

await section('large', async () => {
  const { benchLarge } = await import('./large.js');
  const out: Row[] = [];
  for (const driver of drivers) out.push(...(await benchLarge({ megabytes: quick ? 20 : 50, driver, pgBaseUrl }, log)));
  return out;
});

await section('imap', async () => {
  const { benchImap } = await import('./imap.js');
  const out: Row[] = [];
  for (const driver of drivers) out.push(...(await benchImap({ messages: quick ? 100 : 2000, driver, pgBaseUrl }, log)));
  return out;
});

await section('pop3', async () => {
  const { benchPop3 } = await import('./pop3.js');
  const out: Row[] = [];
  for (const driver of drivers) out.push(...(await benchPop3({ messages: quick ? 100 : 2000, driver, pgBaseUrl }, log)));
  return out;
});

const table = formatTable(rows);
process.stdout.write(`\nPosteingang benchmarks (${quick ? 'quick' : 'full'} mode, ${cpus().length} cores, node ${process.version}, ${((Date.now() - started) / 1000).toFixed(0)} s)\n\n${table}\n`);
for (const e of errors) process.stdout.write(`\n${e.bench}: FAILED: ${e.error}\n`);
if (jsonFile) {
  writeFileSync(jsonFile, `${JSON.stringify({ mode: quick ? 'quick' : 'full', date: new Date().toISOString(), cores: cpus().length, node: process.version, rows, errors }, null, 2)}\n`);
  log(`JSON written to ${jsonFile}`);
}
process.exit(errors.length > 0 ? 1 : 0);
