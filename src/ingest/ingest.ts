import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/client.js';
import { blobInsertCtes, storeWithBlob } from '../db/blobs.js';
import { withoutParameters } from '../db/errors.js';
import { storable } from '../db/storable.js';
import { queryRows } from '../db/rows.js';
import { attachment, channelSetting, message, receipt, task, taskCandidate, taskEvent, type Channel, type TaskStatus } from '../db/schema.js';
import type { Events } from '../events.js';
import { classifyAutomated } from './auto-reply.js';
import { discardParsed, type ParsedMessage } from './parse.js';
import { parseForIngest } from './parse-step.js';
import type { RawMessage } from './raw.js';
import { candidatesFor, candidatesQuery } from './route.js';
import type { Source } from './source.js';

export interface IngestDeps {
  db: Db;
  /** Directory for temporary attachment files (inside DATA_DIR). */
  spoolDir: string;
  events?: Events;
  log?: Logger;
  /**
   * ingestBatch parses the whole batch before its transaction starts, instead of each message
   * while the one before is stored. The SMTP inbound queue runs several batches at once beside
   * the sessions: there, a transaction held open over parses lowered accept (SMTP bench on
   * PostgreSQL, back to back: ~370 → ~300 msg/s); mailbox import stores one batch at a time and gains from the overlap.
   */
  parseFirst?: boolean;
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
  /** more writes of this message's bookkeeping (a POP3 UIDL marked seen), committed or rolled back with it */
  also?: AlsoInTransaction;
}

/**
 * More writes for a whole batch (a poll's imported count), run in the batch's transaction after
 * every message was stored; `results` as ingestBatch returns them (an Error: rolled back).
 */
export type AlsoForBatch = (tx: Tx, results: (IngestResult | Error)[]) => Promise<void>;

