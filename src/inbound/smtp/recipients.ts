import type { Channel } from '../../db/schema.js';

/**
 * Decides whether a `RCPT TO` address is ours (RFC 5321 §3.3): only the configured inbound
 * addresses are accepted, so the receiver never relays.
 * @param lookup returns the channel bound to a lower-cased address, or null
 * @returns the channel, or null → answer `550 5.1.1`
 */
export async function channelForRecipient(
  address: string,
  lookup: (address: string) => Promise<Channel | null>,
): Promise<Channel | null> {
  const normalised = address.trim().toLowerCase();
  if (!normalised.includes('@')) return null;
  return lookup(normalised);
}
