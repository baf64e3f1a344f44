// Issue 14, the doors: parallel guessing bursts, lockout as a weapon, access after deprovisioning,
// oversized request bodies. Expected values come from the throttle's documented rules (README,
// "Sicherheit"/Security: the pair login+address 5 attempts free, the address 30, the login from
// everywhere 50 with delays capped at 30 s; delays 1, 2, 4 … s) and from the inputs.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { beginAttempt, type AttemptResult } from '../../src/services/auth-throttle.js';
import { createAdmin } from '../../src/services/admin-auth.js';
import { addStaff, setStaffPassword } from '../../src/services/staff.js';
import { createToken } from '../../src/services/tokens.js';
import { createApp } from '../../src/web/app.js';
import { driver, testContext, testGateway } from '../helpers/env.js';

const T0 = new Date('2026-12-08T08:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const allowed = (rs: AttemptResult[]) => rs.filter((r) => r.allowed).length;
const retryOf = (r: AttemptResult) => (r.allowed ? 0 : r.retryAfterSeconds);

describe(`authentication throttle, state in the database (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    t = await testContext();
  });
  after(() => t?.close());
  const attempt = (login: string | undefined, address: string, when: Date, realm: 'admin' | 'first-run' | 'api' = 'admin') =>
    beginAttempt(t.ctx.db, realm, { login, address }, when);

  test('100 parallel guesses on one login from one address: exactly 5 are let through to the password check', async () => {
    const rs = await Promise.all(Array.from({ length: 100 }, () => attempt('Susi', '10.0.0.1', T0)));
    assert.equal(allowed(rs), 5);
    // the 5th attempt set the first delay, 1 s
    assert.deepEqual([...new Set(rs.filter((r) => !r.allowed).map(retryOf))], [1]);
    // the same login typed in another case is the same key
    assert.equal((await attempt('SUSI', '10.0.0.1', T0)).allowed, false);
    // the real person at their own desk is not locked out by it (login-wide: 50 free)
    assert.equal((await attempt('susi', '10.0.0.2', T0)).allowed, true);
  });

  test('after the free attempts each one waits 1, 2, 4, 8 s; earlier ones are refused unchecked', async () => {
    assert.equal(allowed(await Promise.all(Array.from({ length: 5 }, () => attempt('max', '10.0.0.3', T0)))), 5);
    let now = 0;
    for (const delay of [1, 2, 4, 8]) {
      const early = await attempt('max', '10.0.0.3', at(now + delay - 1));
      assert.equal(retryOf(early), 1, `one second before the ${delay} s delay ends`);
      now += delay;
      assert.equal((await attempt('max', '10.0.0.3', at(now))).allowed, true, `after ${delay} s`);
    }
    assert.equal(retryOf(await attempt('max', '10.0.0.3', at(now))), 16);
  });

  test('a success forgives: the login at that address starts over', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await attempt('otto', '10.0.0.4', T0)).allowed, true);
    const right = await attempt('otto', '10.0.0.4', T0);
    assert.ok(right.allowed);
    const { attemptSucceeded } = await import('../../src/services/auth-throttle.js');
    await attemptSucceeded(t.ctx.db, right.attempt);
    assert.equal(allowed(await Promise.all(Array.from({ length: 6 }, () => attempt('otto', '10.0.0.4', T0)))), 5);
  });

  test('guesses from 200 addresses never lock the real person out at their usual address; elsewhere they cost at most 30 s a try', async () => {
    const { attemptSucceeded } = await import('../../src/services/auth-throttle.js');
    // the real person logged in at their desk before the attack
    const before = await attempt('chef', '10.9.9.9', T0);
    assert.ok(before.allowed);
    await attemptSucceeded(t.ctx.db, before.attempt);
    let now = 0;
    let longest = 0;
    for (let i = 0; i < 200; i++) {
      let r = await attempt('chef', `10.1.${i >> 8}.${i & 255}`, at(now));
      if (!r.allowed) {
        longest = Math.max(longest, r.retryAfterSeconds);
        now += r.retryAfterSeconds;
        r = await attempt('chef', `10.1.${i >> 8}.${i & 255}`, at(now));
      }
      assert.equal(r.allowed, true, `guess ${i + 1} after waiting`);
    }
    // 50 free from everywhere, then 1, 2, 4, 8, 16, 30 (cap), 30 …
    assert.equal(longest, 30);
    // at the desk: checked at once, and again right after a success (a success leaves no wait)
    for (let i = 0; i < 3; i++) {
      const real = await attempt('chef', '10.9.9.9', at(now));
      assert.equal(real.allowed, true, `login ${i + 1} at the desk`);
      if (real.allowed) await attemptSucceeded(t.ctx.db, real.attempt);
    }
    // from an address never used before, the login-wide wait applies: at most 30 s
    const elsewhere = await attempt('chef', '10.8.8.8', at(now));
    assert.ok(retryOf(elsewhere) >= 1 && retryOf(elsewhere) <= 30, `waits ${retryOf(elsewhere)} s`);
    assert.equal((await attempt('chef', '10.8.8.8', at(now + retryOf(elsewhere)))).allowed, true);
  });

  test('one address guessing many logins is slowed after 30 attempts; colleagues who logged in there before are not', async () => {
    const { attemptSucceeded } = await import('../../src/services/auth-throttle.js');
    const colleague = await attempt('kollegin', '10.0.0.5', T0);
    assert.ok(colleague.allowed);
    await attemptSucceeded(t.ctx.db, colleague.attempt);
    const rs: AttemptResult[] = [];
    for (let i = 0; i < 31; i++) rs.push(await attempt(`user${i}`, '10.0.0.5', T0));
    assert.equal(allowed(rs), 30);
    assert.equal(retryOf(rs[30]!), 1);
    assert.equal((await attempt('kollegin', '10.0.0.5', T0)).allowed, true);
    assert.equal(retryOf(await attempt('neu', '10.0.0.5', T0)), 1, 'someone new behind that address waits');
  });

  test('IPv6 clients count by their /64', async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => attempt('ipv6', `2001:db8:1:2::${i + 1}`, T0)));
    assert.equal(allowed(rs), 5);
    assert.equal((await attempt('ipv6', '2001:db8:1:3::1', T0)).allowed, true, 'another /64');
  });

  test('wrong first-run codes from one address do not close the page for another; counts restart after an hour', async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, () => attempt(undefined, '10.0.0.6', T0, 'first-run')));
    assert.equal(allowed(rs), 5);
    assert.equal((await attempt(undefined, '10.0.0.7', T0, 'first-run')).allowed, true);
    // an hour after the last attempt the counts start over: five free again
    const later = await Promise.all(Array.from({ length: 6 }, () => attempt(undefined, '10.0.0.6', at(3600 + 16), 'first-run')));
    assert.equal(allowed(later), 5);
  });
});

describe(`login and API tokens over HTTP under a burst (${driver})`, () => {
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  const from = (address: string) => ({ incoming: { socket: { remoteAddress: address, remoteFamily: 'IPv4' } } });
  const login = (password: string, address: string) =>
    app.request('/login', { method: 'POST', body: new URLSearchParams({ login: 'chef', password }), redirect: 'manual' }, from(address));
  before(async () => {
    t = await testContext();
    await createAdmin(t.ctx.db, { login: 'chef', name: 'Chef, Anna', email: 'chef@rathaus.example', password: 'Chef-Passwort-1' });
    app = createApp(t.ctx, { now: () => T0 });
  });
  after(() => t?.close());

  test('100 parallel wrong passwords: 5 checked (401), 95 refused unchecked (429, Retry-After); the right password right after is refused too, and works from another address', async () => {
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => login(`falsch-${i}-xxxx`, '10.0.0.9')));
    const statuses = rs.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 5);
    assert.equal(statuses.filter((s) => s === 429).length, 95);
    assert.ok(rs.filter((r) => r.status === 429).every((r) => r.headers.get('Retry-After') === '1'));
    const hidden = await login('Chef-Passwort-1', '10.0.0.9');
    assert.equal(hidden.status, 429);
    assert.equal(hidden.headers.get('set-cookie'), null);
    assert.match(await hidden.text(), /Bitte warten Sie 1 Sekunde/);
    const real = await login('Chef-Passwort-1', '10.0.0.10');
    assert.equal(real.status, 303);
    assert.match(real.headers.get('set-cookie') ?? '', /^pe_session=/);
  });

  test('40 parallel wrong API tokens from one address: 20 answered 401, 20 answered 429; a valid token from there still works', async () => {
    const valid = await createToken(t.ctx.db, 'chef');
    const rs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => app.request('/api/v1/tasks', { headers: { Authorization: `Bearer pe_wrong${i}` } }, from('10.0.0.11'))),
    );
    assert.equal(rs.filter((r) => r.status === 401).length, 20);
    const throttled = rs.filter((r) => r.status === 429);
    assert.equal(throttled.length, 20);
    assert.ok(throttled.every((r) => r.headers.get('Retry-After') === '1'));
    assert.equal((await app.request('/api/v1/tasks', { headers: { Authorization: `Bearer ${valid}` } }, from('10.0.0.11'))).status, 200);
  });
});

describe(`access ends the moment a person loses it (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  let adminToken: string;
  let susiId: number;
  const api = (path: string, token: string, init: RequestInit = {}) =>
    fetch(`${base}/api/v1${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } });
  /** a fresh browser session and API token of Susi, both checked to work */
  async function signIn(): Promise<{ cookie: string; token: string }> {
    const r = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ login: 'susi', password: 'Susi-Passwort-1' }), redirect: 'manual' });
    assert.equal(r.status, 303);
    const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
    const token = await createToken(g.gateway.ctx.db, 'susi');
    assert.deepEqual(await works({ cookie, token }), { page: '200', api: 200 });
    return { cookie, token };
  }
  async function works(s: { cookie: string; token: string }) {
    const page = await fetch(`${base}/meine-vorgaenge`, { headers: { cookie: s.cookie }, redirect: 'manual' });
    const to = page.headers.get('location');
    return { page: to ? `${page.status} ${new URL(to, base).pathname}` : String(page.status), api: (await api('/tasks', s.token)).status };
  }
  // the page sends the browser to the login; the API answers 401
  const ended = { page: '302 /login', api: 401 };

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}`;
    const { db } = g.gateway.ctx;
    await createAdmin(db, { login: 'anna', name: 'Admin, Anna', email: 'anna@rathaus.example', password: 'Anna-Passwort-1' });
    adminToken = await createToken(db, 'anna');
    susiId = (await addStaff(db, { name: 'Weiß, Susi', email: 'susi@rathaus.example', login: 'susi' })).id;
    await setStaffPassword(db, 'susi', 'Susi-Passwort-1');
  });
  after(() => g?.close());

  test('login removed (and the person made external): session and token end; giving the login back revives neither', async () => {
    const s = await signIn();
    assert.equal((await api(`/staff/${susiId}`, adminToken, { method: 'PATCH', body: JSON.stringify({ login: null, external: true }) })).status, 200);
    assert.deepEqual(await works(s), ended);
    assert.equal((await api(`/staff/${susiId}`, adminToken, { method: 'PATCH', body: JSON.stringify({ login: 'susi', external: false }) })).status, 200);
    assert.deepEqual(await works(s), ended);
    // the login came back without its old password: a new one must be set
    const r = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ login: 'susi', password: 'Susi-Passwort-1' }), redirect: 'manual' });
    assert.equal(r.status, 401);
    assert.equal((await api(`/staff/${susiId}/password`, adminToken, { method: 'PUT', body: JSON.stringify({ password: 'Susi-Passwort-1' }) })).status, 204);
  });

  test('deactivation ends them, reactivation does not bring them back', async () => {
    const s = await signIn();
    assert.equal((await api(`/staff/${susiId}`, adminToken, { method: 'PATCH', body: JSON.stringify({ active: false }) })).status, 200);
    assert.deepEqual(await works(s), ended);
    assert.equal((await api(`/staff/${susiId}`, adminToken, { method: 'PATCH', body: JSON.stringify({ active: true }) })).status, 200);
    assert.deepEqual(await works(s), ended);
  });

  test("an admin's password reset ends them", async () => {
    const s = await signIn();
    assert.equal((await api(`/staff/${susiId}/password`, adminToken, { method: 'PUT', body: JSON.stringify({ password: 'Neues-Passwort-2' }) })).status, 204);
    assert.deepEqual(await works(s), ended);
    assert.equal((await api(`/staff/${susiId}/password`, adminToken, { method: 'PUT', body: JSON.stringify({ password: 'Susi-Passwort-1' }) })).status, 204);
  });

  test('a role change ends them; other people keep theirs', async () => {
    const s = await signIn();
    assert.equal((await api(`/staff/${susiId}`, adminToken, { method: 'PATCH', body: JSON.stringify({ role: 'admin' }) })).status, 200);
    assert.deepEqual(await works(s), ended);
    assert.equal((await api('/tasks', adminToken)).status, 200);
  });
});

