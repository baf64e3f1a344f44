import { and, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/client.js';
import { putBlob } from '../db/blobs.js';
import { attachment, channelSetting, message, receipt, task, taskCandidate, taskEvent, type Channel, type TaskStatus } from '../db/schema.js';
import type { Events } from '../events.js';
import { classifyAutomated } from './auto-reply.js';
import { fingerprint, rawFingerprint } from './fingerprint.js';
import { discardParsed, parseMessage, ParseError, type ParsedMessage } from './parse.js';
import type { RawMessage } from './raw.js';
import { candidatesFor } from './route.js';
import type { Source } from './source.js';

export interface IngestDeps {
  db: Db;
  /** Directory for temporary attachment files (inside DATA_DIR). */
  spoolDir: string;
  events?: Events;
  log?: Logger;
}

export interface IngestedTask {
  id: number;
  channel: Channel;
  status: TaskStatus;
  candidates: number[];
  /** false when the task for this channel existed already (a redelivery) */
  created: boolean;
}

export interface IngestResult {
  messageId: number;
  /** The message was stored before (a redelivery); nothing new was stored but the receipt. */
  duplicate: boolean;
  parseError: string | null;
  tasks: IngestedTask[];
}

class RaceLost extends Error {
  constructor() {
    super('another delivery of the same message was committed concurrently; retrying');
  }
}

/**
 * The one write path for messages (architecture.md): stores the raw bytes as received, parses
 * them, recognises redeliveries, and creates one task per channel in `source.channels`, routed by
 * the sender mapping. Everything is committed in one transaction before this resolves, so a
 * caller may acknowledge (SMTP 250, IMAP `\Seen`, POP3 `DELE`) only after it returned.
 * A message mailparser cannot read is stored raw with `parseError` set and an unassigned task
 * flagged `unreadable`: it is never dropped and never reported as read.
 * @param raw the message bytes (RFC 5322), readable repeatedly
 * @param source where it came from; `channels` must not be empty
 * @returns the stored (or already stored) message and its tasks
 * @throws the database error when the transaction fails (nothing is stored then; the caller
 *   answers with a temporary failure such as SMTP 451 so that the sender retries)
 */
export async function ingest(deps: IngestDeps, raw: RawMessage, source: Source): Promise<IngestResult> {
  if (source.channels.length === 0) throw new Error('ingest: source has no channel');
  const channels = [...new Set(source.channels)];
  let parsed: ParsedMessage | null = null;
  let parseError: string | null = null;
  try {
    parsed = await parseMessage(raw.open(), deps.spoolDir);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    parseError = err.message;
  }
  try {
    const key = parsed ? await fingerprint(parsed.headerLines, raw.open()) : rawFingerprint(raw.sha256);
    let result: IngestResult | undefined;
    for (let attempt = 0; !result; attempt++) {
      try {
        result = await deps.db.transaction((tx) => store(tx, raw, source, channels, key, parsed, parseError));
      } catch (err) {
        // Each lost race means another delivery committed one of the rows this one needs (the
        // message, or the task of one channel), so the next attempt sees it: at most 1 + channels.
        if (!(err instanceof RaceLost) || attempt > channels.length) throw err;
      }
    }
    deps.log?.info(
      {
        messageId: result.messageId,
        duplicate: result.duplicate,
        size: raw.size,
        source: source.kind,
        tasks: result.tasks.map((t) => `${t.id}:${t.channel}:${t.status}`),
        parseError: result.parseError ?? undefined,
      },
      result.duplicate ? 'redelivery recognised' : 'message stored',
    );
    deps.events?.emit('message.stored', {
      messageId: result.messageId,
      duplicate: result.duplicate,
      taskIds: result.tasks.filter((t) => t.created).map((t) => t.id),
      channels,
    });
    return result;
  } finally {
    if (parsed) await discardParsed(parsed);
  }
}

async function store(
  tx: Tx,
  raw: RawMessage,
  source: Source,
  channels: Channel[],
  key: string,
  parsed: ParsedMessage | null,
  parseError: string | null,
): Promise<IngestResult> {
  const receivedAt = new Date();
  let duplicate = true;
  let [existing] = await tx
    .select({ id: message.id, parseError: message.parseError, senderAddress: message.senderAddress })
    .from(message)
    .where(eq(message.fingerprint, key));
  if (!existing) {
    duplicate = false;
    await putBlob(tx, raw);
    const [inserted] = await tx
      .insert(message)
      .values({
        rawSha256: raw.sha256,
        size: raw.size,
        fingerprint: key,
        messageIdHeader: parsed?.messageIdHeader ?? null,
        senderAddress: parsed?.senderAddress ?? null,
        senderName: parsed?.senderName ?? null,
        subject: parsed?.subject ?? null,
        date: parsed?.date ?? receivedAt,
        dateFromHeader: Boolean(parsed?.date),
        text: parsed?.text ?? null,
        html: parsed?.html ?? null,
        parseError,
        // RFC 3834 loop protection: bounces, auto-replies, list and bulk mail are flagged (ingest/auto-reply.ts)
        automated: parsed ? (classifyAutomated(parsed.headerLines, source.kind === 'smtp' ? source.envelope.mailFrom : null)?.kind ?? null) : null,
        receivedAt,
      })
      .onConflictDoNothing()
      .returning({ id: message.id, parseError: message.parseError, senderAddress: message.senderAddress });
    // Another process stored the same message meanwhile: roll back and take the duplicate path.
    if (!inserted) throw new RaceLost();
    existing = inserted;
    for (const a of parsed?.attachments ?? []) {
      await putBlob(tx, a.content);
      await tx.insert(attachment).values({
        messageId: inserted.id,
        position: a.position,
        filename: a.filename,
        contentType: a.contentType,
        declaredContentType: a.declaredContentType,
        size: a.size,
        sha256: a.sha256,
        contentId: a.contentId,
        inline: a.inline,
      });
    }
  }
  await tx.insert(receipt).values({
    messageId: existing.id,
    sourceKind: source.kind,
    source,
    duplicate,
    rawSha256: raw.sha256,
    receivedAt,
  });

  const unreadable = existing.parseError !== null;
  const settings = await tx.select().from(channelSetting).where(inArray(channelSetting.channel, channels));
  const tasks: IngestedTask[] = [];
  let candidates: number[] | undefined;
  for (const channel of channels) {
    // a message inserted just now has no task yet; only a duplicate can
    const [present] = duplicate
      ? await tx
          .select({ id: task.id, status: task.status })
          .from(task)
          .where(and(eq(task.messageId, existing.id), eq(task.channel, channel)))
      : [];
    if (present) {
      const cands = await tx.select({ id: taskCandidate.staffId }).from(taskCandidate).where(eq(taskCandidate.taskId, present.id));
      tasks.push({ id: present.id, channel, status: present.status, candidates: cands.map((c) => c.id), created: false });
      continue;
    }
    const setting = settings.find((s) => s.channel === channel);
    if (!setting) throw new Error(`ingest: channel "${channel}" has no settings (database not seeded)`);
    candidates ??= unreadable ? [] : await candidatesFor(tx, existing.senderAddress);
    const status: TaskStatus = candidates.length === 0 ? 'unassigned' : setting.autoComplete ? 'completed' : 'open';
    const [created] = await tx
      .insert(task)
      .values({
        messageId: existing.id,
        channel,
        activityTypeId: setting.activityTypeId,
        status,
        unreadable,
        completedAt: status === 'completed' ? receivedAt : null,
      })
      .onConflictDoNothing()
      .returning({ id: task.id });
    if (!created) throw new RaceLost();
    if (candidates.length > 0) {
      await tx.insert(taskCandidate).values(candidates.map((staffId) => ({ taskId: created.id, staffId })));
    }
    await tx.insert(taskEvent).values({ taskId: created.id, action: 'created', detail: { status, candidates, source: source.kind } });
    tasks.push({ id: created.id, channel, status, candidates, created: true });
  }
  return { messageId: existing.id, duplicate, parseError: existing.parseError, tasks };
}
