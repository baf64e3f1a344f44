// The receiver's small guards, without a network: which MAIL/RCPT parameters the advertised
// extensions define (RFC 5321 §4.1.1.11), the per-connection AUTH failure tally (RFC 4954 §14),
// and the domain look-up behind postmaster@<domain> (RFC 5321 §4.5.1) on the suite's driver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthFailureTally } from '../../src/inbound/smtp/auth-guard.js';
import { allowedParameters, unknownParameters } from '../../src/inbound/smtp/esmtp-parameters.js';
import { isInboundDomain } from '../../src/inbound/smtp/recipients.js';
import { addInboundAddress } from '../../src/services/addresses.js';
import { testContext } from '../helpers/env.js';

test('parameters per advertised extension: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461), REQUIRETLS (RFC 8689), AUTH (RFC 4954 §5)', () => {
  const all = allowedParameters({ size: 1024, auth: true });
  assert.deepEqual([...all.mail].sort(), ['AUTH', 'BODY', 'ENVID', 'REQUIRETLS', 'RET', 'SIZE', 'SMTPUTF8']);
  assert.deepEqual([...all.rcpt].sort(), ['NOTIFY', 'ORCPT']);
  const few = allowedParameters({ size: 0, hide8BITMIME: true, hideSMTPUTF8: true, hideDSN: true, hideREQUIRETLS: true, auth: false });
  assert.deepEqual([...few.mail], []);
  assert.deepEqual([...few.rcpt], []);
});

test('unknownParameters names what is not allowed, in the order given', () => {
  const { mail, rcpt } = allowedParameters({ size: 1024, hideDSN: true, hideREQUIRETLS: true, auth: false });
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
