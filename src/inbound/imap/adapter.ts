import type { FetchMessageObject, ImapFlow, MailboxObject } from 'imapflow';
import { clearFailure, getCheckpoint, listFailures, recordFailure, saveCheckpoint } from '../../db/repositories/mailboxes.js';
import type { BatchItem } from '../../ingest/ingest.js';
import { rawFromBuffer } from '../../ingest/raw.js';
import type { ImapSource } from '../../ingest/source.js';
import { batchFull, storeBatch } from '../mailbox/batch.js';
import { MailboxError, type MailboxAdapter, type MailboxSettings, type PollDeps, type PollReport, type TestStep } from '../mailbox/types.js';
import { closeImapClient, createImapClient, describeImapError } from './client.js';

/** UIDs per metadata FETCH (UID, RFC822.SIZE, INTERNALDATE): bounds memory for huge mailboxes. */
const META_BATCH = 500;

/**
 * The failure-table key of one IMAP message: `<uidvalidity>:<uid>` (a UID names a message only
 * together with the folder's UIDVALIDITY, RFC 3501 §2.3.1.1).
 */
export function imapItemKey(uidValidity: string, uid: number): string {
  return `${uidValidity}:${uid}`;
}

/**
 * A compact IMAP sequence set (RFC 3501 §9, `sequence-set`) for ascending, distinct UIDs:
 * runs of consecutive numbers become `a:b`, e.g. [1,2,3,7] → "1:3,7".
 */
