/**
 * The durable reference for SMTP accept (issue 13): a real Postfix (Debian `postfix`) with its own
 * configuration and queue under a temporary directory, accepting on a loopback port of its own
 * and keeping every message in its hold queue (`smtpd_end_of_data_restrictions = check_client_access
 * static:HOLD`), so nothing is delivered onwards. Postfix's cleanup(8) fsyncs each queue file
 * before smtpd answers 250 — the same promise the gateway makes.
 * Needs root (Postfix's master runs as root and drops to `mail_owner`).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../test/helpers/dovecot.js';

const run = promisify(execFile);

export interface PostfixRef {
  port: number;
  /** messages in the hold queue (files under `queue/hold`) */
  held(): Promise<number>;
  close(): Promise<void>;
}

/** master.cf: smtpd on the given port and the daemons the accept path needs (postfix's defaults). */
function masterCf(port: number): string {
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `${services.join('\n')}\n`;
}

/**
 * Starts Postfix from Debian's package with `postfix -c DIR start`.
 * @throws when Postfix is not installed, not run as root, or does not start
 */
export async function startPostfix(): Promise<PostfixRef> {
  if (userInfo().uid !== 0) throw new Error('the Postfix reference needs root');
  const dir = await mkdtemp(path.join(tmpdir(), 'pe-bench-postfix-'));
  await chmod(dir, 0o755); // Postfix's daemons run as mail_owner and must reach data/ and queue/
  const conf = path.join(dir, 'conf');
  const queue = path.join(dir, 'queue');
  const data = path.join(dir, 'data');
  for (const d of [conf, queue, data]) await mkdir(d, { recursive: true });
  const { stdout } = await run('id', ['-u', 'postfix']);
  await chown(data, Number(stdout.trim()), -1);
  const port = await freePort();
  const main = {
    compatibility_level: '3.6',
    queue_directory: queue,
    data_directory: data,
    command_directory: '/usr/sbin',
    daemon_directory: '/usr/lib/postfix/sbin',
    shlib_directory: '/usr/lib/postfix',
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    myhostname: 'bench.localdomain',
    mydestination: '',
    mynetworks: '127.0.0.0/8',
    smtpd_relay_restrictions: 'permit_mynetworks, reject',
    smtpd_end_of_data_restrictions: 'check_client_access static:HOLD',
    in_flow_delay: '0',
    smtpd_peername_lookup: 'no',
    default_process_limit: '100',
    smtpd_client_connection_count_limit: '0',
    smtpd_client_connection_rate_limit: '0',
    message_size_limit: String(50 * 1024 * 1024),
    maillog_file: path.join(dir, 'maillog'),
    maillog_file_prefixes: dir,
  };
  await writeFile(path.join(conf, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  await writeFile(path.join(conf, 'master.cf'), masterCf(port));
  try {
    await run('postfix', ['-c', conf, 'start']);
  } catch (err) {
    const maillog = await readFile(main.maillog_file, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`Postfix did not start: ${(err as Error).message}\n${maillog.split('\n').slice(-5).join('\n')}`);
  }
  const held = async () => {
    let n = 0;
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (e.isDirectory()) await walk(path.join(d, e.name));
        else n++;
      }
    };
    await walk(path.join(queue, 'hold'));
    return n;
  };
  return {
    port,
    held,
    async close() {
      await run('postfix', ['-c', conf, 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
