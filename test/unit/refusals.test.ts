// The admin's German for the services' English refusals (views/i18n/refusals.ts): real service
// errors thrown on a test database and turned into German, the English page left as it is, an
// unknown message kept, and no English left in the German of every known message.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { localizeRefusal } from '../../views/i18n/refusals.js';
import { addActivityType } from '../../src/services/activity-types.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { ForbiddenError, NotFoundError, uniqueViolation, ValidationError } from '../../src/services/errors.js';
import { setMailbox } from '../../src/services/mailboxes.js';
import { setSmtpAccount, testSmtpAccount } from '../../src/services/smtp-account.js';
import { addMapping, addStaff, setStaffPassword } from '../../src/services/staff.js';
import { completeTask, getTask } from '../../src/services/task-actions.js';
import { openTaskListQuery, parseTaskListQuery } from '../../src/services/task-list.js';
import { describeMailboxError } from '../../src/inbound/mailbox/connection.js';
import { describeImapError } from '../../src/inbound/imap/client.js';
import { testContext } from '../helpers/env.js';

/** The message of what `work` throws (it must throw one of the service errors). */
async function refusal(work: () => unknown): Promise<string> {
  try {
    await work();
  } catch (err) {
    assert.ok(err instanceof ValidationError || err instanceof NotFoundError || err instanceof ForbiddenError, `a service error, not ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a refusal');
}

const de = (message: string) => localizeRefusal(message, 'de');

describe('refusals from the real services, in German', () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
    await addStaff(env.ctx.db, { name: 'Weiß, Susi', email: 'susi.weiss@rathaus.example', login: 'sweiss' });
    await addStaff(env.ctx.db, { name: 'Müller, Hans', email: 'hans.mueller@rathaus.example', external: true });
  });
  after(() => env.close());

  test('staff: e-mail address, duplicate, external with login, short password', async () => {
    const { db } = env.ctx;
    const bad = await refusal(() => addStaff(db, { name: 'Test, Tina', email: 'kein-email' }));
    assert.equal(bad, '"kein-email" is not an e-mail address', 'the service itself stays English');
    assert.equal(de(bad), '„kein-email“ ist keine E-Mail-Adresse');
    assert.equal(localizeRefusal(bad, 'en'), bad);

    const dup = await refusal(() => addStaff(db, { name: 'Weiss, Susanne', email: 'Susi.Weiss@rathaus.example' }));
    assert.equal(de(dup), 'susi.weiss@rathaus.example gehört bereits zur aktiven Mitarbeiter*in „Weiß, Susi“');

    const ext = await refusal(() => addStaff(db, { name: 'Extern, Eva', email: 'eva@extern.example', login: 'eva', external: true }));
    assert.equal(de(ext), 'Eine externe Person hat keinen Anmeldenamen (keine Lizenz)');

    const short = await refusal(() => setStaffPassword(db, 'sweiss', 'kurz'));
    assert.equal(de(short), 'muss mindestens 10 Zeichen lang sein');

    const nobody = await refusal(() => setStaffPassword(db, '', 'lang-genug-123'));
    assert.equal(de(nobody), 'Keine Mitarbeiter*in hat den Anmeldenamen „“');
  });

  test('mappings: no CLI advice on the page', async () => {
    const { db } = env.ctx;
    await addMapping(db, 'hans.mueller@rathaus.example', 'sweiss');
    const twice = await refusal(() => addMapping(db, 'hans.mueller@rathaus.example', 'sweiss'));
    assert.equal(de(twice), 'hans.mueller@rathaus.example ist bereits „Weiß, Susi“ zugeordnet');
    const stranger = await refusal(() => addMapping(db, 'unbekannt@extern.example', 'sweiss'));
    assert.match(stranger, /staff add, with --external/);
    assert.equal(
      de(stranger),
      'unbekannt@extern.example ist keine E-Mail-Adresse einer aktuellen Mitarbeiter*in; legen Sie die Absender*in zuerst unter Mitarbeiter*innen an (extern, ohne Anmeldung)',
    );
    const noLogin = await refusal(() => addMapping(db, 'susi.weiss@rathaus.example', 'hans.mueller'));
    assert.equal(de(noLogin), 'Keine Mitarbeiter*in hat den Anmeldenamen „hans.mueller“');
  });

  test('tasks: not found, not allowed, filter', async () => {
    const { db } = env.ctx;
    const missing = await refusal(() => getTask(db, { id: null, role: 'admin' }, 3));
    assert.equal(de(missing), 'Es gibt keinen Vorgang 3');
    const gone = await refusal(() => completeTask(db, { id: 999, role: 'staff' }, 7));
    assert.equal(de(gone), 'Es gibt keinen Vorgang 7');
    // as task-actions.ts builds it for someone else's task (needs a routed task; the text is the source's)
    const forbidden = new ForbiddenError(`only the assignee or an admin may complete task ${1}`).message;
    assert.equal(de(forbidden), 'Nur die zuständige Mitarbeiter*in oder die Administration darf Vorgang 1 erledigen');

    const status = await refusal(() => parseTaskListQuery(openTaskListQuery, { status: 'foo' }));
    assert.equal(de(status), '„foo“ ist kein Status eines offenen Vorgangs; möglich sind: open, unassigned');
    const days = await refusal(() => parseTaskListQuery(openTaskListQuery, { olderThanDays: '0' }));
    assert.equal(de(days), 'mindestens 1 Tag');
  });

  test('settings: mailbox, SMTP account, inbound address, activity type', async () => {
    const { ctx } = env;
    const host = await refusal(() => setMailbox(ctx, 'scanner', { protocol: 'imap', host: 'mail .rathaus.example', port: '993', security: 'tls', username: 'u', password: 'p' }));
    assert.equal(de(host), '„mail .rathaus.example“ ist weder ein Hostname noch eine IP-Adresse');
    const port = await refusal(() => setSmtpAccount(ctx, { host: 'mail.rathaus.example', port: 'abc', security: 'starttls', auth: 'none', fromAddress: 'post@rathaus.example' }));
    assert.equal(de(port), '„abc“ ist kein Port (1–65535)');
    const action = await refusal(() =>
      setMailbox(ctx, 'scanner', { protocol: 'imap', host: 'mail.rathaus.example', port: '993', security: 'tls', username: 'u', password: 'p', afterImport: 'wegwerfen' }),
    );
    assert.equal(de(action), '„wegwerfen“ ist keine Aktion nach dem Einlesen für IMAP; möglich sind seen, move:<Ordner>, delete oder keep');

    await addInboundAddress(ctx.db, 'scan@rathaus.example', 'scanner');
    const address = await refusal(() => addInboundAddress(ctx.db, 'scan@rathaus.example', 'general'));
    assert.equal(de(address), 'scan@rathaus.example ist bereits eine Empfangsadresse des Kanals „Empfang per Scanner“');

    await addActivityType(ctx.db, 'Widerspruch');
    const type = await refusal(() => addActivityType(ctx.db, 'widerspruch'));
    assert.equal(de(type), 'Eine Tätigkeit namens „Widerspruch“ gibt es bereits');
    const empty = await refusal(() => addActivityType(ctx.db, '  '));
    assert.equal(de(empty), 'Eine Tätigkeit braucht einen Namen');

    const noAccount = await refusal(() => testSmtpAccount(ctx, 'pruefung@rathaus.example'));
    assert.equal(de(noAccount), 'Es ist kein Versandkonto eingerichtet; richten Sie es unter Einstellungen → Versand ein');
  });

  test('a unique-index race in plain words', () => {
    const err = uniqueViolation({ code: '23505', constraint_name: 'staff_login_idx' })!;
    assert.equal(de(err.message), 'Dieser Wert (login) ist bereits vergeben (jemand hat im selben Moment denselben Wert gespeichert)');
  });
});

describe('connection tests, in German', () => {
  test('the mailbox error describers; library and server words stay verbatim', () => {
    assert.equal(de(describeMailboxError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'connect').message), 'Verbindung abgelehnt: Auf diesem Host und Port nimmt niemand Verbindungen an');
    const handshake = describeMailboxError({ message: 'C0B6:error:0A00010B:SSL routines:ssl3_get_record:wrong version number' }, 'tls').message;
    assert.equal(
      de(handshake),
      'TLS-Handshake fehlgeschlagen (C0B6:error:0A00010B:SSL routines:ssl3_get_record:wrong version number); prüfen Sie Port und Verschlüsselung oder erlauben Sie TLS 1.0/1.1 für einen alten Server',
    );
    const greeting = describeImapError({ message: 'Failed to receive greeting from server in required time. Maybe should use TLS?', code: 'GREETING_TIMEOUT' }, 'connect').message;
    assert.equal(de(greeting), 'Keine Begrüßung vom Server in der vorgesehenen Zeit: Ist das ein TLS-Port? Prüfen Sie Port und Verschlüsselung');
    assert.equal(de(describeMailboxError({ authenticationFailed: true, message: 'Command failed' }, 'login').message), 'Anmeldung fehlgeschlagen: Benutzername oder Passwort falsch');
  });

  test('step details, and the stored last error with its step', () => {
    assert.equal(de('connected to 127.0.0.1:12525'), 'verbunden mit 127.0.0.1:12525');
    assert.equal(de('skipped: security none (unencrypted)'), 'übersprungen: Verschlüsselung „keine“ (unverschlüsselt)');
    assert.equal(de('accepted: 250 2.0.0 Ok: queued as 4F2'), 'angenommen: 250 2.0.0 Ok: queued as 4F2');
    assert.equal(de('STARTTLS established (TLSv1.3, TLS_AES_256_GCM_SHA384), certificate verified'), 'STARTTLS aufgebaut (TLSv1.3, TLS_AES_256_GCM_SHA384), Zertifikat geprüft');
    assert.equal(de('INBOX: 1 messages, UIDVALIDITY 17'), 'INBOX: 1 Nachricht, UIDVALIDITY 17');
    assert.equal(de('login: login failed: user name or password wrong'), 'Anmeldung: Anmeldung fehlgeschlagen: Benutzername oder Passwort falsch');
    assert.equal(
      de('the server refused the message: 550 5.7.1 Relaying denied for this sender'),
      'Der Server hat die Nachricht abgelehnt: 550 5.7.1 Relaying denied for this sender',
    );
    assert.equal(de('cannot connect to mail.rathaus.example:587: connection refused'), 'Verbindung zu mail.rathaus.example:587 nicht möglich: Verbindung abgelehnt');
  });

  test('an unknown message stays English, never lost; English pages are untouched', () => {
    assert.equal(de('something nobody has translated yet'), 'something nobody has translated yet');
    assert.equal(localizeRefusal('connection refused: nothing listens on that host and port', 'en'), 'connection refused: nothing listens on that host and port');
  });
});

/**
 * Every message the services, the mailbox and SMTP tests and the admin routes produce, as their
 * source builds it (sample values in place of the variables).
 */
const KNOWN = [
  // validate.ts, compose.ts, errors.ts, devices.ts
  '"kein-email" is not an e-mail address',
  '"foo" is not a channel; use one of: general, scanner',
  '"foo" is not one of: none, plain, login',
  '"2024-13-01" is not a date (YYYY-MM-DD)',
  'must have at least 10 characters',
  'must be one line',
  'must not be empty',
  'must not contain a line break (CR or LF)',
  'is required',
  'is not base64',
  'expected addresses as text',
  '"Hans" has no e-mail address',
  '"localhost:2525" contains a port: give the host (localhost) here and the port (2525) in the port field',
  'a user name is only used with authentication plain or login; choose one (auth) or leave it out',
  'a password is only used with authentication plain or login; choose one (auth) or leave it out',
  '"Bcc:" makes a group of the addresses after it (RFC 5322 group syntax), which is not accepted; separate addresses with commas',
  '"a@b.example" stands where a name belongs (before <c@d.example>); separate addresses with commas, or put the name in quotes',
  'at least one address is required',
  'at least one recipient is required',
  'this login is already taken (someone saved the same value at the same moment)',
  '"a b" is not a device name (letters, digits, . _ @ \\ -, at most 64)',
  'a device named "mfp" exists',
  'no device named "mfp"',
  // staff.ts, staff-lifecycle.ts, tokens.ts, claims.ts
  '"a b" is not a login name (letters, digits, . _ @ \\ -, at most 64)',
  'the login "sweiss" is taken',
  'a name is required ("Nachname, Vorname")',
  'a name has at most 200 characters',
  'a name may not contain line breaks or other control characters',
  'susi.weiss@rathaus.example already belongs to the active staff record "Weiß, Susi"',
  'an external person has no login (no licence)',
  'an external person has no login (no licence); remove the login (login: null)',
  '"boss" is not a role; use admin or staff',
  'an admin needs a login',
  'only staff with a login can take part in mail import',
  'no staff member has the login or active e-mail "x"',
  'no staff member has the login ""',
  'no staff member with id 7',
  'no staff member has the id 7',
  'no activity type has the id 7',
  'no mapping has the id 7',
  '"Weiß, Susi" is not active',
  '"Weiß, Susi" is already inactive',
  '"Müller, Hans" has no login: only staff with a login receive tasks',
  '"Müller, Hans" has no login to set a password for',
  '"Müller, Hans" has no login',
  '"Weiß, Susi" lacks the permission mail.import ("E-Mails automatisch einlesen")',
  'unbekannt@extern.example is not the e-mail address of an active staff record; add the sender first (staff add, with --external for people without a login)',
  'hans.mueller@rathaus.example is already mapped to "Weiß, Susi"',
  'you cannot deactivate yourself',
  'you cannot take away your own admin role',
  'a password needs a login name',
  'post@amt.example is not mapped to any active staff member with the permission mail.import; add a mapping first',
  'a token named "ci" exists',
  'no token named "ci"',
  // task-actions.ts, task-list.ts, messages.ts
  'no task with id 3',
  'only the assignee or an admin may complete task 1',
  'only the assignee or an admin may reopen task 1',
  'only the assignee or an admin may forward task 1',
  'only an admin may assign tasks by hand',
  'only admins may do this',
  'task 1 is already completed',
  'task 1 has been taken by someone else meanwhile',
  'task 1 is not open (status completed)',
  'task 1 is not completed (status open)',
  'task 1 is completed; reopen it first',
  'task 1 is in the unassigned queue; an admin assigns it (assign)',
  'task 1 is already assigned to "Weiß, Susi"',
  'task 1 is not in the unassigned queue (status open); forward it instead',
  '"foo" is not a parameter of the task list',
  '"gestern" is not a date (YYYY-MM-DD) or a date-time with a zone (2024-03-01T08:00:00+01:00)',
  '"foo" is not the status of an open task; use one of: open, unassigned',
  '"1.5" is not a whole number of days',
  'at least 1 day',
  'at most 36500 days',
  'at least 1',
  'at most 1000',
  'expected a number of days',
  'expected a whole number',
  'expected the name of an activity type',
  'expected a login, or none',
  'expected a part of the sender address or name',
  'expected an e-mail address',
  'expected the login of the staff member who gets the task',
  '"foo" is not a sort column; use one of: id, created',
  '"up" is not an order; use asc or desc',
  '"ja" is not true or false',
  'createdTo (2024-01-01) is before createdFrom (2024-02-01)',
  'no activity type is named "Widerspruch"',
  'no message with id 4',
  'the raw bytes of message 4 are missing',
  'no attachment with id 4',
  'the content of attachment 4 is missing',
  // activity-types.ts, settings.ts, admin routes
  'an activity type needs a name',
  '"Sehr langer Name" is longer than 100 characters',
  'an activity type name cannot contain control characters',
  'an activity type named "Widerspruch" exists',
  '"0" is not a whole number of minutes between 1 and 1440',
  'nothing to change: give activityType, autoImport, pollIntervalMinutes or autoComplete',
  'there is no channel foo; use general or scanner',
  '"x" is not a message number',
  // addresses.ts, mailboxes.ts, ca-file.ts
  'scan@rathaus.example is already an inbound address of channel scanner',
  'scan@rathaus.example is not an inbound address of this channel',
  'scan@rathaus.example is not an inbound address',
  '"wegwerfen" is not an after-import action for POP3; use delete or keep',
  '"wegwerfen" is not an after-import action for IMAP; use seen, move:<folder>, delete or keep',
  'a new mailbox needs a protocol: imap or pop3',
  '"smtp" is not imap or pop3',
  '"ssl" is not tls, starttls or none',
  'a host name or address is required',
  '"mail .rathaus.example" is not a host name or IP address',
  '"abc" is not a port (1–65535)',
  'a user name is required',
  'a new mailbox needs a password',
  'POP3 has no folders: the server hands out the one mailbox of the user; leave the folder out',
  '"move:INBOX" moves each message into the folder being polled (INBOX), so it would be read again and again; choose another folder',
  'channel scanner has no mailbox; set one with: mailbox set scanner --protocol …',
  '/etc/ssl/intranet.pem does not exist',
  '/etc/ssl/intranet.pem is not a PEM certificate',
  // smtp-account.ts, outbox.ts
  'authentication plain needs a user name',
  'authentication plain needs a password (--password-stdin)',
  'a sender address is required',
  'exactly one sender address is required',
  'no SMTP account is set; set one with: smtp set --host … --from …',
  'the CA file /etc/ssl/ca.pem cannot be read (ENOENT); set it again with --ca-file',
  '"pdf" is not a content type such as application/pdf',
  'the message would be 60000000 bytes, more than SMTP_MAX_MESSAGE_BYTES (52428800)',
  'the message of task 5 is missing',
  'no automatic reply to message 5: it is auto-generated mail (RFC 3834); a person may still reply',
  'message 5 has no sender address to reply to',
  'no outbox message with id 5',
  'message 5 is sent; only failed messages can be retried',
  'the stored message abc123 is missing',
  // csv-import.ts
  '"latin9" is not an encoding; use one of: auto, utf-8, windows-1252',
  'the file is not valid UTF-8 (line 3); a German Excel export is Windows-1252: use --encoding windows-1252 or auto',
  'the file is empty: expected a header line and rows',
  'line 1: unknown column "Foo"; the columns are: Von, An',
  'line 1: the column "Von" appears twice',
  'line 1: missing columns "Von", "An"',
  'line 1: missing column "An"',
  'line 4: "vielleicht" is not yes or no (ja/nein, yes/no, wahr/falsch, 1/0, x or empty)',
  // mailbox describers (connection.ts, imap/client.ts, imap/adapter.ts, pop3/adapter.ts, pop3/client.ts)
  'connection refused: nothing listens on that host and port',
  'host name not found (DNS)',
  'host unreachable',
  'timeout: the server did not answer in time',
  "TLS: the server's certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT); give the CA file of your intranet CA",
  'TLS handshake failed (C0B6:error:0A00010B:SSL routines:ssl3_get_record:wrong version number); check the port and security mode, or allow TLS 1.0/1.1 for an old server',
  'login failed: user name or password wrong',
  'login failed: user name or password wrong (the server said: [AUTH] Authentication failed.)',
  'folder missing on the server',
  'the server closed the connection',
  'the connection was closed',
  'unknown error',
  'fetch: database error: the database system is shutting down (57P03)',
  'the server does not offer STARTTLS: refusing to send the password in cleartext; use security tls, or none only inside a trusted network',
  'STARTTLS failed: the server sent data before the TLS handshake (possible attack)',
  'the server refuses logins over this connection (LOGINDISABLED): use security tls or starttls',
  'the server refused UID SEARCH',
  'the server refused STATUS',
  'the server returned no data for the newest message',
  'the mailbox is in use by another client (the server said: [IN-USE] locked)',
  'the server allows no new login yet (LOGIN-DELAY) (the server said: [LOGIN-DELAY] wait)',
  'the server failed to open the mailbox (the server said: [SYS/TEMP] disk)',
  'the server refuses a login without TLS; use security starttls or tls (the server said: Plaintext authentication disallowed)',
  'the server refused the connection (it said: too many connections)',
  'no greeting from the server (timeout): is this a TLS port? check the port and the security mode',
  'the server does not offer STARTTLS (STLS answered: unknown command)',
  'the server cannot open the mailbox (STAT: locked)',
  'the server refused: -ERR nope',
  'the user name or password contains a line break',
  'the server sent data before the TLS handshake',
  'the server sent data nobody asked for',
  'the server sent a status line longer than 8 KiB',
  'unexpected answer to STAT: +OK what',
  'Failed to receive greeting from server in required time. Maybe should use TLS?',
  'Failed to receive greeting from server in required time',
  // mailbox test steps that succeeded
  '127.0.0.1:993 answered',
  'connected to 127.0.0.1:995',
  'no TLS (security none)',
  'TLS established, certificate verified',
  'no TLS (security none): the password travels in cleartext',
  'no TLS (security none): the password crosses the network unencrypted',
  'STARTTLS established (TLSv1.3, TLS_AES_256_GCM_SHA384), certificate verified',
  'TLS established (TLSv1.3, TLS_AES_256_GCM_SHA384), certificate verified',
  'implicit TLS (TLSv1.3), certificate verified',
  'STARTTLS (TLSv1.3), certificate verified',
  'logged in as scan',
  'INBOX: 3 messages, UIDVALIDITY 1700000000',
  'the folder is empty; STATUS works',
  'newest message: UID 3, 1234 bytes',
  '2 message(s), 4096 bytes',
  'UIDL lists 2 message(s); the header of message 1 was read',
  'UIDL lists 2 message(s); the server has no TOP (import-since cannot be applied)',
  'the server has no UIDL (messages are deduplicated by content); LIST lists 2 message(s)',
  // the stored last poll error: "<step>: <message>"
  'connect: connection refused: nothing listens on that host and port',
  'fetch: the server closed the connection',
  // SMTP test mail and outbox (transport.ts)
  'no answer from mail.rathaus.example:587 in time (connect)',
  'cannot connect to mail.rathaus.example:587: connection refused',
  'cannot connect to mail.rathaus.example:587: host name not found',
  'cannot connect to mail.rathaus.example:587: host unreachable',
  'TLS with mail.rathaus.example:587 failed: the server certificate is not signed by a trusted CA (set the CA file of the intranet CA)',
  'TLS with mail.rathaus.example:587 failed: the server certificate is for another host name',
  'TLS with mail.rathaus.example:587 failed: the server certificate has expired',
  'TLS with mail.rathaus.example:587 failed: no common TLS version or cipher (an old server may need TLS legacy mode)',
  'TLS with mail.rathaus.example:587 failed: the server does not offer STARTTLS',
  'TLS with mail.rathaus.example:587 failed: the server did not answer in TLS: this port speaks plain SMTP; choose STARTTLS (port 587) or the implicit-TLS port (465)',
  'no answer from mail.rathaus.example:465 in time (connect); the server sent no greeting: if this is an implicit-TLS port (465), choose security TLS',
  'the server refused the login: 535 5.7.8 Error: authentication failed',
  'the server deferred the message: 451 4.3.0 try later',
  'the server refused the message: 550 5.7.1 Relaying denied',
  'sending was interrupted (gateway stopping)',
  'skipped: security none (unencrypted)',
  'skipped: no authentication',
  'implicit TLS, TLSv1.3',
  'logged in as post@rathaus.example (PLAIN)',
  'accepted: 250 2.0.0 Ok: queued as 4F2',
];

/** English that must not survive in German (server replies in the samples avoid these words). */
const ENGLISH = /\b(is not|isn't|already|must|the|not|of|to|with|and|has|have|does|no (?:staff|task|message|mapping)|only|cannot|needs?|required|refused|failed|expected|exists|missing|unknown|use|give|set one|add|line \d|messages?|logged in|connected|answered|skipped|accepted|established|certificate|folder|password|user name)\b/i;
/** Words the German output may contain verbatim because they are values or protocol names. */
const VALUES = /(Datenbankfehler: .*$|mail\.import|move:<Ordner>|--?[a-z-]+|"[^"]*"|„[^“]*“|\([^)]*(?:server said|said|answered|STAT|STLS)[^)]*\)|: [-+]?[0-9]{3}.*$|: [+-](?:OK|ERR).*$|\[[A-Z/-]+\][^)]*|SMTP_MAX_MESSAGE_BYTES|UIDVALIDITY|UIDL|LIST|TOP|STATUS|UID SEARCH|LOGINDISABLED|LOGIN-DELAY|STARTTLS|TLS_[A-Z0-9_]+|TLSv[0-9.]+|PLAIN|C0B6:[^)]*|DEPTH_ZERO_SELF_SIGNED_CERT|ENOENT|\/[\w./-]+|[\w.+-]+@[\w.-]+|asc|desc|general|scanner|open|unassigned|true|false|seen|delete|keep|imap|pop3|tls|starttls|none|admin|staff|auto|utf-8|windows-1252|yes\/no|x oder leer)/g;

describe('every known message has German without English left in it', () => {
  test('each one is translated', () => {
    const untranslated = KNOWN.filter((m) => de(m) === m);
    assert.deepEqual(untranslated, []);
  });

  test('no English words left once the values are taken out', () => {
    const leftovers = KNOWN.map((m) => [m, de(m), de(m).replace(VALUES, ' ')] as const).filter(([, , rest]) => ENGLISH.test(rest));
    assert.deepEqual(
      leftovers.map(([m, out]) => `${m}  →  ${out}`),
      [],
    );
  });

  test('no CLI advice in German', () => {
    for (const m of KNOWN) assert.doesNotMatch(de(m), /--(?:external|password-stdin|ca-file|encoding)|\b(?:staff add|smtp set|mailbox set)\b/, m);
  });

  test('English returns every message unchanged, except that CLI advice becomes the admin\'s words', () => {
    const cliAdvice = /--(?:external|password-stdin|ca-file)|\b(?:staff add|smtp set)\b/;
    for (const m of KNOWN) {
      if (cliAdvice.test(m)) assert.doesNotMatch(localizeRefusal(m, 'en'), cliAdvice, m);
      else assert.equal(localizeRefusal(m, 'en'), m);
    }
    assert.equal(
      localizeRefusal('fremd@extern.example is not the e-mail address of an active staff record; add the sender first (staff add, with --external for people without a login)', 'en'),
      'fremd@extern.example is not the e-mail address of an active staff record; add the sender first under Staff (as an external person if without a login)',
    );
  });
});
