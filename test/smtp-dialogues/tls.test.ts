// Issue 3, items 1 and 2: STARTTLS (RFC 3207) on the plain port and the implicit-TLS port
// (RFC 8314), the TLS policy (1.2+ by default, 1.0/1.1 only with SMTP_TLS_LEGACY=true), the
// negotiated protocol and cipher recorded with each message, a configured certificate, and the
// self-signed default. Clients: Node's tls pinned to a version, `openssl s_client`, `swaks`.
// Expected protocol and cipher names come from the client's side of the connection; certificate
// fingerprints are computed here from the PEM the test generated or read.
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addDevice } from '../../src/services/devices.js';
import { listMessages } from '../../src/services/messages.js';
import { driver, tempDir } from '../helpers/env.js';
import {
  authLogin,
  dialogueGateway,
  interactive,
  ehloKeywords,
  ehloParams,
  expectReply,
  messageBySha,
  run,
  scanMessage,
  sha256,
  Smtp,
  smtpSourceOf,
  transaction,
  type Run,
  swaksReplies,
  swaks as runSwaks,
} from './lib.js';

const SCAN = 'scan@agency.example';
const DEVICE = 'mfp-tls';
const DEVICE_PASSWORD = 'Ricoh-MP-C3004-pw';

type G = Awaited<ReturnType<typeof dialogueGateway>>;

/** A TLS 1.0-only client, as an old scanner is: OpenSSL 3 needs security level 0 for it. */
const TLS10: tls.ConnectionOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' };
const TLS11: tls.ConnectionOptions = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };

