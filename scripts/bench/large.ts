/**
 * Large scan: one message of `megabytes` MB (a PDF-like base64 attachment) sent by smtp-source in
 * its own process, while waves of 10 small messages (10 KB, 10 sessions) arrive every 2 s until
 * the large one is answered and its task exists. Figures: peak RSS growth of the gateway's process (this process:
 * the gateway runs in it, the clients do not) against the message size (target ≤ 3×), and the
 * slowest wave of small messages (target < 1 s; reference: the same wave with nothing else going on).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import MailComposer from 'nodemailer/lib/mail-composer';
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { maxRow, now, sleep, smtpSource, type Row } from './lib.js';
import { benchGateway } from './smtp.js';

/**
 * Writes a scan-like message of about `bytes` bytes, composed by nodemailer's MailComposer with LF
 * line ends (smtp-source sends each line with CRLF): a short text part and an application/pdf
 * attachment of random bytes behind a `%PDF-1.4` header, streamed (base64 is 4/3 of the bytes).
 */
export async function writeLargeMessage(file: string, bytes: number): Promise<void> {
  const pdfBytes = Math.floor((bytes * 3) / 4);
  async function* pdf() {
    yield Buffer.from('%PDF-1.4\n');
    for (let left = pdfBytes; left > 0; left -= 1 << 20) yield randomBytes(Math.min(1 << 20, left));
  }
  const mail = new MailComposer({
    from: '"MFP 2. OG" <scanner@bench.example>',
    to: 'scan@agency.example',
    subject: 'Scan gross',
    messageId: `<large-${Date.now()}@bench.example>`,
    date: new Date('2026-11-29T12:00:00+01:00'),
    text: 'Scan vom Multifunktionsgerät.',
    attachments: [{ filename: 'scan.pdf', contentType: 'application/pdf', content: Readable.from(pdf()) }],
    newline: 'unix',
  });
  await pipeline(mail.compile().createReadStream(), createWriteStream(file));
}

/**
 * Runs the large-scan bench on `driver` in a child process of its own, so that memory the earlier
 * benches left reserved in this process (V8 heap, PGlite's WASM memory) cannot hide the growth.
 * @returns RSS growth ratio and small-message latency rows
 */
export async function benchLarge(opts: { megabytes: number; driver: 'pglite' | 'postgres'; pgBaseUrl: string }, log: (s: string) => void): Promise<Row[]> {
  const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), opts.driver, String(opts.megabytes)];
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, args, { env: { ...process.env, BENCH_PG_URL: opts.pgBaseUrl }, maxBuffer: 10 * 1024 * 1024, timeout: 600_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    ),
  );
  for (const line of stderr.split('\n').filter(Boolean)) log(line);
  return JSON.parse(stdout) as Row[];
}

/** The measurement itself, in the current process (see {@link benchLarge}). */
async function measureLarge(opts: { megabytes: number; driver: 'pglite' | 'postgres'; pgBaseUrl: string }, log: (s: string) => void): Promise<Row[]> {
  const file = path.join(tmpdir(), `pe-bench-large-${process.pid}.eml`);
  const bytes = opts.megabytes * 1_000_000;
  await writeLargeMessage(file, bytes);
  const g = await benchGateway(opts.driver, opts.pgBaseUrl);
  const small = () => smtpSource(g.port, { messages: 10, sessions: 10, reuse: false, payloadBytes: 10 * 1024, from: 'scanner@bench.example', to: 'scan@agency.example' });
  try {
    await small(); // warm-up
    const quietMs = Math.max(await small(), await small());
    global.gc?.();
    await sleep(200);
    const baseRss = process.memoryUsage().rss;
    let peakRss = baseRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
    const start = now();
    let largeDone = false;
    let answeredMs = 0;
    // the waves go on until the large scan is answered and its task exists (the inbound queue drained)
    const large = smtpSource(g.port, { messages: 1, sessions: 1, reuse: false, file, from: 'scanner@bench.example', to: 'scan@agency.example' })
      .then(async (ms) => {
        answeredMs = ms;
        await g.gw.gateway.ctx.queue!.drained();
        return now() - start;
      })
      .finally(() => (largeDone = true));
    const waves: number[] = [];
    await sleep(500);
    while (!largeDone) {
      waves.push(await small());
      await sleep(1500);
    }
    const taskMs = await large;
    const latencyP95 = g.gw.gateway.ctx.queue!.stats().latencyP95Ms ?? NaN;
    clearInterval(sampler);
    const growth = (peakRss - baseRss) / bytes;
    const worst = Math.max(...waves);
    log(`large ${opts.driver}: ${opts.megabytes} MB answered after ${(answeredMs / 1000).toFixed(1)} s, task after ${(taskMs / 1000).toFixed(1)} s; 250→task p95 ${latencyP95} ms; RSS ${(baseRss / 1e6).toFixed(0)} → ${(peakRss / 1e6).toFixed(0)} MB; small waves ${waves.map((w) => w.toFixed(0)).join(', ')} ms (quiet ${quietMs.toFixed(0)} ms)`);
    return [
      maxRow('Large scan', `${opts.driver}, ${opts.megabytes} MB scan: peak RSS growth / message size`, '×', growth, null, '', 3),
      maxRow('Large scan', `${opts.driver}, ${opts.megabytes} MB scan: slowest wave of 10 small msgs answered 250 meanwhile (${waves.length} waves)`, 'ms', worst, quietMs, 'same wave, idle', 1000),
      maxRow('Large scan', `${opts.driver}, ${opts.megabytes} MB scan: 250 → task p95, small msgs and the scan`, 'ms', latencyP95, null, '', null),
    ];
  } finally {
    await g.close();
    await rm(file, { force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const driver = process.argv[2] === 'postgres' ? 'postgres' : 'pglite';
  const rows = await measureLarge({ driver, megabytes: Number(process.argv[3] ?? 50), pgBaseUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' }, (s) =>
    process.stderr.write(`${s}\n`),
  );
  process.stdout.write(JSON.stringify(rows));
  process.exit(0);
}
