// ingestBatch (ingest/ingest.ts): several messages in one transaction, a savepoint each. What a
// batch must keep from `ingest`: every message stored once with its task, a redelivery inside
// the same batch recognised, and a message whose statements fail rolled back alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { channelSetting, message, receipt, task } from '../../src/db/schema.js';
import type { IngestResult } from '../../src/ingest/ingest.js';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import type { FileSource } from '../../src/ingest/source.js';
import type { AppContext } from '../../src/context.js';
import { queryRows } from '../../src/db/rows.js';
import { testContext } from '../helpers/env.js';

const mail = (n: number) =>
  Buffer.from(`From: mfp@agency.example\r\nTo: scan@agency.example\r\nSubject: Batch ${n}\r\nMessage-ID: <batch-${n}@agency.example>\r\n\r\nbody ${n}\r\n`);
const from = (channel: 'scanner' | 'general', n: number): FileSource => ({ kind: 'file', channels: [channel], path: `batch-${n}.eml` });
const ok = (r: IngestResult | Error): IngestResult => {
  if (r instanceof Error) throw r;
  return r;
};

describe('ingestBatch', () => {
  let ctx: AppContext;
  let close: () => Promise<void>;
  before(async () => {
    ({ ctx, close } = await testContext());
  });
  after(() => close());

  test('stores each message once with its task; the same bytes twice in one batch are one message, two receipts', async () => {
    const out = await ctx.ingestBatch([1, 2, 1].map((n) => ({ raw: rawFromBuffer(mail(n)), source: from('scanner', n) })));
    const [a, b, c] = out.map(ok);
    assert.equal(a!.duplicate, false);
    assert.equal(b!.duplicate, false);
    assert.notEqual(a!.messageId, b!.messageId);
    assert.equal(c!.duplicate, true, 'the third is a redelivery of the first');
    assert.equal(c!.messageId, a!.messageId);
    const messages = await ctx.db.select({ id: message.id, subject: message.subject }).from(message).orderBy(message.id);
    assert.deepEqual(messages.map((m) => m.subject), ['Batch 1', 'Batch 2']);
    assert.equal((await ctx.db.select().from(task)).length, 2);
    assert.equal((await ctx.db.select().from(receipt)).length, 3);
  });

  test('a message that cannot be stored is rolled back alone; the others of the batch commit', async () => {
    // the general channel loses its settings: a task there cannot be created (ingest throws)
    await ctx.db.delete(channelSetting).where(eq(channelSetting.channel, 'general'));
    const out = await ctx.ingestBatch([
      { raw: rawFromBuffer(mail(10)), source: from('scanner', 10) },
      { raw: rawFromBuffer(mail(11)), source: from('general', 11) },
      { raw: rawFromBuffer(mail(12)), source: from('scanner', 12) },
    ]);
    assert.ok(!(out[0] instanceof Error));
    assert.ok(out[1] instanceof Error, 'the general one failed');
    assert.match(out[1].message, /no settings/);
    assert.ok(!(out[2] instanceof Error));
    const subjects = (await ctx.db.select({ s: message.subject }).from(message)).map((m) => m.s);
    assert.ok(subjects.includes('Batch 10') && subjects.includes('Batch 12'));
    assert.ok(!subjects.includes('Batch 11'), 'nothing of the failed message: no message row');
    const [orphans] = await queryRows<{ n: number }>(ctx.db, sql`select count(*)::int as n from message m where not exists (select 1 from task t where t.message_id = m.id)`);
    assert.equal(orphans!.n, 0, 'every stored message has its task');
  });
});
