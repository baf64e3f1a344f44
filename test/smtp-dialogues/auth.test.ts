// Issue 3, item 3: SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN for device accounts,
// refused without TLS (538) unless SMTP_AUTH_ALLOW_CLEARTEXT, required with SMTP_AUTH=required
// (530), the device recorded with each message, and the CLI `device add --password-stdin`.
// Reply codes and enhanced codes are the ones RFC 4954 §4 and §6 give:
//   235 2.7.0 success · 334 challenge · 501 cancelled (`*`) · 503 second AUTH · 504 unknown mechanism
//   530 5.7.0 authentication required · 535 5.7.8 credentials invalid · 538 5.7.11 encryption required
// A device disabled or given a new password while it is connected no longer has an authentication
// in force: its next MAIL gets 530 5.7.0 (RFC 4954 §6) and the connection is closed.
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { after, before, describe, test } from 'node:test';
import { deviceAccount } from '../../src/db/schema.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { addDevice, listDevices, setDeviceActive, setDevicePassword } from '../../src/services/devices.js';
import { listMessages } from '../../src/services/messages.js';
import { driver, freshPostgresDatabase, tempDir } from '../helpers/env.js';
import {
  authLogin,
  authPlain,
  b64,
  closedWithin,
  describeRun,
  dialogueGateway,
  ehloParams,
  expectReply,
  run,
  runCli,
  scanMessage,
  Smtp,
  smtpSourceOf,
  transaction,
  messageBySha,
  sha256,
  type Run,
  swaksReplies,
  swaks as runSwaks,
} from './lib.js';

const SCAN = 'scan@agency.example';
const DEVICE = 'mfp-2og';
const PASSWORD = 'Canon-iR-ADV-4535';

type G = Awaited<ReturnType<typeof dialogueGateway>>;

/** A connection on the plain port, after EHLO and (unless `plain`) STARTTLS and EHLO again. */
async function session(g: G, opts: { plain?: boolean } = {}): Promise<Smtp> {
  const smtp = await Smtp.connect(g.gateway.smtp.port);
  expectReply(await smtp.command('EHLO mfp.agency.example'), 250);
  if (!opts.plain) {
    await smtp.starttls();
    expectReply(await smtp.command('EHLO mfp.agency.example'), 250);
  }
  return smtp;
}

async function deliver(g: G, smtp: Smtp, tag: string) {
  const bytes = scanMessage({ from: 'scanner@agency.example', to: SCAN, tag });
  const r = await transaction(smtp, { from: 'scanner@agency.example', to: [SCAN], data: bytes });
  expectReply(r.final!, 250, {}, 'end of DATA');
  const m = await messageBySha(g.db, sha256(bytes));
  assert.ok(m);
  return smtpSourceOf(g.db, m.id);
}

const OK = { enhanced: ['2.7.0'] };
const INVALID = { enhanced: ['5.7.8'], required: true };
const ENCRYPTION_REQUIRED = { enhanced: ['5.7.11'] };

const swaks = (args: string[]): Promise<Run> => runSwaks(['--server', '127.0.0.1', '--hide-informational', ...args]);

