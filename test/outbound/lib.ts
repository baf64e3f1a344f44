/**
 * Harness for the outbound tests (issue 7): a real smtp-server instance scripted per message
 * (accept with 250, defer with 4xx, refuse with 5xx, or stall in DATA), over no TLS, STARTTLS or
 * implicit TLS with certificates from a test CA; Postfix's smtp-sink; and an SMTP account set
 * through the real service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/** A CA and a server certificate it signed for localhost / 127.0.0.1, as PEM files in `dir`. */
export async function makeTestCa(dir: string): Promise<{ caFile: string; caPem: string; cert: string; key: string }> {
  const now = new Date();
  const later = new Date(now.getTime() + 2 * 24 * 3600 * 1000);
  const ca = await generate([{ name: 'commonName', value: 'Posteingang Outbound Test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: later,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: later,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const caFile = path.join(dir, 'test-ca.pem');
  writeFileSync(caFile, ca.cert);
  return { caFile, caPem: ca.cert, cert: server.cert, key: server.private };
}

/** What the scripted server does with one message at the end of DATA. */
export type Action = 'accept' | 'stall' | { code: number; text: string };

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  /** the Message-ID header of the received message */
  messageId: string | null;
  secure: boolean;
  user: string | null;
}

/**
 * A real smtp-server instance on 127.0.0.1 whose answer to each message follows `script`
 * (then `accept` once the script is used up). `accepted` holds only what was answered 250;
 * `dataCount` every message whose DATA began, `dataTimes` when each began (Date.now()). Emits `stalled` when a `stall` message's data
 * has arrived (the reply is never sent).
 */
export async function scriptedServer(opts: {
  script?: Action[];
  security?: 'none' | 'starttls' | 'tls';
  tls?: { key: string; cert: string };
  auth?: { user: string; pass: string };
  /** recipients answered `550 5.1.1` at RCPT TO */
  refuse?: string[];
  /** recipients answered `451 4.2.0 Mailbox busy` at RCPT TO that many times, then accepted */
  defer?: Record<string, number>;
}) {
  const deferLeft = { ...(opts.defer ?? {}) };
  const script = [...(opts.script ?? [])];
  const accepted: Received[] = [];
  const events = new EventEmitter();
  const state = { dataCount: 0, dataTimes: [] as number[], sessions: 0, authFailures: 0 };
  const security = opts.security ?? 'none';
  const options: SMTPServerOptions = {
    secure: security === 'tls',
    key: opts.tls?.key,
    cert: opts.tls?.cert,
    disabledCommands: security === 'none' ? ['STARTTLS'] : [],
    authOptional: !opts.auth,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    logger: false,
    onConnect(_session, cb) {
      state.sessions++;
      cb();
    },
    onAuth(auth, _session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username });
      state.authFailures++;
      cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (opts.refuse?.includes(address.address)) return cb(Object.assign(new Error(`5.1.1 <${address.address}>: Recipient address rejected`), { responseCode: 550 }));
      if ((deferLeft[address.address] ?? 0) > 0) {
        deferLeft[address.address]!--;
        return cb(Object.assign(new Error(`4.2.0 <${address.address}>: Mailbox busy`), { responseCode: 451 }));
      }
      cb();
    },
    onData(stream, session, cb) {
      state.dataCount++;
      state.dataTimes.push(Date.now());
      const action = script.shift() ?? 'accept';
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(parts);
        if (action === 'stall') {
          events.emit('stalled', raw);
          return; // never answered
        }
        if (action !== 'accept') return cb(Object.assign(new Error(action.text), { responseCode: action.code }));
        const header = raw.toString('utf8').split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
        accepted.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          messageId: /^message-id:\s*(.+)$/im.exec(header)?.[1]?.trim() ?? null,
          secure: session.secure,
          user: (session.user as string | undefined) ?? null,
        });
        events.emit('accepted');
        cb(null, `Ok: queued as Q${accepted.length}`);
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as net.AddressInfo).port;
  return {
    port,
    accepted,
    state,
    events,
    /** resolves once `n` messages were accepted (rejects after `ms`) */
    waitAccepted(n: number, ms = 60_000): Promise<void> {
      return waitFor(() => accepted.length >= n, ms, `${n} accepted message(s), have ${accepted.length}`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls `check` every 50 ms until true. @throws after `ms` naming `what` */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Postfix's smtp-sink (Debian package `postfix`, installed by scripts/install-test-deps.sh) on a
 * free port, dumping each mail transaction into `dir` (one file per message).
 */
export async function smtpSink(dir: string): Promise<{ port: number; files(): string[]; read(file: string): string; close(): Promise<void> }> {
  chmodSync(dir, 0o777); // smtp-sink writes as the unprivileged user it switches to
  const port = await freePort();
  const user = process.getuid?.() === 0 ? 'nobody' : userInfo().username;
  const child: ChildProcess = spawn('/usr/sbin/smtp-sink', ['-u', user, '-d', path.join(dir, 'msg.'), `127.0.0.1:${port}`, '10'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        if (child.exitCode !== null) throw new Error(`smtp-sink exited: ${stderr}`);
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    60_000,
    'smtp-sink to listen',
  );
  return {
    port,
    files: () => readdirSync(dir).filter((f) => f.startsWith('msg.')),
    read: (file) => readFileSync(path.join(dir, file), 'latin1'),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
