/**
 * POP3 poll: `messages` messages of 10 KB in the test Dovecot's maildrop (test/helpers/dovecot.ts),
 * imported by the gateway's mailbox poll of the `general` channel (implicit TLS, after-import
 * `delete`, the POP3 default); figure: messages per second until every task exists. Ceiling:
 * node-pop3 (the library of the stack) retrieving the same messages with `RETR` over implicit TLS
 * and discarding them, in the same run, before the import (a session that ends without `DELE`
 * leaves the maildrop as it was, RFC 1939 §6).
 */
import { sql } from 'drizzle-orm';
import Pop3Command from 'node-pop3';
import { Pop3Client } from '../../src/inbound/pop3/client.js';
import { setMailbox } from '../../src/services/mailboxes.js';
import { startDovecot } from '../../test/helpers/dovecot.js';
import { now, rateRow, sleep, type Row } from './lib.js';
import { getmailRun } from './getmail.js';
import { benchGateway } from './smtp.js';
import { rows } from './task-list.js';

const USER = { user: 'bench', password: 'bench-password' };

/** Runs the POP3 bench on `driver`. @returns the import rate against node-pop3's RETR rate */
export async function benchPop3(opts: { messages: number; driver: 'pglite' | 'postgres'; pgBaseUrl: string }, log: (s: string) => void): Promise<Row[]> {
  const dovecot = await startDovecot({ users: [USER] });
  const g = await benchGateway(opts.driver, opts.pgBaseUrl);
  try {
    const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n'.repeat(125); // 10,250 bytes
    for (let i = 0; i < opts.messages; i++) {
      const raw = `From: Absender <sender-${i % 50}@agency.example>\r\nTo: post@agency.example\r\nSubject: POP3 ${i}\r\nMessage-ID: <pop3-${i}-${Date.now()}@bench.example>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0100\r\n\r\n${filler}`;
      await dovecot.deliver(USER.user, Buffer.from(raw));
    }

    // node-pop3 first, as issue 8 names it; it can hang for good when a reply's final CRLF.CRLF
    // is split across two reads (README, "Mailboxes"), so each RETR gets a watchdog, and on a hang
    // the ceiling is measured with the gateway's own POP3 client instead (said in the row).
    let ceilingName = 'node-pop3 RETR+discard';
    let fetchMs = await node_pop3Rate(dovecot, opts.messages);
    if (fetchMs === null) {
      log(`pop3 ${opts.driver}: node-pop3 hung on a RETR; the ceiling is measured with src/inbound/pop3/client.ts`);
      ceilingName = 'own POP3 client RETR+discard (node-pop3 hung)';
      fetchMs = await ownClientRate(dovecot, opts.messages);
    }

    // getmail into a Maildir (the reference, issue 13), before the import too (delete = false)
    const getmail = await getmailRun(dovecot, 'pop3', USER);
    if (getmail.delivered !== opts.messages) throw new Error(`getmail delivered ${getmail.delivered} of ${opts.messages}`);

    const count = async () => (await rows<{ n: number }>(g.db, sql`select count(*)::int as n from task`))[0]!.n;
    const before = await count();
    await setMailbox(g.gw.gateway.ctx, 'general', {
      protocol: 'pop3', host: dovecot.host, port: dovecot.ports.pop3s, security: 'tls', caFile: dovecot.caFile,
      username: USER.user, password: USER.password, afterImport: 'delete',
    });
    const start = now();
    const poll = g.gw.gateway.ctx.mailboxes.poll('general').catch((err: Error) => log(`pop3 poll: ${err.message}`));
    const deadline = start + 600_000;
    while ((await count()) < before + opts.messages) {
      if (now() > deadline) throw new Error(`only ${(await count()) - before} of ${opts.messages} imported after 600 s`);
      await sleep(50);
    }
    const importMs = now() - start;
    await poll;
    const rate = (opts.messages / importMs) * 1000;
    const ceiling = (opts.messages / fetchMs) * 1000;
    const getmailRate = (opts.messages / getmail.ms) * 1000;
    log(`pop3 ${opts.driver}: imported ${opts.messages} in ${importMs.toFixed(0)} ms (${rate.toFixed(1)}/s); getmail ${getmail.ms.toFixed(0)} ms (${getmailRate.toFixed(1)}/s); node-pop3 RETR ${fetchMs.toFixed(0)} ms (${ceiling.toFixed(1)}/s)`);
    return [
      rateRow('POP3 poll', `${opts.driver}, ${opts.messages} × 10 KB: imported (task exists)`, 'msg/s', rate, getmailRate, 'getmail into a Maildir', 5),
      rateRow('POP3 poll', `${opts.driver}, ${opts.messages} × 10 KB: imported (task exists)`, 'msg/s', rate, ceiling, ceilingName, 0.2),
    ];
  } finally {
    await g.close();
    await dovecot.stop();
  }
}

type Dovecot = Awaited<ReturnType<typeof startDovecot>>;

/** node-pop3 retrieving messages 1..n over implicit TLS. @returns milliseconds, or null when one RETR hung (over 10 s) */
async function node_pop3Rate(dovecot: Dovecot, n: number): Promise<number | null> {
  const client = new Pop3Command({ host: dovecot.host, port: dovecot.ports.pop3s, tls: true, servername: 'localhost', tlsOptions: { ca: dovecot.ca }, user: USER.user, password: USER.password });
  const t0 = now();
  for (let i = 1; i <= n; i++) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 10_000)));
    const text = await Promise.race([client.RETR(i), hung]);
    clearTimeout(timer);
    if (text === null) {
      (client as unknown as { _socket?: { destroy(): void } | null })._socket?.destroy();
      return null;
    }
    if (text.length === 0) throw new Error(`node-pop3 returned message ${i} empty`);
  }
  await client.QUIT();
  return now() - t0;
}

/** The gateway's own POP3 client retrieving messages 1..n over implicit TLS. @returns milliseconds */
async function ownClientRate(dovecot: Dovecot, n: number): Promise<number> {
  const client = await Pop3Client.connect({ host: dovecot.host, port: dovecot.ports.pop3s, timeoutMs: 30_000 });
  const t0 = now();
  await client.startTls({ ca: dovecot.ca, servername: 'localhost' });
  await client.greeting();
  await client.login(USER.user, USER.password);
  for (let i = 1; i <= n; i++) {
    let bytes = 0;
    for await (const chunk of await client.retr(i)) bytes += (chunk as Buffer).length;
    if (bytes === 0) throw new Error(`message ${i} came back empty`);
  }
  await client.quit();
  return now() - t0;
}
