import type { Channel } from '../../db/schema.js';

/** How long a found inbound address is used without asking again, and how long at most while a check runs. */
export const RECIPIENT_FRESH_MS = 2_000;
export const RECIPIENT_MAX_STALE_MS = 30_000;

/**
 * Remembers the inbound addresses `RCPT TO` found, so that a busy database (PGlite runs one
 * transaction at a time: a 50 MB scan's held every `RCPT TO` for seconds) does not hold up the
 * acknowledgement of other messages.
 * - a remembered address younger than `freshMs` is answered from memory;
 * - one older is answered from memory too while a check runs in the background, up to
 *   `maxStaleMs`; past that the caller waits for the check;
 * - an address not remembered (new, or not ours) is always looked up: an address added is used
 *   at once, and refusals (`550`) are never answered from memory.
 * So an address removed is refused within `freshMs` on a used address, `maxStaleMs` at most.
 * @param lookup the channel bound to a lower-cased address, or null
 * @returns a lookup with the same contract
 */
export function cachedRecipientLookup(
  lookup: (address: string) => Promise<Channel | null>,
  opts: { freshMs?: number; maxStaleMs?: number; now?: () => number } = {},
): (address: string) => Promise<Channel | null> {
  const freshMs = opts.freshMs ?? RECIPIENT_FRESH_MS;
  const maxStaleMs = opts.maxStaleMs ?? RECIPIENT_MAX_STALE_MS;
  const now = opts.now ?? Date.now;
  const known = new Map<string, { channel: Channel; checkedAt: number }>();
  const checking = new Map<string, Promise<Channel | null>>();

  function check(address: string): Promise<Channel | null> {
    let running = checking.get(address);
    if (!running) {
      running = lookup(address)
        .then((channel) => {
          if (channel) known.set(address, { channel, checkedAt: now() });
          else known.delete(address);
          return channel;
        })
        .finally(() => checking.delete(address));
      checking.set(address, running);
    }
    return running;
  }

  return async (address) => {
    const entry = known.get(address);
    if (!entry) return check(address);
    const age = now() - entry.checkedAt;
    if (age <= freshMs) return entry.channel;
    if (age <= maxStaleMs) {
      // answered from memory; the background check's failure is the next caller's to see
      check(address).catch(() => {});
      return entry.channel;
    }
    return check(address);
  };
}
