/**
 * The mailbox-import reference of issue 13: getmail (Debian `getmail6`) retrieving every message
 * of the test Dovecot's mailbox over implicit TLS and delivering each into a Maildir (a real
 * mail retriever storing what it fetched), leaving the server as it was (`delete = false`,
 * `read_all = true`). Times the whole `getmail` run.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DovecotServer } from '../../test/helpers/dovecot.js';
import { now } from './lib.js';

const run = promisify(execFile);

/**
 * Runs getmail once against `dovecot` for `user`.
 * @param protocol `imap` (SimpleIMAPSSLRetriever on the IMAPS port) or `pop3` (SimplePOP3SSLRetriever on POP3S)
 * @returns the run's duration in ms and the number of messages it delivered into the Maildir
 * @throws when getmail is missing or fails
 */
export async function getmailRun(dovecot: DovecotServer, protocol: 'imap' | 'pop3', user: { user: string; password: string }): Promise<{ ms: number; delivered: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pe-bench-getmail-'));
  await chmod(dir, 0o700);
  try {
    const maildir = path.join(dir, 'Maildir');
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(path.join(maildir, sub), { recursive: true });
    const retriever =
      protocol === 'imap'
        ? ['type = SimpleIMAPSSLRetriever', `port = ${dovecot.ports.imaps}`, 'mailboxes = ("INBOX",)']
        : ['type = SimplePOP3SSLRetriever', `port = ${dovecot.ports.pop3s}`];
    const rc = [
      '[retriever]',
      ...retriever,
      `server = ${dovecot.host}`,
      `username = ${user.user}`,
      `password = ${user.password}`,
      `ca_certs = ${path.join(dir, 'ca.pem')}`,
      '',
      '[destination]',
      'type = Maildir',
      `path = ${maildir}/`,
      '',
      '[options]',
      'read_all = true',
      'delete = false',
      'verbose = 0',
      'message_log_syslog = false',
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'getmailrc'), rc, { mode: 0o600 });
    await writeFile(path.join(dir, 'ca.pem'), await readFile(dovecot.caFile));
    // getmail refuses to deliver as root: run it as nobody, owning its directory
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await run('chown', ['-R', 'nobody', dir]);
    const command = asRoot ? ['runuser', '-u', 'nobody', '--', 'getmail'] : ['getmail'];
    const t0 = now();
    await run(command[0]!, [...command.slice(1), '--getmaildir', dir, '--rcfile', path.join(dir, 'getmailrc')], { maxBuffer: 16 * 1024 * 1024 });
    const ms = now() - t0;
    return { ms, delivered: (await readdir(path.join(maildir, 'new'))).length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
