import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/client.js';
import { blobInsertCtes, storeWithBlob } from '../db/blobs.js';
import { withoutParameters } from '../db/errors.js';
import { storable } from '../db/storable.js';
import { queryRows } from '../db/rows.js';
import { attachment, channelSetting, message, receipt, task, taskCandidate, taskEvent, type Channel, type TaskStatus } from '../db/schema.js';
import type { Events } from '../events.js';
import { classifyAutomated } from './auto-reply.js';
import { fingerprint } from './fingerprint.js';
import { discardParsed, parseMessage, ParseError, type ParsedMessage } from './parse.js';
import type { RawMessage } from './raw.js';
import { candidatesFor, candidatesQuery } from './route.js';
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

/**
 * More writes that belong to one delivery's bookkeeping (a poll's imported count, a POP3 UIDL
 * marked seen), run in the ingest's own transaction after the message is stored: they commit
 * with it, in one flush, or not at all.
 */
export type AlsoInTransaction = (tx: Tx, result: IngestResult) => Promise<void>;

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
 * @param also more writes for the same transaction (AlsoInTransaction), if any
 * @returns the stored (or already stored) message and its tasks
 * @throws the database error when the transaction fails (nothing is stored then; the caller
 *   answers with a temporary failure such as SMTP 451 so that the sender retries)
 */
export async function ingest(deps: IngestDeps, raw: RawMessage, source: Source, also?: AlsoInTransaction): Promise<IngestResult> {
  const prepared = await prepare(deps, raw, source);
  try {
    let result: IngestResult | undefined;
    for (let attempt = 0; !result; attempt++) {
      try {
        result = await deps.db.transaction(async (tx) => {
          const stored = await storePrepared(tx, prepared);
          await also?.(tx, stored);
          return stored;
        });
      } catch (err) {
        // Each lost race means another delivery committed one of the rows this one needs (the
        // message, or the task of one channel), so the next attempt sees it: at most 1 + channels.
        // A failed statement's parameters hold the message itself: never passed on to a log.
        if (!(err instanceof RaceLost) || attempt > prepared.channels.length) throw withoutParameters(err);
      }
    }
    announce(deps, prepared, result);
    return result;
  } finally {
    if (prepared.parsed) await discardParsed(prepared.parsed);
  }
}

/** One message of a batch: its bytes and where it came from (as for `ingest`). */
export interface BatchItem {
  raw: RawMessage;
  source: Source;
  /** more writes of this message's bookkeeping (a POP3 UIDL marked seen), in its own savepoint */
  also?: AlsoInTransaction;
}

/**
 * More writes for a whole batch (a poll's imported count), run in the batch's transaction after
 * every message had its savepoint; `results` as ingestBatch returns them (an Error: rolled back).
 */
export type AlsoForBatch = (tx: Tx, results: (IngestResult | Error)[]) => Promise<void>;

/**
 * Ingests several messages in one transaction, each in a savepoint of its own: one flush to
 * disk for the whole batch, and a message whose statements fail is rolled back alone (its
 * error is its result) while the others commit. The inbound queue uses it for its backlog, the
 * IMAP and POP3 adapters for each batch they download. Otherwise as `ingest` (parse, dedupe,
 * route, one task per channel). A message that lost a race with a concurrent delivery of the
 * same bytes has that error as its result: retry it alone with `ingest`, which resolves races.
 * @param items the messages, in the order they should get their ids
 * @param also writes for the whole batch, run last in its transaction (AlsoForBatch)
 * @returns per item (same order) its IngestResult, or the Error that kept it from being stored;
 *   nothing of the batch is stored when the commit itself (or `also`) fails (then every item has
 *   that error)
 */
