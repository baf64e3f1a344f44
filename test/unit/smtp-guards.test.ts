// The receiver's small guards, without a network: which MAIL/RCPT parameters the advertised
// extensions (EHLO keywords) define (RFC 5321 §4.1.1.11), the per-connection AUTH failure tally (RFC 4954 §14),
// and the domain look-up behind postmaster@<domain> (RFC 5321 §4.5.1) on the suite's driver.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { AuthFailureTally } from '../../src/inbound/smtp/auth-guard.js';
import { RefusalLog, type RefusalReport } from '../../src/inbound/smtp/connection-refusals.js';
import { allowedParameters, unknownParameters } from '../../src/inbound/smtp/esmtp-parameters.js';
import { isInboundDomain } from '../../src/inbound/smtp/recipients.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { testContext } from '../helpers/env.js';

test('parameters per advertised EHLO keyword: SIZE (RFC 1870), BODY (8BITMIME, RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461), REQUIRETLS (RFC 8689), AUTH (RFC 4954 §5)', () => {
  const all = allowedParameters(new Set(['PIPELINING', 'SIZE', '8BITMIME', 'SMTPUTF8', 'DSN', 'REQUIRETLS', 'AUTH', 'STARTTLS']));
  assert.deepEqual([...all.mail].sort(), ['AUTH', 'BODY', 'ENVID', 'REQUIRETLS', 'RET', 'SIZE', 'SMTPUTF8']);
  assert.deepEqual([...all.rcpt].sort(), ['NOTIFY', 'ORCPT']);
  // after HELO nothing is offered (RFC 5321 §4.1.1.1), nor by keywords that define no parameter
  for (const offer of [new Set<string>(), new Set(['PIPELINING', 'STARTTLS', 'ENHANCEDSTATUSCODES'])]) {
    const none = allowedParameters(offer);
    assert.deepEqual([...none.mail], []);
    assert.deepEqual([...none.rcpt], []);
  }
});

test('unknownParameters names what is not allowed, in the order given', () => {
  // a plaintext EHLO reply without AUTH (offered only over TLS)
  const { mail, rcpt } = allowedParameters(new Set(['SIZE', '8BITMIME', 'SMTPUTF8', 'STARTTLS']));
  assert.deepEqual(unknownParameters(false, mail), []);
  assert.deepEqual(unknownParameters({ SIZE: '10', BODY: '8BITMIME', SMTPUTF8: true }, mail), []);
  assert.deepEqual(unknownParameters({ SIZE: '10', XFOO: '1', AUTH: '<>' }, mail), ['XFOO', 'AUTH']);
  assert.deepEqual(unknownParameters({ NOTIFY: 'NEVER' }, rcpt), ['NOTIFY']);
});

test('AuthFailureTally: the max-th failure closes; names counted, cut and capped; no failure → no summary', () => {
  const tally = new AuthFailureTally(3);
  assert.equal(tally.summary(), null);
  assert.equal(tally.fail('mfp'), false);
  assert.equal(tally.fail('mfp'), false);
  assert.equal(tally.fail('x'.repeat(500)), true);
  assert.deepEqual(tally.summary(), { failures: 3, logins: { mfp: 2, ['x'.repeat(64)]: 1 }, otherLogins: 0, closedAtLimit: true });
  const many = new AuthFailureTally(100);
  for (let i = 0; i < 12; i++) many.fail(`user${i}`);
  const s = many.summary()!;
  assert.equal(s.failures, 12);
  assert.equal(Object.keys(s.logins).length, 10);
  assert.equal(s.otherLogins, 2);
  assert.equal(s.closedAtLimit, false);
});

test('RefusalLog: the first refusal per address and reason at once, then one line per window with the count; quiet addresses start over; addresses past the cap summed up together', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const lines: RefusalReport[] = [];
    const refusals = new RefusalLog((r) => lines.push(r), 60_000, 2);
    const brief = () => lines.splice(0).map((l) => `${l.reason} ${l.peer} ${l.refused}${l.first ? ' first' : ''}`);
    for (let i = 0; i < 30; i++) refusals.refused('10.0.0.1', 'per-address-limit');
    refusals.refused('10.0.0.1', 'connection-limit');
    assert.deepEqual(brief(), ['per-address-limit 10.0.0.1 1 first', 'connection-limit 10.0.0.1 1 first'], 'one line per address and reason while the window runs');
    // two addresses are tracked; a third is counted with every other untracked one
    refusals.refused('10.0.0.2', 'per-address-limit');
    refusals.refused('10.0.0.2', 'per-address-limit');
    assert.deepEqual(brief(), []);
    mock.timers.tick(60_000);
    assert.deepEqual(brief(), ['per-address-limit 10.0.0.1 29', 'per-address-limit null 2']);
    refusals.refused('10.0.0.1', 'per-address-limit');
    mock.timers.tick(60_000);
    assert.deepEqual(brief(), ['per-address-limit 10.0.0.1 1'], 'a flood goes on: one line a minute');
    mock.timers.tick(60_000);
    assert.deepEqual(brief(), [], 'a quiet minute: nothing, and the address is forgotten');
    refusals.refused('10.0.0.1', 'per-address-limit');
    refusals.refused('10.0.0.1', 'per-address-limit');
    assert.deepEqual(brief(), ['per-address-limit 10.0.0.1 1 first']);
    refusals.flush();
    assert.deepEqual(brief(), ['per-address-limit 10.0.0.1 1'], 'flush writes what was counted');
  } finally {
    mock.timers.reset();
  }
});

test('isInboundDomain: the domains of the inbound addresses, in any case and in Unicode or punycode', async () => {
  const t = await testContext();
  try {
    assert.equal(await isInboundDomain(t.ctx.db, 'agency.example'), false, 'no inbound address yet');
    await addInboundAddress(t.ctx.db, 'scan@agency.example', 'scanner');
    await addInboundAddress(t.ctx.db, 'post@xn--mnchen-3ya.example', 'general');
    assert.equal(await isInboundDomain(t.ctx.db, 'agency.example'), true);
    assert.equal(await isInboundDomain(t.ctx.db, 'AGENCY.Example'), true);
    assert.equal(await isInboundDomain(t.ctx.db, 'münchen.example'), true, 'Unicode form of a punycode domain');
    assert.equal(await isInboundDomain(t.ctx.db, 'sub.agency.example'), false, 'a subdomain is another domain');
    assert.equal(await isInboundDomain(t.ctx.db, 'gency.example'), false);
    assert.equal(await isInboundDomain(t.ctx.db, '%'), false, 'no pattern matching');
  } finally {
    await t.close();
  }
});
