// Issue 14 (outbound): sending limits per person. A message with more recipients (To, Cc and Bcc
// together) than allowed is refused with 400 naming the limit; more messages per minute than
// allowed with 429 and Retry-After — also when 30 requests of one person arrive at once (the
// count and the insert hold the person's lock in one transaction). Another person, the local
// operator and automatic replies are not held up. Admins change the limits on the settings page
// (real form POST with the page's CSRF token), through the API and the CLI; invalid values are
// refused naming the field. Expected figures are worked out from the input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, count, eq } from 'drizzle-orm';
import { runCommand } from '../../src/cli/commands.js';
import { outboxMessage } from '../../src/db/schema.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { createSession } from '../../src/services/admin-auth.js';
import { enqueueMessage, replyToTask } from '../../src/services/outbox.js';
import { getSendLimits } from '../../src/services/send-limits.js';
import { setSmtpAccount } from '../../src/services/smtp-account.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { OPERATOR } from '../../src/services/task-actions.js';
import { createToken } from '../../src/services/tokens.js';
import { createApp } from '../../src/web/app.js';
import { driver, testContext } from '../helpers/env.js';

type Body = Record<string, unknown> & { params?: Record<string, unknown> };

/** `n` distinct addresses `<prefix>1@example.org` … */
const addresses = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}@example.org`);

describe(`sending limits per person (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  const ids: Record<string, number> = {};
  const tokens: Record<string, string> = {};
  let cookie = '';

  const api = (method: string, url: string, who: string, body?: unknown) =>
    app.request(`/api/v1${url}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who]}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const send = (who: string, input: { to?: string[]; cc?: string[]; bcc?: string[] }, n = 1) => api('POST', '/outbox', who, { subject: `Bescheid ${n}`, text: `Text ${n}\n`, ...input });
  /** Messages in the outbox queued by that person. */
  const queuedBy = async (who: string) => (await t.ctx.db.select({ n: count() }).from(outboxMessage).where(eq(outboxMessage.createdBy, ids[who]!)))[0]!.n;
  const page = (path: string, lang = 'de') => app.request(path, { headers: { cookie: `pe_session=${cookie}; lang=${lang}` } });
  /** The value of the hidden CSRF field of the send-limits form, as the browser would send it. */
  const formToken = (html: string) => {
    const form = /<form[^>]*data-testid="send-limits-form"[^>]*>([\s\S]*?)<\/form>/.exec(html)?.[1] ?? '';
    const token = /name="_csrf" value="([^"]+)"/.exec(form)?.[1];
    assert.ok(token, 'the send-limits form carries a CSRF field');
    return token;
  };
  const postForm = (path: string, fields: Record<string, string>, lang = 'de') =>
    app.request(path, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', cookie: `pe_session=${cookie}; lang=${lang}` },
      body: new URLSearchParams(fields),
    });
  const cli = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = await runCommand(argv, { out: (c) => (out += c.toString()), err: (s) => (err += s), cwd: process.cwd(), readStdin: async () => '' }, async () => t.ctx);
    return { code, out, err };
  };

  before(async () => {
    t = await testContext();
    app = createApp(t.ctx);
    // no worker runs: queued messages stay queued
    await setSmtpAccount(t.ctx, { host: '127.0.0.1', port: 2, security: 'none', auth: 'none', fromAddress: 'versand@rathaus.example', fromName: 'Rathaus' });
    ids.anna = (await addStaff(t.ctx.db, { name: 'Admin, Anna', email: 'anna@rathaus.example', login: 'anna', role: 'admin' })).id;
    for (const [login, name] of [
      ['susi', 'Weiß, Susi'],
      ['jan', 'Jansen, Jan'],
      ['kai', 'Kim, Kai'],
    ] as const) {
      ids[login] = (await addStaff(t.ctx.db, { name, email: `${login}@rathaus.example`, login })).id;
    }
    for (const login of ['anna', 'susi', 'jan', 'kai']) tokens[login] = await createToken(t.ctx.db, login);
    ({ cookie } = await createSession(t.ctx.db, ids.anna!));
  });
  after(() => t?.close());

  test('without a stored row the defaults apply: 50 recipients, 10 messages per minute', async () => {
    const r = await api('GET', '/send-limits', 'susi');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { maxRecipients: 50, maxPerMinute: 10, updatedAt: null });
  });

  test('recipients: 51 (To+Cc+Bcc) → 400 naming the limit and nothing stored; 50 → 201', async () => {
    const over = { to: addresses('to', 20), cc: addresses('cc', 20), bcc: addresses('bcc', 11) };
    const r = await send('susi', over);
    assert.equal(r.status, 400);
    const body = (await r.json()) as Body;
    assert.equal(body.field, 'recipients');
    assert.equal(body.code, 'send-too-many-recipients');
    assert.deepEqual(body.params, { maxRecipients: 50, recipients: 20 + 20 + 11 });
    assert.match(String(body.error), /\b51 recipients\b.*\bat most 50\b.*maxRecipients/);
    assert.equal(await queuedBy('susi'), 0, 'a refused message is not queued');

    // 50 distinct addresses; an address given twice (To and Bcc) goes into the envelope once
    const at = { to: addresses('to', 30), cc: addresses('cc', 20), bcc: ['to1@example.org'] };
    const ok = await send('susi', at);
    assert.equal(ok.status, 201, await ok.clone().text());
    assert.equal(((await ok.json()) as { recipients: string[] }).recipients.length, 30 + 20);
    assert.equal(await queuedBy('susi'), 1);
  });

  test('30 parallel POSTs by one person, limit 10 per minute: exactly 10 accepted, 20 answered 429 with Retry-After', async () => {
    const { maxPerMinute } = await getSendLimits(t.ctx.db);
    assert.equal(maxPerMinute, 10);
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => send('jan', { to: [`empfaenger${i}@example.org`] }, i)));
    const answered = Date.now();
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 201).length, maxPerMinute, statuses.join(' '));
    assert.equal(statuses.filter((s) => s === 429).length, 30 - maxPerMinute, statuses.join(' '));
    assert.equal(await queuedBy('jan'), maxPerMinute, 'exactly the limit was stored');

    // Retry-After: whole seconds until the oldest of the last minute is 60 s old
    const [oldest] = await t.ctx.db.select({ at: outboxMessage.createdAt }).from(outboxMessage).where(eq(outboxMessage.createdBy, ids.jan!)).orderBy(outboxMessage.createdAt).limit(1);
    const agesOut = oldest!.at.getTime() + 60_000;
    const earliest = Math.max(1, Math.ceil((agesOut - answered) / 1000));
    const latest = Math.ceil((agesOut - started) / 1000);
    for (const a of answers.filter((x) => x.status === 429)) {
      const header = a.headers.get('retry-after');
      assert.match(header ?? '', /^\d+$/);
      const seconds = Number(header);
      assert.ok(seconds >= earliest && seconds <= latest, `Retry-After ${seconds} within [${earliest}, ${latest}]`);
      const body = (await a.json()) as Body;
      assert.equal(body.code, 'send-rate-exceeded');
      assert.deepEqual(body.params, { maxPerMinute: 10, retryAfterSeconds: seconds });
      assert.equal(body.retryAfterSeconds, seconds);
      assert.match(String(body.error), /at most 10 messages per minute.*maxPerMinute/);
    }
  });

  test('another person is not affected; the local operator and automatic replies are not limited', async () => {
    const r = await send('kai', { to: ['buerger@example.org'] });
    assert.equal(r.status, 201, await r.clone().text());
    // jan is still over the limit
    assert.equal((await send('jan', { to: ['nochmal@example.org'] })).status, 429);
    // the operator (CLI): more than the limit in a row, and more recipients than allowed
    for (let i = 0; i < 11; i++) await enqueueMessage(t.ctx, OPERATOR, { to: `amt${i}@example.org`, subject: `Rundschreiben ${i}`, text: 'x' });
    await enqueueMessage(t.ctx, OPERATOR, { to: addresses('verteiler', 51), subject: 'Verteiler', text: 'x' });
    const byOperator = await t.ctx.db.select({ n: count() }).from(outboxMessage).where(and(eq(outboxMessage.subject, 'Verteiler')));
    assert.equal(byOperator[0]!.n, 1);
    // an automatic reply on jan's behalf while jan is over the limit
    await addStaff(t.ctx.db, { name: 'Bürger, Bernd', email: 'bernd@example.org', external: true });
    await addMapping(t.ctx.db, 'bernd@example.org', 'jan');
    const ingested = await t.ctx.ingest(
      rawFromBuffer(Buffer.from('From: Bernd <bernd@example.org>\r\nTo: post@rathaus.example\r\nSubject: Antrag\r\nMessage-ID: <antrag.2@example.org>\r\n\r\nText\r\n')),
      { kind: 'file', channels: ['general'], path: 'antrag.eml' },
    );
    const jan = { id: ids.jan!, role: 'staff' as const };
    const auto = await replyToTask(t.ctx, jan, ingested.tasks[0]!.id, { text: 'Eingang bestätigt.' }, { automatic: true });
    assert.equal(auto.state, 'queued');
    // … while jan's own reply is held to the limit (429 through the API)
    const own = await api('POST', `/tasks/${ingested.tasks[0]!.id}/reply`, 'jan', { text: 'Danke.' });
    assert.equal(own.status, 429);
    assert.match(own.headers.get('retry-after') ?? '', /^\d+$/);
  });

  test('an admin changes the limits on the settings page (form with its CSRF token); the new limits apply', async () => {
    const before = await page('/settings?tab=sending');
    assert.equal(before.status, 200);
    const html = await before.text();
    assert.match(html, /<label for="limits-maxRecipients">Höchstzahl Empfänger\*innen je Nachricht \(An, Cc und Bcc zusammen\)<\/label>/);
    assert.match(html, /id="limits-maxRecipients" name="maxRecipients" type="text" value="50"/);
    assert.match(html, /id="limits-maxPerMinute" name="maxPerMinute" type="text" value="10"/);
    const csrf = formToken(html);

    // without the token: refused, nothing changes
    const forged = await postForm('/settings/send-limits', { maxRecipients: '5', maxPerMinute: '3' });
    assert.equal(forged.status, 403);
    assert.equal((await getSendLimits(t.ctx.db)).maxRecipients, 50);

    const saved = await postForm('/settings/send-limits', { _csrf: csrf, maxRecipients: '5', maxPerMinute: '3' });
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get('location'), '/settings?tab=sending&notice=saved');
    const shown = await (await page(saved.headers.get('location')!)).text();
    assert.match(shown, /Gespeichert\./);
    assert.match(shown, /id="limits-maxRecipients" name="maxRecipients" type="text" value="5"/);
    assert.match(shown, /id="limits-maxPerMinute" name="maxPerMinute" type="text" value="3"/);
    const api5 = (await (await api('GET', '/send-limits', 'kai')).json()) as Body;
    assert.deepEqual([api5.maxRecipients, api5.maxPerMinute], [5, 3]);

    // kai: 1 message so far; 6 recipients are now too many, 5 fit
    const six = await send('kai', { to: addresses('a', 3), cc: addresses('c', 2), bcc: addresses('b', 1) });
    assert.equal(six.status, 400);
    assert.deepEqual(((await six.json()) as Body).params, { maxRecipients: 5, recipients: 6 });
    const queuedBefore = await queuedBy('kai');
    assert.equal(queuedBefore, 1);
    const five = await send('kai', { to: addresses('a', 3), cc: addresses('c', 2) });
    assert.equal(five.status, 201);
    // 3 per minute: one more fits (1 + 1 + 1), the next is refused
    assert.equal((await send('kai', { to: ['x@example.org'] })).status, 201);
    const refused = await send('kai', { to: ['y@example.org'] });
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as Body).params?.maxPerMinute, 3);
    assert.equal(await queuedBy('kai'), 3);
  });

  test('an invalid value is refused beside its field, naming why; the stored limits stay', async () => {
    const csrf = formToken(await (await page('/settings?tab=sending')).text());
    const zero = await postForm('/settings/send-limits', { _csrf: csrf, maxRecipients: '0', maxPerMinute: '3' });
    assert.equal(zero.status, 400);
    const html = await zero.text();
    assert.match(html, /<span id="limits-maxRecipients-error" class="field-error">„0“ ist keine ganze Zahl von 1 bis 1000\.<\/span>/);
    assert.match(html, /id="limits-maxRecipients" name="maxRecipients" type="text" value="0"[^>]*aria-invalid="true"/);
    assert.doesNotMatch(html, /limits-maxPerMinute-error/);
    const words = await postForm('/settings/send-limits', { _csrf: csrf, maxRecipients: '5', maxPerMinute: 'zehn' }, 'en');
    assert.equal(words.status, 400);
    assert.match(await words.text(), /<span id="limits-maxPerMinute-error" class="field-error">&quot;zehn&quot; is not a whole number from 1 to 1000\.<\/span>/);
    assert.equal((await postForm('/settings/send-limits', { _csrf: csrf, maxRecipients: '1001', maxPerMinute: '3' })).status, 400);
    assert.deepEqual(
      await getSendLimits(t.ctx.db).then((l) => [l.maxRecipients, l.maxPerMinute]),
      [5, 3],
    );
  });

  test('API: PATCH /send-limits for admins, validated, 403 for staff; CLI smtp limits show|set', async () => {
    const bad = await api('PATCH', '/send-limits', 'anna', { maxPerMinute: 1001 });
    assert.equal(bad.status, 400);
    const b = (await bad.json()) as Body;
    assert.equal(b.field, 'maxPerMinute');
    assert.equal(b.code, 'send-limit-invalid');
    assert.deepEqual(b.params, { value: '1001', min: 1, max: 1000 });
    assert.equal((await api('PATCH', '/send-limits', 'anna', { maxRecipients: 2.5 })).status, 400);
    assert.equal((await api('PATCH', '/send-limits', 'susi', { maxPerMinute: 100 })).status, 403);
    const ok = await api('PATCH', '/send-limits', 'anna', { maxPerMinute: 20 });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as Body;
    assert.deepEqual([body.maxRecipients, body.maxPerMinute], [5, 20]);

    const refused = await cli('smtp', 'limits', 'set', '--max-recipients', '0');
    assert.equal(refused.code, 1);
    assert.equal(refused.err, 'refused (maxRecipients): "0" is not a whole number between 1 and 1000\n');
    const set = await cli('smtp', 'limits', 'set', '--max-recipients', '100', '--max-per-minute', '30');
    assert.equal(set.code, 0, set.err);
    assert.equal(set.out, 'sending limits saved: at most 100 recipients per message (To, Cc and Bcc together), 30 messages per person per minute\n');
    const shown = await cli('smtp', 'limits', 'show', '--json');
    assert.deepEqual(
      (({ maxRecipients, maxPerMinute }) => ({ maxRecipients, maxPerMinute }))(JSON.parse(shown.out) as Body),
      { maxRecipients: 100, maxPerMinute: 30 },
    );
  });
});
