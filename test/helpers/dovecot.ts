/**
 * A real Dovecot 2.3 (Debian `dovecot-imapd` + `dovecot-pop3d`) for the mailbox tests, started as a
 * child process with its own config, certificates, ports, user database and Maildirs, all in one
 * temporary directory that `stop()` removes.
 *
 * Listeners (all on 127.0.0.1, free ports): IMAP (plain + STARTTLS), IMAPS (implicit TLS),
 * POP3 (plain + STLS), POP3S (implicit TLS). The server certificate is signed by a CA generated
 * here (`caFile`), with subjectAltName IP:127.0.0.1 and DNS:localhost.
 *
 * As root, Dovecot refuses to run login processes as root and refuses uid 0 for mail, so the
 * login processes run as `dovenull`, the internal ones as `dovecot` (both created by the Debian
 * packages) and mail as `nobody:nogroup`; files written by `deliver()` are chowned to that user.
 * As any other user everything runs as that user.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DovecotUser {
  user: string;
  password: string;
}

export interface DovecotOptions {
  /** accounts (default: one, `test` / `test-password`); neither field may contain ':' or a line break */
  users?: DovecotUser[];
  /** admit TLS 1.0/1.1 (`ssl_min_protocol = TLSv1`, `ssl_cipher_list = DEFAULT@SECLEVEL=0`); default TLS 1.2+ */
  legacyTls?: boolean;
}

