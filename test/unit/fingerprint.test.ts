/**
 * fingerprint(): the redelivery key over the originator header fields and the body.
 * Header lines are given as mailparser gives them (lower-case key, whole folded line), the raw
 * message as a stream; the body is what follows the first empty line (RFC 5322 §2.1).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fingerprint, rawFingerprint } from '../../src/ingest/fingerprint.js';
import { discardParsed, parseMessage } from '../../src/ingest/parse.js';

type HeaderLine = { key: string; line: string };

/** Builds header lines and the raw bytes of one message from `Name: value` lines and a body. */
function msg(headers: string[], body: string, eol = '\r\n') {
  const headerLines: HeaderLine[] = headers.map((line) => ({ key: line.slice(0, line.indexOf(':')).toLowerCase(), line }));
  const raw = Buffer.from(`${headers.join(eol)}${eol}${eol}${body.replace(/\r?\n/g, eol)}`);
  return { headerLines, raw };
}

/** The raw bytes as a stream, optionally cut into chunks of `size` bytes. */
function stream(raw: Buffer, size?: number): Readable {
  if (!size) return Readable.from([raw]);
  const parts: Buffer[] = [];
  for (let i = 0; i < raw.length; i += size) parts.push(raw.subarray(i, i + size));
  return Readable.from(parts);
}

const fp = (m: { headerLines: HeaderLine[]; raw: Buffer }, chunk?: number) => fingerprint(m.headerLines, stream(m.raw, chunk));

const BASE_HEADERS = [
  'From: Anna Berger <anna.berger@agency.example>',
  'To: tauoffice@agency.example',
  'Subject: Antrag',
  'Date: Tue, 02 Mar 2021 10:00:00 +0100',
  'Message-ID: <a1@agency.example>',
];
const BODY = 'Sehr geehrte Damen und Herren,\nanbei der Antrag.\n\nGruß\n';

