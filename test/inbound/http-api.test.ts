/**
 * What arrives over SMTP, read back over the running gateway's HTTP API: the raw message byte for
 * byte (SMTP transparency undone, RFC 5321 §4.5.2), attachments as downloads with a safe name,
 * bearer-token protection (RFC 6750: 401 without a valid token) and the open health check.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parse as parseContentDisposition } from 'content-disposition';
import { eq } from 'drizzle-orm';
import { message } from '../../src/db/schema.js';
import { addStaff } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { driver, testGateway } from '../helpers/env.js';
import { attachmentsOf, fixture, SCAN, SCANNER_SENDER, sendRaw, setupOffice, sha256, SmtpDialogue, TAUOFFICE } from './lib.js';

describe('HTTP API over a running gateway', () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  let token: string;
  const db = () => g.gateway.ctx.db;
  const smtpPort = () => g.gateway.smtp.port;

  before(async () => {
    g = await testGateway();
    await setupOffice(db());
    await addStaff(db(), { name: 'Admin, Anna', email: 'anna.admin@agency.example', login: 'aadmin', role: 'admin' });
    token = await createToken(db(), 'aadmin', 'http-api-test');
    base = `http://127.0.0.1:${g.gateway.http.port}`;
  });
  after(async () => {
    await g.close();
  });

  const get = (p: string, auth: string | null = token) =>
    fetch(`${base}${p}`, { headers: auth === null ? {} : { Authorization: `Bearer ${auth}` } });

  /** The id of the stored message whose raw bytes are exactly `bytes` (none → the bytes were altered). */
  async function messageIdOf(bytes: Buffer): Promise<number> {
    const rows = await db().select({ id: message.id }).from(message).where(eq(message.rawSha256, sha256(bytes)));
    assert.equal(rows.length, 1, 'a message stored with exactly the bytes sent');
    return rows[0]!.id;
  }

  it('answers /healthz without a token', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    // the inbound queue of an idle gateway: empty, nothing measured yet
    assert.deepEqual(await res.json(), { status: 'ok', database: driver, queue: { depth: 0, oldestSeconds: 0, latencyP95Ms: null, retrying: 0 } });
  });

  it('returns the raw message byte for byte, with dot-stuffing undone (nodemailer as the client)', async () => {
    // lines that SMTP transparency touches, 8-bit bytes, CRLF throughout, ending with CRLF
    const sent = Buffer.concat([
      Buffer.from(
        [
          `From: "Scanner 2. OG" <${SCANNER_SENDER}>`,
          `To: ${SCAN}`,
          'Subject: Punkte am Zeilenanfang',
          'Date: Tue, 02 Mar 2021 10:00:00 +0100',
          `Message-ID: <dots-${Date.now()}@test.agency.example>`,
          'MIME-Version: 1.0',
          'Content-Type: text/plain; charset=iso-8859-1',
          'Content-Transfer-Encoding: 8bit',
          '',
          '.eine Zeile mit Punkt',
          '..zwei Punkte',
          '.',
          'Zeile nach dem einzelnen Punkt',
          '',
        ].join('\r\n'),
      ),
      Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x0d, 0x0a]), // "Grüße" in ISO-8859-1
      Buffer.from('...\r\n.\r\n'),
    ]);
    assert.deepEqual([...sent.subarray(-2)], [0x0d, 0x0a]);

    const outcome = await sendRaw(smtpPort(), { from: SCANNER_SENDER, to: [SCAN] }, sent);
    assert.equal(outcome.code, 250, outcome.response);
    const id = await messageIdOf(sent);

    const res = await get(`/api/v1/messages/${id}/raw`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'message/rfc822');
    assert.equal(res.headers.get('content-length'), String(sent.length));
    assert.equal(res.headers.get('etag'), `"${sha256(sent)}"`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, sent.length);
    assert.ok(body.equals(sent), 'raw bytes differ from the bytes sent');
  });

  it('returns the raw message byte for byte when the client does its own dot-stuffing (raw socket)', async () => {
    const sent = Buffer.from(
      [
        `From: <${SCANNER_SENDER}>`,
        `To: ${TAUOFFICE}`,
        'Subject: Transparenz',
        `Message-ID: <raw-${Date.now()}@test.agency.example>`,
        '',
        '.',
        '..',
        '. leading dot and space',
        'end.',
        '',
      ].join('\r\n'),
    );
    const { smtp } = await SmtpDialogue.open(smtpPort());
    try {
      await smtp.command('EHLO raw-client');
      assert.equal((await smtp.command(`MAIL FROM:<${SCANNER_SENDER}>`)).code, 250);
      assert.equal((await smtp.command(`RCPT TO:<${TAUOFFICE}>`)).code, 250);
      assert.equal((await smtp.command('DATA')).code, 354);
      const reply = await smtp.message(sent); // SmtpDialogue doubles leading dots and adds "." CRLF
      assert.equal(reply.code, 250, reply.text);
    } finally {
      await smtp.quit();
    }
    const id = await messageIdOf(sent);
    const body = Buffer.from(await (await get(`/api/v1/messages/${id}/raw`)).arrayBuffer());
    assert.ok(body.equals(sent), 'raw bytes differ from the bytes sent');
  });

  it('returns a scan of several MiB byte for byte', async () => {
    // larger than one stored chunk (1 MiB), so it is read back in several pieces
    const pdfLike = randomBytes(3 * 1024 * 1024 + 123);
    const b64 = pdfLike.toString('base64').replace(/.{76}/g, '$&\r\n');
    const sent = Buffer.from(
      [
        `From: "Scanner 2. OG" <${SCANNER_SENDER}>`,
        `To: ${SCAN}`,
        'Subject: Großer Scan',
        `Message-ID: <big-${Date.now()}@test.agency.example>`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b"',
        '',
        '--b',
        'Content-Type: application/pdf; name="gross.pdf"',
        'Content-Disposition: attachment; filename="gross.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        b64.endsWith('\r\n') ? b64.slice(0, -2) : b64,
        '--b--',
        '',
      ].join('\r\n'),
    );
    const outcome = await sendRaw(smtpPort(), { from: SCANNER_SENDER, to: [SCAN] }, sent);
    assert.equal(outcome.code, 250, outcome.response);
    const id = await messageIdOf(sent);

    const res = await get(`/api/v1/messages/${id}/raw`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, sent.length);
    assert.equal(sha256(body), sha256(sent));

    const [a] = await attachmentsOf(db(), id);
    assert.equal(a?.sha256, sha256(pdfLike));
    const download = await get(`/api/v1/attachments/${a!.id}`);
    assert.equal(download.status, 200);
    assert.equal(sha256(Buffer.from(await download.arrayBuffer())), sha256(pdfLike));
  });

  it('refuses /api/v1 without a valid token with 401', async () => {
    const sent = fixture('empty-from.eml');
    assert.equal((await sendRaw(smtpPort(), { from: '', to: [SCAN] }, sent)).code, 250);
    const id = await messageIdOf(sent);

    // RFC 6750 §3.1: no credentials, or an unknown token → 401
    for (const auth of [null, 'pe_not-a-token', `${token}x`]) {
      for (const p of [`/api/v1/messages/${id}/raw`, `/api/v1/messages/${id}`, '/api/v1/messages', '/api/v1/tasks']) {
        const res = await get(p, auth);
        const text = await res.text();
        assert.equal(res.status, 401, `${p} with ${JSON.stringify(auth)}`);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/);
        assert.ok(!text.includes('no sender'), 'nothing of the message is given away');
      }
    }
    // a malformed Authorization header (empty token, token without the Bearer scheme) is refused
    // too: 401, or 400 invalid_request as RFC 6750 §3.1 allows
    for (const header of ['Bearer ', token, `Basic ${Buffer.from(`x:${token}`).toString('base64')}`]) {
      const res = await fetch(`${base}/api/v1/messages/${id}/raw`, { headers: { Authorization: header } });
      const text = await res.text();
      assert.ok([400, 401].includes(res.status), `${JSON.stringify(header)} → ${res.status}`);
      assert.ok(!text.includes('no sender'), 'nothing of the message is given away');
    }

    // and with the token it works
    const ok = await get(`/api/v1/messages/${id}/raw`);
    assert.equal(ok.status, 200);
    assert.ok(Buffer.from(await ok.arrayBuffer()).equals(sent));
  });

  it('answers 404 for a message that does not exist', async () => {
    const res = await get('/api/v1/messages/987654321/raw');
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });

  it('offers an attachment with a hostile file name as a download with a safe name', async () => {
    const sent = fixture('xss-subject-and-traversal-filename.eml');
    assert.equal(sha256(sent), '963854984c2e13f1c58f35b07ec4e0827de7628b7b8f83b3b9893f501d0ac3d7');
    assert.equal((await sendRaw(smtpPort(), { from: 'attacker@example.org', to: [TAUOFFICE] }, sent)).code, 250);
    const id = await messageIdOf(sent);
    const attachments = await attachmentsOf(db(), id);
    assert.equal(attachments.length, 1);

    const res = await get(`/api/v1/attachments/${attachments[0]!.id}`);
    assert.equal(res.status, 200);
    const header = res.headers.get('content-disposition');
    assert.ok(header, 'Content-Disposition present');
    const cd = parseContentDisposition(header);
    assert.equal(cd.type, 'attachment');
    const name = cd.parameters.filename;
    assert.ok(name, header);
    // declared: ../../../../etc/cron.d/<svg onload=alert(2)>.sh
    assert.doesNotMatch(name, /[/\\]/, 'no path part');
    assert.ok(!name.includes('..'), 'no parent reference');
    assert.doesNotMatch(name, /[<>:"|?*\u0000-\u001f\u007f]/, 'no markup, no characters Windows forbids, no controls');
    assert.ok(name.includes('svg onload=alert(2)'), `the harmless rest of the name is kept: ${name}`);
    assert.ok(name.endsWith('.sh'), name);
    assert.equal(name, attachments[0]!.filename, 'downloaded under the stored name');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    // the part is base64 "aGFybWxlc3M="
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(Buffer.from('aGFybWxlc3M=', 'base64')));
    assert.equal(body.toString(), 'harmless');
  });

  it('offers an attachment with a non-ASCII name under that name (RFC 6266 filename*)', async () => {
    const sent = fixture('scanner-rfc2231-umlaut-filename.eml');
    assert.equal((await sendRaw(smtpPort(), { from: 'scanner-sozial@agency.example', to: [SCAN] }, sent)).code, 250);
    const id = await messageIdOf(sent);
    const [a] = await attachmentsOf(db(), id);
    const res = await get(`/api/v1/attachments/${a!.id}`);
    assert.equal(res.status, 200);
    const cd = parseContentDisposition(res.headers.get('content-disposition') ?? '');
    assert.equal(cd.type, 'attachment');
    assert.equal(cd.parameters.filename, 'Bescheid Müller 2021.pdf');
    assert.equal(res.headers.get('content-type'), 'application/pdf');
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, 583);
    assert.equal(sha256(body), '0758c04f4c4bdf34cd1cba62eb1aec05150115e42c3a1f478272a253b57a0003');
  });
});
