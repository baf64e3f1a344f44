/**
 * Accept rate of the SMTP receiver against a bare smtp-server in the same run.
 * Both get the same messages from the same nodemailer pool; the bare server drains DATA and
 * answers 250, ours answers 250 after the commit. Prints messages per second and the ratio.
 * Usage: npx tsx scripts/bench/smtp-accept.ts [messages=300] [connections=4] [attachmentKiB=0]
 * With attachmentKiB > 0 each message carries a PDF-like base64 attachment of that size.
 * With DATABASE_URL set, the gateway uses that PostgreSQL (a fresh database is created on it).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { addInboundAddress } from '../../src/services/addresses.js';
import { freshPostgresDatabase, testGateway } from '../../test/helpers/env.js';

const total = Number(process.argv[2] ?? 300);
const connections = Number(process.argv[3] ?? 4);
const attachmentKiB = Number(process.argv[4] ?? 0);
const template =
  attachmentKiB > 0
    ? [
        'From: "MFP 2. OG" <scanner-2og@agency.example>',
        'To: scan@agency.example',
        'Subject: Scan',
        'Message-ID: <x@bench>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b"',
        '',
        '--b',
        'Content-Type: application/pdf; name="scan.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(attachmentKiB * 1024)]).toString('base64').replace(/.{76}/g, '$&\r\n'),
        '--b--',
        '',
      ].join('\r\n')
    : readFileSync(new URL('../../test/fixtures/scanner-basic.eml', import.meta.url), 'latin1');

async function run(port: number): Promise<number> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: connections, maxMessages: Infinity });
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < total) {
        const i = next++;
        const raw = template.replace(/Message-ID: <[^>]+>/, `Message-ID: <bench-${port}-${i}-${Date.now()}@bench>`);
        await transport.sendMail({ envelope: { from: 'scanner-2og@agency.example', to: ['scan@agency.example'] }, raw: Buffer.from(raw, 'latin1') });
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  transport.close();
  return total / seconds;
}

const bare = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  disableReverseLookup: true,
  logger: false,
  onData(stream, _session, cb) {
    stream.on('data', () => {});
    stream.on('end', () => cb());
  },
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
const barePort = (bare.server.address() as AddressInfo).port;

const env: Record<string, string> = {};
let drop = async () => {};
if (process.env.DATABASE_URL) {
  const fresh = await freshPostgresDatabase();
  env.DATABASE_URL = fresh.url;
  drop = fresh.drop;
}
const gw = await testGateway(env);
await addInboundAddress(gw.gateway.ctx.db, 'scan@agency.example', 'scanner');

await run(barePort); // warm-up
const bareRate = await run(barePort);
const oursRate = await run(gw.gateway.smtp.port);
console.log(JSON.stringify({ benchmark: 'smtp-accept', driver: gw.gateway.ctx.database.kind, messages: total, connections, attachmentKiB, bareRate: Math.round(bareRate), oursRate: Math.round(oursRate), ratio: Number((oursRate / bareRate).toFixed(3)), target: 0.5 }));
await gw.close();
await drop();
bare.close();