describe(`SMTP AUTH, default settings (optional, TLS required for AUTH) (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway();
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, PASSWORD);
  });
  after(() => g?.close());

  test('the password is stored as an argon2id hash only', async () => {
    const [row] = await g.db.select().from(deviceAccount).where(eq(deviceAccount.name, DEVICE));
    assert.ok(row);
    assert.match(row.passwordHash, /^\$argon2id\$/);
    assert.ok(!row.passwordHash.includes(PASSWORD));
  });

  test('EHLO before STARTTLS offers STARTTLS but not AUTH (so no device sends its password in clear); after STARTTLS AUTH PLAIN LOGIN', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      const plain = await smtp.command('EHLO mfp');
      assert.equal(ehloParams(plain, 'AUTH'), null);
      assert.notEqual(ehloParams(plain, 'STARTTLS'), null);
      await smtp.starttls();
      const ehlo = await smtp.command('EHLO mfp');
      assert.deepEqual([...(ehloParams(ehlo, 'AUTH') ?? [])].sort(), ['LOGIN', 'PLAIN']);
    } finally {
      await smtp.quit();
    }
  });

  test('AUTH LOGIN after STARTTLS → 334 Username:, 334 Password:, 235; the device is recorded and lastAuthAt set', async () => {
    const smtp = await session(g);
    try {
      const [u, p, final] = await authLogin(smtp, DEVICE, PASSWORD);
      expectReply(u!, 334);
      assert.equal(u!.lines[0], b64('Username:'));
      expectReply(p!, 334);
      assert.equal(p!.lines[0], b64('Password:'));
      expectReply(final!, 235, OK, 'AUTH LOGIN');
      const source = await deliver(g, smtp, 'auth-login');
      assert.equal(source.authUser, DEVICE);
      assert.ok(source.tls, 'TLS recorded');
      const device = (await listDevices(g.db)).find((d) => d.name === DEVICE);
      assert.ok(device?.lastAuthAt instanceof Date, 'lastAuthAt recorded');
    } finally {
      await smtp.quit();
    }
  });

  test('AUTH PLAIN with an initial response after STARTTLS → 235; device recorded', async () => {
    const smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 235, OK, 'AUTH PLAIN');
      assert.equal((await deliver(g, smtp, 'auth-plain')).authUser, DEVICE);
    } finally {
      await smtp.quit();
    }
  });

  test('AUTH PLAIN without an initial response: empty 334 challenge, then the credentials → 235', async () => {
    const smtp = await session(g);
    try {
      const challenge = await smtp.command('AUTH PLAIN');
      expectReply(challenge, 334);
      assert.equal(challenge.lines[0]!.trim(), '', 'RFC 4954 §4: an empty challenge is "334 "');
      expectReply(await smtp.command(b64(`\0${DEVICE}\0${PASSWORD}`)), 235, OK);
    } finally {
      await smtp.quit();
    }
  });

  test('the device name is matched case-insensitively and recorded as stored', async () => {
    const smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, DEVICE.toUpperCase(), PASSWORD), 235, OK);
      assert.equal((await deliver(g, smtp, 'auth-case')).authUser, DEVICE);
    } finally {
      await smtp.quit();
    }
  });

  test('wrong password → 535 5.7.8 (LOGIN and PLAIN); an unknown device gets the same answer; a retry with the right one → 235', async () => {
    // two failures per connection: the third would close it (SMTP_AUTH_MAX_FAILURES, abuse.test.ts)
    const smtp = await session(g);
    try {
      const login = await authLogin(smtp, DEVICE, 'wrong-password');
      expectReply(login[2]!, 535, INVALID, 'AUTH LOGIN wrong password');
      expectReply(await authPlain(smtp, DEVICE, 'wrong-password'), 535, INVALID, 'AUTH PLAIN wrong password');
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 235, OK, 'retry');
    } finally {
      await smtp.quit();
    }
    const again = await session(g);
    try {
      const unknown = await authPlain(again, 'no-such-device', PASSWORD);
      expectReply(unknown, 535, INVALID, 'unknown device');
      const wrong = await authPlain(again, DEVICE, 'wrong-password');
      assert.equal(unknown.lines.join(), wrong.lines.join(), 'the reply does not reveal whether the name exists');
    } finally {
      await again.quit();
    }
  });

  test('a message after a failed AUTH is not attributed to the device (authUser null)', async () => {
    const smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, DEVICE, 'wrong-password'), 535, INVALID);
      assert.equal((await deliver(g, smtp, 'after-failed-auth')).authUser, null);
    } finally {
      await smtp.quit();
    }
  });

  test('a second AUTH after success → 503 (RFC 4954 §4)', async () => {
    const smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 235, OK);
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 503, { enhanced: ['5.5.1'] });
    } finally {
      await smtp.quit();
    }
  });

  test('an unsupported mechanism → 504; "*" cancels an AUTH LOGIN exchange → 501', async () => {
    const smtp = await session(g);
    try {
      expectReply(await smtp.command('AUTH CRAM-MD5'), 504, { enhanced: ['5.5.4'] });
      expectReply(await smtp.command('AUTH LOGIN'), 334);
      expectReply(await smtp.command('*'), 501, { enhanced: ['5.0.0', '5.5.2', '5.5.4', '5.7.0'] }, 'cancelled AUTH');
      // the session goes on, unauthenticated
      expectReply(await smtp.command('NOOP'), 250);
    } finally {
      await smtp.quit();
    }
  });

  test('a disabled device cannot authenticate → 535; enabled again → 235', async () => {
    await setDeviceActive(g.db, DEVICE, false);
    try {
      const smtp = await session(g);
      try {
        expectReply(await authPlain(smtp, DEVICE, PASSWORD), 535, INVALID);
      } finally {
        await smtp.quit();
      }
    } finally {
      await setDeviceActive(g.db, DEVICE, true);
    }
    const smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 235, OK);
    } finally {
      await smtp.quit();
    }
  });

  test('AUTH LOGIN and AUTH PLAIN on the unencrypted connection → 538, before any credential is asked for', async () => {
    const smtp = await session(g, { plain: true });
    try {
      // the first reply to AUTH LOGIN is the refusal, not a 334 asking for the user name
      expectReply(await smtp.command('AUTH LOGIN'), 538, ENCRYPTION_REQUIRED, 'AUTH LOGIN in clear');
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 538, ENCRYPTION_REQUIRED, 'AUTH PLAIN in clear');
      // unauthenticated mail is still accepted (SMTP_AUTH=optional), without a device
      assert.equal((await deliver(g, smtp, 'plain-no-auth')).authUser, null);
    } finally {
      await smtp.quit();
    }
  });

  test('swaks --auth LOGIN without STARTTLS fails without ever sending AUTH (not offered in clear)', async () => {
    const r = await swaks(['--port', String(g.gateway.smtp.port), '--auth', 'LOGIN', '--auth-user', DEVICE, '--auth-password', PASSWORD, '--from', 'scanner@agency.example', '--to', SCAN]);
    assert.notEqual(r.code, 0, describeRun(r));
    assert.ok(!/^\s*-> AUTH/m.test(r.stdout), `no AUTH command sent:\n${r.stdout}`);
    assert.ok(!r.stdout.includes(Buffer.from(PASSWORD).toString('base64')), 'the password never went out');
  });
});

describe(`SMTP AUTH with SMTP_AUTH_ALLOW_CLEARTEXT=true (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_AUTH_ALLOW_CLEARTEXT: 'true' });
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, PASSWORD);
  });
  after(() => g?.close());

  test('EHLO on the plain connection offers AUTH PLAIN LOGIN (the admin allowed cleartext AUTH)', async () => {
    const smtp = await Smtp.connect(g.gateway.smtp.port);
    try {
      assert.deepEqual([...(ehloParams(await smtp.command('EHLO mfp'), 'AUTH') ?? [])].sort(), ['LOGIN', 'PLAIN']);
    } finally {
      await smtp.quit();
    }
  });

  test('AUTH LOGIN and AUTH PLAIN on the plain connection → 235; device recorded, no TLS', async () => {
    let smtp = await session(g, { plain: true });
    try {
      expectReply((await authLogin(smtp, DEVICE, PASSWORD))[2]!, 235, OK);
      const source = await deliver(g, smtp, 'cleartext-login');
      assert.equal(source.authUser, DEVICE);
      assert.equal(source.tls, null);
    } finally {
      await smtp.quit();
    }
    smtp = await session(g, { plain: true });
    try {
      expectReply(await authPlain(smtp, DEVICE, PASSWORD), 235, OK);
      assert.equal((await deliver(g, smtp, 'cleartext-plain')).authUser, DEVICE);
    } finally {
      await smtp.quit();
    }
  });

  test('a wrong password in clear → 535 5.7.8', async () => {
    const smtp = await session(g, { plain: true });
    try {
      expectReply((await authLogin(smtp, DEVICE, 'nope-nope-nope'))[2]!, 535, INVALID);
    } finally {
      await smtp.quit();
    }
  });

  test('swaks --auth LOGIN without STARTTLS → 235, 250; device recorded', async () => {
    const subject = `swaks cleartext ${Date.now()}`;
    const r = await swaks([
      '--port', String(g.gateway.smtp.port), '--auth', 'LOGIN', '--auth-user', DEVICE, '--auth-password', PASSWORD,
      '--from', 'scanner@agency.example', '--to', SCAN, '--header', `Subject: ${subject}`, '--body', 'page',
    ]);
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(swaksReplies(r.stdout).some((l) => l.startsWith('235')), r.stdout);
    const m = (await listMessages(g.db, { limit: 1000, offset: 0 })).find((x) => x.subject === subject);
    assert.ok(m);
    const source = await smtpSourceOf(g.db, m.id);
    assert.equal(source.authUser, DEVICE);
    assert.equal(source.tls, null);
  });
});

