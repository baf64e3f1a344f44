/**
 * Exactly once: redeliveries (same bytes, added trace fields, other line endings, another channel,
 * concurrent arrivals) store one message and one task per channel. Each test gets a fresh database.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppContext } from '../../src/context.js';
import type { Channel } from '../../src/db/schema.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import type { Source } from '../../src/ingest/source.js';
import { listMessages, rawMessage, showMessage } from '../../src/services/messages.js';
import { listTasks } from '../../src/services/tasks.js';
import { testContext } from '../helpers/env.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const SCANNER_BASIC = readFileSync(path.join(FIXTURES, 'scanner-basic.eml'));
const NO_MSGID = readFileSync(path.join(FIXTURES, 'scanner-octet-stream-no-msgid.eml'));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const src = (...channels: Channel[]): Source => ({ kind: 'file', channels, path: 'dedupe.test' });

async function withContext(fn: (ctx: AppContext) => Promise<void>): Promise<void> {
  const { ctx, close } = await testContext();
  try {
    await fn(ctx);
  } finally {
    await close();
  }
}

async function counts(ctx: AppContext) {
  const messages = await listMessages(ctx.db, { limit: 1000, offset: 0 });
  const tasks = await listTasks(ctx.db, { limit: 1000 });
  return { messages: messages.length, tasks: tasks.length, taskRows: tasks };
}

async function storedRaw(ctx: AppContext, id: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of (await rawMessage(ctx.db, id)).chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** A small message built here; `extra` header lines go first. */
function message(opts: { messageId?: string; body: string; subject?: string; extra?: string[] }): Buffer {
  return Buffer.from(
    [
      ...(opts.extra ?? []),
      'From: Anna Berger <anna.berger@agency.example>',
      'To: tauoffice@agency.example',
      `Subject: ${opts.subject ?? 'Rückfrage'}`,
      'Date: Tue, 02 Mar 2021 10:00:00 +0100',
      ...(opts.messageId ? [`Message-ID: ${opts.messageId}`] : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      opts.body,
      '',
    ].join('\r\n'),
  );
}

const TRACE = [
  'Received: from mfp-2og.agency.example (mfp-2og.agency.example [192.168.2.10])',
  '\tby mail.agency.example (Postfix) with ESMTP id 4DmQ2x1Y7Zz9v',
  '\tfor <scan@agency.example>; Wed, 24 Feb 2021 10:35:13 +0100 (CET)',
  'Return-Path: <scanner-2og@agency.example>',
  'Delivered-To: scan@agency.example',
  'X-Original-To: scan@agency.example',
];

describe('redelivery recognised (dedupe)', () => {
  test('same bytes twice: one message, one task, second result duplicate', () =>
    withContext(async (ctx) => {
      const r1 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'));
      assert.equal(r1.duplicate, false);
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      assert.equal(r1.tasks.length, 1);
      assert.equal(r2.tasks.length, 1);
      assert.equal(r1.tasks[0]!.created, true);
      assert.equal(r2.tasks[0]!.created, false);
      assert.equal(r2.tasks[0]!.id, r1.tasks[0]!.id);
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 1);
      const m = await showMessage(ctx.db, r1.messageId);
      assert.deepEqual(
        m.receipts.map((x) => x.duplicate),
        [false, true],
        'every delivery is recorded as a receipt',
      );
    }));

  test('same message with Received:, Return-Path: and other trace fields prepended: duplicate', () =>
    withContext(async (ctx) => {
      const relayed = Buffer.concat([Buffer.from(`${TRACE.join('\r\n')}\r\n`), SCANNER_BASIC]);
      assert.notEqual(sha256(relayed), sha256(SCANNER_BASIC));
      const r1 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(relayed), src('scanner'));
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      assert.equal(r2.tasks[0]!.id, r1.tasks[0]!.id);
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 1);
      // the bytes of the first delivery stay the stored message
      assert.ok((await storedRaw(ctx, r1.messageId)).equals(SCANNER_BASIC));
    }));

  test('relayed copy first, original later: duplicate the other way round', () =>
    withContext(async (ctx) => {
      const relayed = Buffer.concat([Buffer.from(`${TRACE.join('\r\n')}\r\n`), SCANNER_BASIC]);
      const r1 = await ctx.ingest(rawFromBuffer(relayed), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'));
      assert.equal(r1.duplicate, false);
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      assert.ok((await storedRaw(ctx, r1.messageId)).equals(relayed));
    }));

  test('same message with CRLF converted to LF: duplicate', () =>
    withContext(async (ctx) => {
      const lf = Buffer.from(SCANNER_BASIC.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      assert.ok(!lf.includes('\r'), 'the converted copy has no CR left');
      assert.ok(lf.length < SCANNER_BASIC.length);
      const r1 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(lf), src('scanner'));
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 1);
    }));

  test('LF copy of a message with 8-bit text and a folded header: duplicate', () =>
    withContext(async (ctx) => {
      const crlf = readFileSync(path.join(FIXTURES, 'scanner-rfc2231-umlaut-filename.eml'));
      const lf = Buffer.from(crlf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      const r1 = await ctx.ingest(rawFromBuffer(lf), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(crlf), src('scanner'));
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
    }));

  test('two different messages sharing one Message-ID: two messages', () =>
    withContext(async (ctx) => {
      const a = message({ messageId: '<same@agency.example>', body: 'Erster Text.' });
      const b = message({ messageId: '<same@agency.example>', body: 'Ganz anderer Text.' });
      const r1 = await ctx.ingest(rawFromBuffer(a), src('general'));
      const r2 = await ctx.ingest(rawFromBuffer(b), src('general'));
      assert.equal(r1.duplicate, false);
      assert.equal(r2.duplicate, false);
      assert.notEqual(r2.messageId, r1.messageId);
      const c = await counts(ctx);
      assert.equal(c.messages, 2);
      assert.equal(c.tasks, 2);
      assert.equal((await showMessage(ctx.db, r1.messageId)).text?.trim(), 'Erster Text.');
      assert.equal((await showMessage(ctx.db, r2.messageId)).text?.trim(), 'Ganz anderer Text.');
    }));

  test('same Message-ID, different Subject: two messages', () =>
    withContext(async (ctx) => {
      const r1 = await ctx.ingest(rawFromBuffer(message({ messageId: '<s@agency.example>', body: 'x', subject: 'Eins' })), src('general'));
      const r2 = await ctx.ingest(rawFromBuffer(message({ messageId: '<s@agency.example>', body: 'x', subject: 'Zwei' })), src('general'));
      assert.equal(r2.duplicate, false);
      assert.notEqual(r2.messageId, r1.messageId);
    }));

  test('message without Message-ID ingested twice: one message (content hash)', () =>
    withContext(async (ctx) => {
      assert.ok(!/^message-id:/im.test(NO_MSGID.toString('latin1')), 'precondition: fixture has no Message-ID');
      const r1 = await ctx.ingest(rawFromBuffer(NO_MSGID), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(NO_MSGID), src('scanner'));
      const r3 = await ctx.ingest(rawFromBuffer(Buffer.concat([Buffer.from(`${TRACE.join('\r\n')}\r\n`), NO_MSGID])), src('scanner'));
      assert.equal(r1.duplicate, false);
      assert.equal(r2.duplicate, true);
      assert.equal(r3.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      assert.equal(r3.messageId, r1.messageId);
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 1);
    }));

  test('messages without Message-ID that differ in the body: two messages', () =>
    withContext(async (ctx) => {
      const r1 = await ctx.ingest(rawFromBuffer(message({ body: 'Scan 1' })), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(message({ body: 'Scan 2' })), src('scanner'));
      assert.equal(r2.duplicate, false);
      assert.notEqual(r2.messageId, r1.messageId);
      assert.equal((await counts(ctx)).messages, 2);
    }));

  test('delivered to scanner and general at once: one message, one task per channel', () =>
    withContext(async (ctx) => {
      const r = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner', 'general'));
      assert.equal(r.duplicate, false);
      assert.equal(r.tasks.length, 2);
      assert.deepEqual(r.tasks.map((t) => t.channel).sort(), ['general', 'scanner']);
      assert.notEqual(r.tasks[0]!.id, r.tasks[1]!.id);
      assert.ok(r.tasks.every((t) => t.created));
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 2);
      // activity type per channel (domain.md: one for imported mail, one for scans)
      const byChannel = new Map(c.taskRows.map((t) => [t.channel, t]));
      assert.equal(byChannel.get('scanner')!.activityType, 'Scan-Eingang');
      assert.equal(byChannel.get('general')!.activityType, 'E-Mail-Eingang');
      assert.ok(c.taskRows.every((t) => t.messageId === r.messageId));
    }));

  test('a channel named twice in one delivery gets one task', () =>
    withContext(async (ctx) => {
      const r = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner', 'scanner'));
      assert.equal(r.tasks.length, 1);
      assert.equal((await counts(ctx)).tasks, 1);
    }));

  test('redelivery to the other channel later: same message, a new task for that channel', () =>
    withContext(async (ctx) => {
      const r1 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'));
      const r2 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('general'));
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      assert.equal(r2.tasks.length, 1);
      assert.equal(r2.tasks[0]!.channel, 'general');
      assert.equal(r2.tasks[0]!.created, true);
      assert.notEqual(r2.tasks[0]!.id, r1.tasks[0]!.id);
      // and once more to both: nothing new
      const r3 = await ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('general', 'scanner'));
      assert.equal(r3.duplicate, true);
      assert.ok(r3.tasks.every((t) => !t.created));
      assert.deepEqual(
        r3.tasks.map((t) => t.id).sort((a, b) => a - b),
        [r1.tasks[0]!.id, r2.tasks[0]!.id].sort((a, b) => a - b),
      );
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 2);
    }));

  test('the same message ingested 10x in parallel: exactly one message and one task', () =>
    withContext(async (ctx) => {
      const results = await Promise.all(Array.from({ length: 10 }, () => ctx.ingest(rawFromBuffer(SCANNER_BASIC), src('scanner'))));
      assert.equal(new Set(results.map((r) => r.messageId)).size, 1);
      assert.equal(results.filter((r) => !r.duplicate).length, 1, 'exactly one delivery stored it');
      assert.equal(new Set(results.map((r) => r.tasks[0]!.id)).size, 1);
      assert.equal(results.filter((r) => r.tasks[0]!.created).length, 1);
      const c = await counts(ctx);
      assert.equal(c.messages, 1);
      assert.equal(c.tasks, 1);
      const m = await showMessage(ctx.db, results[0]!.messageId);
      assert.equal(m.receipts.length, 10);
      assert.equal(m.attachments.length, 1);
    }));

  test('the same message arriving in parallel on both channels: all succeed, one message, two tasks', () =>
    withContext(async (ctx) => {
      // several rounds: a lost race on the task of the second channel must not fail the delivery
      for (let round = 0; round < 5; round++) {
        const bytes = message({ messageId: `<parallel-${round}@agency.example>`, body: `Runde ${round}` });
        const settled = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => ctx.ingest(rawFromBuffer(bytes), src(i % 2 ? 'general' : 'scanner'))),
        );
        const rejected = settled.filter((s) => s.status === 'rejected');
        assert.equal(rejected.length, 0, `round ${round}: ${rejected.map((s) => String((s as PromiseRejectedResult).reason)).join('; ')}`);
        const results = settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<AppContext['ingest']>>>).value);
        assert.equal(new Set(results.map((r) => r.messageId)).size, 1);
        assert.equal(results.filter((r) => !r.duplicate).length, 1);
        assert.equal(results.filter((r) => r.tasks[0]!.created).length, 2, 'one task created per channel');
      }
      const c = await counts(ctx);
      assert.equal(c.messages, 5);
      assert.equal(c.tasks, 10);
    }));
});
