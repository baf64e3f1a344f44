// The inbound queue (ingest/queue.ts, queue-files.ts) on its own, on the real file system: what
// it writes before it lets SMTP answer 250, what it does with what a crash left behind, and how
// it retries. The ingest it feeds is a recording function here; the SMTP tests run it with the
// real pipeline.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import type { IngestResult } from '../../src/ingest/ingest.js';
import { openInboundQueue } from '../../src/ingest/queue.js';
import { SizeLimitError, type RawMessage } from '../../src/ingest/raw.js';
import type { SmtpSource } from '../../src/ingest/source.js';
import { tempDir } from '../helpers/env.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const source: SmtpSource = {
  kind: 'smtp',
  channels: ['scanner'],
  sessionId: 'abc',
  peer: { address: '127.0.0.1', port: 40000 },
  helo: 'mfp',
  envelope: { mailFrom: 'mfp@agency.example', rcptTo: ['scan@agency.example'] },
  tls: null,
  authUser: null,
};
const message = (n: number) => Buffer.from(`From: mfp@agency.example\r\nSubject: Scan ${n}\r\n\r\nbody ${n} äöü\r\n`, 'utf8');
const readAll = async (raw: RawMessage) => {
  const parts: Buffer[] = [];
  for await (const c of raw.open()) parts.push(c as Buffer);
  return Buffer.concat(parts);
};
const files = (dir: string, sub: string) => {
  try {
    return readdirSync(path.join(dir, sub));
  } catch {
    return [];
  }
};
const result = (n: number): IngestResult => ({ messageId: n, duplicate: false, parseError: null, tasks: [] });

/** A recording ingest: keeps the bytes and source of each call; `fail` decides per call whether to throw. */
function recorder(fail: (call: number, bytes: Buffer) => boolean = () => false) {
  const calls: { bytes: Buffer; sha256: string; size: number; source: SmtpSource }[] = [];
  let n = 0;
  return {
    calls,
    async ingest(raw: RawMessage, s: SmtpSource) {
      const bytes = await readAll(raw);
      if (fail(++n, bytes)) throw new Error('database unreachable');
      calls.push({ bytes, sha256: raw.sha256, size: raw.size, source: s });
      return result(n);
    },
  };
}

const silent = pino({ level: 'silent' });

