import { clearFailure, listFailures, markUidlSeen, recordFailure, seenUidls } from '../../db/repositories/mailboxes.js';
import { SizeLimitError, spool } from '../../ingest/raw.js';
import type { Tx } from '../../db/client.js';
import type { BatchItem } from '../../ingest/ingest.js';
import type { Pop3Source } from '../../ingest/source.js';
import { batchFull, storeBatch } from '../mailbox/batch.js';
import { describeMailboxError, mailboxTlsOptions } from '../mailbox/connection.js';
import { MailboxError, type MailboxAdapter, type MailboxSettings, type PollDeps, type PollReport, type TestStep } from '../mailbox/types.js';
import { Pop3Client, Pop3Error } from './client.js';

/** Milliseconds allowed for the TCP connection. */
const CONNECT_TIMEOUT_MS = 15_000;
/** Milliseconds of silence allowed while waiting for the server. */
const RESPONSE_TIMEOUT_MS = 30_000;

/** Plain words for a -ERR answer to USER/PASS (RFC 2449 §8 response codes where the server gives one). */
function loginError(err: unknown): MailboxError {
  if (err instanceof Pop3Error) {
    const said = `(the server said: ${err.text.slice(0, 200)})`;
    if (/^\[IN-USE\]/i.test(err.text)) return new MailboxError('login', `the mailbox is in use by another client ${said}`);
    if (/^\[LOGIN-DELAY\]/i.test(err.text)) return new MailboxError('login', `the server allows no new login yet (LOGIN-DELAY) ${said}`);
    if (/^\[SYS\//i.test(err.text)) return new MailboxError('login', `the server failed to open the mailbox ${said}`);
    if (/plaintext|cleartext|SSL|TLS/i.test(err.text) && !/^\[AUTH\]/i.test(err.text)) {
      return new MailboxError('login', `the server refuses a login without TLS; use security starttls or tls ${said}`);
    }
    return new MailboxError('login', `login failed: user name or password wrong ${said}`);
  }
  if (err instanceof Error && /line break/.test(err.message)) return new MailboxError('login', err.message);
  return describeMailboxError(err, 'login');
}

/**
 * Connects, secures and logs in: TCP → (implicit TLS) → greeting → (STLS) → USER/PASS, reporting
 * each step that succeeded to `onStep`.
 * @throws MailboxError naming the step that failed, in plain words
 */
async function openSession(settings: MailboxSettings, onStep: (s: TestStep) => void = () => {}): Promise<Pop3Client> {
  let client: Pop3Client;
  try {
    client = await Pop3Client.connect({ host: settings.host, port: settings.port, connectTimeoutMs: CONNECT_TIMEOUT_MS, timeoutMs: RESPONSE_TIMEOUT_MS });
  } catch (err) {
    throw describeMailboxError(err, 'connect');
  }
  try {
    const tlsOptions = mailboxTlsOptions(settings);
    const greet = async (step: TestStep['step']) => {
      try {
        return await client.greeting();
      } catch (err) {
        if (err instanceof Pop3Error) throw new MailboxError(step, `the server refused the connection (it said: ${err.text.slice(0, 200)})`);
        const e = describeMailboxError(err, step);
        if (/timeout/.test(e.message) && settings.security !== 'tls') {
          throw new MailboxError(step, 'no greeting from the server (timeout): is this a TLS port? check the port and the security mode');
        }
        throw e;
      }
    };
    if (settings.security === 'tls') {
      onStep({ step: 'connect', ok: true, detail: `connected to ${settings.host}:${settings.port}` });
      try {
        await client.startTls(tlsOptions);
      } catch (err) {
        throw describeMailboxError(err, 'tls');
      }
      await greet('tls');
      onStep({ step: 'tls', ok: true, detail: `implicit TLS (${client.tlsProtocol}), certificate verified` });
    } else {
      await greet('connect');
      onStep({ step: 'connect', ok: true, detail: `connected to ${settings.host}:${settings.port}` });
      if (settings.security === 'starttls') {
        try {
          await client.stls(tlsOptions);
        } catch (err) {
          if (err instanceof Pop3Error) throw new MailboxError('tls', `the server does not offer STARTTLS (STLS answered: ${err.text.slice(0, 200)})`);
          throw describeMailboxError(err, 'tls');
        }
        onStep({ step: 'tls', ok: true, detail: `STARTTLS (${client.tlsProtocol}), certificate verified` });
      } else {
        onStep({ step: 'tls', ok: true, detail: 'no TLS (security none): the password crosses the network unencrypted' });
      }
    }
    try {
      await client.login(settings.username, settings.password);
    } catch (err) {
      throw loginError(err);
    }
    onStep({ step: 'login', ok: true, detail: `logged in as ${settings.username}` });
    return client;
  } catch (err) {
    client.close();
    throw err;
  }
}

/**
 * When a message arrived, from its header block (the bytes of `TOP n 0`): the date of the topmost
 * `Received:` field (the receiving server's stamp after the last ";", RFC 5321 §4.4), else the
 * `Date:` field (RFC 5322 §3.6.1).
 * @returns the moment, or null when neither is present or readable
 */
export function arrivalDate(header: Buffer): Date | null {
  let end = header.indexOf('\r\n\r\n');
  if (end < 0) end = header.length;
  const unfolded = header.subarray(0, end).toString('latin1').replace(/\r\n(?=[ \t])/g, '');
  const parse = (text: string | undefined) => {
    if (!text) return null;
    const ms = Date.parse(text.replace(/\([^()]*\)/g, ' ').trim());
    return Number.isNaN(ms) ? null : new Date(ms);
  };
  const received = /^Received[ \t]*:(.*)$/im.exec(unfolded);
  const fromReceived = received ? parse(received[1]!.slice(received[1]!.lastIndexOf(';') + 1)) : null;
  if (fromReceived) return fromReceived;
  const date = /^Date[ \t]*:(.*)$/im.exec(unfolded);
  return parse(date?.[1]);
}

/**
 * POP3 (RFC 1939) for the mailbox poller. Exactly once: a message's UIDL is recorded only after
 * ingest() committed it, and DELE is sent only after that; a server without UIDL gets every
 * message read each poll and ingest() recognises the ones stored before (content dedupe).
 * Bytes stay bytes: RETR is read into a Buffer/spool file with dot-stuffing removed, never decoded.
 */
export const pop3Adapter: MailboxAdapter = {
  /**
   * One poll: STAT, LIST (sizes), UIDL; then per message not imported yet, in server order (ones
   * that failed before last): over `deps.maxBytes` → recorded as permanently too large and left;
   * older than `importSince` (TOP n 0, see arrivalDate) → skipped; else RETR into a batch (up to
   * BATCH_MESSAGES / BATCH_BYTES, mailbox/batch.ts). Per batch: storeBatch (one transaction; each
   * message's UIDL recorded and earlier failure cleared in its part of it) while the next batch
   * downloads, then DELE for each stored message when afterImport is `delete`. With `delete`, a
   * message imported before whose DELE was lost (a crash, a dropped connection) is deleted now.
   * A failing message is recorded and the poll goes on; when the connection breaks, what was
   * downloaded is still stored; QUIT at the end makes the DELEs take effect.
   * @throws MailboxError when the mailbox cannot be read at all (connect, tls, login, folder/STAT)
   *   or the connection breaks during the poll (what was imported until then stays imported)
   */
  async poll(settings: MailboxSettings, deps: PollDeps): Promise<PollReport> {
    const { ctx, maxBytes } = deps;
    const log = deps.log.child({ account: settings.account });
    const report: PollReport = { imported: 0, duplicates: 0, failed: 0, tooLarge: 0, skipped: 0 };
    const deleteAfter = settings.afterImport !== 'keep';
    const client = await openSession(settings);
    try {
      let count: number;
      try {
        ({ count } = await client.stat());
      } catch (err) {
        throw err instanceof Pop3Error ? new MailboxError('folder', `the server cannot open the mailbox (STAT: ${err.text.slice(0, 200)})`) : describeMailboxError(err, 'folder');
      }
      if (count > 0) {
        let sizes: Map<number, number>;
        let uidls: Map<number, string> | null;
        try {
          sizes = await client.list();
          uidls = await client.uidl();
        } catch (err) {
          throw describeMailboxError(err, 'fetch');
        }
        if (!uidls) log.info('the server has no UIDL: every message is read and ingest() recognises those stored before');
        const seen = uidls ? await seenUidls(ctx.db, settings.account) : new Set<string>();
        const failures = new Map((await listFailures(ctx.db, settings.account)).map((f) => [f.itemKey, f]));
        const numbers = [...sizes.keys()].sort((a, b) => a - b);
        const keyOf = (n: number) => uidls?.get(n) ?? `no-uidl #${n} (${sizes.get(n)} bytes)`;
        // messages that failed before go last, so that one that breaks the connection cannot starve the others
        let topWorks = true;
        const ordered = [...numbers.filter((n) => !failures.has(keyOf(n))), ...numbers.filter((n) => failures.has(keyOf(n)))];
        /** downloaded, not stored yet: message number → its batch entry */
        let batch: { key: number; item: BatchItem }[] = [];
        let batchBytes = 0;
        const failed = async (n: number, reason: string) => {
          report.failed++;
          log.warn({ n, uidl: uidls?.get(n) ?? null, err: reason }, 'message failed: left on the server, retried on the next poll');
          await recordFailure(ctx.db, settings.account, keyOf(n), reason, false).catch((e: Error) => log.error({ err: e.message }, 'could not record the failure'));
        };
        /**
         * The batch being stored while the next one downloads; its DELEs are sent once it is
         * committed, on this one connection between two RETRs.
         */
        let storing: { entries: typeof batch; outcome: ReturnType<typeof storeBatch<number>> } | null = null;
        /** Waits for the batch being stored, records its failures, then DELE for each stored message. */
        const finishStoring = async () => {
          if (!storing) return;
          const { entries, outcome: pending } = storing;
          storing = null;
          let outcome;
          try {
            outcome = await pending;
          } finally {
            for (const e of entries) await e.item.raw.discard();
          }
          for (const [n, reason] of outcome.failed) await failed(n, reason);
          if (!deleteAfter || client.closed) return;
          for (const n of outcome.stored) {
            try {
              await client.dele(n);
            } catch (err) {
              if (client.closed) throw describeMailboxError(err, 'fetch');
              // imported and recorded: the next poll deletes it (see above)
              log.warn({ n, uidl: uidls?.get(n) ?? null, err: (err as Error).message }, 'DELE failed after import');
            }
          }
        };
        /** Starts storing the batch downloaded so far (one transaction, the UIDLs in it), after the one before it. */
        const flush = async () => {
          await finishStoring();
          if (batch.length === 0) return;
          const entries = batch;
          batch = [];
          batchBytes = 0;
          storing = { entries, outcome: storeBatch(ctx, entries, report) };
          storing.outcome.catch(() => {}); // its error is thrown where it is awaited (finishStoring)
        };
        try {
          for (const n of ordered) {
            if (deps.signal?.aborted) {
              // QUIT below still makes the DELEs of the messages imported so far take effect
              log.info({ left: ordered.length - ordered.indexOf(n) }, 'poll stopped between messages; the rest waits for the next poll');
              break;
            }
            const size = sizes.get(n)!;
            const uidl = uidls?.get(n) ?? null;
            const key = keyOf(n);
            if (uidl !== null && seen.has(uidl)) {
              // imported before; with `delete`, its DELE was lost (crash, dropped connection): do it now
              if (deleteAfter) {
                await client.dele(n).catch((err: unknown) => {
                  if (client.closed) throw describeMailboxError(err, 'fetch');
                  log.warn({ n, err: (err as Error).message }, 'DELE of an imported message failed');
                });
              }
              // a failure recorded after its commit (the poll broke before DELE) is over
              if (failures.has(key)) await clearFailure(ctx.db, settings.account, key);
              continue;
            }
            if (uidls && uidl === null) {
              log.warn({ n }, 'UIDL listed no unique-id for this message; it is read and deduplicated by content');
            }
            // a message found too large stays alone until the limit is raised above the one it failed at
            const prior = failures.get(key);
            const priorLimit = prior?.permanent ? Number(/limit (\d+)/.exec(prior.reason)?.[1] ?? Infinity) : null;
            if (size > maxBytes || (priorLimit !== null && maxBytes <= priorLimit)) {
              if (!prior?.permanent) {
                await recordFailure(ctx.db, settings.account, key, `too large: ${size} bytes, limit ${maxBytes}`, true);
                log.warn({ n, uidl, size, maxBytes }, 'message too large: left on the server');
              }
              report.tooLarge++;
              continue;
            }
            try {
              if (settings.importSince && topWorks) {
                let arrived: Date | null = null;
                try {
                  arrived = arrivalDate(await client.top(n, 0));
                } catch (err) {
                  if (!(err instanceof Pop3Error)) throw err;
                  // TOP is optional (RFC 1939 §7): without it the date filter cannot apply
                  topWorks = false;
                  log.warn({ err: err.text }, 'the server refused TOP: importing without the import-since filter');
                }
                if (arrived && arrived < settings.importSince) {
                  report.skipped++;
                  continue;
                }
              }
              if (batchFull(batch.length, batchBytes, size)) await flush();
              const body = await client.retr(n);
              let raw;
              try {
                raw = await spool(body, ctx.spoolDir, maxBytes);
              } catch (err) {
                if (!body.readableEnded && !client.closed) client.close(); // the body was not read to its end
                throw err;
              }
              const source: Pop3Source = { kind: 'pop3', channels: [settings.channel], account: settings.account, uidl: uidl ?? '' };
              // the UIDL is marked imported in the message's own savepoint: once its batch is
              // committed, the message is never imported again (and an earlier failure is cleared)
              const also = async (tx: Tx) => {
                if (uidl !== null) await markUidlSeen(tx, settings.account, uidl);
                if (failures.has(key)) await clearFailure(tx, settings.account, key);
              };
              batch.push({ key: n, item: { raw, source, also } });
              batchBytes += size;
            } catch (err) {
              if (err instanceof SizeLimitError) {
                // LIST gave a smaller size than RETR delivered
                await recordFailure(ctx.db, settings.account, key, `too large: more than ${maxBytes} bytes, limit ${maxBytes}`, true);
                report.tooLarge++;
                continue;
              }
              if (err instanceof MailboxError) throw err;
              await failed(n, err instanceof Pop3Error ? `the server refused it: ${err.text.slice(0, 200)}` : (err as Error).message);
              if (client.closed) throw describeMailboxError(err, 'fetch');
            }
          }
          await flush();
          await finishStoring();
        } finally {
          // the connection broke: what was downloaded is stored all the same (its DELE waits for
          // the next poll, which finds the UIDL recorded)
          if (storing || batch.length > 0) {
            await flush()
              .then(finishStoring)
              .catch((err: Error) => log.warn({ err: err.message }, 'storing the downloaded messages after the failure did not complete'));
          }
        }
      }
      try {
        await client.quit();
      } catch (err) {
        // nothing is lost: the UIDLs are recorded; messages not deleted now are deleted next time
        log.warn({ err: (err as Error).message }, 'QUIT failed: messages marked for deletion stay on the server');
      }
      return report;
    } finally {
      client.close();
    }
  },

  /**
   * connect → TLS → login → folder (STAT) → fetch (UIDL, or LIST when the server has no UIDL,
   * and the header of the first message with TOP 1 0, which changes nothing on the server).
   * Stops at the first failing step; never throws; ends with QUIT without DELE.
   */
  async test(settings: MailboxSettings): Promise<TestStep[]> {
    const steps: TestStep[] = [];
    let client: Pop3Client | null = null;
    let step: TestStep['step'] = 'connect';
    try {
      client = await openSession(settings, (s) => {
        steps.push(s);
        step = s.step === 'connect' ? 'tls' : s.step === 'tls' ? 'login' : 'folder';
      });
      step = 'folder';
      let count: number;
      let size: number;
      try {
        ({ count, size } = await client.stat());
      } catch (err) {
        throw err instanceof Pop3Error ? new MailboxError('folder', `the server cannot open the mailbox (STAT: ${err.text.slice(0, 200)})`) : err;
      }
      steps.push({ step: 'folder', ok: true, detail: `${count} message(s), ${size} bytes` });
      step = 'fetch';
      const uidls = await client.uidl();
      const listed = uidls ? uidls.size : (await client.list()).size;
      let header = '';
      if (count > 0) {
        try {
          await client.top(1, 0);
          header = '; the header of message 1 was read';
        } catch (err) {
          if (!(err instanceof Pop3Error)) throw err;
          // TOP is optional (RFC 1939 §7); RETR would work but may mark the message as read
          header = '; the server has no TOP (import-since cannot be applied)';
        }
      }
      steps.push({
        step: 'fetch',
        ok: true,
        detail: uidls
          ? `UIDL lists ${listed} message(s)${header}`
          : `the server has no UIDL (messages are deduplicated by content); LIST lists ${listed} message(s)${header}`,
      });
      await client.quit().catch(() => {});
    } catch (err) {
      const e = err instanceof MailboxError ? err : err instanceof Pop3Error ? new MailboxError(step, `the server refused: ${err.text.slice(0, 200)}`) : describeMailboxError(err, step);
      steps.push({ step: e.step, ok: false, detail: e.message });
    } finally {
      client?.close();
    }
    return steps;
  },
};
