import { domainToASCII, domainToUnicode } from 'node:url';
import { inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { inboundAddress, type Channel } from '../../db/schema.js';

/** The channel that mail to the reserved mailbox `postmaster` reaches (RFC 5321 §4.5.1). */
export const POSTMASTER_CHANNEL: Channel = 'general';

/**
 * Decides whether a `RCPT TO` address is ours (RFC 5321 §3.3): only the configured inbound
 * addresses are accepted, so the receiver never relays — and the reserved mailbox `postmaster`
 * (RFC 5321 §4.5.1, case-insensitive), which must be accepted bare and at every domain we receive
 * mail for: the domains of the inbound addresses. Postmaster mail goes to the general channel,
 * unless `postmaster@<domain>` is itself an inbound address (then to that one's channel).
 * @param address the address as given in `RCPT TO` (any case)
 * @param lookup returns the channel bound to a lower-cased address, or null
 * @param isInboundDomain whether a lower-cased domain is the domain of an inbound address;
 *   absent → `postmaster@<domain>` is accepted only where it is an inbound address itself
 * @returns the channel, or null → answer `550 5.1.1`
 * @throws what the look-ups throw (the receiver answers `451 4.3.0`)
 */
export async function channelForRecipient(
  address: string,
  lookup: (address: string) => Promise<Channel | null>,
  isInboundDomain?: (domain: string) => Promise<boolean>,
): Promise<Channel | null> {
  const normalised = address.trim().toLowerCase();
  if (normalised === 'postmaster') return POSTMASTER_CHANNEL;
  const at = normalised.lastIndexOf('@');
  if (at < 0) return null;
  const channel = await lookup(normalised);
  if (channel) return channel;
  if (normalised.slice(0, at) === 'postmaster' && isInboundDomain && (await isInboundDomain(normalised.slice(at + 1)))) return POSTMASTER_CHANNEL;
  return null;
}

/**
 * Whether a domain is the domain of a configured inbound address (table `inbound_address`), for
 * `postmaster@<domain>`. A domain written in Unicode and in its ASCII (punycode, RFC 5890) form
 * count as the same: smtp-server hands over `RCPT TO` domains in Unicode.
 * @param domain a domain, any case
 * @returns true when at least one inbound address is at that domain
 * @throws database errors
 */
export async function isInboundDomain(db: Db, domain: string): Promise<boolean> {
  const d = domain.trim().toLowerCase();
  const forms = [...new Set([d, domainToASCII(d), domainToUnicode(d)].filter(Boolean))];
  if (!forms.length) return false;
  const rows = await db
    .select({ address: inboundAddress.address })
    .from(inboundAddress)
    .where(inArray(sql<string>`substring(${inboundAddress.address} from '@([^@]*)$')`, forms))
    .limit(1);
  return rows.length > 0;
}
