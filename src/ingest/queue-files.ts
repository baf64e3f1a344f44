import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { SizeLimitError, type RawMessage } from './raw.js';
import type { SmtpSource } from './source.js';

/**
 * The durable inbound queue on disk (DATA_DIR/queue): one file per accepted message, written to
 * `tmp/`, flushed (fdatasync), renamed into `new/`, and `new/` flushed, before the SMTP `250`.
 * The same scheme as Maildir and Postfix's incoming queue: a file in `new/` is complete and on
 * disk; one left in `tmp/` by a crash was never acknowledged and is removed at start.
 *
 * File layout: the line `POSTEINGANG-QUEUE 1 <n>\n`, `n` bytes of JSON (QueueMeta), `\n`, then
 * the message bytes exactly as received (RFC 5322, after SMTP dot-unstuffing).
 */

/** What the queue keeps with the bytes: where they came from, and when the `250` was given. */
export interface QueueMeta {
  source: SmtpSource;
  /** milliseconds since the epoch when the message was accepted */
  acceptedAt: number;
}

/** One message in the queue. `raw` reads the message bytes only (not the header). */
export interface QueueEntry {
  id: string;
  meta: QueueMeta;
  raw: RawMessage;
}

const MAGIC = 'POSTEINGANG-QUEUE 1 ';
/** Bytes collected in memory before one write(2) (fewer system calls for small messages). */
const WRITE_CHUNK = 256 * 1024;

/**
 * A queue id: sortable by time (milliseconds in base 36) and unique (random suffix); only
 * `[0-9a-z]`, so it is safe in a file name and in an SMTP reply.
 */
function newQueueId(now: number): string {
  return `${now.toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

/**
 * Coalesces directory flushes: a caller that arrives while one runs waits for the next, so
 * one fsync(2) covers every rename made before it started.
 */
class DirectoryFlush {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  constructor(private readonly dir: FileHandle) {}

  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.dir.sync().finally(() => (this.running = null));
      return this.running;
    }
    this.next ??= this.running.then(
      () => ((this.next = null), this.flush()),
      () => ((this.next = null), this.flush()),
    );
    return this.next;
  }
}

export interface QueueFiles {
  /**
   * Writes one message from `stream` into the queue and returns once it is on disk (file and
   * directory entry flushed): only then may the sender be told `250`.
   * @param maxBytes past it the rest is drained and SizeLimitError is thrown (nothing kept)
   * @throws SizeLimitError; the stream's error when the connection dropped; fs errors (nothing kept)
   */
  write(stream: Readable, source: SmtpSource, maxBytes: number): Promise<QueueEntry>;
  /**
   * Every complete entry, oldest first (start-up replay). A file that is not a queue entry is
   * moved aside to `bad/` (never deleted) and reported to `onBad` with its name and why.
   */
  list(onBad: (id: string, reason: string) => void): Promise<QueueEntry[]>;
  /** Drops an entry once its message is committed to the database. */
  remove(id: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens (creating) the queue directory and removes what a crash left in `tmp/`.
 * @param dir e.g. `DATA_DIR/queue`
 */
export async function openQueueFiles(dir: string): Promise<QueueFiles> {
  const tmpDir = path.join(dir, 'tmp');
  const newDir = path.join(dir, 'new');
  const badDir = path.join(dir, 'bad');
  await rm(tmpDir, { recursive: true, force: true });
  for (const d of [tmpDir, newDir]) await mkdir(d, { recursive: true, mode: 0o700 });
  const newHandle = await open(newDir, 'r');
  const dirFlush = new DirectoryFlush(newHandle);

  function entryOf(id: string, meta: QueueMeta, offset: number, size: number, sha256: string): QueueEntry {
    const file = path.join(newDir, id);
    return {
      id,
      meta,
      raw: {
        size,
        sha256,
        open: () => createReadStream(file, { start: offset }),
        discard: async () => {},
      },
    };
  }

  return {
    async write(stream, source, maxBytes) {
      const acceptedAt = Date.now();
      const id = newQueueId(acceptedAt);
      const meta: QueueMeta = { source: { ...source, queueId: id }, acceptedAt };
      const json = Buffer.from(JSON.stringify(meta), 'utf8');
      const header = Buffer.concat([Buffer.from(`${MAGIC}${json.length}\n`, 'latin1'), json, Buffer.from('\n')]);
      const tmpFile = path.join(tmpDir, id);
      const hash = createHash('sha256');
      let size = 0;
      let exceeded = false;
      let pending: Buffer[] = [header];
      let pendingBytes = header.length;
      let fh: FileHandle | null = null;
      const flushPending = async () => {
        if (pendingBytes === 0) return;
        fh ??= await open(tmpFile, 'wx', 0o600);
        const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        await fh.write(bytes, 0, bytes.length);
      };
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > maxBytes) exceeded = true;
          if (exceeded) continue; // keep draining so that the client can be answered
          hash.update(chunk);
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= WRITE_CHUNK) await flushPending();
        }
        if (exceeded) throw new SizeLimitError(maxBytes);
        await flushPending();
        await fh!.datasync();
        await fh!.close();
        fh = null;
        await rename(tmpFile, path.join(newDir, id));
      } catch (err) {
        await (fh as FileHandle | null)?.close().catch(() => {});
        await rm(tmpFile, { force: true });
        throw err;
      }
      await dirFlush.flush();
      return entryOf(id, meta, header.length, size, hash.digest('hex'));
    },

    async list(onBad) {
      const names = (await readdir(newDir)).sort();
      const entries: QueueEntry[] = [];
      for (const id of names) {
        const file = path.join(newDir, id);
        try {
          const bytes = await readFile(file);
          const eol = bytes.indexOf(0x0a);
          const first = bytes.subarray(0, eol).toString('latin1');
          if (eol < 0 || !first.startsWith(MAGIC)) throw new Error('no queue header');
          const n = Number(first.slice(MAGIC.length));
          const meta = JSON.parse(bytes.subarray(eol + 1, eol + 1 + n).toString('utf8')) as QueueMeta;
          const offset = eol + 1 + n + 1;
          if (!meta?.source || meta.source.kind !== 'smtp' || bytes[offset - 1] !== 0x0a) throw new Error('bad queue header');
          const body = bytes.subarray(offset);
          entries.push(entryOf(id, meta, offset, body.length, createHash('sha256').update(body).digest('hex')));
        } catch (err) {
          // never delete what might be mail: keep it for an admin to look at
          await mkdir(badDir, { recursive: true, mode: 0o700 });
          await rename(file, path.join(badDir, id));
          onBad(id, (err as Error).message);
        }
      }
      return entries;
    },

    async remove(id) {
      await rm(path.join(newDir, id), { force: true });
    },

    async close() {
      await newHandle.close();
    },
  };
}