/** SHA-256 of a certificate's DER bytes, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`). */
function fingerprintOfDer(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

async function setup(g: G) {
  await addInboundAddress(g.db, SCAN, 'scanner');
  await addDevice(g.db, DEVICE, DEVICE_PASSWORD);
}

/** EHLO, one scan, and the recorded SMTP source; also what the client saw of the TLS session. */
async function deliverOver(g: G, smtp: Smtp, tag: string) {
  expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
  const bytes = scanMessage({ from: 'scanner@agency.example', to: SCAN, tag });
  const r = await transaction(smtp, { from: 'scanner@agency.example', to: [SCAN], data: bytes });
  expectReply(r.final!, 250, { enhanced: ['2.0.0', '2.6.0'] }, 'end of DATA');
  const m = await messageBySha(g.db, sha256(bytes));
  assert.ok(m);
  return { message: m, source: await smtpSourceOf(g.db, m.id) };
}

/** Connects with TLS options to the implicit-TLS port: resolves to the client or the handshake error. */
async function tryImplicit(port: number, opts: tls.ConnectionOptions): Promise<Smtp | Error> {
  try {
    return await Smtp.connect(port, { tls: opts });
  } catch (err) {
    return err as Error;
  }
}

/**
 * An SMTP session through `openssl s_client` (stdin → server with CRLF, -nocommands so that
 * `RCPT`/`QUIT` lines are not taken as s_client commands), pipelined (RFC 2920).
 */
function opensslSession(args: string[], lines: string[]): Promise<Run> {
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${args[0]}`, '-crlf', '-ign_eof', '-nocommands', '-servername', 'localhost', ...args.slice(1)], {
    stdin: `${lines.join('\n')}\n`,
    timeoutMs: 20_000,
  });
}

const swaks = (args: string[], stdin?: string): Promise<Run> => runSwaks(['--server', '127.0.0.1', '--hide-informational', ...args], { stdin });


describe(`TLS with the self-signed default certificate (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_TLS_PORT: '0' });
    await setup(g);
  });
  after(() => g?.close());

  test('a self-signed certificate is generated into DATA_DIR/tls and its fingerprint logged', async () => {
    const pem = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'), 'utf8');
    const x509 = new X509Certificate(pem);
    const expected = fingerprintOfDer(x509.raw);
    assert.equal(x509.subject, x509.issuer, 'self-signed: subject = issuer');
    assert.ok(x509.verify(x509.publicKey), 'signed by its own key');
    const logged = g.logs.filter((l) => l.fingerprint256 === expected);
    assert.ok(logged.length >= 1, `the log shows the fingerprint ${expected}`);
  });

  test('EHLO offers STARTTLS; STARTTLS → 220; after it EHLO no longer offers STARTTLS; the client sees that certificate', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const ehlo = await smtp.command('EHLO scanner.agency.example');
      expectReply(ehlo, 250);
      assert.ok(ehloKeywords(ehlo).includes('STARTTLS'), `STARTTLS offered: ${ehlo.raw}`);
      const { reply, socket } = await smtp.starttls();
      expectReply(reply, 220, { enhanced: ['2.0.0'] }, 'STARTTLS');
      const again = await smtp.command('EHLO scanner.agency.example');
      expectReply(again, 250);
      // RFC 3207 §4.2: STARTTLS must not be offered again after a successful negotiation
      assert.ok(!ehloKeywords(again).includes('STARTTLS'), `no STARTTLS after TLS: ${again.raw}`);
      assert.deepEqual([...(ehloParams(again, 'AUTH') ?? [])].sort(), ['LOGIN', 'PLAIN'], 'AUTH PLAIN LOGIN offered under TLS');
      const pem = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'), 'utf8');
      assert.equal(fingerprintOfDer(socket.getPeerCertificate().raw), fingerprintOfDer(new X509Certificate(pem).raw));
      assert.equal(socket.getProtocol(), 'TLSv1.3', 'a modern client gets TLS 1.3');
    } finally {
      await smtp.quit();
    }
  });

  test('a scan over STARTTLS records protocol TLSv1.3 and the cipher the client negotiated', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner.agency.example'), 250);
      const { socket } = await smtp.starttls();
      const { source } = await deliverOver(g, smtp, 'starttls-modern');
      assert.equal(source.tls?.protocol, 'TLSv1.3');
      assert.equal(source.tls?.cipher, socket.getCipher().name);
    } finally {
      await smtp.quit();
    }
  });

  test('a scan on the implicit-TLS port records TLSv1.3; EHLO there offers no STARTTLS', async () => {
    const smtp = await Smtp.connect(g.gateway.smtpTls!.port, { tls: {} });
    try {
      expectReply(smtp.greeting, 220);
      const ehlo = await smtp.command('EHLO scanner.agency.example');
      assert.ok(!ehloKeywords(ehlo).includes('STARTTLS'));
      const { source } = await deliverOver(g, smtp, 'implicit-modern');
      assert.equal(source.tls?.protocol, 'TLSv1.3');
      assert.equal(source.tls?.cipher, smtp.tlsSocket!.getCipher().name);
    } finally {
      await smtp.quit();
    }
  });

  test('a TLS 1.2 client with a CBC cipher (defined since TLS 1.0) is recorded as TLSv1.2, the protocol, not the cipher\'s age', async () => {
    const opts: tls.ConnectionOptions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA' };
    const smtp = await Smtp.connect(g.gateway.smtpTls!.port, { tls: opts });
    try {
      assert.equal(smtp.tlsSocket!.getProtocol(), 'TLSv1.2');
      assert.equal(smtp.tlsSocket!.getCipher().name, 'ECDHE-RSA-AES128-SHA');
      const { source } = await deliverOver(g, smtp, 'tls12-cbc');
      assert.equal(source.tls?.protocol, 'TLSv1.2');
      assert.equal(source.tls?.cipher, 'ECDHE-RSA-AES128-SHA');
    } finally {
      await smtp.quit();
    }
  });

  test('TLS 1.0 and TLS 1.1 clients fail the handshake by default (implicit port and STARTTLS); nothing is stored', async () => {
    const before = (await listMessages(g.db, { limit: 1000, offset: 0 })).length;
    for (const [name, opts] of [['TLS 1.0', TLS10], ['TLS 1.1', TLS11]] as const) {
      const r = await tryImplicit(g.gateway.smtpTls!.port, opts);
      if (r instanceof Smtp) {
        r.destroy();
        assert.fail(`${name} client was admitted on the implicit-TLS port`);
      }
      const plain = await Smtp.connect(g.gateway.smtp.port);
      try {
        expectReply(await plain.command('EHLO old-scanner'), 250);
        await assert.rejects(plain.starttls(opts), `${name} client must not complete STARTTLS`);
      } finally {
        plain.destroy();
      }
    }
    // the receiver keeps serving after the failed handshakes
    const ok = await Smtp.connect(g.gateway.smtpTls!.port, { tls: {} });
    expectReply(ok.greeting, 220);
    await ok.quit();
    assert.equal((await listMessages(g.db, { limit: 1000, offset: 0 })).length, before);
    assert.ok(
      g.logs.some((l) => l.level >= 40 && /SMTP_TLS_LEGACY/.test(l.msg)),
      `a warning points the admin to SMTP_TLS_LEGACY: ${JSON.stringify(g.logs.filter((l) => l.level >= 40).map((l) => l.msg))}`,
    );
  });

  test('openssl s_client -tls1 -cipher DEFAULT@SECLEVEL=0 is refused by default', async () => {
    const r = await opensslSession([String(g.gateway.smtpTls!.port), '-tls1', '-cipher', 'DEFAULT@SECLEVEL=0'], ['EHLO old-scanner', 'QUIT']);
    assert.notEqual(r.code, 0, `openssl must fail: ${r.stderr}`);
    assert.match(r.stdout, /Cipher is \(NONE\)/, `no TLS session was established:\n${r.stdout}`);
    assert.doesNotMatch(r.stdout, /^220 /m, 'no SMTP greeting reached the TLS 1.0 client');
  });

  test('swaks --tls (STARTTLS) with --auth LOGIN → 220, 235, 250; device and TLSv1.3 recorded', async () => {
    const subject = `swaks starttls ${Date.now()}`;
    const r = await swaks([
      '--port', String(g.gateway.smtp.port), '--tls', '--auth', 'LOGIN', '--auth-user', DEVICE, '--auth-password', DEVICE_PASSWORD,
      '--from', 'scanner@agency.example', '--to', SCAN, '--header', `Subject: ${subject}`, '--body', 'scanned page',
    ]);
    assert.equal(r.code, 0, `swaks failed:\n${r.stdout}\n${r.stderr}`);
    const replies = swaksReplies(r.stdout);
    assert.ok(replies.some((l) => l.startsWith('220 ')), 'STARTTLS answered 220');
    assert.ok(replies.some((l) => l.startsWith('235 ')), `AUTH LOGIN answered 235: ${replies.join(' | ')}`);
    const m = (await listMessages(g.db, { limit: 1000, offset: 0 })).find((x) => x.subject === subject);
    assert.ok(m, 'the swaks message is stored');
    const source = await smtpSourceOf(g.db, m.id);
    assert.equal(source.authUser, DEVICE);
    assert.equal(source.tls?.protocol, 'TLSv1.3');
  });

  test('swaks --tlsc (implicit TLS) with --auth LOGIN against the implicit-TLS port → 235, 250', async () => {
    const subject = `swaks tlsc ${Date.now()}`;
    const r = await swaks([
      '--port', String(g.gateway.smtpTls!.port), '--tlsc', '--auth', 'LOGIN', '--auth-user', DEVICE, '--auth-password', DEVICE_PASSWORD,
      '--from', 'scanner@agency.example', '--to', SCAN, '--header', `Subject: ${subject}`, '--body', 'scanned page',
    ]);
    assert.equal(r.code, 0, `swaks failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(swaksReplies(r.stdout).some((l) => l.startsWith('235 ')));
    const m = (await listMessages(g.db, { limit: 1000, offset: 0 })).find((x) => x.subject === subject);
    assert.ok(m, 'the swaks message is stored');
    const source = await smtpSourceOf(g.db, m.id);
    assert.equal(source.authUser, DEVICE);
    assert.equal(source.tls?.protocol, 'TLSv1.3');
  });
});

describe(`TLS with SMTP_TLS_LEGACY=true (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_TLS_PORT: '0', SMTP_TLS_LEGACY: 'true' });
    await setup(g);
  });
  after(() => g?.close());

  test('a Node client pinned to TLS 1.0 completes the handshake on the implicit port; TLSv1 and its cipher are recorded', async () => {
    const r = await tryImplicit(g.gateway.smtpTls!.port, TLS10);
    assert.ok(r instanceof Smtp, `TLS 1.0 handshake failed: ${r instanceof Error ? r.message : ''}`);
    try {
      assert.equal(r.tlsSocket!.getProtocol(), 'TLSv1');
      expectReply(r.greeting, 220);
      const { source } = await deliverOver(g, r, 'legacy-implicit');
      assert.equal(source.tls?.protocol, 'TLSv1');
      assert.equal(source.tls?.cipher, r.tlsSocket!.getCipher().name);
    } finally {
      await r.quit();
    }
  });

  test('a TLS 1.0 client with STARTTLS on the plain port, then AUTH LOGIN → 235', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO old-scanner'), 250);
      const { socket } = await smtp.starttls(TLS10);
      assert.equal(socket.getProtocol(), 'TLSv1');
      expectReply(await smtp.command('EHLO old-scanner'), 250);
      const replies = await authLogin(smtp, DEVICE, DEVICE_PASSWORD);
      expectReply(replies[2]!, 235, { enhanced: ['2.7.0'] });
      const { source } = await deliverOver(g, smtp, 'legacy-starttls');
      assert.equal(source.tls?.protocol, 'TLSv1');
      assert.equal(source.authUser, DEVICE);
    } finally {
      await smtp.quit();
    }
  });

  test('a TLS 1.1 client is admitted as well', async () => {
    const r = await tryImplicit(g.gateway.smtpTls!.port, TLS11);
    assert.ok(r instanceof Smtp, `TLS 1.1 handshake failed: ${r instanceof Error ? r.message : ''}`);
    assert.equal(r.tlsSocket!.getProtocol(), 'TLSv1.1');
    await r.quit();
  });

  test('a modern client still gets TLS 1.3', async () => {
    const smtp = await Smtp.connect(g.gateway.smtpTls!.port, { tls: {} });
    assert.equal(smtp.tlsSocket!.getProtocol(), 'TLSv1.3');
    await smtp.quit();
  });

  test('openssl s_client -tls1 -cipher DEFAULT@SECLEVEL=0 delivers a scan; TLSv1 recorded', async () => {
    const subject = `openssl tls1 ${Date.now()}`;
    const s = interactive('openssl', ['s_client', '-connect', `127.0.0.1:${g.gateway.smtpTls!.port}`, '-tls1', '-cipher', 'DEFAULT@SECLEVEL=0', '-crlf', '-ign_eof', '-nocommands']);
    // the session summary s_client prints: "Protocol  : TLSv1", "Cipher    : <name>"
    await s.expect(/^\s*Protocol\s*:\s*TLSv1\s*$/m);
    const cipher = (await s.expect(/^\s*Cipher\s*:\s*(\S+)\s*$/m))[1]!;
    await s.expect(/^220 .*$/m);
    s.send('EHLO old-scanner.agency.example');
    await s.expect(/^250 .*$/m);
    s.send('MAIL FROM:<scanner@agency.example>');
    await s.expect(/^250 .*$/m);
    s.send(`RCPT TO:<${SCAN}>`);
    await s.expect(/^250 .*$/m);
    s.send('DATA');
    await s.expect(/^354 .*$/m);
    for (const line of ['From: scanner@agency.example', `Subject: ${subject}`, '', 'scanned over TLS 1.0', '.']) s.send(line);
    await s.expect(/^250 .*$/m);
    s.send('QUIT');
    await s.expect(/^221 .*$/m);
    s.end();
    await s.exited;
    const m = (await listMessages(g.db, { limit: 1000, offset: 0 })).find((x) => x.subject === subject);
    assert.ok(m, 'the message is stored');
    const source = await smtpSourceOf(g.db, m.id);
    assert.equal(source.tls?.protocol, 'TLSv1');
    assert.equal(source.tls?.cipher, cipher);
  });

  test('openssl s_client -starttls smtp -tls1 works too', async () => {
    const r = await opensslSession([String(g.gateway.smtp.port), '-starttls', 'smtp', '-tls1', '-cipher', 'DEFAULT@SECLEVEL=0'], ['EHLO old-scanner', 'NOOP', 'QUIT']);
    assert.match(r.stdout, /^\s*Protocol\s*:\s*TLSv1\s*$/m, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^250 /m, 'NOOP answered over TLS 1.0');
  });
});

