import type { FetchMessageObject, ImapFlow, MailboxObject } from 'imapflow';
import { clearFailure, getCheckpoint, listFailures, recordFailure, saveCheckpoint } from '../../db/repositories/mailboxes.js';
import { rawFromBuffer } from '../../ingest/raw.js';
import type { ImapSource } from '../../ingest/source.js';
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

/** A per-message problem: recorded for that UID, the poll goes on. */
class ItemError extends Error {}

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
 * Applies the after-import action to one UID (RFC 3501 §6.4.6 STORE, RFC 6851 MOVE,
 * RFC 4315 UID EXPUNGE): `seen` adds \Seen; `move:<folder>` creates the folder when missing
 * (UTF-8 names go out as modified UTF-7, RFC 3501 §5.1.3) and moves; `delete` sets \Deleted and
 * expunges; `keep` does nothing.
 * @throws Error when the server refused
 */
async function afterImport(client: ImapFlow, settings: MailboxSettings, uid: number, created: Set<string>): Promise<void> {
  const action = settings.afterImport;
  if (action === 'keep') return;
  if (action === 'seen') {
    if (!(await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true }))) throw new Error('the server refused to set \\Seen');
    return;
  }
  if (action === 'delete') {
    if (!(await client.messageDelete(String(uid), { uid: true }))) throw new Error('the server refused to delete the message');
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
    if (!(await client.messageMove(String(uid), target, { uid: true }))) throw new Error(`the server refused to move the message to "${key}"`);
    return;
  }
  throw new Error(`unknown after-import action "${action}"`);
}

/**
 * Polls one IMAP folder, exactly once per message (domain.md items 1, 3, 4):
 * 1. selects the folder and reads UIDVALIDITY; against the stored checkpoint it either continues
 *    after the highest UID processed or, when UIDVALIDITY changed (RFC 3501 §2.3.1.1), re-scans
 *    from UID 1 (ingest() recognises what is stored already);
 * 2. takes the UIDs above the checkpoint (`UID SEARCH UID n:*`, minus the highest existing UID
 *    that `n:*` always matches, RFC 3501 §6.4.8/§9) plus those of earlier non-permanent failures;
 * 3. per UID in ascending order: older than `importSince` (INTERNALDATE) → skipped; larger than
 *    `deps.maxBytes` (RFC822.SIZE) → recorded as too large, not downloaded; else the source is
 *    downloaded as bytes (`BODY.PEEK[]`, which does not set \Seen) — no data or an Exchange
 *    substitute message is a failure for that UID; else ingest(), then the after-import action,
 *    then the checkpoint. A crash before the checkpoint means a re-read that ingest() dedupes.
 * A message that fails is recorded (mailbox_failure, key `<uidvalidity>:<uid>`), left on the
 * server unmarked, and retried on the next poll; the poll goes on with the next UID.
 * @throws MailboxError when the mailbox cannot be read at all (connect, TLS, login, folder, or a
 *   connection lost mid-poll)
 */
async function poll(settings: MailboxSettings, deps: PollDeps): Promise<PollReport> {
  const { ctx, log } = deps;
  const report: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
  const { client, mailbox, release } = await openFolder(settings, deps);
  const account = settings.account;
  const folder = settings.folder;
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

    for (let i = 0; i < uids.length; i += META_BATCH) {
      const batch = uids.slice(i, i + META_BATCH);
      const meta = new Map<number, FetchMessageObject>();
      /** UIDs whose metadata the server refused to give, with its words */
      const metaErrors = new Map<number, string>();
      const query = { uid: true, size: true, internalDate: true } as const;
      try {
        for (const m of await client.fetchAll(uidSet(batch), query, { uid: true })) meta.set(m.uid, m);
      } catch (err) {
        if (connectionLost(client)) throw describeImapError(err, 'fetch');
        // one UID the server chokes on must not block the others: ask one by one
        for (const uid of batch) {
          try {
            const m = await client.fetchOne(String(uid), query, { uid: true });
            if (m) meta.set(uid, m);
          } catch (e) {
            if (connectionLost(client)) throw describeImapError(e, 'fetch');
            metaErrors.set(uid, serverWords(e));
          }
        }
      }
      for (const uid of batch) {
        if (deps.signal?.aborted) {
          log.info({ folder, left: uids.length - uids.indexOf(uid) }, 'poll stopped between messages; the rest waits for the next poll');
          return report;
        }
        const key = imapItemKey(uidValidity, uid);
        const advance = async () => {
          if (uid > last) {
            await saveCheckpoint(ctx.db, account, folder, uidValidity, uid);
            last = uid;
          }
        };
        const fail = async (reason: string, permanent: boolean) => {
          await recordFailure(ctx.db, account, key, reason, permanent);
          log.warn({ uid, uidValidity, reason }, permanent ? 'message left alone' : 'message failed; left on the server');
        };
        const metaError = metaErrors.get(uid);
        if (metaError !== undefined) {
          report.failed++;
          await fail(`the server refused to describe this message (size, date): ${metaError}`, false);
          await advance();
          continue;
        }
        const m = meta.get(uid);
        if (!m) {
          // expunged meantime (or moved by someone else): nothing left to import
          if (retry.has(uid)) await clearFailure(ctx.db, account, key);
          await advance();
          continue;
        }
        const internalDate = m.internalDate ? new Date(m.internalDate) : null;
        if (settings.importSince && internalDate && internalDate.getTime() < settings.importSince.getTime()) {
          report.skipped++;
          if (retry.has(uid)) await clearFailure(ctx.db, account, key);
          await advance();
          continue;
        }
        if (typeof m.size === 'number' && m.size > deps.maxBytes) {
          report.tooLarge++;
          await fail(`too large: ${m.size} bytes, limit ${deps.maxBytes} bytes; not downloaded`, true);
          await advance();
          continue;
        }
        try {
          let source: Buffer | undefined;
          try {
            const msg = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
            source = msg ? msg.source : undefined;
          } catch (err) {
            if (connectionLost(client)) throw describeImapError(err, 'fetch');
            throw new ItemError(`download failed: ${serverWords(err)}`);
          }
          if (!source || source.length === 0) throw new ItemError('the server returned no data for this message (FETCH without content, as Exchange does for messages it cannot convert)');
          if (isExchangeSubstitute(source)) throw new ItemError('the server sent a substitute ("Retrieval using the IMAP4 protocol failed") instead of the message');
          const origin: ImapSource = { kind: 'imap', channels: [settings.channel], account, mailbox: folder, uidValidity, uid };
          let duplicate: boolean;
          try {
            duplicate = (await ctx.ingest(rawFromBuffer(source), origin)).duplicate;
          } catch (err) {
            throw new ItemError(`could not be stored: ${(err as Error).message}`);
          }
          if (duplicate) report.duplicates++;
          else report.imported++;
          try {
            await afterImport(client, settings, uid, created);
            if (retry.has(uid)) await clearFailure(ctx.db, account, key);
          } catch (err) {
            if (connectionLost(client)) throw describeImapError(err, 'fetch');
            // stored; the action is retried on the next poll (the re-read is a recognised duplicate)
            await fail(`stored, but the after-import action "${settings.afterImport}" failed: ${serverWords(err)}`, false);
          }
        } catch (err) {
          if (!(err instanceof ItemError)) throw err;
          report.failed++;
          await fail(err.message, false);
        }
        await advance();
      }
    }
    return report;
  } finally {
    release();
    await closeImapClient(client);
  }
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
