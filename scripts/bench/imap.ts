/**
 * IMAP poll: `messages` messages of 10 KB delivered into the INBOX of the test Dovecot
 * (test/helpers/dovecot.ts), imported by the gateway's mailbox poll of the `general` channel
 * (implicit TLS, after-import `seen`); figure: messages per second until every task exists.
 * References in the same run, over the same implicit TLS, after the import (so flags set by the
 * import do not matter): getmail delivering every message into a Maildir (issue 13: ≥ 5×), and
 * imapflow fetching the same messages' full source and discarding them (≥ 0.2×).
 */
import { sql } from 'drizzle-orm';
import { ImapFlow } from 'imapflow';
import { setMailbox } from '../../src/services/mailboxes.js';
import { startDovecot } from '../../test/helpers/dovecot.js';
import { now, rateRow, sleep, type Row } from './lib.js';
import { getmailRun } from './getmail.js';
import { benchGateway } from './smtp.js';
import { rows } from './task-list.js';

const USER = { user: 'bench', password: 'bench-password' };

/** Runs the IMAP bench on `driver`. @returns the import rate against imapflow's raw fetch rate */
export async function benchImap(opts: { messages: number; driver: 'pglite' | 'postgres'; pgBaseUrl: string }, log: (s: string) => void): Promise<Row[]> {
  const dovecot = await startDovecot({ users: [USER] });
  const g = await benchGateway(opts.driver, opts.pgBaseUrl);
  try {
    const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n'.repeat(125); // 10,250 bytes
    for (let i = 0; i < opts.messages; i++) {
      const raw = `From: Absender <sender-${i % 50}@agency.example>\r\nTo: post@agency.example\r\nSubject: Poll ${i}\r\nMessage-ID: <poll-${i}-${Date.now()}@bench.example>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0100\r\n\r\n${filler}`;
      await dovecot.deliver(USER.user, Buffer.from(raw));
    }
    const count = async () => (await rows<{ n: number }>(g.db, sql`select count(*)::int as n from task`))[0]!.n;
    const before = await count();
    await setMailbox(g.gw.gateway.ctx, 'general', {
      protocol: 'imap', host: dovecot.host, port: dovecot.ports.imaps, security: 'tls', caFile: dovecot.caFile,
      username: USER.user, password: USER.password, folder: 'INBOX', afterImport: 'seen',
    });
    const start = now();
    const poll = g.gw.gateway.ctx.mailboxes.poll('general').catch((err: Error) => log(`imap poll: ${err.message}`));
    const deadline = start + 600_000;
    while ((await count()) < before + opts.messages) {
      if (now() > deadline) throw new Error(`only ${(await count()) - before} of ${opts.messages} imported after 600 s`);
      await sleep(50);
    }
    const importMs = now() - start;
    await poll;

    const client = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imaps, secure: true, tls: { ca: dovecot.ca, servername: 'localhost' }, auth: { user: USER.user, pass: USER.password }, logger: false });
    const t0 = now();
    await client.connect();
    const lock = await client.getMailboxLock('INBOX');
    let fetched = 0;
    try {
      for await (const m of client.fetch('1:*', { source: true })) if (m.source) fetched++;
    } finally {
      lock.release();
    }
    await client.logout();
    const fetchMs = now() - t0;
    if (fetched !== opts.messages) throw new Error(`imapflow fetched ${fetched} of ${opts.messages}`);
    const rate = (opts.messages / importMs) * 1000;
    const ceiling = (opts.messages / fetchMs) * 1000;
    const getmail = await getmailRun(dovecot, 'imap', USER);
    if (getmail.delivered !== opts.messages) throw new Error(`getmail delivered ${getmail.delivered} of ${opts.messages}`);
    const getmailRate = (opts.messages / getmail.ms) * 1000;
    log(`imap ${opts.driver}: imported ${opts.messages} in ${importMs.toFixed(0)} ms (${rate.toFixed(1)}/s); getmail ${getmail.ms.toFixed(0)} ms (${getmailRate.toFixed(1)}/s); imapflow fetch ${fetchMs.toFixed(0)} ms (${ceiling.toFixed(1)}/s)`);
    return [
      rateRow('IMAP poll', `${opts.driver}, ${opts.messages} × 10 KB: imported (task exists)`, 'msg/s', rate, getmailRate, 'getmail into a Maildir', 5),
      rateRow('IMAP poll', `${opts.driver}, ${opts.messages} × 10 KB: imported (task exists)`, 'msg/s', rate, ceiling, 'imapflow fetch+discard', 0.2),
    ];
  } finally {
    await g.close();
    await dovecot.stop();
  }
}