describe(`TLS with a configured certificate (SMTP_TLS_CERT_FILE/SMTP_TLS_KEY_FILE) (${driver})`, () => {
  let g: G;
  let certPem: string;
  const tmp = tempDir('pe-cert-');
  before(async () => {
    const cert = path.join(tmp.dir, 'cert.pem');
    const key = path.join(tmp.dir, 'key.pem');
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test', '-days', '1', '-keyout', key, '-out', cert]);
    assert.equal(r.code, 0, r.stderr);
    certPem = readFileSync(cert, 'utf8');
    g = await dialogueGateway({ SMTP_TLS_PORT: '0', SMTP_TLS_CERT_FILE: cert, SMTP_TLS_KEY_FILE: key });
    await setup(g);
  });
  after(async () => {
    await g?.close();
    tmp.cleanup();
  });

  test('STARTTLS and the implicit port present the configured certificate (fingerprint computed from the PEM)', async () => {
    const expected = fingerprintOfDer(new X509Certificate(certPem).raw);
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      expectReply(await smtp.command('EHLO scanner'), 250);
      const { socket } = await smtp.starttls();
      assert.equal(fingerprintOfDer(socket.getPeerCertificate().raw), expected);
      assert.equal(socket.getPeerCertificate().subject.CN, 'test');
      const { source } = await deliverOver(g, smtp, 'configured-cert');
      assert.equal(source.tls?.protocol, 'TLSv1.3');
    } finally {
      await smtp.quit();
    }
    const implicit = await Smtp.connect(g.gateway.smtpTls!.port, { tls: {} });
    try {
      assert.equal(fingerprintOfDer(implicit.tlsSocket!.getPeerCertificate().raw), expected);
    } finally {
      await implicit.quit();
    }
    assert.ok(g.logs.some((l) => l.fingerprint256 === expected), 'the log shows the configured certificate\'s fingerprint');
  });

  test('the client can verify the server against that certificate as its only trust anchor', async () => {
    const smtp = await Smtp.connect(g.gateway.smtpTls!.port, { tls: { rejectUnauthorized: true, ca: certPem, checkServerIdentity: () => undefined } });
    try {
      assert.equal(smtp.tlsSocket!.authorized, true);
      expectReply(smtp.greeting, 220);
    } finally {
      await smtp.quit();
    }
  });
});
