import { simpleParser, type AddressObject } from 'mailparser';
import type { AppContext } from '../context.js';
import { readBlob } from '../db/blobs.js';
import { outboxView, visibleOutboxRow, type OutboxView } from './outbox.js';
import type { Actor } from './task-actions.js';

/** An outbox entry with its recipients split as the message names them (the admin's detail page). */
export interface OutboxDetail extends OutboxView {
  /** the To header as written ("Name <address>, …"); null when absent */
  toHeader: string | null;
  /** the Cc header as written; null when absent */
  cc: string | null;
  /** envelope recipients named in neither To nor Cc: the blind copies */
  bcc: string[];
}

const mailboxes = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : [])
    .flatMap((o) => o.value)
    .flatMap((v) => v.group ?? [v])
    .filter((v) => v.address);

const addresses = (a: AddressObject | AddressObject[] | undefined) => mailboxes(a).map((v) => v.address!.toLowerCase());

/** "Name <address>, …" (names decoded, unquoted); null when the field is absent or names nobody. */
const text = (a: AddressObject | AddressObject[] | undefined) =>
  mailboxes(a)
    .map((v) => (v.name ? `${v.name} <${v.address}>` : v.address!))
    .join(', ') || null;

/**
 * An outbox entry with To and Cc as its stored message's header says, and the blind copies
 * (envelope recipients that neither header names; Bcc is never written into the message).
 * Staff see only what they queued.
 * @throws NotFoundError unknown id, or one the actor may not see
 */
export async function outboxDetail(ctx: AppContext, actor: Actor, id: number): Promise<OutboxDetail> {
  const row = await visibleOutboxRow(ctx, actor, id);
  const view = outboxView(row);
  let toHeader: string | null = null;
  let cc: string | null = null;
  let named = new Set<string>();
  const blob = await readBlob(ctx.db, row.rawSha256);
  if (blob) {
    // the header section is in the first stored chunk (1 MiB) of a message the gateway built
    let head: Buffer | undefined;
    for await (const chunk of blob.chunks) {
      head = chunk;
      break;
    }
    if (head) {
      const end = head.toString('latin1').search(/\r?\n\r?\n/);
      const parsed = await simpleParser(end >= 0 ? head.subarray(0, end) : head, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
      toHeader = text(parsed.to);
      cc = text(parsed.cc);
      named = new Set([...addresses(parsed.to), ...addresses(parsed.cc)]);
    }
  }
  const bcc = blob ? row.envelopeTo.filter((a) => !named.has(a.toLowerCase())) : [];
  return { ...view, toHeader, cc, bcc };
}
