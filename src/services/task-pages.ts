import { simpleParser, type AddressObject } from 'mailparser';
import type { Db } from '../db/client.js';
import { rawMessage, type Viewer } from './messages.js';
import { listStaff } from './staff.js';

/** A person a task can go to (assign, forward, mapping `An`). */
export interface EligiblePerson {
  id: number;
  login: string;
  name: string;
}

/**
 * Staff who may receive tasks: active, with a login and the permission mail.import (domain.md
 * item 5, the rule services/task-actions.ts and addMapping check), ordered by name.
 */
export async function eligibleStaff(db: Db): Promise<EligiblePerson[]> {
  return (await listStaff(db))
    .filter((s) => s.active && s.login && s.mailImport)
    .map((s) => ({ id: s.id, login: s.login!, name: s.name }));
}

/**
 * The lower-cased e-mail addresses of active staff records (external people included): the
 * senders a mapping may start from (domain.md item 5).
 */
export async function activeStaffAddresses(db: Db): Promise<Set<string>> {
  return new Set((await listStaff(db)).filter((s) => s.active).map((s) => s.email.toLowerCase()));
}

const addressText = (a: AddressObject | AddressObject[] | undefined) => (a === undefined ? null : (Array.isArray(a) ? a : [a]).map((x) => x.text).join(', '));

/**
 * The recipient header fields of a stored message (`To`, `Cc`), decoded (RFC 2047) from the raw
 * bytes, as display text ("Name <address>, …"); null when a field is absent or the message
 * cannot be read.
 * @throws NotFoundError as {@link rawMessage} (unknown or invisible to `viewer`)
 */
export async function messageRecipients(db: Db, id: number, viewer?: Viewer): Promise<{ to: string | null; cc: string | null }> {
  const raw = await rawMessage(db, id, viewer);
  const parts: Buffer[] = [];
  for await (const chunk of raw.chunks) parts.push(chunk);
  try {
    const parsed = await simpleParser(Buffer.concat(parts), { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    return { to: addressText(parsed.to), cc: addressText(parsed.cc) };
  } catch {
    return { to: null, cc: null };
  }
}