export async function ingestBatch(deps: IngestDeps, items: BatchItem[], also?: AlsoForBatch): Promise<(IngestResult | Error)[]> {
  const outcomes: (IngestResult | Error)[] = [];
  const prepared: (Prepared | null)[] = [];
  for (const item of items) {
    try {
      prepared.push(await prepare(deps, item.raw, item.source));
    } catch (err) {
      prepared.push(null);
      outcomes[prepared.length - 1] = err as Error;
    }
  }
  try {
    const stored = await deps.db.transaction(async (tx) => {
      const results: (IngestResult | Error | undefined)[] = [];
      for (const [i, p] of prepared.entries()) {
        if (!p) continue;
        try {
          const item = items[i]!;
          results[i] = await tx.transaction(async (savepoint) => {
            const stored = await storePrepared(savepoint, p);
            await item.also?.(savepoint, stored);
            return stored;
          });
        } catch (err) {
          // a lost race included: the caller retries this one on its own, where `ingest` handles it
          results[i] = withoutParameters(err) as Error;
        }
      }
      await also?.(tx, items.map((_, i) => results[i] ?? outcomes[i] ?? new Error('not stored')));
      return results;
    });
    for (const [i, p] of prepared.entries()) {
      const r = stored[i];
      if (!p || r === undefined) continue;
      outcomes[i] = r;
      if (!(r instanceof Error)) announce(deps, p, r);
    }
  } catch (err) {
    const e = withoutParameters(err) as Error;
    for (const [i, p] of prepared.entries()) if (p) outcomes[i] = e;
  } finally {
    for (const p of prepared) if (p?.parsed) await discardParsed(p.parsed);
  }
  return outcomes;
}

/** A message parsed and made storable, ready for its transaction. */
interface Prepared {
  raw: RawMessage;
  source: Source;
  channels: Channel[];
  key: string;
  parsed: ParsedMessage | null;
  parseError: string | null;
}

/**
 * Parses a message outside any transaction and computes its fingerprint; a message mailparser
 * cannot read gets `parseError` instead. Text the database cannot hold is cleaned and flagged.
 * @throws when `source.channels` is empty; I/O errors reading `raw` or the temporary directory
 */
async function prepare(deps: IngestDeps, raw: RawMessage, source: Source): Promise<Prepared> {
  if (source.channels.length === 0) throw new Error('ingest: source has no channel');
  const channels = [...new Set(source.channels)];
  let parsed: ParsedMessage | null = null;
  let parseError: string | null = null;
  let key: string;
  try {
    parsed = await parseMessage(raw.open(), deps.spoolDir);
    // null: mailparser stopped early and only the header was read
    key = parsed.fingerprint ?? (await fingerprint(raw.open()));
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    parseError = err.message;
    // the parse stopped before the end: the key needs a read of its own
    key = err.fingerprint ?? (await fingerprint(raw.open()));
  }
  try {
    // nothing is refused for its content: text the database cannot hold is cleaned and flagged
    const cleaned = storableDelivery(parsed, parseError, source);
    return { raw, source: cleaned.source, channels, key, parsed: cleaned.parsed, parseError: cleaned.parseError };
  } catch (err) {
    if (parsed) await discardParsed(parsed);
    throw err;
  }
}

function storePrepared(tx: Tx, p: Prepared): Promise<IngestResult> {
  return store(tx, p.raw, p.source, p.channels, p.key, p.parsed, p.parseError);
}

/** After the commit: the log line and the `message.stored` event. */
function announce(deps: IngestDeps, p: Prepared, result: IngestResult) {
  deps.log?.info(
    {
      messageId: result.messageId,
      duplicate: result.duplicate,
      size: p.raw.size,
      source: p.source.kind,
      tasks: result.tasks.map((t) => `${t.id}:${t.channel}:${t.status}`),
      parseError: result.parseError ?? undefined,
    },
    result.duplicate ? 'redelivery recognised' : 'message stored',
  );
  deps.events?.emit('message.stored', {
    messageId: result.messageId,
    duplicate: result.duplicate,
    taskIds: result.tasks.filter((t) => t.created).map((t) => t.id),
    channels: p.channels,
  });
}

/**
 * Everything of a delivery that goes into a text or jsonb column, made storable
 * (db/storable.ts); a change is recorded as the issue `text-characters-removed` naming the
 * fields. A sender address that lost characters is not used for routing (it is not the
 * address the sender wrote).
 */
function storableDelivery(parsed: ParsedMessage | null, parseError: string | null, source: Source) {
  const changed: string[] = [];
  const fields = parsed
    ? storable(
        {
          messageIdHeader: parsed.messageIdHeader,
          senderAddress: parsed.senderAddress,
          senderName: parsed.senderName,
          subject: parsed.subject,
          text: parsed.text,
          html: parsed.html,
          attachments: parsed.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, declaredContentType: a.declaredContentType, contentId: a.contentId })),
        },
        changed,
      )
    : null;
  const cleanSource = storable(source, changed, 'source');
  const cleanError = parseError === null ? null : storable(parseError, changed, 'parseError');
  if (!parsed || !fields || changed.length === 0) return { parsed, parseError: cleanError, source: cleanSource };
  const { attachments, ...rest } = fields;
  return {
    parsed: {
      ...parsed,
      ...rest,
      senderAddress: changed.includes('senderAddress') ? null : rest.senderAddress,
      attachments: parsed.attachments.map((a, i) => ({ ...a, ...attachments[i] })),
      issues: [...parsed.issues, { code: 'text-characters-removed' as const, params: { fields: changed } }],
    },
    parseError: cleanError,
    source: cleanSource,
  };
}

