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
import { setMailbox } from '../../src/services/mailboxes.js';
import { startDovecot } from '../../test/helpers/dovecot.js';
import { now, rateRow, sleep, type Row } from './lib.js';
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

    const client = new Pop3Command({ host: dovecot.host, port: dovecot.ports.pop3s, tls: true, servername: 'localhost', tlsOptions: { ca: dovecot.ca }, user: USER.user, password: USER.password });
    const t0 = now();
    let retrieved = 0;
    for (let n = 1; n <= opts.messages; n++) if ((await client.RETR(n)).length > 0) retrieved++;
    await client.QUIT();
    const fetchMs = now() - t0;
    if (retrieved !== opts.messages) throw new Error(`node-pop3 retrieved ${retrieved} of ${opts.messages}`);

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
    log(`pop3 ${opts.driver}: imported ${opts.messages} in ${importMs.toFixed(0)} ms (${rate.toFixed(1)}/s); node-pop3 RETR ${fetchMs.toFixed(0)} ms (${ceiling.toFixed(1)}/s)`);
    return [rateRow('POP3 poll', `${opts.driver}, ${opts.messages} × 10 KB: imported (task exists)`, 'msg/s', rate, ceiling, 'node-pop3 RETR+discard', 0.5)];
  } finally {
    await g.close();
    await dovecot.stop();
  }
}
