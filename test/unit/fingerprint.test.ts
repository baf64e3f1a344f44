/**
 * The redelivery key (src/ingest/fingerprint.ts). The rule under test: two inputs get the same
 * key exactly when they differ at most in trace fields, line endings (CRLF / LF / CR, trailing
 * line breaks, blank lines before the header), header folding and the chunking of the stream.
 * The property tests build messages from a seeded generator and check both directions.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fingerprint, isTraceField } from '../../src/ingest/fingerprint.js';
import { discardParsed, parseMessage, ParseError } from '../../src/ingest/parse.js';

/** The raw bytes as a stream, optionally cut into chunks of `size` bytes. */
function stream(raw: Buffer, size?: number): Readable {
  if (!size) return Readable.from([raw]);
  const parts: Buffer[] = [];
  for (let i = 0; i < raw.length; i += size) parts.push(raw.subarray(i, i + size));
  return Readable.from(parts);
}
const fp = (raw: Buffer | string, chunk?: number) => fingerprint(stream(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'), chunk));

/** A message from header lines and a body (LF in the body becomes `eol`). */
function msg(headers: string[], body: string, eol = '\r\n'): string {
  return `${headers.join(eol)}${eol}${eol}${body.replace(/\r?\n/g, eol)}`;
}

const BASE_HEADERS = [
  'From: Anna Berger <anna.berger@agency.example>',
  'To: tauoffice@agency.example',
  'Subject: Antrag',
  'Date: Tue, 02 Mar 2021 10:00:00 +0100',
  'Message-ID: <a1@agency.example>',
];
const BODY = 'Sehr geehrte Damen und Herren,\nanbei der Antrag.\n\nGruss\n';
const TRACE = [
  'Received: from mx.example.org by mail.agency.example; Tue, 02 Mar 2021 10:00:05 +0100',
  'Return-Path: <anna.berger@agency.example>',
  'Delivered-To: tauoffice@agency.example',
  'X-Original-To: tauoffice@agency.example',
  'Authentication-Results: mail.agency.example; spf=pass',
  'X-Spam-Status: No',
  'ARC-Seal: i=1; a=rsa-sha256; cv=none',
];

describe('fingerprint: fixed cases', () => {
  test('has the form v2:<64 lower-case hex> and is deterministic', async () => {
    const k = await fp(msg(BASE_HEADERS, BODY));
    assert.match(k, /^v2:[0-9a-f]{64}$/);
    assert.equal(await fp(msg(BASE_HEADERS, BODY)), k);
  });

  test('trace fields are ignored wherever they stand; an inner empty line of the body counts', async () => {
    const base = await fp(msg(BASE_HEADERS, BODY));
    assert.equal(await fp(msg([...TRACE, ...BASE_HEADERS], BODY)), base);
    assert.equal(await fp(msg([BASE_HEADERS[0]!, TRACE[0]!, ...BASE_HEADERS.slice(1), TRACE[2]!], BODY)), base);
    assert.notEqual(await fp(msg(BASE_HEADERS, 'Te\n\nxt')), await fp(msg(BASE_HEADERS, 'Te\nxt')));
    for (const t of TRACE) assert.ok(isTraceField(t.slice(0, t.indexOf(':'))), t);
    for (const f of ['From', 'Subject', 'Message-ID', 'Content-Disposition', 'Content-ID', 'X-Mailer', 'DKIM-Signature']) assert.ok(!isTraceField(f), f);
  });

  test('CRLF, LF and bare CR line endings, trailing line breaks and leading blank lines give one key', async () => {
    const base = await fp(msg(BASE_HEADERS, BODY));
    assert.equal(await fp(msg(BASE_HEADERS, BODY, '\n')), base);
    assert.equal(await fp(msg(BASE_HEADERS, BODY, '\r')), base);
    assert.equal(await fp(`${msg(BASE_HEADERS, BODY)}\r\n\r\n`), base);
    assert.equal(await fp(`\r\n${msg(BASE_HEADERS, BODY)}`), base);
  });

  test('folding a header field does not matter; other white space does', async () => {
    const flat = msg(BASE_HEADERS.map((h) => (h.startsWith('Subject:') ? 'Subject: Antrag auf Wohngeld' : h)), BODY);
    const folded = msg(BASE_HEADERS.map((h) => (h.startsWith('Subject:') ? 'Subject: Antrag\r\n auf\r\n\tWohngeld' : h)), BODY);
    const doubled = msg(BASE_HEADERS.map((h) => (h.startsWith('Subject:') ? 'Subject: Antrag  auf Wohngeld' : h)), BODY);
    assert.equal(await fp(folded), await fp(flat));
    assert.notEqual(await fp(doubled), await fp(flat));
  });

  test('fields the old key ignored now count: Content-Disposition file name, Content-ID, X- fields', async () => {
    const base = await fp(msg([...BASE_HEADERS, 'Content-Disposition: attachment; filename="a.pdf"'], BODY));
    assert.notEqual(await fp(msg([...BASE_HEADERS, 'Content-Disposition: attachment; filename="b.pdf"'], BODY)), base);
    assert.notEqual(await fp(msg([...BASE_HEADERS, 'Content-Disposition: attachment; filename="a.pdf"', 'Content-ID: <x@y>'], BODY)), base);
    assert.notEqual(await fp(msg([...BASE_HEADERS, 'Content-Disposition: attachment; filename="a.pdf"', 'X-Scan-Job: 17'], BODY)), base);
  });

  test('messages with CR-only line endings that differ are told apart (they were all one key)', async () => {
    const a = await fp(msg(['From: a@x.example', 'Subject: eins'], 'Text A', '\r'));
    const b = await fp(msg(['From: b@x.example', 'Subject: zwei'], 'Text B', '\r'));
    assert.notEqual(a, b);
  });

  test('input that is not a message is keyed by all its bytes, line endings normalised', async () => {
    const junk = Buffer.from('%PDF-1.4\r\n1 0 obj\r\n<< >>\r\n');
    const k = await fp(junk);
    assert.equal(await fp(Buffer.concat([junk, Buffer.from('\r\n')])), k, 'a final CRLF added by a client');
    assert.equal(await fp(Buffer.from(junk.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')), k);
    assert.notEqual(await fp(Buffer.from('%PDF-1.5\r\n1 0 obj\r\n<< >>\r\n')), k);
    assert.notEqual(await fp(Buffer.alloc(0)), k);
  });

  test('the parse computes the same key in its one pass, also for input it cannot read', async () => {
    const spool = path.join(tmpdir(), 'pe-fingerprint-test');
    const raw = Buffer.from(msg([...TRACE, ...BASE_HEADERS, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'], 'Grüße\n'));
    const p = await parseMessage(stream(raw, 5), spool);
    try {
      assert.equal(p.fingerprint, await fp(raw));
    } finally {
      await discardParsed(p);
    }
    const junk = Buffer.from('kein Header\r\nFrom: x@y\r\n\r\nText\r\n');
    const e = await parseMessage(stream(junk), spool).then(
      () => assert.fail('input without a header section must be refused by the parse'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof ParseError);
    assert.equal(e.fingerprint, await fp(junk));
  });
});

/** A small seeded PRNG (mulberry32), so that every run checks the same cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const WORDS = ['Antrag', 'Bescheid', 'Wohngeld', 'Frist', 'Akte', 'Scan', 'Müller', 'Straße', 'Jugendamt', '2021', 'Az', 'Rückfrage'];
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A random message: originator fields, maybe MIME with parts whose headers carry names and Content-IDs. */
function randomMessage(r: ReturnType<typeof prng>, n: number): { headers: string[]; body: string } {
  const words = (k: number) => Array.from({ length: 1 + r.int(k) }, () => r.pick(WORDS)).join(' ');
  const headers = [`From: ${r.pick(WORDS)} <p${r.int(50)}@agency.example>`, `To: scan@agency.example`, `Subject: ${words(6)} ${n}`];
  if (r.next() < 0.6) headers.push(`Message-ID: <${n}.${r.int(1e6)}@agency.example>`);
  if (r.next() < 0.6) headers.push(`Date: Tue, 0${1 + r.int(9)} Mar 2021 10:00:00 +0100`);
  if (r.next() < 0.3) headers.push(`X-Scanner-Job: ${r.int(1000)}`);
  if (r.next() < 0.5) {
    const b = `b${r.int(1e6)}`;
    headers.push('MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${b}"`);
    const parts = [`--${b}\nContent-Type: text/plain; charset=utf-8\n\n${words(20)}\n`];
    for (let i = 0; i < 1 + r.int(3); i++) {
      parts.push(
        `--${b}\nContent-Type: application/pdf; name="${r.pick(WORDS)}${i}.pdf"\nContent-Disposition: attachment; filename="${r.pick(WORDS)}${i}.pdf"\n${r.next() < 0.5 ? `Content-ID: <c${r.int(1e4)}@x>\n` : ''}Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK${ALNUM.slice(r.int(20), 30)}\n`,
      );
    }
    return { headers, body: `${parts.join('')}--${b}--\n` };
  }
  return { headers, body: `${words(30)}\n${r.next() < 0.5 ? `\n${words(10)}\n` : ''}` };
}

/** Positions of letters and digits in `s` (a change there is never white space or a line end). */
function alnumPositions(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) if (ALNUM.includes(s[i]!)) out.push(i);
  return out;
}

describe('fingerprint: properties (seeded, 150 messages)', () => {
  const r = prng(20261207);
  const cases = Array.from({ length: 150 }, (_, n) => randomMessage(r, n));

  test('the same message in another form keeps its key: line endings, trace fields, folding, final line breaks, chunking', async () => {
    for (const [n, m] of cases.entries()) {
      const base = await fp(msg(m.headers, m.body));
      const eol = r.pick(['\n', '\r', '\r\n']);
      const withTrace = [...m.headers];
      for (let i = 0; i < 1 + r.int(3); i++) withTrace.splice(r.int(withTrace.length + 1), 0, r.pick(TRACE));
      const folded = m.headers.map((h) => (h.startsWith('Subject:') ? h.replace(/ (?=\S)/, '\r\n\t') : h));
      assert.equal(await fp(msg(m.headers, m.body, eol)), base, `case ${n}: line ends ${JSON.stringify(eol)}`);
      assert.equal(await fp(msg(withTrace, m.body)), base, `case ${n}: trace fields`);
      assert.equal(await fp(msg(folded, m.body)), base, `case ${n}: folded Subject`);
      assert.equal(await fp(`${msg(m.headers, m.body)}\r\n`), base, `case ${n}: final CRLF`);
      assert.equal(await fp(Buffer.from(msg(m.headers, m.body)), 1 + r.int(40)), base, `case ${n}: chunking`);
    }
  });

  test('any change beyond those gives another key: one character changed, added or removed anywhere; a field added, dropped or reordered', async () => {
    const seen = new Map<string, string>();
    for (const [n, m] of cases.entries()) {
      const original = msg(m.headers, m.body);
      const base = await fp(original);
      const variants: [string, string][] = [];
      const positions = alnumPositions(original);
      for (let k = 0; k < 6; k++) {
        const at = r.pick(positions);
        const c = original[at]!;
        const other = ALNUM[(ALNUM.indexOf(c) + 1 + r.int(ALNUM.length - 1)) % ALNUM.length]!;
        variants.push([`changed ${JSON.stringify(c)}→${JSON.stringify(other)} at ${at}`, original.slice(0, at) + other + original.slice(at + 1)]);
        variants.push([`added ${JSON.stringify(other)} at ${at}`, original.slice(0, at) + other + original.slice(at)]);
        variants.push([`removed ${JSON.stringify(c)} at ${at}`, original.slice(0, at) + original.slice(at + 1)]);
      }
      variants.push(['X- field added', msg([...m.headers, 'X-Note: 1'], m.body)]);
      variants.push(['a field dropped', msg(m.headers.slice(0, -1), m.body)]);
      variants.push(['two fields swapped', msg([m.headers[1]!, m.headers[0]!, ...m.headers.slice(2)], m.body)]);
      for (const [what, v] of variants) {
        if (v === original) continue;
        assert.notEqual(await fp(v), base, `case ${n}: ${what}`);
      }
      // and no two different messages of the set share a key
      assert.equal(seen.get(base), undefined, `case ${n} has the key of case ${seen.get(base)}`);
      seen.set(base, String(n));
    }
  });
});