interface ChannelSettingRow {
  channel: Channel;
  activityTypeId: number;
  autoComplete: boolean;
}

/** The row of the first statement: JSON as text, so that both drivers return the same. */
interface FirstRow {
  existing: string | null;
  insertedId: number | string | null;
  blobNew: boolean;
  settings: string;
  candidates: string;
}

/**
 * The first statement of a delivery, one round trip: looks the fingerprint up and, when the
 * message is new, inserts the raw blob (`first`: its first chunk), the message row, and reads the
 * channel settings and the candidates by the sender mapping (PostgreSQL data-modifying `WITH`;
 * the foreign key from message to blob is checked at the end of the statement). Its row says
 * whether the message was there already, else the new id (null: a concurrent delivery inserted
 * the same fingerprint).
 */
function firstStatement(tx: Tx, raw: RawMessage, first: Buffer, source: Source, channels: Channel[], key: string, parsed: ParsedMessage | null, parseError: string | null, receivedAt: Date) {
  const insertMessage = tx
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
      parseIssues: parsed?.issues ?? [],
      // RFC 3834 loop protection: bounces, auto-replies, list and bulk mail are flagged (ingest/auto-reply.ts)
      automated: parsed ? (classifyAutomated(parsed.headerLines, source.kind === 'smtp' ? source.envelope.mailFrom : null)?.kind ?? null) : null,
      receivedAt,
    })
    .onConflictDoNothing()
    .returning({ id: message.id });
  // an unreadable message is not routed; nor is one without a sender
  const sender = parseError === null ? (parsed?.senderAddress ?? null) : null;
  const candidates = sender ? sql`(select coalesce(json_agg(c.id order by c.id), '[]')::text from (${candidatesQuery(tx, sender)}) c)` : sql`'[]'`;
  return sql`with existing as (select id, parse_error, sender_address from ${message} where fingerprint = ${key}),
      ${blobInsertCtes('raw', raw, first, sql`not exists (select 1 from existing)`)},
      m as (${insertMessage.getSQL()})
    select (select row_to_json(e)::text from existing e limit 1) as existing,
      (select id from m) as "insertedId",
      exists (select 1 from raw) as "blobNew",
      (select coalesce(json_agg(json_build_object('channel', channel, 'activityTypeId', activity_type_id, 'autoComplete', auto_complete)), '[]')::text
        from ${channelSetting} where ${inArray(channelSetting.channel, channels)}) as settings,
      ${candidates} as candidates`;
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
  const row = await storeWithBlob<FirstRow>(tx, raw, (first) => firstStatement(tx, raw, first, source, channels, key, parsed, parseError, receivedAt));
  const settings = JSON.parse(row.settings) as ChannelSettingRow[];
  if (row.existing) {
    const e = JSON.parse(row.existing) as { id: number; parse_error: string | null; sender_address: string | null };
    return storeRedelivery(tx, raw, source, channels, { id: Number(e.id), parseError: e.parse_error, senderAddress: e.sender_address }, settings);
  }
  // Another process stored the same message meanwhile: roll back and take the duplicate path.
  if (row.insertedId === null) throw new RaceLost();
  const messageId = Number(row.insertedId);
  for (const a of parsed?.attachments ?? []) {
    const insertAttachment = tx.insert(attachment).values({
      messageId,
      position: a.position,
      filename: a.filename,
      contentType: a.contentType,
      declaredContentType: a.declaredContentType,
      size: a.size,
      sha256: a.sha256,
      contentId: a.contentId,
      inline: a.inline,
    });
    // the attachment's blob (first chunk) and its row: one statement
    await storeWithBlob(tx, a.content, (first) => sql`with ${blobInsertCtes('b', a, first)}, a as (${insertAttachment.getSQL()}) select exists (select 1 from b) as "blobNew"`);
  }

  const candidates = parseError !== null ? [] : (JSON.parse(row.candidates) as number[]);
  const tasks: IngestedTask[] = [];
  for (const [i, channel] of channels.entries()) {
    // the receipt goes with the first task's statement
    const receipt = i === 0 ? receiptInsert(tx, messageId, source, false, raw.sha256, receivedAt).getSQL() : null;
    tasks.push(await createTask(tx, { messageId, channel, settings, candidates, unreadable: parseError !== null, receivedAt, sourceKind: source.kind, receipt }));
  }
  return { messageId, duplicate: false, parseError, tasks };
}

