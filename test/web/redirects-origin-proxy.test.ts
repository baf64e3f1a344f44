// Where the admin sends the browser and whom it believes: redirect targets from the request
// (`back` of /sprache, `next` of the login) stay on our origin; the same-origin check of
// state-changing requests compares scheme, host and port; X-Forwarded-* count only from the
// proxies of HTTP_TRUST_PROXY. Every expectation is resolved the way a browser resolves a
// Location header (WHATWG URL parser: tab/CR/LF removed, `\` read as `/`), independently of the
// code under test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAdmin } from '../../src/services/admin-auth.js';
import { createApp } from '../../src/web/app.js';
import { driver, testContext, testGateway } from '../helpers/env.js';

const ADMIN = { login: 'chef', name: 'Chef, Anna', email: 'chef@rathaus.example', password: 'Chef-Passwort-1' };

/**
 * Hostile redirect targets, as they stand in the query string (percent-encoded where a browser
 * would send them so). What the server receives is the decoded value.
 */
const HOSTILE_RAW = [
  '//evil.example',
  '///evil.example',
  '/%09/evil.example/x', // the reviewer's case: "/\t/evil…", which a browser reads as "//evil…"
  '/%0D%0A/evil.example',
  '%09//evil.example',
  '%20//evil.example',
  '/%5Cevil.example',
  '/%5C%5Cevil.example',
  '%5C%5Cevil.example',
  '/%2F/evil.example',
  '/.//evil.example',
  '/./%2F/evil.example',
  'https://evil.example',
  'https:evil.example',
  'http:evil.example',
  'HTTPS://evil.example/',
  'javascript:alert(1)',
  'data:text/html,x',
  '/%255Cevil.example', // a literal "%5C" in the value: a path on our host, percent-encoded
  '/%2509/evil.example',
];

describe(`redirect targets from the request stay on our origin (${driver})`, () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let base: string;
  let ours: string;

  before(async () => {
    g = await testGateway();
    base = `http://127.0.0.1:${g.gateway.http.port}`;
    ours = new URL(base).origin;
    await createAdmin(g.gateway.ctx.db, ADMIN);
  });
  after(() => g?.close());

  /** Where a browser goes for the response's Location, as the URL Standard resolves it against the page. */
  const followed = (r: Response) => {
    const location = r.headers.get('location');
    assert.ok(location !== null, `a redirect (status ${r.status})`);
    return new URL(location, `${base}/sprache`);
  };

  test('language switch: every hostile `back` leads to a page of ours', async () => {
    for (const raw of HOSTILE_RAW) {
      const r = await fetch(`${base}/sprache?lang=de&back=${raw}`, { redirect: 'manual' });
      assert.equal(r.status, 303, raw);
      assert.equal(followed(r).origin, ours, `back=${raw} → ${r.headers.get('location')}`);
    }
  });

  test('language switch: a path of ours is kept, query and fragment included', async () => {
    for (const [raw, location] of [
      ['/mappings', '/mappings'],
      [encodeURIComponent('/tasks?status=open&channel=scanner#liste'), '/tasks?status=open&channel=scanner#liste'],
      ['/meine-vorgaenge', '/meine-vorgaenge'],
    ] as const) {
      const r = await fetch(`${base}/sprache?lang=en&back=${raw}`, { redirect: 'manual' });
      assert.equal(r.headers.get('location'), location);
    }
    const none = await fetch(`${base}/sprache?lang=en`, { redirect: 'manual' });
    assert.equal(none.headers.get('location'), '/');
  });

  test('login: every hostile `next` (form field) leads to a page of ours after a successful login', async () => {
    for (const raw of HOSTILE_RAW) {
      const value = decodeURIComponent(raw);
      const r = await fetch(`${base}/login`, {
        method: 'POST',
        body: new URLSearchParams({ login: ADMIN.login, password: ADMIN.password, next: value }),
        redirect: 'manual',
      });
      assert.equal(r.status, 303, raw);
      assert.match(r.headers.get('set-cookie') ?? '', /^pe_session=/, 'the login itself worked');
      assert.equal(followed(r).origin, ours, `next=${JSON.stringify(value)} → ${r.headers.get('location')}`);
    }
    const good = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ login: ADMIN.login, password: ADMIN.password, next: '/staff?sort=name' }), redirect: 'manual' });
    assert.equal(good.headers.get('location'), '/staff?sort=name');
  });

  test('login page: a hostile `next` in the address is not carried into the form', async () => {
    for (const raw of ['//evil.example', '/%09/evil.example', 'https://evil.example']) {
      const html = await (await fetch(`${base}/login?next=${raw}`)).text();
      assert.match(html, /<input type="hidden" name="next" value="\/"\s*\/?>/, raw);
    }
    const html = await (await fetch(`${base}/login?next=%2Fstaff`)).text();
    assert.match(html, /<input type="hidden" name="next" value="\/staff"\s*\/?>/);
  });

  test('a page that needs a login returns there afterwards only when it is a path of ours', async () => {
    const r = await fetch(`${base}/staff`, { redirect: 'manual' });
    assert.equal(r.headers.get('location'), '/login?next=%2Fstaff');
    const odd = await fetch(`${base}/.//evil.example/x`, { redirect: 'manual' });
    const to = followed(odd);
    assert.equal(to.origin, ours);
    assert.equal(to.pathname, '/login');
    const next = to.searchParams.get('next');
    if (next !== null) assert.equal(new URL(next, base).origin, ours, next);
  });

  test('a state-changing request is refused when its Origin differs from ours in scheme, host or port', async () => {
    const port = Number(new URL(base).port);
    const post = (origin: string) =>
      fetch(`${base}/login`, { method: 'POST', headers: { Origin: origin }, body: new URLSearchParams({ login: 'niemand', password: 'falsch-falsch' }), redirect: 'manual' });
    // we serve http: the same host and port over https is another origin (RFC 6454)
    assert.equal((await post(`https://127.0.0.1:${port}`)).status, 403);
    assert.equal((await post(`http://127.0.0.1:${port + 1}`)).status, 403);
    assert.equal((await post(`http://localhost:${port}`)).status, 403);
    assert.equal((await post('null')).status, 403);
    // our own origin gets through to the password check (wrong password: 401)
    assert.equal((await post(`http://127.0.0.1:${port}`)).status, 401);
  });
});