describe('fingerprint', () => {
  test('has the documented form v1:<64 lower-case hex>', async () => {
    assert.match(await fp(msg(BASE_HEADERS, BODY)), /^v1:[0-9a-f]{64}$/);
  });

  test('is deterministic', async () => {
    assert.equal(await fp(msg(BASE_HEADERS, BODY)), await fp(msg(BASE_HEADERS, BODY)));
  });

  test('trace header fields are ignored (Received, Return-Path, Delivered-To, X-Original-To, Authentication-Results)', async () => {
    const trace = [
      'Received: from mx.example.org by mail.agency.example; Tue, 02 Mar 2021 10:00:05 +0100',
      'Return-Path: <anna.berger@agency.example>',
      'Delivered-To: tauoffice@agency.example',
      'X-Original-To: tauoffice@agency.example',
      'Authentication-Results: mail.agency.example; spf=pass',
      'X-Spam-Status: No',
    ];
    assert.equal(await fp(msg([...trace, ...BASE_HEADERS], BODY)), await fp(msg(BASE_HEADERS, BODY)));
    // trace fields between originator fields do not count either
    const interleaved = [BASE_HEADERS[0]!, trace[0]!, ...BASE_HEADERS.slice(1), trace[1]!];
    assert.equal(await fp(msg(interleaved, BODY)), await fp(msg(BASE_HEADERS, BODY)));
  });

  test('a change in the body changes it', async () => {
    const a = await fp(msg(BASE_HEADERS, BODY));
    assert.notEqual(await fp(msg(BASE_HEADERS, BODY.replace('Antrag.', 'Antrag!'))), a);
    assert.notEqual(await fp(msg(BASE_HEADERS, `${BODY}Nachtrag\n`)), a);
    assert.notEqual(await fp(msg(BASE_HEADERS, '')), a);
  });

  test('a change in an originator field changes it (same Message-ID, other Subject / From / Date)', async () => {
    const a = await fp(msg(BASE_HEADERS, BODY));
    const swap = (i: number, line: string) => BASE_HEADERS.map((h, j) => (j === i ? line : h));
    assert.notEqual(await fp(msg(swap(2, 'Subject: Antrag (korrigiert)'), BODY)), a);
    assert.notEqual(await fp(msg(swap(0, 'From: Otto Krause <otto.krause@agency.example>'), BODY)), a);
    assert.notEqual(await fp(msg(swap(3, 'Date: Tue, 02 Mar 2021 10:00:01 +0100'), BODY)), a);
    assert.notEqual(await fp(msg(swap(4, 'Message-ID: <a2@agency.example>'), BODY)), a);
  });

  test('a message without Message-ID is keyed by its content', async () => {
    const noId = BASE_HEADERS.filter((h) => !h.startsWith('Message-ID'));
    assert.equal(await fp(msg(noId, BODY)), await fp(msg(noId, BODY)));
    assert.notEqual(await fp(msg(noId, BODY)), await fp(msg(noId, `${BODY}x`)));
    assert.notEqual(await fp(msg(noId, BODY)), await fp(msg(BASE_HEADERS, BODY)));
  });

  test('line endings are normalised: CRLF and bare LF agree', async () => {
    const crlf = msg(BASE_HEADERS, BODY, '\r\n');
    const lf = msg(BASE_HEADERS, BODY, '\n');
    assert.ok(crlf.raw.includes('\r\n') && !lf.raw.includes('\r'));
    assert.equal(await fp(lf), await fp(crlf));
  });

  test('trailing line breaks of the body are ignored', async () => {
    const a = await fp(msg(BASE_HEADERS, 'Text'));
    assert.equal(await fp(msg(BASE_HEADERS, 'Text\n')), a);
    assert.equal(await fp(msg(BASE_HEADERS, 'Text\n\n\n')), a);
    // but inner empty lines count
    assert.notEqual(await fp(msg(BASE_HEADERS, 'Te\n\nxt')), await fp(msg(BASE_HEADERS, 'Te\nxt')));
  });

  test('folding and runs of white space in a header field do not matter', async () => {
    const folded = BASE_HEADERS.map((h) => (h.startsWith('Subject:') ? 'Subject: Antrag\r\n  auf   Wohngeld' : h));
    const flat = BASE_HEADERS.map((h) => (h.startsWith('Subject:') ? 'Subject: Antrag auf Wohngeld' : h));
    assert.equal(await fp(msg(folded, BODY)), await fp(msg(flat, BODY)));
  });

  test('the result does not depend on how the stream is chunked', async () => {
    const m = msg(BASE_HEADERS, BODY);
    const whole = await fp(m);
    for (const size of [1, 2, 3, 7, 64]) assert.equal(await fp(m, size), whole, `chunks of ${size} bytes`);
    const lf = msg(BASE_HEADERS, BODY, '\n');
    for (const size of [1, 2, 5]) assert.equal(await fp(lf, size), whole, `LF copy, chunks of ${size} bytes`);
  });

  test('the body begins after the first empty line, also when it is split across chunks', async () => {
    // the same body under header sections of different length gives the same body part:
    // only the originator fields and the body count, so adding an ignored field changes nothing
    const m1 = msg(BASE_HEADERS, 'A\nB');
    const m2 = msg(['X-Mailer: Scanner 1.0', ...BASE_HEADERS], 'A\nB');
    const boundary = m2.raw.indexOf('\r\n\r\n');
    assert.equal(await fingerprint(m2.headerLines, Readable.from([m2.raw.subarray(0, boundary + 2), m2.raw.subarray(boundary + 2)])), await fp(m1));
  });

  test('with header lines as mailparser gives them for a real message', async () => {
    const crlf = Buffer.from(
      `${['Received: from x by y; Tue, 02 Mar 2021 10:00:05 +0100', ...BASE_HEADERS, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'].join('\r\n')}\r\n\r\nGrüße\r\n`,
    );
    const lf = Buffer.from(crlf.toString('utf8').replace(/\r\n/g, '\n').replace(/^Received:.*\n/, ''));
    const spool = path.join(tmpdir(), 'pe-fingerprint-test');
    const p1 = await parseMessage(Readable.from([crlf]), spool);
    const p2 = await parseMessage(Readable.from([lf]), spool);
    try {
      assert.ok(p1.headerLines.some((h) => h.key === 'received'));
      assert.equal(await fingerprint(p1.headerLines, Readable.from([crlf])), await fingerprint(p2.headerLines, Readable.from([lf])));
    } finally {
      await discardParsed(p1);
      await discardParsed(p2);
    }
  });
});

describe('rawFingerprint', () => {
  test('keys unparsable input by its bytes, apart from parsed fingerprints', async () => {
    const a = 'ab'.repeat(32);
    const b = 'cd'.repeat(32);
    assert.equal(rawFingerprint(a), rawFingerprint(a));
    assert.notEqual(rawFingerprint(a), rawFingerprint(b));
    assert.ok(rawFingerprint(a).includes(a));
    // cannot coincide with the key of a parsed message
    assert.ok(!rawFingerprint(a).startsWith('v1:'));
    assert.notEqual(rawFingerprint(a), await fp(msg(BASE_HEADERS, BODY)));
  });
});
