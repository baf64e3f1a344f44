/**
 * Exchange misbehaviour against a scripted IMAP responder (scripted-imap.ts): a FETCH answered
 * with no data (nothing, or only the UID) and a substitute message "Retrieval using the IMAP4
 * protocol failed" are failures of that UID — recorded, never imported, never marked — and the
 * poll goes on with the next UID. Also: STARTTLS required but not offered → no LOGIN is sent.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listFailures } from '../../src/db/repositories/mailboxes.js';
import { imapAdapter, isExchangeSubstitute, uidSet } from '../../src/inbound/imap/adapter.js';
import { MailboxError, type PollReport } from '../../src/inbound/mailbox/types.js';
import { driver, testContext } from '../helpers/env.js';
import { counts, countingIngest, imapSettings, mail, pollDeps, sha256, storedHashes } from './imap-lib.js';
import { exchangeSubstitute, matchUidSet, startScriptedImap, type Behaviour, type ScriptedMessage } from './scripted-imap.js';

const NOTHING: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
const USER = 'AGENCY\\scan';
const PASSWORD = 'scan-pw';

function messages(behaviours: Behaviour[]): ScriptedMessage[] {
  return behaviours.map((behaviour, i) => ({ uid: i + 1, body: mail(i + 1, 'exchange'), behaviour, flags: new Set<string>() }));
}

describe(`IMAP adapter against a scripted Exchange (${driver})`, () => {
  test('empty FETCH, UID-only FETCH and substitute message: failures for their UIDs, the others imported; retried once Exchange recovers', async () => {
    const { ctx, close } = await testContext();
    const msgs = messages(['no-data', 'substitute', 'ok', 'uid-only', 'ok']);
    const server = await startScriptedImap(msgs, { user: USER, password: PASSWORD, uidValidity: 42 });
    try {
      const settings = imapSettings({ port: server.port, user: USER, password: PASSWORD, security: 'none', afterImport: 'seen' });
      const c = countingIngest(ctx);
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), { ...NOTHING, imported: 2, failed: 3 });
      assert.deepEqual(server.downloads, [1, 2, 3, 4, 5], 'every UID tried once, in ascending order');
      assert.equal(c.calls(), 2, 'only the two real messages reached ingest()');
      assert.deepEqual(await storedHashes(ctx), [sha256(msgs[2]!.body), sha256(msgs[4]!.body)].sort());
      assert.deepEqual(server.stores.map(([uid]) => uid), [3, 5], 'only the imported ones were marked');
      for (const [, flags] of server.stores) assert.equal(flags, '\\Seen');
      const failures = (await listFailures(ctx.db, settings.account)).sort((a, b) => a.itemKey.localeCompare(b.itemKey));
      // item key `<uidvalidity>:<uid>`, UIDVALIDITY 42 as the responder announced it
      assert.deepEqual(
        failures.map((f) => [f.itemKey, f.permanent]),
        [
          ['42:1', false],
          ['42:2', false],
          ['42:4', false],
        ],
      );
      assert.match(failures[0]!.reason, /no data/);
      assert.match(failures[1]!.reason, /Retrieval using the IMAP4 protocol failed/);
      assert.match(failures[2]!.reason, /no data/);
      // the login went out with the user name exactly as given (RFC 3501 quoted string: "\" escaped)
      assert.ok(server.commands.some((l) => /^\S+ LOGIN "AGENCY\\\\scan" /.test(l)), server.commands.join('\n'));

      // Exchange serves them now: the failed UIDs (below the checkpoint) are retried, nothing else
      for (const m of msgs) m.behaviour = 'ok';
      server.downloads.length = 0;
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), { ...NOTHING, imported: 3 });
      // UID SEARCH UID 6:* matches UID 5 (RFC 3501 §6.4.8: "*" is the largest UID in use), which was done already
      assert.ok(server.commands.some((l) => /UID SEARCH UID 6:\*/.test(l)), 'searched above the checkpoint');
      assert.deepEqual(server.downloads, [1, 2, 4]);
      assert.deepEqual(server.stores.map(([uid]) => uid), [3, 5, 1, 2, 4]);
      assert.deepEqual(await listFailures(ctx.db, settings.account), []);
      assert.deepEqual(await storedHashes(ctx), msgs.map((m) => sha256(m.body)).sort());
      assert.deepEqual(await counts(ctx), { messages: 5, tasks: 5, failures: 0 });

      server.downloads.length = 0;
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(c.ctx)), NOTHING);
      assert.deepEqual(server.downloads, []);
      assert.equal(c.calls(), 5);
    } finally {
      await server.close();
      await close();
    }
  });

  test('a failure keeps failing: counted again each poll, still never imported or marked', async () => {
    const { ctx, close } = await testContext();
    const msgs = messages(['substitute', 'ok']);
    const server = await startScriptedImap(msgs, { user: USER, password: PASSWORD });
    try {
      const settings = imapSettings({ port: server.port, user: USER, password: PASSWORD, security: 'none', afterImport: 'seen' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 1, failed: 1 });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, failed: 1 });
      const [f] = await listFailures(ctx.db, settings.account);
      assert.equal(f!.itemKey, '42:1');
      assert.equal(f!.attempts, 2);
      assert.deepEqual(server.stores.map(([uid]) => uid), [2]);
      assert.deepEqual(server.downloads, [1, 2, 1]);
      assert.deepEqual(await storedHashes(ctx), [sha256(msgs[1]!.body)]);
    } finally {
      await server.close();
      await close();
    }
  });

  test('a UID whose FETCH is refused with NO (also in the batched metadata FETCH) fails alone', async () => {
    const { ctx, close } = await testContext();
    const msgs = messages(['ok', 'refuse', 'ok']);
    const server = await startScriptedImap(msgs, { user: USER, password: PASSWORD });
    try {
      const settings = imapSettings({ port: server.port, user: USER, password: PASSWORD, security: 'none', afterImport: 'seen' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 2, failed: 1 });
      assert.deepEqual(await storedHashes(ctx), [sha256(msgs[0]!.body), sha256(msgs[2]!.body)].sort());
      assert.deepEqual(server.stores.map(([uid]) => uid), [1, 3]);
      const failures = await listFailures(ctx.db, settings.account);
      assert.deepEqual(failures.map((f) => f.itemKey), ['42:2']);
      assert.match(failures[0]!.reason, /message set is invalid/);
    } finally {
      await server.close();
      await close();
    }
  });

  test('after-import action refused (CREATE of the move target): stored once, recorded, retried on the next poll', async () => {
    const { ctx, close } = await testContext();
    const msgs = messages(['ok']);
    const server = await startScriptedImap(msgs, { user: USER, password: PASSWORD });
    try {
      const settings = imapSettings({ port: server.port, user: USER, password: PASSWORD, security: 'none', afterImport: 'move:Erledigt' });
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, imported: 1 });
      let failures = await listFailures(ctx.db, settings.account);
      assert.deepEqual(failures.map((f) => [f.itemKey, f.permanent]), [['42:1', false]]);
      assert.match(failures[0]!.reason, /after-import action "move:Erledigt" failed/);
      assert.equal(server.commands.some((l) => /MOVE|COPY|STORE|EXPUNGE/i.test(l)), false, 'the message was not touched');
      // the next poll reads it again: a recognised duplicate, and the action is tried again
      assert.deepEqual(await imapAdapter.poll(settings, pollDeps(ctx)), { ...NOTHING, duplicates: 1 });
      failures = await listFailures(ctx.db, settings.account);
      assert.equal(failures[0]!.attempts, 2);
      assert.deepEqual(await counts(ctx), { messages: 1, tasks: 1, failures: 1 });
    } finally {
      await server.close();
      await close();
    }
  });

  test('STARTTLS required but not offered: step tls fails and no LOGIN is sent', async () => {
    const { ctx, close } = await testContext();
    const server = await startScriptedImap(messages(['ok']), { user: USER, password: PASSWORD, capabilities: ['UIDPLUS'] });
    try {
      const settings = imapSettings({ port: server.port, user: USER, password: PASSWORD, security: 'starttls' });
      const steps = await imapAdapter.test(settings, pollDeps(ctx));
      assert.deepEqual(
        steps.map((s) => [s.step, s.ok]),
        [
          ['connect', true],
          ['tls', false],
        ],
      );
      assert.match(steps[1]!.detail, /STARTTLS/);
      await assert.rejects(imapAdapter.poll(settings, pollDeps(ctx)), (err: unknown) => err instanceof MailboxError && err.step === 'tls');
      assert.equal(server.commands.some((l) => /LOGIN|AUTHENTICATE/i.test(l)), false, server.commands.join('\n'));
      assert.deepEqual(await counts(ctx), { messages: 0, tasks: 0, failures: 0 });
    } finally {
      await server.close();
      await close();
    }
  });

  test('helpers: substitute detection and UID sets', () => {
    assert.equal(isExchangeSubstitute(exchangeSubstitute(7)), true);
    assert.equal(isExchangeSubstitute(mail(1, 'x')), false);
    // a folded Subject (RFC 5322 §2.2.3) still counts
    assert.equal(isExchangeSubstitute(Buffer.from('From: "Microsoft Exchange Server"\r\nSubject: Retrieval using the IMAP4\r\n protocol failed for the following message: 3\r\n\r\nx')), true);
    // the subject alone, from someone else, is an ordinary message
    assert.equal(isExchangeSubstitute(Buffer.from('From: anna@agency.example\r\nSubject: Retrieval using the IMAP4 protocol failed\r\n\r\nx')), false);
    assert.equal(uidSet([1, 2, 3, 7, 9, 10]), '1:3,7,9:10');
    assert.equal(uidSet([5]), '5');
    // the responder's own reading of RFC 3501 "n:*"
    assert.deepEqual(matchUidSet('6:*', [1, 2, 5]), [5]);
  });
});