describe(`X-Forwarded-* only from the proxies of HTTP_TRUST_PROXY (${driver})`, () => {
  const PROXY = '10.0.0.1';
  const T0 = new Date('2026-12-08T08:00:00Z');
  let t: Awaited<ReturnType<typeof testContext>>;
  let app: ReturnType<typeof createApp>;
  /** the socket a request comes from (what @hono/node-server's getConnInfo reads) */
  const from = (address: string) => ({ incoming: { socket: { remoteAddress: address, remoteFamily: 'IPv4' } } });
  const login = (peer: string, headers: Record<string, string> = {}, who = ADMIN.login) =>
    app.request('/login', { method: 'POST', headers, body: new URLSearchParams({ login: who, password: 'falsch-falsch' }), redirect: 'manual' }, from(peer));

  before(async () => {
    t = await testContext({ HTTP_TRUST_PROXY: `${PROXY},10.9.0.0/16` });
    await createAdmin(t.ctx.db, ADMIN);
    app = createApp(t.ctx, { now: () => T0 });
  });
  after(() => t?.close());

  // the login throttle (src/services/auth-throttle.ts) lets 5 wrong passwords per login and
  // client address through to the check (401) and answers the 6th with 429: the count shows
  // which address the gateway took the request for
  test('a client reaching the port directly cannot choose its address with X-Forwarded-For', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) statuses.push((await login('203.0.113.9', { 'X-Forwarded-For': `198.51.100.${i}` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    assert.equal((await login('203.0.113.9')).status, 429);
  });

  test('through a trusted proxy the forwarded client address counts, read from the right', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login(PROXY, { 'X-Forwarded-For': '192.0.2.7' })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    // the client wrote a hop of its own in front; the proxy appended the real one
    assert.equal((await login(PROXY, { 'X-Forwarded-For': '198.51.100.77, 192.0.2.7' })).status, 429);
    // a chain of trusted proxies (10.9.0.0/16) is skipped to the client
    assert.equal((await login('10.9.3.4', { 'X-Forwarded-For': '192.0.2.7, 10.0.0.1' })).status, 429);
    // another client behind the same proxy has its own count
    assert.equal((await login(PROXY, { 'X-Forwarded-For': '192.0.2.8' })).status, 401);
  });

  test('a forwarded hop with a port (RFC 7239 node) is the same client as without', async () => {
    const statuses: number[] = [];
    for (const hop of ['192.0.2.9:51234', '192.0.2.9', '192.0.2.9:1', '[::ffff:192.0.2.9]:443', '192.0.2.9:65535', '192.0.2.9']) {
      statuses.push((await login(PROXY, { 'X-Forwarded-For': hop })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  });

  test('Origin: X-Forwarded-Proto and X-Forwarded-Host are believed from a trusted proxy only', async () => {
    const post = (peer: string, origin: string, headers: Record<string, string> = {}) => login(peer, { Origin: origin, ...headers }, 'origin-probe');
    // app.request serves http://localhost
    assert.equal((await post('203.0.113.20', 'https://localhost')).status, 403);
    assert.equal((await post('203.0.113.20', 'https://localhost', { 'X-Forwarded-Proto': 'https' })).status, 403, 'not from a proxy of ours');
    assert.equal((await post('203.0.113.20', 'http://evil.example', { 'X-Forwarded-Host': 'evil.example' })).status, 403, 'not from a proxy of ours');
    assert.equal((await post('203.0.113.20', 'http://localhost')).status, 401);
    const proxied = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'post.agency.example', 'X-Forwarded-For': '192.0.2.20' };
    assert.equal((await post(PROXY, 'https://post.agency.example', proxied)).status, 401);
    assert.equal((await post(PROXY, 'https://post.agency.example:443', proxied)).status, 401, 'the default port is the same origin');
    assert.equal((await post(PROXY, 'http://post.agency.example', proxied)).status, 403, 'the browser came over https');
    assert.equal((await post(PROXY, 'https://post.agency.example:8443', proxied)).status, 403);
    assert.equal((await post(PROXY, 'https://localhost', proxied)).status, 403);
  });
});