export function uidSet(uids: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < uids.length; ) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j]! + 1) j++;
    parts.push(i === j ? String(uids[i]) : `${uids[i]}:${uids[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The unfolded value of the first header field `name` in the header block of raw message bytes
 * (RFC 5322 §2.2.3), read as Latin-1 so that no byte is lost; null when absent.
 */
function headerValue(raw: Buffer, name: string): string | null {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const head = raw.subarray(0, end < 0 ? Math.min(raw.length, 64 * 1024) : end).toString('latin1');
  const unfolded = head.replace(/\r?\n(?=[ \t])/g, '');
  const re = new RegExp(`^${name}[ \\t]*:(.*)$`, 'im');
  const m = re.exec(unfolded);
  return m ? m[1]!.trim() : null;
}

/**
 * Exchange answers a FETCH of a message it cannot convert with a substitute message from
 * "Microsoft Exchange Server" whose subject begins "Retrieval using the IMAP4 protocol failed".
 * @returns true for such a substitute (it is never imported)
 */
export function isExchangeSubstitute(raw: Buffer): boolean {
  const subject = headerValue(raw, 'Subject') ?? '';
  const from = headerValue(raw, 'From') ?? '';
  return /^Retrieval using the IMAP4 protocol failed/i.test(subject) && /Microsoft Exchange Server/i.test(from);
}

/** The path parts of a `move:<folder>` target; `/` separates levels, whatever the server's delimiter. */
function folderPath(name: string): string[] {
  return name
    .split('/')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** What the server said about a refused command (its response text), else the error message. */
function serverWords(err: unknown): string {
  const e = err as { message?: string; responseText?: string };
  return (e?.responseText || e?.message || String(err)).split('\n')[0]!;
}

/** Opens a connection, logs in and selects the folder; MailboxError with the step on failure. */
async function openFolder(settings: MailboxSettings, deps: PollDeps): Promise<{ client: ImapFlow; mailbox: MailboxObject; release(): void }> {
  const client = createImapClient(settings, deps.log, { disableAutoIdle: true });
  // 'error' is emitted at most once, after connect(); without a listener it would crash the process.
  client.on('error', (err: Error) => deps.log.warn({ err: err.message }, 'imap connection error'));
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw describeImapError(err, 'connect');
  }
  try {
    const lock = await client.getMailboxLock(settings.folder);
    if (!client.mailbox) throw new MailboxError('folder', 'folder missing on the server');
    return { client, mailbox: client.mailbox, release: () => lock.release() };
  } catch (err) {
    await closeImapClient(client);
    throw describeImapError(err, 'folder');
  }
}

/** Whether an error means the connection itself is gone (then the poll stops). */
function connectionLost(client: ImapFlow): boolean {
  return client.isClosed || !client.usable;
}

/**
 * Applies the after-import action to a set of UIDs with one command (RFC 3501 §6.4.6 STORE,
 * RFC 6851 MOVE, RFC 4315 UID EXPUNGE): `seen` adds \Seen; `move:<folder>` creates the folder
 * when missing (UTF-8 names go out as modified UTF-7, RFC 3501 §5.1.3) and moves; `delete` sets
 * \Deleted and expunges; `keep` does nothing.
 * @param uids ascending, distinct, not empty
 * @throws Error when the server refused
 */
async function afterImport(client: ImapFlow, settings: MailboxSettings, uids: number[], created: Set<string>): Promise<void> {
  const action = settings.afterImport;
  const range = uidSet(uids);
  if (action === 'keep') return;
  if (action === 'seen') {
    if (!(await client.messageFlagsAdd(range, ['\\Seen'], { uid: true }))) throw new Error('the server refused to set \\Seen');
    return;
  }
  if (action === 'delete') {
    if (!(await client.messageDelete(range, { uid: true }))) throw new Error('the server refused to delete the messages');
    return;
  }
  if (action.startsWith('move:')) {
    const target = folderPath(action.slice(5));
    if (target.length === 0) throw new Error('no target folder for move');
    const key = target.join('/');
    if (!created.has(key)) {
      try {
        await client.mailboxCreate(target); // resolves with created:false on ALREADYEXISTS (RFC 5530)
      } catch (err) {
        // a server without ALREADYEXISTS: the folder may be there all the same
        const status = await client.status(target, { messages: true }).catch(() => false);
        if (!status) throw new Error(`cannot create folder "${key}": ${serverWords(err)}`);
      }
      created.add(key);
    }
    if (!(await client.messageMove(range, target, { uid: true }))) throw new Error(`the server refused to move the messages to "${key}"`);
    return;
  }
  throw new Error(`unknown after-import action "${action}"`);
}

/** What one batch left to record once its after-import action is done. */
interface BatchBook {
  /** failures to record: UID → reason */
  failed: Map<number, string>;
  /** UIDs whose earlier failure is over */
  cleared: number[];
}

/**
 * Polls one IMAP folder, exactly once per message (domain.md items 1, 3, 4), in batches:
 * 1. selects the folder and reads UIDVALIDITY; against the stored checkpoint it either continues
 *    after the highest UID processed or, when UIDVALIDITY changed (RFC 3501 §2.3.1.1), re-scans
 *    from UID 1 (ingest recognises what is stored already);
 * 2. takes the UIDs above the checkpoint (`UID SEARCH UID n:*`, minus the highest existing UID
 *    that `n:*` always matches, RFC 3501 §6.4.8/§9) plus those of earlier non-permanent failures;
 * 3. reads UID, RFC822.SIZE and INTERNALDATE for up to 500 UIDs at a time: older than
 *    `importSince` → skipped; larger than `deps.maxBytes` → recorded as too large, not
 *    downloaded; the others are downloaded in batches (up to BATCH_MESSAGES / BATCH_BYTES, mailbox/batch.ts) with
 *    one `UID FETCH <set> BODY.PEEK[]` (which does not set \Seen) — no data or an Exchange
 *    substitute message is a failure for that UID;
 * 4. per batch: storeBatch (one transaction, one flush), then one after-import command for the
 *    stored UIDs, then one transaction with the checkpoint and the batch's failures — while the
 *    next batch downloads. A crash before the checkpoint means a re-read that ingest dedupes.
 * A message that fails is recorded (mailbox_failure, key `<uidvalidity>:<uid>`), left on the
 * server unmarked, and retried on the next poll; the others of its batch go on.
 * @throws MailboxError when the mailbox cannot be read at all (connect, TLS, login, folder, or a
 *   connection lost mid-poll)
 */
async function poll(settings: MailboxSettings, deps: PollDeps): Promise<PollReport> {
  const { ctx, log } = deps;
  const report: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
  const { client, mailbox, release } = await openFolder(settings, deps);
  const account = settings.account;
  const folder = settings.folder;
  /**
   * The batch being stored and marked while the next one downloads (the server sends while the
   * database writes). Batches still finish in order: the next is stored only once this one is
   * marked and its checkpoint saved.
   */
  const inFlight: { pending: Promise<void> | null } = { pending: null };
  try {
    const uidValidity = String(mailbox.uidValidity);
    const checkpoint = await getCheckpoint(ctx.db, account, folder);
    let last = checkpoint && checkpoint.uidValidity === uidValidity ? checkpoint.lastUid : 0;
    if (!checkpoint || checkpoint.uidValidity !== uidValidity) {
      if (checkpoint) log.warn({ folder, old: checkpoint.uidValidity, now: uidValidity }, 'UIDVALIDITY changed: re-scanning the folder');
      await saveCheckpoint(ctx.db, account, folder, uidValidity, 0);
    }

    const failures = await listFailures(ctx.db, account);
    const prefix = `${uidValidity}:`;
    const retry = new Set<number>();
    for (const f of failures) {
      if (f.itemKey.startsWith(prefix)) {
        const uid = Number(f.itemKey.slice(prefix.length));
        // a message left as too large is tried again once the limit has been raised above the one it failed at
        const limitThen = f.permanent ? Number(/limit (\d+)/.exec(f.reason)?.[1] ?? Infinity) : null;
        const due = !f.permanent || (limitThen !== null && deps.maxBytes > limitThen);
        if (due && Number.isInteger(uid) && uid > 0) retry.add(uid);
      } else if (checkpoint && checkpoint.uidValidity !== uidValidity && f.itemKey.startsWith(`${checkpoint.uidValidity}:`)) {
        await clearFailure(ctx.db, account, f.itemKey); // keys of the old UIDVALIDITY name nothing any more
      }
    }

    let fresh: number[] = [];
    if (mailbox.exists > 0) {
      const found = await client.search({ uid: `${last + 1}:*` }, { uid: true });
      if (found === false) throw new MailboxError('fetch', 'the server refused UID SEARCH');
      fresh = (found ?? []).filter((uid) => uid > last);
    }
    const uids = [...new Set([...fresh, ...retry])].sort((a, b) => a - b);
    log.debug({ folder, uidValidity, last, fresh: fresh.length, retry: retry.size }, 'imap poll');
    const created = new Set<string>();
    const keyOf = (uid: number) => imapItemKey(uidValidity, uid);
    const fail = async (uid: number, reason: string, permanent: boolean) => {
      await recordFailure(ctx.db, account, keyOf(uid), reason, permanent);
      log.warn({ uid, uidValidity, reason }, permanent ? 'message left alone' : 'message failed; left on the server');
    };

    /** the highest UID handled so far: every UID up to it is done (imported, recorded or left) */
    let handled = last;
    /** Saves the checkpoint (and a batch's failures) once every UID up to `handled` is done. */
    const settle = async (book: BatchBook) => {
      if (handled <= last && book.failed.size === 0 && book.cleared.length === 0) return;
      await ctx.db.transaction(async (tx) => {
        for (const [uid, reason] of book.failed) await recordFailure(tx, account, keyOf(uid), reason, false);
        for (const uid of book.cleared) await clearFailure(tx, account, keyOf(uid));
        if (handled > last) await saveCheckpoint(tx, account, folder, uidValidity, handled);
      });
      for (const [uid, reason] of book.failed) log.warn({ uid, uidValidity, reason }, 'message failed; left on the server');
      last = Math.max(last, handled);
    };

    /** Stores and marks one downloaded batch of UIDs (ascending), then settles it. */
    const storeAndMark = async (batch: number[], sources: Map<number, Buffer>, book: BatchBook) => {
      const items: { key: number; item: BatchItem }[] = [];
      for (const uid of batch) {
        const source = sources.get(uid);
        if (!source) continue;
        const origin: ImapSource = { kind: 'imap', channels: [settings.channel], account, mailbox: folder, uidValidity, uid };
        items.push({ key: uid, item: { raw: rawFromBuffer(source), source: origin } });
      }
      const { stored, failed } = await storeBatch(ctx, items, report);
      for (const [uid, reason] of failed) book.failed.set(uid, reason);
      if (stored.length > 0) {
        try {
          await afterImport(client, settings, stored, created);
          for (const uid of stored) if (retry.has(uid)) book.cleared.push(uid);
        } catch (err) {
          if (connectionLost(client)) throw describeImapError(err, 'fetch');
          // stored; the action is retried on the next poll (the re-read is a recognised duplicate)
          for (const uid of stored) book.failed.set(uid, `stored, but the after-import action "${settings.afterImport}" failed: ${serverWords(err)}`);
        }
      }
      report.failed += [...book.failed.keys()].filter((uid) => !stored.includes(uid)).length;
      handled = Math.max(handled, batch[batch.length - 1]!);
      await settle(book);
    };

    const finishInFlight = async () => {
      const { pending } = inFlight;
      inFlight.pending = null;
      await pending;
    };
    /** Downloads one batch of UIDs (ascending), then hands it to storeAndMark without waiting. */
    const importBatch = async (batch: number[]) => {
      const book: BatchBook = { failed: new Map(), cleared: [] };
      let sources: Map<number, Buffer>;
      try {
        sources = await download(client, batch, book);
      } finally {
        await finishInFlight();
      }
      inFlight.pending = storeAndMark(batch, sources, book);
      inFlight.pending.catch(() => {}); // its error is thrown where it is awaited (finishInFlight)
    };

    for (let i = 0; i < uids.length; i += META_BATCH) {
      const chunk = uids.slice(i, i + META_BATCH);
      const meta = new Map<number, FetchMessageObject>();
      /** UIDs whose metadata the server refused to give, with its words */
      const metaErrors = new Map<number, string>();
      const query = { uid: true, size: true, internalDate: true } as const;
      try {
        for (const m of await client.fetchAll(uidSet(chunk), query, { uid: true })) meta.set(m.uid, m);
      } catch (err) {
        if (connectionLost(client)) throw describeImapError(err, 'fetch');
        // one UID the server chokes on must not block the others: ask one by one
        for (const uid of chunk) {
          try {
            const m = await client.fetchOne(String(uid), query, { uid: true });
            if (m) meta.set(uid, m);
          } catch (e) {
            if (connectionLost(client)) throw describeImapError(e, 'fetch');
            metaErrors.set(uid, serverWords(e));
          }
        }
      }
      let batch: number[] = [];
      let batchBytes = 0;
      for (const uid of chunk) {
        if (deps.signal?.aborted) {
          // the batch gathered so far is not downloaded yet: it waits, with the rest, for the next poll
          await finishInFlight();
          if (batch.length === 0) await settle({ failed: new Map(), cleared: [] });
          log.info({ folder, left: uids.length - uids.indexOf(uid) + batch.length }, 'poll stopped between batches; the rest waits for the next poll');
          return report;
        }
        const metaError = metaErrors.get(uid);
        const m = meta.get(uid);
        const internalDate = m?.internalDate ? new Date(m.internalDate) : null;
        if (metaError !== undefined) {
          report.failed++;
          await fail(uid, `the server refused to describe this message (size, date): ${metaError}`, false);
        } else if (!m) {
          // expunged meantime (or moved by someone else): nothing left to import
          if (retry.has(uid)) await clearFailure(ctx.db, account, keyOf(uid));
        } else if (settings.importSince && internalDate && internalDate.getTime() < settings.importSince.getTime()) {
          report.skipped++;
          if (retry.has(uid)) await clearFailure(ctx.db, account, keyOf(uid));
        } else if (typeof m.size === 'number' && m.size > deps.maxBytes) {
          report.tooLarge++;
          await fail(uid, `too large: ${m.size} bytes, limit ${deps.maxBytes} bytes; not downloaded`, true);
        } else {
          const size = typeof m.size === 'number' ? m.size : 0;
          if (batchFull(batch.length, batchBytes, size)) {
            await importBatch(batch);
            batch = [];
            batchBytes = 0;
          }
          batch.push(uid);
          batchBytes += size;
          continue;
        }
        // a UID left alone: done, unless a batch below it is still waiting
        if (batch.length === 0) handled = Math.max(handled, uid);
      }
      if (batch.length > 0) await importBatch(batch);
      await finishInFlight();
      handled = Math.max(handled, chunk[chunk.length - 1]!);
      await settle({ failed: new Map(), cleared: [] });
    }
    return report;
  } finally {
    // a batch still being stored when something failed: finished (or failed) before the connection closes
    await inFlight.pending?.catch(() => {});
    release();
    await closeImapClient(client);
  }
}

/**
 * Downloads the sources of a batch with one `UID FETCH … BODY.PEEK[]`; when the server refuses
 * that, one UID at a time, so that one message it chokes on does not hold up the others.
 * @returns UID → bytes for every message that came with content; the others are in `book.failed`
 * @throws MailboxError when the connection is lost
 */
async function download(client: ImapFlow, batch: number[], book: BatchBook): Promise<Map<number, Buffer>> {
  const got = new Map<number, Buffer | undefined>();
  try {
    for (const m of await client.fetchAll(uidSet(batch), { uid: true, source: true }, { uid: true })) got.set(m.uid, m.source);
  } catch (err) {
    if (connectionLost(client)) throw describeImapError(err, 'fetch');
    for (const uid of batch) {
      try {
        const m = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
        got.set(uid, m ? m.source : undefined);
      } catch (e) {
        if (connectionLost(client)) throw describeImapError(e, 'fetch');
        book.failed.set(uid, `download failed: ${serverWords(e)}`);
      }
    }
  }
  const sources = new Map<number, Buffer>();
  for (const uid of batch) {
    if (book.failed.has(uid)) continue;
    const source = got.get(uid);
    if (!source || source.length === 0) book.failed.set(uid, 'the server returned no data for this message (FETCH without content, as Exchange does for messages it cannot convert)');
    else if (isExchangeSubstitute(source)) book.failed.set(uid, 'the server sent a substitute ("Retrieval using the IMAP4 protocol failed") instead of the message');
    else sources.set(uid, source);
  }
  return sources;
}

/**
 * Checks a mailbox step by step: connect → TLS → login → folder → fetch (the ENVELOPE of the
 * newest message, or STATUS of an empty folder); stops at the first failing step.
 * @returns the steps run, the last one failed when any did; never throws
 */
async function test(settings: MailboxSettings, deps: PollDeps): Promise<TestStep[]> {
  const steps: TestStep[] = [];
  const order: TestStep['step'][] = ['connect', 'tls', 'login'];
  const client = createImapClient(settings, deps.log, { disableAutoIdle: true });
  client.on('error', () => {});
  try {
    try {
      await client.connect();
    } catch (err) {
      const e = describeImapError(err, 'connect');
      for (const step of order) {
        if (step === e.step) break;
        const detail =
          step === 'connect' ? `${settings.host}:${settings.port} answered` : settings.security === 'none' ? 'no TLS (security none)' : 'TLS established, certificate verified';
        steps.push({ step, ok: true, detail });
      }
      steps.push({ step: order.includes(e.step) ? e.step : 'connect', ok: false, detail: e.message });
      return steps;
    }
    steps.push({ step: 'connect', ok: true, detail: `${settings.host}:${settings.port} answered` });
    const tls = client.tls;
    steps.push({
      step: 'tls',
      ok: true,
      detail:
        settings.security === 'none'
          ? 'no TLS (security none): the password travels in cleartext'
          : `${settings.security === 'starttls' ? 'STARTTLS' : 'TLS'} established${tls ? ` (${tls.version}, ${tls.name})` : ''}, certificate verified`,
    });
    steps.push({ step: 'login', ok: true, detail: `logged in as ${settings.username}` });
    let mailbox: MailboxObject;
    try {
      mailbox = await client.mailboxOpen(settings.folder, { readOnly: true });
    } catch (err) {
      steps.push({ step: 'folder', ok: false, detail: describeImapError(err, 'folder').message });
      return steps;
    }
    steps.push({ step: 'folder', ok: true, detail: `${settings.folder}: ${mailbox.exists} messages, UIDVALIDITY ${mailbox.uidValidity}` });
    try {
      if (mailbox.exists === 0) {
        const status = await client.status(settings.folder, { messages: true, uidNext: true });
        if (!status) throw new Error('the server refused STATUS');
        steps.push({ step: 'fetch', ok: true, detail: 'the folder is empty; STATUS works' });
      } else {
        const msg = await client.fetchOne('*', { uid: true, size: true, envelope: true });
        if (!msg) throw new Error('the server returned no data for the newest message');
        steps.push({ step: 'fetch', ok: true, detail: `newest message: UID ${msg.uid}, ${msg.size ?? '?'} bytes` });
      }
    } catch (err) {
      steps.push({ step: 'fetch', ok: false, detail: describeImapError(err, 'fetch').message });
    }
    return steps;
  } catch (err) {
    steps.push({ step: 'fetch', ok: false, detail: describeImapError(err, 'fetch').message });
    return steps;
  } finally {
    await closeImapClient(client);
  }
}

/** The IMAP adapter (RFC 3501 / RFC 9051, via imapflow). */
export const imapAdapter: MailboxAdapter = { poll, test };