describe(`request bodies have limits (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let port: number;
  before(async () => {
    g = await testGateway();
    port = g.gateway.http.port;
  });
  after(() => g?.close());

  /** Sends a request head and `bodyBytes` of body; resolves with the answer's status line once the server has closed the connection. */
  function sendHead(head: string, bodyBytes: number): Promise<{ statusLine: string; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (d) => (answer += d.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve({ statusLine: answer.split('\r\n')[0] ?? '', closed: true }));
      socket.write(head);
      socket.write(Buffer.alloc(bodyBytes, 0x61));
    });
  }

  test('a 300 MB POST /login is answered 413 after its head, and the connection is closed without reading the rest', async () => {
    const r = await sendHead(`POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${300 * 1024 * 1024}\r\n\r\n`, 64 * 1024);
    assert.equal(r.statusLine, 'HTTP/1.1 413 Payload Too Large');
    assert.equal(r.closed, true);
  });

  test('a chunked body over the public limit (16 KiB) is cut with 413', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode(`login=${'x'.repeat(8 * 1024)}&`));
        c.close();
      },
    });
    const r = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, duplex: 'half' } as RequestInit);
    assert.equal(r.status, 413);
    assert.deepEqual(await r.json(), { error: 'the request body is larger than 16384 bytes', code: 'body-too-large', maxBytes: 16384 });
  });

  test('after login the limit is sized to need: a message to send may carry SMTP_MAX_MESSAGE_BYTES in base64, not more', async () => {
    const { db, config } = g.gateway.ctx;
    await createAdmin(db, { login: 'anna', name: 'Admin, Anna', email: 'anna@rathaus.example', password: 'Anna-Passwort-1' });
    const token = await createToken(db, 'anna');
    const limit = Math.ceil((config.SMTP_MAX_MESSAGE_BYTES * 4) / 3) + 1024 * 1024;
    const over = await sendHead(`POST /api/v1/outbox HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${limit + 1}\r\n\r\n`, 1024);
    assert.equal(over.statusLine, 'HTTP/1.1 413 Payload Too Large');
    // other API routes: 1 MiB
    const big = await fetch(`http://127.0.0.1:${port}/api/v1/activity-types`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(1024 * 1024) }),
    });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { maxBytes: number }).maxBytes, 1024 * 1024);
  });

  test('only two large bodies are read at once: a third is answered 503 at once; when one is done, the next gets in', async () => {
    const { db } = g.gateway.ctx;
    const token = await createToken(db, 'anna');
    const text = 'x'.repeat(2 * 1024 * 1024);
    const body = Buffer.from(JSON.stringify({ to: 'buerger@example.org', subject: 'Bescheid', text }));
    const head = `POST /api/v1/outbox HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    /**
     * A request whose body is sent in two halves, the second when asked. It asks `Expect:
     * 100-continue`: Node answers `100 Continue` in the same step in which it hands the request to
     * the application, so once that line is here the request holds its place.
     */
    const halfSent = async () => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      let continued!: () => void;
      const ready = new Promise<void>((ok) => (continued = ok));
      const done = new Promise<string>((resolve, reject) => {
        socket.on('data', (d) => {
          answer += d.toString('latin1');
          if (answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
            answer = answer.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
            continued();
          }
          if (answer.includes('\r\n')) resolve(answer.split('\r\n')[0]!);
        });
        socket.on('error', reject);
      });
      socket.write(head.replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'));
      await ready;
      socket.write(body.subarray(0, body.length / 2));
      return { rest: () => socket.write(body.subarray(body.length / 2)), done, socket };
    };
    const a = await halfSent();
    const b = await halfSent();
    const third = await sendHead(head, 0);
    assert.equal(third.statusLine, 'HTTP/1.1 503 Service Unavailable');
    a.rest();
    assert.notEqual(await a.done, 'HTTP/1.1 503 Service Unavailable');
    const fourth = await fetch(`http://127.0.0.1:${port}/api/v1/outbox`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body });
    assert.notEqual(fourth.status, 503);
    b.rest();
    assert.notEqual(await b.done, 'HTTP/1.1 503 Service Unavailable');
    a.socket.destroy();
    b.socket.destroy();
  });
});