describe(`SMTP_AUTH=required (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_AUTH: 'required' });
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, PASSWORD);
  });
  after(() => g?.close());

  test('MAIL FROM without AUTH → 530 (5.7.0), on the plain and the TLS connection; nothing stored', async () => {
    for (const plain of [true, false]) {
      const smtp = await session(g, { plain });
      try {
        expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 530, { enhanced: ['5.7.0'] }, `MAIL without AUTH (${plain ? 'plain' : 'TLS'})`);
      } finally {
        await smtp.quit();
      }
    }
    assert.equal((await listMessages(g.db, { limit: 10, offset: 0 })).length, 0);
  });

  test('after AUTH the device delivers; a failed AUTH still leaves MAIL refused with 530', async () => {
    let smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, DEVICE, 'wrong-password'), 535, INVALID);
      expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 530, { enhanced: ['5.7.0'] });
    } finally {
      await smtp.quit();
    }
    smtp = await session(g);
    try {
      expectReply((await authLogin(smtp, DEVICE, PASSWORD))[2]!, 235, OK);
      assert.equal((await deliver(g, smtp, 'required-auth')).authUser, DEVICE);
    } finally {
      await smtp.quit();
    }
  });
});

describe(`an authenticated connection loses its authorization with the account (SMTP_AUTH=required) (${driver})`, () => {
  // RFC 4954 §6: 530 5.7.0 "Authentication required" for a command (MAIL) when no valid
  // authentication is in force; the gateway then closes the connection
  const REQUIRED = { enhanced: ['5.7.0'], required: true };
  const OTHER = 'mfp-1og';
  const OTHER_PASSWORD = 'Kyocera-TASKalfa-3253';
  const tmp = tempDir('pe-device-withdrawn-');
  const env: Record<string, string> = { DATA_DIR: tmp.dir };
  let drop = async () => {};
  let g: G;
  before(async () => {
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
    g = await dialogueGateway({ SMTP_AUTH: 'required', ...(env.DATABASE_URL ? { DATABASE_URL: env.DATABASE_URL } : {}) }, { dataDir: tmp.dir });
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, PASSWORD);
    await addDevice(g.db, OTHER, OTHER_PASSWORD);
  });
  after(async () => {
    await g?.close();
    await drop();
    tmp.cleanup();
  });

  async function authenticated(name: string, password: string): Promise<Smtp> {
    const smtp = await session(g);
    expectReply(await authPlain(smtp, name, password), 235, OK, `AUTH PLAIN as ${name}`);
    return smtp;
  }

  test('`device disable` (CLI) while the device is connected → its next MAIL FROM gets 530 5.7.0 and the connection is closed; nothing more is stored; another device goes on', async () => {
    const logsBefore = g.logs.length;
    const smtp = await authenticated(DEVICE, PASSWORD);
    const other = await authenticated(OTHER, OTHER_PASSWORD);
    try {
      assert.equal((await deliver(g, smtp, 'before-disable')).authUser, DEVICE);
      const disabled = await runCli(['device', 'disable', DEVICE], env);
      assert.equal(disabled.code, 0, describeRun(disabled));
      const before = (await listMessages(g.db, { limit: 100, offset: 0 })).length;

      expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 530, REQUIRED, 'MAIL after the device was disabled');
      await closedWithin(smtp, 8000, 'after the withdrawn authorization');
      assert.equal((await listMessages(g.db, { limit: 100, offset: 0 })).length, before, 'nothing stored after the disable');
      const lines = g.logs.slice(logsBefore).filter((l) => l.reason === 'auth-withdrawn');
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0]!.device, DEVICE);

      assert.equal((await deliver(g, other, 'other-device-goes-on')).authUser, OTHER, 'a device still enabled keeps delivering');
    } finally {
      smtp.destroy();
      await other.quit();
    }

    // a new connection cannot authenticate while the device is disabled; enabled again, it can
    const again = await session(g);
    try {
      expectReply(await authPlain(again, DEVICE, PASSWORD), 535, INVALID, 'AUTH of the disabled device');
    } finally {
      await again.quit();
    }
    const enabled = await runCli(['device', 'enable', DEVICE], env);
    assert.equal(enabled.code, 0, describeRun(enabled));
    const back = await authenticated(DEVICE, PASSWORD);
    try {
      assert.equal((await deliver(g, back, 'enabled-again')).authUser, DEVICE);
    } finally {
      await back.quit();
    }
  });

  test('a new password for the device withdraws the connection authenticated with the old one (530 5.7.0, closed)', async () => {
    const smtp = await authenticated(OTHER, OTHER_PASSWORD);
    try {
      assert.equal((await deliver(g, smtp, 'before-new-password')).authUser, OTHER);
      await setDevicePassword(g.db, OTHER, `${OTHER_PASSWORD}-new`);
      expectReply(await smtp.command('MAIL FROM:<scanner@agency.example>'), 530, REQUIRED, 'MAIL after the password changed');
      await closedWithin(smtp, 8000, 'after the new password');
    } finally {
      smtp.destroy();
    }
    const renewed = await authenticated(OTHER, `${OTHER_PASSWORD}-new`);
    try {
      assert.equal((await deliver(g, renewed, 'after-new-password')).authUser, OTHER);
    } finally {
      await renewed.quit();
    }
  });
});

describe(`SMTP AUTH without any TLS (SMTP_TLS_SELF_SIGNED=false, no certificate) (${driver})`, () => {
  let g: G;
  before(async () => {
    g = await dialogueGateway({ SMTP_TLS_SELF_SIGNED: 'false' });
    await addInboundAddress(g.db, SCAN, 'scanner');
    await addDevice(g.db, DEVICE, PASSWORD);
  });
  after(() => g?.close());

  test('neither STARTTLS nor AUTH is offered, so a device never sends its password in clear; AUTH is refused', async () => {
    const smtp = await session(g, { plain: true });
    try {
      const ehlo = await smtp.command('EHLO mfp');
      assert.equal(ehloParams(ehlo, 'STARTTLS'), null);
      assert.equal(ehloParams(ehlo, 'AUTH'), null, 'AUTH not advertised without TLS');
      // RFC 5321 §4.2.4: a command that is not offered gets 500/502; no 334 challenge is sent
      const reply = await authPlain(smtp, DEVICE, PASSWORD);
      assert.ok(reply.code === 500 || reply.code === 502, `got ${reply.code}`);
      const stored = await deliver(g, smtp, 'no-auth-without-tls');
      assert.equal(stored.authUser, null);
    } finally {
      await smtp.quit();
    }
  });

  test('SMTP_AUTH=required without any TLS and without cleartext AUTH: the gateway refuses to start, naming SMTP_AUTH', async () => {
    await assert.rejects(dialogueGateway({ SMTP_TLS_SELF_SIGNED: 'false', SMTP_AUTH: 'required' }), /SMTP_AUTH/);
  });
});

describe(`CLI: device add <name> --password-stdin (${driver})`, () => {
  const tmp = tempDir('pe-device-cli-');
  const env: Record<string, string> = { DATA_DIR: tmp.dir };
  let drop = async () => {};
  let g: G | undefined;
  before(async () => {
    if (driver === 'postgres') {
      const fresh = await freshPostgresDatabase();
      env.DATABASE_URL = fresh.url;
      drop = fresh.drop;
    }
  });
  after(async () => {
    await g?.close();
    await drop();
    tmp.cleanup();
  });

  test('a device added by the CLI (before the gateway runs, and while it runs) authenticates', async () => {
    const added = await runCli(['device', 'add', 'mfp', '--password-stdin'], env, `${PASSWORD}\n`);
    assert.equal(added.code, 0, describeRun(added));
    const short = await runCli(['device', 'add', 'mfp-short', '--password-stdin'], env, 'short\n');
    assert.equal(short.code, 1, describeRun(short));
    assert.match(short.stderr, /refused \(password\)/);

    g = await dialogueGateway(env.DATABASE_URL ? { DATABASE_URL: env.DATABASE_URL } : {}, { dataDir: tmp.dir });
    await addInboundAddress(g.db, SCAN, 'scanner');
    // while the gateway runs (PGlite: the CLI goes through the gateway's admin socket)
    const second = await runCli(['device', 'add', 'mfp-2', '--password-stdin'], env, `${PASSWORD}-2\n`);
    assert.equal(second.code, 0, describeRun(second));

    const list = await runCli(['device', 'list', '--json'], env);
    assert.equal(list.code, 0, describeRun(list));
    const names = (JSON.parse(list.stdout) as { name: string; active: boolean }[]).map((d) => d.name).sort();
    assert.deepEqual(names, ['mfp', 'mfp-2']);

    for (const [name, password] of [['mfp', PASSWORD], ['mfp-2', `${PASSWORD}-2`]] as const) {
      const smtp = await session(g);
      try {
        expectReply((await authLogin(smtp, name, password))[2]!, 235, OK, `AUTH LOGIN as ${name}`);
        assert.equal((await deliver(g, smtp, `cli-${name}`)).authUser, name);
      } finally {
        await smtp.quit();
      }
    }
    const smtp = await session(g);
    try {
      expectReply(await authPlain(smtp, 'mfp-short', 'short'), 535, INVALID, 'the refused device does not exist');
    } finally {
      await smtp.quit();
    }
  });
});