export interface DovecotServer {
  host: '127.0.0.1';
  ports: { imap: number; imaps: number; pop3: number; pop3s: number };
  /** PEM file of the CA that signed the server certificate */
  caFile: string;
  /** PEM text of that CA */
  ca: string;
  /** the server certificate and its key (PEM files), e.g. for a scripted server that the same CA vouches for */
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint of the server certificate, colon-separated upper-case hex (as Node's `fingerprint256`) */
  certFingerprint: string;
  users: DovecotUser[];
  /** Dovecot's log file (errors of a failing test are usually here) */
  logFile: string;
  /** the Maildir root of `user` (INBOX; other folders are Maildir++ `.<name>` directories in it) */
  maildir(user: string): string;
  /**
   * Puts one message into a folder of `user` the way an MTA does: written under tmp/, then renamed
   * into new/ (or into cur/ with the `S` flag when `seen`), so Dovecot sees it as new mail.
   * `folder` is an IMAP name with '/' as hierarchy separator (default INBOX); created when missing.
   */
  deliver(user: string, raw: Buffer, opts?: { folder?: string; seen?: boolean }): Promise<void>;
  /** Names of the message files currently in new/ and cur/ of a folder (what is still on the server). */
  messageFiles(user: string, folder?: string): Promise<string[]>;
  /**
   * Gives a folder a new UIDVALIDITY with its messages renumbered from UID 1, as after a mailbox
   * rebuild on the server: Dovecot's uidlist and index files of that folder are removed.
   * Call it while no client has the folder open.
   */
  resetUidValidity(user: string, folder?: string): Promise<void>;
  /** the UIDVALIDITY Dovecot reports for a folder (via `doveadm mailbox status`) */
  uidValidity(user: string, folder?: string): Promise<number>;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago (bound to port 0 and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** RFC 3501 §5.1.3 modified UTF-7, as Dovecot names Maildir++ folders on disk. */
export function encodeMutf7(name: string): string {
  let out = '';
  let pending = '';
  const flush = () => {
    if (!pending) return;
    const utf16 = Buffer.alloc(pending.length * 2);
    for (let i = 0; i < pending.length; i++) utf16.writeUInt16BE(pending.charCodeAt(i), i * 2);
    out += `&${utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    pending = '';
  };
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else pending += ch;
  }
  flush();
  return out;
}

function resolveAccounts(): { login: string; internal: string; mailUser: string; mailGroup: string; uid: number; gid: number } {
  if (process.getuid?.() === 0) {
    const id = (name: string, db: 'passwd' | 'group') => {
      const line = readFileSync(`/etc/${db}`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
      if (!line) throw new Error(`Dovecot harness: system ${db === 'passwd' ? 'user' : 'group'} ${name} is missing (install dovecot-core)`);
      return Number(line.split(':')[2]);
    };
    id('dovenull', 'passwd');
    id('dovecot', 'passwd');
    return { login: 'dovenull', internal: 'dovecot', mailUser: 'nobody', mailGroup: 'nogroup', uid: id('nobody', 'passwd'), gid: id('nogroup', 'group') };
  }
  const me = userInfo();
  return { login: me.username, internal: me.username, mailUser: me.username, mailGroup: String(me.gid), uid: me.uid, gid: me.gid };
}

async function makeCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'server.ext');
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2',
    '-subj', '/CN=Posteingang Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost']);
  await writeFile(
    ext,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  await run('openssl', [
    'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-sha256', '-extfile', ext, '-out', certFile,
  ]);
  return { caFile, certFile, keyFile };
}

function config(o: {
  dir: string;
  ports: DovecotServer['ports'];
  certFile: string;
  keyFile: string;
  legacyTls: boolean;
  accounts: ReturnType<typeof resolveAccounts>;
}): string {
  const { dir, ports, accounts } = o;
  return `# generated by test/helpers/dovecot.ts
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
shutdown_clients = yes
default_login_user = ${accounts.login}
default_internal_user = ${accounts.internal}
default_internal_group = ${accounts.internal === accounts.login ? accounts.mailGroup : accounts.internal}
first_valid_uid = 1
first_valid_gid = 1
mail_uid = ${accounts.mailUser}
mail_gid = ${accounts.mailGroup}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
# user names exactly as given: AGENCY\\scan, scan@agency.example, no lower-casing
auth_username_chars =
auth_username_format = %u
auth_mechanisms = plain login
auth_failure_delay = 0
disable_plaintext_auth = no
passdb {
  driver = passwd-file
  args = ${dir}/passwd
}
userdb {
  driver = passwd-file
  args = ${dir}/passwd
}
mail_max_userip_connections = 200
pop3_uidl_format = %08Xu%08Xv
imap_idle_notify_interval = 1 secs
mailbox_idle_check_interval = 1 secs
ssl = yes
ssl_cert = <${o.certFile}
ssl_key = <${o.keyFile}
ssl_prefer_server_ciphers = yes
${o.legacyTls ? 'ssl_min_protocol = TLSv1\nssl_cipher_list = DEFAULT@SECLEVEL=0' : 'ssl_min_protocol = TLSv1.2'}
# no auth penalty (a growing delay for an IP after failed logins) so that one test's wrong password
# does not slow the next test down: the documented switch is an inaccessible anvil socket
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    port = ${ports.imap}
  }
  inet_listener imaps {
    port = ${ports.imaps}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    port = ${ports.pop3s}
    ssl = yes
  }
}
`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a Dovecot for one test file and waits until all four ports accept connections.
 * @throws when `dovecot` is missing (run scripts/install-test-deps.sh) or does not come up in 15 s
 *   (the message quotes its log)
 */
export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotServer> {
  const users = opts.users ?? [{ user: 'test', password: 'test-password' }];
  for (const u of users) {
    if (/[:\r\n]/.test(u.user + u.password) || !u.user) throw new Error(`Dovecot harness: user ${JSON.stringify(u.user)}: no ':' or line breaks`);
  }
  if (new Set(users.map((u) => u.user)).size !== users.length) throw new Error('Dovecot harness: user names must be unique');
  const accounts = resolveAccounts();
  const dir = await mkdtemp(path.join(tmpdir(), 'pe-dovecot-'));
  // login and mail processes run as other users: they must be able to traverse the directory
  await chmod(dir, 0o755);
  for (const d of ['run', 'state', 'home']) await mkdir(path.join(dir, d), { mode: 0o755 });
  const { caFile, certFile, keyFile } = await makeCertificates(dir);
  const ca = readFileSync(caFile, 'utf8');
  const certFingerprint = new X509Certificate(readFileSync(certFile)).fingerprint256;

  const homes = new Map<string, string>();
  const lines: string[] = [];
  for (const [i, u] of users.entries()) {
    const home = path.join(dir, 'home', `u${i}`);
    homes.set(u.user, home);
    await mkdir(home, { mode: 0o700 });
    await chown(home, accounts.uid, accounts.gid);
    // passwd-file: user:password:uid:gid:gecos:home:shell. Dovecot looks the user up with '\\' and
    // "'" backslash-escaped (auth_request_str_escape), so the file holds the escaped form.
    lines.push(`${u.user.replace(/[\\']/g, (c) => `\\${c}`)}:{PLAIN}${u.password}:${accounts.uid}:${accounts.gid}::${home}::`);
  }
  await writeFile(path.join(dir, 'passwd'), `${lines.join('\n')}\n`, { mode: 0o644 });

  const confFile = path.join(dir, 'dovecot.conf');
  const logFile = path.join(dir, 'dovecot.log');
  const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  let child: ChildProcess | null = null;
  let ports: DovecotServer['ports'] | null = null;
  for (let attempt = 0; attempt < 3 && !ports; attempt++) {
    const candidate = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() };
    if (new Set(Object.values(candidate)).size < 4) continue;
    await writeFile(confFile, config({ dir, ports: candidate, certFile, keyFile, legacyTls: !!opts.legacyTls, accounts }));
    await rm(logFile, { force: true });
    const proc = spawn('dovecot', ['-F', '-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      running.delete(proc);
    });
    const spawnError = await new Promise<Error | null>((resolve) => {
      proc.once('error', resolve);
      proc.once('spawn', () => resolve(null));
    });
    if (spawnError) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`Dovecot harness: cannot start dovecot (${spawnError.message}); run scripts/install-test-deps.sh`);
    }
    running.add(proc);
    const deadline = Date.now() + 15_000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      const ok = await Promise.all(Object.values(candidate).map(canConnect));
      if (ok.every(Boolean)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      child = proc;
      ports = candidate;
      break;
    }
    proc.kill('SIGKILL');
    const log = readLog() + output;
    if (/Address already in use/i.test(log) && attempt < 2) continue; // a port was taken meanwhile
    await rm(dir, { recursive: true, force: true });
    throw new Error(`Dovecot harness: dovecot did not come up:\n${log}`);
  }
  if (!ports || !child) throw new Error('Dovecot harness: no free ports');

  const homeOf = (user: string) => {
    const home = homes.get(user);
    if (!home) throw new Error(`Dovecot harness: no user ${user}`);
    return home;
  };
  const maildir = (user: string) => path.join(homeOf(user), 'Maildir');
  const folderDir = (user: string, folder = 'INBOX') =>
    folder.toUpperCase() === 'INBOX' ? maildir(user) : path.join(maildir(user), `.${folder.split('/').map(encodeMutf7).join('.')}`);
  const owned = async (p: string) => chown(p, accounts.uid, accounts.gid);
  const ensureDir = async (p: string) => {
    if (existsSync(p)) return;
    await mkdir(p, { mode: 0o700 });
    await owned(p);
  };
  let counter = 0;
  const doveadm = (...args: string[]) => run('doveadm', ['-c', confFile, ...args]);

  const proc = child;
  return {
    host: '127.0.0.1',
    ports,
    caFile,
    ca,
    certFile,
    keyFile,
    certFingerprint,
    users,
    logFile,
    maildir,
    async deliver(user, raw, o = {}) {
      const root = maildir(user);
      const target = folderDir(user, o.folder);
      await ensureDir(root);
      for (const sub of ['cur', 'new', 'tmp']) await ensureDir(path.join(root, sub));
      if (target !== root) {
        await ensureDir(target);
        for (const sub of ['cur', 'new', 'tmp']) await ensureDir(path.join(target, sub));
        await writeFile(path.join(target, 'maildirfolder'), '');
        await owned(path.join(target, 'maildirfolder'));
      }
      const now = Date.now();
      // Maildir unique name: <seconds>.M<microseconds>P<pid>Q<counter>.<host>, zero-padded so that
      // names sort in delivery order (Dovecot gives new mail its UIDs in file name order)
      const base = `${Math.floor(now / 1000)}.M${String((now % 1000) * 1000).padStart(6, '0')}P${process.pid}Q${String(++counter).padStart(6, '0')}.posteingang-test`;
      const tmpFile = path.join(target, 'tmp', base);
      await writeFile(tmpFile, raw, { mode: 0o600 });
      await owned(tmpFile);
      await rename(tmpFile, o.seen ? path.join(target, 'cur', `${base}:2,S`) : path.join(target, 'new', base));
    },
    async messageFiles(user, folder) {
      const target = folderDir(user, folder);
      const names: string[] = [];
      for (const sub of ['new', 'cur']) {
        if (existsSync(path.join(target, sub))) names.push(...(await readdir(path.join(target, sub))));
      }
      return names.sort();
    },
    async resetUidValidity(user, folder) {
      const target = folderDir(user, folder);
      for (const name of await readdir(target)) {
        if (name === 'dovecot-uidlist' || name.startsWith('dovecot.index')) await rm(path.join(target, name), { force: true });
      }
      // the folder list index caches each folder's UIDVALIDITY too
      for (const name of await readdir(maildir(user))) {
        if (name.startsWith('dovecot.list.index')) await rm(path.join(maildir(user), name), { force: true });
      }
    },
    async uidValidity(user, folder = 'INBOX') {
      const { stdout } = await doveadm('mailbox', 'status', '-u', user, 'uidvalidity', folder);
      const m = /uidvalidity=(\d+)/.exec(stdout);
      if (!m) throw new Error(`Dovecot harness: doveadm said ${stdout}`);
      return Number(m[1]);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