describe('inbound queue', () => {
  const tmp = tempDir('pe-queue-');
  after(() => tmp.cleanup());
  let seq = 0;
  const newDir = () => path.join(tmp.dir, `q${++seq}`);

  test('accept writes header and bytes into new/<id> before it resolves; the ingest gets exactly the bytes; the file goes after the commit', async () => {
    const dir = newDir();
    const rec = recorder();
    const q = await openInboundQueue({ dir, log: silent, ingest: rec.ingest, alreadyStored: async () => new Set() });
    const bytes = message(1);
    const id = await q.accept(Readable.from([bytes.subarray(0, 10), bytes.subarray(10)]), source, 1_000_000);
    assert.match(id, /^[0-9a-z]+$/);
    // on disk now: the entry is complete in new/ (the ingest has only begun to read it; the file goes after its commit)
    assert.deepEqual(files(dir, 'new'), [id]);
    const onDisk = readFileSync(path.join(dir, 'new', id));
    await q.drained();
    assert.equal(rec.calls.length, 1);
    assert.deepEqual(rec.calls[0]!.bytes, bytes);
    assert.equal(rec.calls[0]!.size, bytes.length);
    assert.equal(rec.calls[0]!.sha256, sha256(bytes));
    assert.equal(rec.calls[0]!.source.queueId, id, 'the source names the queue id');
    assert.ok(onDisk.toString('utf8').startsWith('POSTEINGANG-QUEUE 1 '), 'the queue header');
    assert.ok(onDisk.subarray(onDisk.length - bytes.length).equals(bytes), 'the message bytes at the end');
    assert.deepEqual(files(dir, 'new'), [], 'removed after the commit');
    assert.deepEqual(files(dir, 'tmp'), []);
    const stats = q.stats();
    assert.equal(stats.depth, 0);
    assert.ok(stats.latencyP95Ms !== null && stats.latencyP95Ms >= 0);
    await q.close();
  });

  test('past the size limit: SizeLimitError, the stream is read to its end, nothing is left on disk', async () => {
    const dir = newDir();
    const rec = recorder();
    const q = await openInboundQueue({ dir, log: silent, ingest: rec.ingest, alreadyStored: async () => new Set() });
    const big = Buffer.alloc(600 * 1024, 0x41);
    const stream = Readable.from([big.subarray(0, 300 * 1024), big.subarray(300 * 1024)]);
    await assert.rejects(q.accept(stream, source, 400 * 1024), SizeLimitError);
    assert.equal(stream.readableEnded, true, 'drained, so that the client can be answered');
    assert.deepEqual([files(dir, 'tmp'), files(dir, 'new')], [[], []]);
    await q.drained();
    assert.equal(rec.calls.length, 0);
    await q.close();
  });

  test('a stream that fails half-way (connection lost) leaves nothing, and the error comes through', async () => {
    const dir = newDir();
    const rec = recorder();
    const q = await openInboundQueue({ dir, log: silent, ingest: rec.ingest, alreadyStored: async () => new Set() });
    const stream = new PassThrough();
    const accepted = q.accept(stream, source, 10_000_000);
    stream.write(Buffer.alloc(512 * 1024, 0x42)); // past one write chunk: the tmp file exists
    setImmediate(() => stream.destroy(new Error('socket closed')));
    await assert.rejects(accepted, /socket closed/);
    assert.deepEqual([files(dir, 'tmp'), files(dir, 'new')], [[], []]);
    assert.equal(q.stats().depth, 0);
    await q.close();
  });

  test('at start: new/ entries are ingested oldest first, tmp/ leftovers removed, a stored queue id only removed, a foreign file moved to bad/', async () => {
    const dir = newDir();
    // a first run accepts three messages; its ingest never succeeds (the crash before the commit)
    const down = recorder(() => true);
    const first = await openInboundQueue({ dir, log: silent, ingest: down.ingest, alreadyStored: async () => new Set() });
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push(await first.accept(Readable.from([message(n)]), source, 1_000_000));
    await first.close();
    assert.deepEqual(files(dir, 'new').sort(), [...ids].sort(), 'all three still queued');
    // what a crash leaves besides: a half-written file, and something that is not a queue entry
    writeFileSync(path.join(dir, 'tmp', 'zzpartial'), 'POSTEINGANG-QUEUE 1 5\n{"so');
    writeFileSync(path.join(dir, 'new', 'zzforeign'), 'not a queue file');
    const logged: { queueId?: string; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void logged.push(JSON.parse(l) as { msg: string }) });

    const rec = recorder();
    // message 2 was committed before the crash took away the removal
    const second = await openInboundQueue({ dir, log, ingest: rec.ingest, alreadyStored: async (q) => new Set(q.filter((i) => i === ids[1])) });
    await second.drained();
    assert.deepEqual(
      rec.calls.map((c) => c.bytes.toString('utf8')),
      [message(1), message(3)].map((b) => b.toString('utf8')),
      'messages 1 and 3, in the order they were accepted; 2 not again',
    );
    assert.deepEqual(rec.calls.map((c) => c.source.queueId), [ids[0], ids[2]]);
    assert.deepEqual(files(dir, 'new'), []);
    assert.deepEqual(files(dir, 'tmp'), []);
    assert.deepEqual(files(dir, 'bad'), ['zzforeign'], 'kept, not deleted');
    assert.equal(readFileSync(path.join(dir, 'bad', 'zzforeign'), 'utf8'), 'not a queue file');
    assert.ok(logged.some((l) => l.queueId === 'zzforeign' && /moved aside/.test(l.msg)), 'the foreign file is logged');
    await second.close();
  });

  test('a failed ingest is retried with backoff and does not hold up the next message; a retry that finds its commit does not ingest again', async () => {
    const dir = newDir();
    const failOnce = new Set<string>();
    const rec = recorder((_, bytes) => {
      const key = bytes.toString('utf8');
      if (!key.includes('Scan 1') || failOnce.has(key)) return false;
      failOnce.add(key);
      return true;
    });
    const q = await openInboundQueue({ dir, log: silent, ingest: rec.ingest, alreadyStored: async () => new Set(), concurrency: 1 });
    await q.accept(Readable.from([message(1)]), source, 1_000_000);
    await q.accept(Readable.from([message(2)]), source, 1_000_000);
    // message 2 gets through while message 1 waits for its retry
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise((r) => setImmediate(r));
    };
    await until(() => q.stats().depth === 1);
    assert.equal(rec.calls.length, 1);
    assert.match(rec.calls[0]!.bytes.toString('utf8'), /Scan 2/);
    assert.equal(q.stats().retrying, 1, 'message 1 waits for its retry');
    await q.drained();
    assert.match(rec.calls[1]!.bytes.toString('utf8'), /Scan 1/, 'retried and stored');
    assert.equal(q.stats().retrying, 0);
    await q.close();

    // the commit happened but its answer was lost: the retry asks first, and only removes
    const dir2 = newDir();
    let committed = false;
    let ingests = 0;
    const q2 = await openInboundQueue({
      dir: dir2,
      log: silent,
      ingest: async () => {
        ingests++;
        committed = true;
        throw new Error('connection lost after COMMIT');
      },
      alreadyStored: async (ids) => new Set(committed ? ids : []),
    });
    await q2.accept(Readable.from([message(9)]), source, 1_000_000);
    await q2.drained();
    assert.equal(ingests, 1, 'not ingested a second time');
    assert.deepEqual(files(dir2, 'new'), []);
    await q2.close();
  });

  test('a backlog goes in one batch; a message the batch could not store is retried alone', async () => {
    const dir = newDir();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const singles: string[] = [];
    const batches: string[][] = [];
    const subject = (b: Buffer) => /Subject: (.*)\r/.exec(b.toString('utf8'))![1]!;
    const q = await openInboundQueue({
      dir,
      log: silent,
      async ingest(raw) {
        singles.push(subject(await readAll(raw)));
        if (singles.length === 1) await gate; // the first ingest takes its time: a backlog forms
        return result(singles.length);
      },
      async ingestBatch(items) {
        const names = await Promise.all(items.map(async (i) => subject(await readAll(i.raw))));
        batches.push(names);
        return names.map((n, i) => (n === 'Scan 3' ? new Error('statement failed') : result(100 + i)));
      },
      alreadyStored: async () => new Set(),
    });
    for (const n of [1, 2, 3, 4, 5]) await q.accept(Readable.from([message(n)]), source, 1_000_000);
    release();
    await q.drained();
    assert.deepEqual(batches, [['Scan 2', 'Scan 3', 'Scan 4', 'Scan 5']], 'the four that waited, in one batch, in order');
    assert.deepEqual(singles, ['Scan 1', 'Scan 3'], 'the first alone (nothing waited behind it), and the failed one retried alone');
    assert.deepEqual(files(dir, 'new'), []);
    await q.close();
  });
});
