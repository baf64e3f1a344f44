import type { Channel } from '../../db/schema.js';

/**
 * Decides whether a `RCPT TO` address is ours (RFC 5321 §3.3): only the configured inbound
 * addresses are accepted, so the receiver never relays.
 * @param lookup returns the channel bound to a lower-cased address, or null
 * @returns the channel, or null → answer `550 5.1.1`; the domainless `postmaster` → `general`
 */
export async function channelForRecipient(
  address: string,
  lookup: (address: string) => Promise<Channel | null>,
): Promise<Channel | null> {
  const normalised = address.trim().toLowerCase();
  // RFC 5321 §4.5.1: the reserved mailbox "postmaster" must be accepted; it reaches the general channel
  if (normalised === 'postmaster') return 'general';
  if (!normalised.includes('@')) return null;
  return lookup(normalised);
}
