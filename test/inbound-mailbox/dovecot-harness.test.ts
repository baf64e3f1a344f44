/**
 * Self-test of the Dovecot harness (test/helpers/dovecot.ts): Dovecot comes up on its own ports,
 * IMAP (imapflow) and POP3 (a raw exchange written here from RFC 1939/2595) log in over plain,
 * STARTTLS/STLS and implicit TLS with the harness CA, a delivered message is seen byte for byte,
 * user names with a backslash or an '@' log in unchanged, and a UIDVALIDITY reset is visible.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';

const USERS = [
  { user: 'test', password: 'test-password' },
  { user: 'AGENCY\\scan', password: 'pass with spaces' },
  { user: 'scan@agency.example', password: 'p@ss' },
];

/** A minimal POP3 client for the check: one command, one answer (multi-line up to CRLF.CRLF). */
class RawPop3 {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private constructor(public socket: net.Socket | tls.TLSSocket) {
    this.attach();
  }
  private attach() {
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
  }
  static async open(port: number, secure: boolean, ca?: string): Promise<RawPop3> {
    const socket = secure
      ? tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
      : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawPop3(socket);
  }
  async read(multiline: boolean): Promise<Buffer> {
    for (;;) {
      const end = multiline ? this.buf.indexOf('\r\n.\r\n') : this.buf.indexOf('\r\n');
      const firstLineEnd = this.buf.indexOf('\r\n');
      // a multi-line answer that starts with -ERR is one line only (RFC 1939 §3)
      if (multiline && firstLineEnd >= 0 && this.buf.subarray(0, 4).toString() === '-ERR') {
        const line = this.buf.subarray(0, firstLineEnd + 2);
        this.buf = this.buf.subarray(firstLineEnd + 2);
        return line;
      }
      if (end >= 0) {
        const len = end + (multiline ? 5 : 2);
        const out = this.buf.subarray(0, len);
        this.buf = this.buf.subarray(len);
        return out;
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
  async cmd(line: string, multiline = false): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return (await this.read(multiline)).toString('latin1');
  }
  /** RFC 2595 §4: STLS, then the TLS handshake on the same socket. */
  async stls(ca: string): Promise<void> {
    const answer = await this.cmd('STLS');
    assert.match(answer, /^\+OK/);
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach();
  }
  close() {
    this.socket.destroy();
  }
}

describe('Dovecot harness', () => {
  let dovecot: DovecotServer;
  before(async () => {
    dovecot = await startDovecot({ users: USERS });
  });
  after(async () => {
    await dovecot?.stop();
  });

  test('certificate: signed by the CA file, SAN 127.0.0.1 and localhost, fingerprint as served', async () => {
    const ca = new X509Certificate(readFileSync(dovecot.caFile));
    assert.equal(ca.ca, true);
    const socket = tls.connect({ host: '127.0.0.1', port: dovecot.ports.imaps, ca: readFileSync(dovecot.caFile) });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const peer = socket.getPeerX509Certificate()!;
    socket.destroy();
    assert.ok(peer.checkIssued(ca));
    assert.ok(peer.verify(ca.publicKey));
    assert.match(peer.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.match(peer.subjectAltName ?? '', /DNS:localhost/);
    assert.equal(peer.fingerprint256, dovecot.certFingerprint);
  });

  test('IMAP: login over plain, STARTTLS and implicit TLS (TLS 1.2 or newer)', async () => {
    const modes = [
      { name: 'plain', port: dovecot.ports.imap, secure: false, doSTARTTLS: false, tls: false },
      { name: 'starttls', port: dovecot.ports.imap, secure: false, doSTARTTLS: true, tls: true },
      { name: 'implicit', port: dovecot.ports.imaps, secure: true, doSTARTTLS: undefined, tls: true },
    ];
    for (const m of modes) {
      const client = new ImapFlow({
        host: dovecot.host,
        port: m.port,
        secure: m.secure,
        doSTARTTLS: m.doSTARTTLS,
        auth: { user: 'test', pass: 'test-password' },
        tls: { ca: dovecot.ca, servername: 'localhost' },
        logger: false,
      });
      await client.connect();
      assert.ok(client.authenticated, m.name);
      assert.equal((client as unknown as { secureConnection: boolean }).secureConnection, m.tls, m.name);
      await client.logout();
    }
  });

  test('POP3: login over plain, STLS and implicit TLS', async () => {
    for (const mode of ['plain', 'stls', 'implicit'] as const) {
      const pop = await RawPop3.open(mode === 'implicit' ? dovecot.ports.pop3s : dovecot.ports.pop3, mode === 'implicit', dovecot.ca);
      try {
        assert.match(await pop.read(false).then((b) => b.toString()), /^\+OK/, mode);
        if (mode === 'stls') {
          assert.match(await pop.cmd('CAPA', true), /\r\nSTLS\r\n/);
          await pop.stls(dovecot.ca);
          assert.equal((pop.socket as tls.TLSSocket).encrypted, true);
          assert.match((pop.socket as tls.TLSSocket).getProtocol() ?? '', /^TLSv1\.[23]$/);
        }
        assert.match(await pop.cmd('USER test'), /^\+OK/, mode);
        assert.match(await pop.cmd('PASS test-password'), /^\+OK/, mode);
        assert.match(await pop.cmd('STAT'), /^\+OK \d+ \d+\r\n$/, mode);
        assert.match(await pop.cmd('QUIT'), /^\+OK/, mode);
      } finally {
        pop.close();
      }
    }
  });

  test('user names are passed as given: AGENCY\\scan and a UPN log in, a wrong password does not', async () => {
    for (const u of USERS.slice(1)) {
      const pop = await RawPop3.open(dovecot.ports.pop3, false);
      await pop.read(false);
      assert.match(await pop.cmd(`USER ${u.user}`), /^\+OK/);
      assert.match(await pop.cmd(`PASS ${u.password}`), /^\+OK/, u.user);
      await pop.cmd('QUIT');
      pop.close();
    }
    const pop = await RawPop3.open(dovecot.ports.pop3, false);
    await pop.read(false);
    await pop.cmd('USER test');
    assert.match(await pop.cmd('PASS wrong'), /^-ERR/);
    pop.close();
  });

  test('deliver: a message appears over POP3 and IMAP byte for byte; seen and folders', async () => {
    // CRLF line ends and 8-bit Latin-1 bytes in a header, as an old scanner would send them
    const raw = Buffer.concat([
      Buffer.from('From: scanner@agency.example\r\nSubject: Gr', 'latin1'),
      Buffer.from([0xfc, 0xdf, 0x65]), // "üße" in ISO-8859-1
      Buffer.from('\r\nMessage-ID: <harness-1@agency.example>\r\n\r\nHello\r\n.dot line\r\n', 'latin1'),
    ]);
    // POP3 (RETR sets \\Seen in Dovecot) on one account, IMAP on another
    const popUser = 'AGENCY\\scan';
    await dovecot.deliver(popUser, raw);
    assert.equal((await dovecot.messageFiles(popUser)).length, 1);
    const pop = await RawPop3.open(dovecot.ports.pop3, false);
    try {
      await pop.read(false);
      await pop.cmd(`USER ${popUser}`);
      await pop.cmd('PASS pass with spaces');
      assert.equal(await pop.cmd('STAT'), `+OK 1 ${raw.length}\r\n`);
      pop.socket.write('RETR 1\r\n');
      const answer = await pop.read(true);
      const firstLine = answer.indexOf('\r\n') + 2;
      // RFC 1939 §3: the line ".dot line" goes over the wire as "..dot line", then ".\r\n" ends it
      const expectedWire = Buffer.concat([Buffer.from(raw.toString('latin1').replace('\r\n.dot', '\r\n..dot'), 'latin1'), Buffer.from('.\r\n')]);
      assert.deepEqual(answer.subarray(firstLine), expectedWire);
      await pop.cmd('QUIT');
    } finally {
      pop.close();
    }

    const user = 'scan@agency.example';
    await dovecot.deliver(user, raw);
    await dovecot.deliver(user, Buffer.from('Subject: seen\r\n\r\nx\r\n'), { seen: true });
    await dovecot.deliver(user, Buffer.from('Subject: filed\r\n\r\ny\r\n'), { folder: 'Erledigt/Gelöschte Elemente' });
    assert.equal((await dovecot.messageFiles(user)).length, 2);
    assert.equal((await dovecot.messageFiles(user, 'Erledigt/Gelöschte Elemente')).length, 1);
    const client = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imaps, secure: true, auth: { user, pass: 'p@ss' }, tls: { ca: dovecot.ca }, logger: false });
    await client.connect();
    try {
      const inbox = await client.status('INBOX', { messages: true, unseen: true });
      assert.ok(inbox);
      assert.deepEqual([inbox.messages, inbox.unseen], [2, 1]);
      const filed = await client.status('Erledigt/Gelöschte Elemente', { messages: true });
      assert.ok(filed);
      assert.equal(filed.messages, 1);
      const lock = await client.getMailboxLock('INBOX');
      try {
        const msg = await client.fetchOne('1', { source: true });
        assert.ok(msg && msg.source);
        assert.deepEqual(msg.source, raw);
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  });

  test('resetUidValidity: the folder gets a new UIDVALIDITY and UIDs start again at 1', async () => {
    const user = 'test';
    await dovecot.deliver(user, Buffer.from('Subject: one\r\n\r\n1\r\n'));
    await dovecot.deliver(user, Buffer.from('Subject: two\r\n\r\n2\r\n'));
    const open = async () => {
      const c = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imaps, secure: true, auth: { user, pass: 'test-password' }, tls: { ca: dovecot.ca }, logger: false });
      await c.connect();
      return c;
    };
    let c = await open();
    let mb = await c.mailboxOpen('INBOX');
    const before = mb.uidValidity;
    // expunge the first so that the second has UID 2 while UIDs would restart at 1 after a rebuild
    await c.messageDelete('1', { uid: true });
    const uidsBefore = (await c.search({ all: true }, { uid: true })) || [];
    await c.logout();
    assert.deepEqual(uidsBefore, [2]);
    assert.equal(BigInt(await dovecot.uidValidity(user)), before);

    await dovecot.resetUidValidity(user);
    c = await open();
    mb = await c.mailboxOpen('INBOX');
    assert.notEqual(mb.uidValidity, before);
    assert.deepEqual((await c.search({ all: true }, { uid: true })) || [], [1]);
    await c.logout();
  });

  test('TLS 1.0: refused by the default server, admitted by a legacyTls server', async () => {
    const handshake = (port: number) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: dovecot.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
        s.once('secureConnect', () => {
          resolve(s.getProtocol() ?? '');
          s.destroy();
        });
        s.once('error', () => resolve('refused'));
      });
    assert.equal(await handshake(dovecot.ports.pop3s), 'refused');
    const legacy = await startDovecot({ legacyTls: true });
    try {
      const protocol = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: legacy.ports.imaps, ca: legacy.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
        s.once('secureConnect', () => {
          resolve(s.getProtocol() ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
      assert.equal(protocol, 'TLSv1');
    } finally {
      await legacy.stop();
    }
  });
});
