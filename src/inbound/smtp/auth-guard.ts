/**
 * What stands between an SMTP client and password guessing (RFC 4954 §4, §14 "Security
 * Considerations": servers should limit failed attempts):
 * - per connection: after `maxFailures` failed AUTH attempts the connection is closed (`421 4.7.0`)
 *   and one log line sums the attempts up when it closes (AuthFailureTally);
 * - per client address, across connections and gateways: the back-off stored in the database,
 *   plugged in through SmtpAuthThrottle (the hook below).
 */

/** The answer of the per-address back-off before a password is checked. */
export type AuthGate =
  | { allowed: true; /** handed back to `succeeded` */ attempt: unknown }
  | {
      allowed: false;
      /** when the client may try again, seconds */
      retryAfterSeconds: number;
      /** log this refusal (the throttle marks the 1st, 2nd, 4th … per key); absent → log every one */
      logWorthy?: boolean;
    };

/**
 * HOOK (issue 14) — the per-address back-off for SMTP AUTH, stored in the database:
 * `src/services/auth-throttle.ts` with realm `'smtp'` plugs in here —
 * `begin` = `beginAttempt(db, 'smtp', { login, address })`, `succeeded` = `attemptSucceeded(db, attempt)`;
 * src/gateway.ts hands it to the receiver as `ReceiverDeps.authThrottle`. Without it
 * (`noAuthThrottle`) every attempt is checked, and only the per-connection limit applies.
 */
export interface SmtpAuthThrottle {
  /**
   * Counts an attempt before its password is checked.
   * @param input login as the client gave it; address = the client's IP address
   * @returns allowed (with a handle for `succeeded`), or refused with the wait in seconds
   * @throws on a database failure (the receiver answers `454 4.7.0`, RFC 4954 §6)
   */
  begin(input: { login: string; address: string }): Promise<AuthGate>;
  /** Forgives the attempt `begin` counted, after the password was right. @throws on a database failure (logged only) */
  succeeded(attempt: unknown): Promise<void>;
}

/** The hook's stand-in until the database back-off exists: every attempt is allowed. */
export const noAuthThrottle: SmtpAuthThrottle = {
  begin: async () => ({ allowed: true, attempt: null }),
  succeeded: async () => {},
};

/** Distinct login names kept per connection for the summary, and their length; the rest is counted only. */
const MAX_NAMES = 10;
const MAX_NAME_LENGTH = 64;

/** The failed AUTH attempts of one connection, summed up for one log line at its close. */
export interface AuthFailureSummary {
  /** failed attempts (wrong name or password) */
  failures: number;
  /** failures per login name as given (cut to 64 characters, at most 10 names); never a password */
  logins: Record<string, number>;
  /** failures whose login name was not kept because 10 names were already listed */
  otherLogins: number;
  /** the connection was closed for reaching the limit */
  closedAtLimit: boolean;
}

/**
 * Counts one connection's failed AUTH attempts against `maxFailures`.
 */
export class AuthFailureTally {
  private failures = 0;
  private readonly logins = new Map<string, number>();
  private otherLogins = 0;
  private closedAtLimit = false;

  /** @param maxFailures failed attempts allowed per connection; the last one closes it (≥ 1) */
  constructor(private readonly maxFailures: number) {}

  /**
   * Records a failed attempt.
   * @param login the login name as the client gave it ('' when none)
   * @returns true when this was the last allowed failure: answer `421 4.7.0` and close
   */
  fail(login: string): boolean {
    this.failures++;
    const name = login.slice(0, MAX_NAME_LENGTH);
    const seen = this.logins.get(name);
    if (seen !== undefined) this.logins.set(name, seen + 1);
    else if (this.logins.size < MAX_NAMES) this.logins.set(name, 1);
    else this.otherLogins++;
    if (this.failures >= this.maxFailures) this.closedAtLimit = true;
    return this.closedAtLimit;
  }

  /** @returns the summary, or null when no attempt failed */
  summary(): AuthFailureSummary | null {
    if (!this.failures) return null;
    return { failures: this.failures, logins: Object.fromEntries(this.logins), otherLogins: this.otherLogins, closedAtLimit: this.closedAtLimit };
  }
}