/**
 * Ingests several messages in one transaction: one flush to disk for the whole batch. When
 * anything in the batch fails, the transaction is run again with each message in a savepoint of
 * its own, so that a message whose statements fail is rolled back alone (its error is its
 * result) while the others commit. The inbound queue uses it for its backlog, the
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
  // Parsed one after the other, while the transaction already runs: a message's statement goes to
  // the database (its server, or PGlite's thread) while the next one is parsed.
  const preparing: Promise<Prepared | null>[] = [];
  for (const [i, item] of items.entries()) {
    const before = preparing[i - 1] ?? Promise.resolve(null);
    preparing.push(
      before.then(() =>
        prepare(deps, item.raw, item.source).catch((err: unknown) => {
          outcomes[i] = err as Error;
          return null;
        }),
      ),
    );
  }
  const allPrepared = () => Promise.all(preparing);
  // the inbound queue's batches: the transaction waits until all are parsed (parseFirst)
  if (deps.parseFirst) await allPrepared();
  const prepared: (Prepared | null)[] = [];
  try {
    /**
     * One attempt at the batch's transaction. `isolated`: each message in a savepoint, so that
     * one that fails is rolled back alone; without, any failure aborts the whole attempt.
     */
    const attempt = (isolated: boolean) =>
      deps.db.transaction(async (tx) => {
        const results: (IngestResult | Error | undefined)[] = [];
        const run = (i: number, p: Prepared) => async (t: Tx) => {
          const stored = await storePrepared(t, p);
          await items[i]!.also?.(t, stored);
          return stored;
        };
        for (const [i, preparation] of preparing.entries()) {
          const p = (prepared[i] = await preparation);
          if (!p) continue;
          if (!isolated) {
            results[i] = await run(i, p)(tx);
            continue;
          }
          try {
            results[i] = await tx.transaction(run(i, p));
          } catch (err) {
            // a lost race included: the caller retries this one on its own, where `ingest` handles it
            results[i] = withoutParameters(err) as Error;
          }
        }
        await also?.(tx, items.map((_, i) => results[i] ?? outcomes[i] ?? new Error('not stored')));
        return results;
      });
    // Savepoints cost two statements per message; a batch in which nothing fails (nearly all of
    // them) goes without, and only a batch that failed is done again message by message.
    let stored: (IngestResult | Error | undefined)[];
    try {
      stored = await attempt(false);
    } catch (err) {
      if ((await allPrepared()).filter(Boolean).length <= 1) throw err;
      stored = await attempt(true);
    }
    for (const [i, p] of prepared.entries()) {
      const r = stored[i];
      if (!p || r === undefined) continue;
      outcomes[i] = r;
      if (!(r instanceof Error)) announce(deps, p, r);
    }
  } catch (err) {
    const e = withoutParameters(err) as Error;
    for (const [i, p] of (await allPrepared()).entries()) if (p) outcomes[i] = e;
  } finally {
    for (const p of await allPrepared()) if (p?.parsed) await discardParsed(p.parsed);
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
  const { parsed, parseError, key } = await parseForIngest(raw, deps.spoolDir);
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

/**
 * The decoded bodies (text and HTML, in characters together) a message keeps in its row; longer
 * ones are left to the raw bytes, which hold them already, and parsed from there when the
 * message is shown (`message.body_from_raw`, services/messages.ts). 32 Ki characters is ~15
 * printed pages; a scanner's or a clerk's mail stays far below, so nearly every message is shown
 * from its row. Measured (issue 13, 600 × 100 KB through ingestBatch, back to back): not
 * storing the second copy of a long text gave 3–11 % on both drivers.
 */
export const BODY_STORED_MAX_CHARS = 32 * 1024;

/**
 * Whether a parse's bodies go into the message row: short enough (BODY_STORED_MAX_CHARS), or
 * taken from a container (TNEF) that a parse for display does not unpack.
 */
function keepsBodies(parsed: ParsedMessage): boolean {
  return parsed.bodyFromContainer || (parsed.text?.length ?? 0) + (parsed.html?.length ?? 0) <= BODY_STORED_MAX_CHARS;
}

/** The row of the first statement: JSON as text, so that both drivers return the same. */
interface FirstRow {
  existing: string | null;
  insertedId: number | string | null;
  blobNew: boolean;
  settings: string;
  candidates: string;
  /** the tasks created with a new message: [{ id, channel, status }] */
  tasks: string;
}

/**
 * The first statement of a delivery, one round trip (PostgreSQL data-modifying `WITH`; the
 * foreign key from message to blob is checked at the end of the statement): looks the
 * fingerprint up and, when the message is new, inserts the raw blob (`first`: its first chunk),
 * the message row, one task per channel with its candidates by the sender mapping and its
 * `created` event, and the receipt. Its row says whether the message was there already, else the
 * new id (null: a concurrent delivery inserted the same fingerprint, and nothing was written),
 * and carries the channel settings, the candidates and the tasks created.
 * Task status: no candidate → unassigned; auto-complete on → completed; else open.
 */
function firstStatement(tx: Tx, raw: RawMessage, first: Buffer, source: Source, channels: Channel[], key: string, parsed: ParsedMessage | null, parseError: string | null, receivedAt: Date) {
  const bodies = parsed === null || keepsBodies(parsed);
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
      text: bodies ? (parsed?.text ?? null) : null,
      html: bodies ? (parsed?.html ?? null) : null,
      bodyFromRaw: !bodies,
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
  const candidates = sender ? candidatesQuery(tx, sender).getSQL() : sql`select null::int as id where false`;
  const at = receivedAt.toISOString();
  return sql`with existing as (select id, parse_error, sender_address from ${message} where fingerprint = ${key}),
      ${blobInsertCtes('raw', raw, first, sql`not exists (select 1 from existing)`)},
      m as (${insertMessage.getSQL()}),
      c as (${candidates}),
      t as (insert into ${task} (message_id, channel, activity_type_id, status, unreadable, completed_at)
        select m.id, ${channelSetting.channel}, ${channelSetting.activityTypeId}, st.status, ${parseError !== null}, case when st.status = 'completed' then ${at}::timestamptz end
        from m cross join ${channelSetting}
          cross join lateral (select case when not exists (select 1 from c) then 'unassigned' when ${channelSetting.autoComplete} then 'completed' else 'open' end as status) st
        where ${inArray(channelSetting.channel, channels)}
        returning id, channel, status),
      tc as (insert into ${taskCandidate} (task_id, staff_id) select t.id, c.id from t cross join c),
      e as (insert into ${taskEvent} (task_id, action, detail)
        select t.id, 'created', jsonb_build_object('status', t.status, 'candidates', (select coalesce(jsonb_agg(c.id order by c.id), '[]'::jsonb) from c), 'source', ${source.kind}::text) from t),
      r as (insert into ${receipt} (message_id, source_kind, source, duplicate, raw_sha256, received_at)
        select m.id, ${source.kind}, ${JSON.stringify(source)}::jsonb, false, ${raw.sha256}, ${at}::timestamptz from m)
    select (select row_to_json(e)::text from existing e limit 1) as existing,
      (select id from m) as "insertedId",
      exists (select 1 from raw) as "blobNew",
      (select coalesce(json_agg(json_build_object('channel', channel, 'activityTypeId', activity_type_id, 'autoComplete', auto_complete)), '[]')::text
        from ${channelSetting} where ${inArray(channelSetting.channel, channels)}) as settings,
      (select coalesce(json_agg(c.id order by c.id), '[]')::text from c) as candidates,
      (select coalesce(json_agg(json_build_object('id', t.id, 'channel', t.channel, 'status', t.status)), '[]')::text from t) as tasks`;
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
  const created = JSON.parse(row.tasks) as { id: number | string; channel: Channel; status: TaskStatus }[];
  const candidates = JSON.parse(row.candidates) as number[];
  const tasks = channels.map((channel): IngestedTask => {
    const t = created.find((c) => c.channel === channel);
    if (!t) throw new Error(`ingest: channel "${channel}" has no settings (database not seeded)`);
    return { id: Number(t.id), channel, status: t.status, candidates, created: true };
  });
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
  return { messageId, duplicate: false, parseError, tasks };
}

/**
 * Creates the task of a stored message on one channel, with its candidates and its `created`
 * event, in one statement: for a redelivery to a channel the message has no task on yet (a new
 * message gets its tasks in firstStatement). Status: no candidate → unassigned; auto-complete
 * on → completed; else open.
 * @throws RaceLost when a concurrent delivery created that task first; Error for a channel
 *   without settings
 */
async function createTask(
  tx: Tx,
  t: { messageId: number; channel: Channel; settings: ChannelSettingRow[]; candidates: number[]; unreadable: boolean; receivedAt: Date; sourceKind: Source['kind'] },
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
    select id from t`,
  );
  if (!created) throw new RaceLost();
  return { id: Number(created.id), channel: t.channel, status, candidates, created: true };
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
  await tx.insert(receipt).values({ messageId: existing.id, sourceKind: source.kind, source, duplicate: true, rawSha256: raw.sha256, receivedAt });
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
    tasks.push(await createTask(tx, { messageId: existing.id, channel, settings, candidates, unreadable, receivedAt, sourceKind: source.kind }));
  }
  return { messageId: existing.id, duplicate: true, parseError: existing.parseError, tasks };
}
