/**
 * Refused connections, summed up in the log: a client (or a flood of them) that connects again
 * and again while it is refused would otherwise write one log line per attempt and could fill
 * the disk. Per client address and reason, the first refusal is logged at once and the further
 * ones once per window (a minute) as a count; an address that stays quiet for a whole window
 * starts over.
 */

/** Why a connection was refused before the greeting. */
export type RefusalReason =
  /** the client is outside SMTP_ALLOWED_NETWORKS (`554`) */
  | 'address-not-allowed'
  /** SMTP_MAX_CONNECTIONS_PER_IP reached for the client's address (`421`) */
  | 'per-address-limit'
  /** SMTP_MAX_CONNECTIONS reached (`421`) */
  | 'connection-limit';

/** One log line's worth of refusals. */
export interface RefusalReport {
  reason: RefusalReason;
  /** the client address; null for the addresses beyond `maxAddresses`, summed up together */
  peer: string | null;
  /** refused connections this line stands for */
  refused: number;
  /** true for the first refusal of an address (logged at once); false for a summary */
  first: boolean;
  /** the time the summary covers, seconds (0 for a first refusal) */
  seconds: number;
}

interface Entry {
  reason: RefusalReason;
  peer: string;
  /** refusals since the last report */
  count: number;
  /** when the last report was written (performance.now() ms) */
  since: number;
}

/**
 * Counts refused connections per client address and reason and reports them through `report`:
 * at most one line per address and reason per window after the first.
 */
export class RefusalLog {
  private readonly entries = new Map<string, Entry>();
  /** refusals from addresses not tracked because `maxAddresses` were, per reason */
  private readonly overflow = new Map<RefusalReason, { count: number; since: number }>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param report writes one log line
   * @param windowMs how often the counts are reported, ms (a minute by default)
   * @param maxAddresses addresses tracked one by one; refusals from further ones are summed up
   *   together (peer null), so that memory and log stay bounded whatever the number of addresses
   */
  constructor(
    private readonly report: (r: RefusalReport) => void,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 1000,
  ) {}

  /**
   * Records one refused connection; reports it at once when it is the first from this address
   * (for this reason) since the address was last quiet for a whole window.
   * @param peer the client's IP address as the socket reports it
   */
  refused(peer: string, reason: RefusalReason): void {
    const key = `${reason} ${peer}`;
    const entry = this.entries.get(key);
    if (entry) {
      entry.count++;
    } else if (this.entries.size < this.maxAddresses) {
      this.entries.set(key, { reason, peer, count: 0, since: performance.now() });
      this.report({ reason, peer, refused: 1, first: true, seconds: 0 });
    } else {
      const other = this.overflow.get(reason);
      if (other) other.count++;
      else this.overflow.set(reason, { count: 1, since: performance.now() });
    }
    this.timer ??= setInterval(() => this.sweep(), this.windowMs).unref();
  }

  /** Reports what was counted and not yet reported, and stops the timer (the receiver closes). */
  flush(): void {
    this.sweep(true);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reports the counts of the window; forgets addresses without refusals in it (all with `all`). */
  private sweep(all = false): void {
    const now = performance.now();
    for (const [key, entry] of this.entries) {
      if (entry.count > 0) {
        this.report({ reason: entry.reason, peer: entry.peer, refused: entry.count, first: false, seconds: Math.round((now - entry.since) / 1000) });
        entry.count = 0;
        entry.since = now;
        if (!all) continue;
      }
      this.entries.delete(key);
    }
    for (const [reason, other] of this.overflow) {
      this.report({ reason, peer: null, refused: other.count, first: false, seconds: Math.round((now - other.since) / 1000) });
    }
    this.overflow.clear();
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