/**
 * Creates the task of a message on one channel, with its candidates, its `created` event and,
 * when given, another insert (the receipt) in one statement. Status: no candidate → unassigned;
 * auto-complete on → completed; else open.
 * @throws RaceLost when a concurrent delivery created that task first; Error for a channel
 *   without settings
 */
async function createTask(
  tx: Tx,
  t: { messageId: number; channel: Channel; settings: ChannelSettingRow[]; candidates: number[]; unreadable: boolean; receivedAt: Date; sourceKind: Source['kind']; receipt: SQL | null },
): Promise<IngestedTask> {
  const setting = t.settings.find((s) => s.channel === t.channel);
  if (!setting) throw new Error(`ingest: channel "${t.channel}" has no settings (database not seeded)`);
  const { candidates } = t;
  const status: TaskStatus = candidates.length === 0 ? 'unassigned' : setting.autoComplete ? 'completed' : 'open';
  const insertTask = tx
    .insert(task)
    .values({ messageId: t.messageId, channel: t.channel, activityTypeId: setting.activityTypeId, status, unreadable: t.unreadable, completedAt: status === 'completed' ? t.receivedAt : null })
    .onConflictDoNothing()
    .returning({ id: task.id });
  const detail = { status, candidates, source: t.sourceKind };
  const [created] = await queryRows<{ id: number | string }>(
    tx,
    sql`with t as (${insertTask.getSQL()}),
      tc as (insert into ${taskCandidate} (task_id, staff_id) select t.id, c from t, unnest(${`{${candidates.join(',')}}`}::int[]) c),
      e as (insert into ${taskEvent} (task_id, action, detail) select t.id, 'created', ${JSON.stringify(detail)}::jsonb from t)
      ${t.receipt ? sql`, r as (${t.receipt})` : sql``}
    select id from t`,
  );
  if (!created) throw new RaceLost();
  return { id: Number(created.id), channel: t.channel, status, candidates, created: true };
}

/** The receipt of one delivery (not yet run). */
function receiptInsert(tx: Tx, messageId: number, source: Source, duplicate: boolean, rawSha256: string, receivedAt: Date) {
  return tx.insert(receipt).values({ messageId, sourceKind: source.kind, source, duplicate, rawSha256, receivedAt });
}

/**
 * A redelivery of a stored message: records the receipt and reports the message's tasks; a
 * channel it has no task on yet (the first delivery went to another channel) gets one now.
 */
async function storeRedelivery(
  tx: Tx,
  raw: RawMessage,
  source: Source,
  channels: Channel[],
  existing: { id: number; parseError: string | null; senderAddress: string | null },
  settings: ChannelSettingRow[],
): Promise<IngestResult> {
  const receivedAt = new Date();
  await receiptInsert(tx, existing.id, source, true, raw.sha256, receivedAt);
  const unreadable = existing.parseError !== null;
  const tasks: IngestedTask[] = [];
  let candidates: number[] | undefined;
  for (const channel of channels) {
    const [present] = await tx
      .select({ id: task.id, status: task.status })
      .from(task)
      .where(and(eq(task.messageId, existing.id), eq(task.channel, channel)));
    if (present) {
      const cands = await tx.select({ id: taskCandidate.staffId }).from(taskCandidate).where(eq(taskCandidate.taskId, present.id));
      tasks.push({ id: present.id, channel, status: present.status, candidates: cands.map((c) => c.id), created: false });
      continue;
    }
    candidates ??= unreadable ? [] : await candidatesFor(tx, existing.senderAddress);
    tasks.push(await createTask(tx, { messageId: existing.id, channel, settings, candidates, unreadable, receivedAt, sourceKind: source.kind, receipt: null }));
  }
  return { messageId: existing.id, duplicate: true, parseError: existing.parseError, tasks };
}
