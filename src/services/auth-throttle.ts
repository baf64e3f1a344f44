import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/auth-throttle.js';

/**
 * Throttling of authentication attempts (issue 14), with its state in the database so that it
 * holds under concurrency, across gateways and across restarts.
 *
 * An attempt is counted when it starts, before the secret is checked, in one transaction that
 * locks its keys: a burst of parallel guesses cannot all be checked, because each one sees the
 * ones before it. Each key allows a few attempts freely; after that every attempt sets a growing
 * delay (1 s, 2 s, 4 s … up to the key's cap) before the next one is checked; attempts that come
 * earlier are refused unchecked. Counts restart after an hour without attempts.
 *
 * The keys slow an attacker down per login name *and* client address without locking the real
 * person out (OWASP Authentication Cheat Sheet, "Login Throttling"; the "known device" idea):
 * - the pair (login, address) is throttled hard, and always;
 * - the address alone (one address guessing many logins) and the login from every address
 *   together (many addresses guessing one login) are throttled too — but not for a pair that
 *   has logged in successfully within {@link KNOWN_CLIENT_DAYS} days: at their usual address a
 *   person is slowed down only by that address's own failures at their login, never by guesses
 *   from elsewhere nor by colleagues behind the same address.
 * A success clears its pair, marks it known, and takes its own count back from the other keys.
 */

/** What is being protected; each realm has its own keys and rules. */
export type AuthRealm = 'admin' | 'first-run' | 'api' | 'smtp';

interface Rule {
  kind: 'pair' | 'address' | 'login';
  /** attempts allowed without delay within the window */
  free: number;
  /** longest delay between attempts, seconds */
  capSeconds: number;
}

const RULES: Record<AuthRealm, Rule[]> = {
  // the browser login
  admin: [
    { kind: 'pair', free: 5, capSeconds: 15 * 60 },
    { kind: 'address', free: 30, capSeconds: 15 * 60 },
    { kind: 'login', free: 50, capSeconds: 30 },
  ],
  // the one-time code of the first-run page: per address only, so nobody can close it for everyone
  'first-run': [{ kind: 'address', free: 5, capSeconds: 15 * 60 }],
  // API bearer tokens (256 random bits: guessing is hopeless; this keeps the noise and load down)
  api: [{ kind: 'address', free: 20, capSeconds: 15 * 60 }],
  // SMTP AUTH of scanners and other devices
  smtp: [
    { kind: 'pair', free: 5, capSeconds: 15 * 60 },
    { kind: 'address', free: 30, capSeconds: 15 * 60 },
    { kind: 'login', free: 50, capSeconds: 30 },
  ],
};

/** A pair (login, address) stays known this long after its last success (days). */
export const KNOWN_CLIENT_DAYS = 90;
/** Counts restart after this long without an attempt (ms). */
export const THROTTLE_WINDOW_MS = 60 * 60 * 1000;
/** The first delay once a key's free attempts are used up (ms); it doubles with each attempt. */
const BASE_DELAY_MS = 1000;

/** Who is trying: the login name (not for `first-run` and `api`) and the client address. */
export interface AttemptSubject {
  login?: string;
  address: string;
}

/** A counted attempt: hand it to {@link attemptSucceeded} when the secret was right. */
export interface Attempt {
  realm: AuthRealm;
  /** the keys counted, with their kind */
  keys: { sha256: string; kind: Rule['kind'] }[];
  /** the key of the pair (login, address), when the realm has one */
  pair?: string;
  /** when it was counted */
  at: Date;
  /** the pair's (or for realms without one, the address's) count including this attempt */
  failures: number;
}

export type AttemptResult =
  | { allowed: true; attempt: Attempt; logWorthy: boolean }
  | { allowed: false; retryAfterSeconds: number; logWorthy: boolean; refused: number };

/**
 * The address a key counts: IPv6 clients by their /64 (one host usually holds a whole /64, RFC
 * 4291 §2.5.4), IPv4-mapped IPv6 as IPv4; anything else as given.
 */
function addressOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  return `${(ip as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`;
}

/** The SHA-256 (hex) naming a key of `kind`; null for a login key without a login. */
function keyOf(realm: AuthRealm, kind: Rule['kind'], subject: AttemptSubject): string | null {
  const login = subject.login?.trim().toLowerCase() ?? '';
  if (kind !== 'address' && !login) return null;
  const address = addressOf(subject.address);
  const value = kind === 'pair' ? `${login}\n${address}` : kind === 'login' ? login : address;
  return createHash('sha256').update(`${realm}\n${kind}\n${value}`).digest('hex');
}

/** Delay after the `n`-th counted attempt of a key (ms): 0 while free, then 1 s, 2 s, 4 s … up to the cap. */
export function delayAfter(rule: Pick<Rule, 'free' | 'capSeconds'>, n: number): number {
  if (n < rule.free) return 0;
  return Math.min(BASE_DELAY_MS * 2 ** Math.min(n - rule.free, 30), rule.capSeconds * 1000);
}

/** Log a count only at 1, 2, 4, 8 …: one line per doubling instead of one per guess. */
const worthLogging = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * Starts an authentication attempt: in one transaction, checks whether each of the subject's keys
 * allows an attempt now and, when all do, counts it on each (before the caller checks the secret).
 * @param now the time of the attempt
 * @returns `allowed` with the attempt to report a success with, or `retryAfterSeconds` (whole
 *   seconds, at least 1) when a key needs the caller to wait; `logWorthy` marks the 1st, 2nd, 4th …
 *   attempt (or refusal) of a key so that callers log one line per doubling, not one per guess
 */
export async function beginAttempt(db: Db, realm: AuthRealm, subject: AttemptSubject, now = new Date()): Promise<AttemptResult> {
  await tidy(db, now);
  const pair = RULES[realm].some((r) => r.kind === 'pair') ? keyOf(realm, 'pair', subject) : null;
  const known = pair !== null && (await repo.knownSince(db, pair, new Date(now.getTime() - KNOWN_CLIENT_DAYS * 86_400_000)));
  const rules = RULES[realm]
    .filter((rule) => !known || rule.kind === 'pair')
    .map((rule) => ({ rule, sha256: keyOf(realm, rule.kind, subject) }))
    .filter((k): k is { rule: Rule; sha256: string } => k.sha256 !== null)
    .sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  const byKey = new Map(rules.map((r) => [r.sha256, r.rule]));
  return repo.withLockedKeys(db, [...byKey.keys()], now, async (rows, write) => {
    const restarted = (lastAt: Date) => now.getTime() - lastAt.getTime() >= THROTTLE_WINDOW_MS;
    let waitMs = 0;
    for (const row of rows) {
      if (!restarted(row.lastAt)) waitMs = Math.max(waitMs, row.nextAllowedAt.getTime() - now.getTime());
    }
    if (waitMs > 0) {
      const refused = Math.max(...rows.map((r) => (restarted(r.lastAt) ? 0 : r.refused))) + 1;
      await write(rows.map((r) => ({ ...r, refused: restarted(r.lastAt) ? r.refused : r.refused + 1 })));
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), logWorthy: worthLogging(refused), refused };
    }
    const counted = rows.map((row) => {
      const rule = byKey.get(row.keySha256)!;
      const failures = (restarted(row.lastAt) ? 0 : row.failures) + 1;
      // no delay: the key's wait stays as it was (passed), so that a parallel attempt whose clock
      // read a moment earlier is not refused for this one's timestamp
      const delay = delayAfter(rule, failures);
      return { keySha256: row.keySha256, failures, refused: restarted(row.lastAt) ? 0 : row.refused, lastAt: now, nextAllowedAt: delay > 0 ? new Date(now.getTime() + delay) : row.nextAllowedAt };
    });
    await write(counted);
    const lead = counted.find((r) => r.keySha256 === pair) ?? counted[0]!;
    return {
      allowed: true,
      attempt: { realm, keys: rules.map((r) => ({ sha256: r.sha256, kind: r.rule.kind })), pair: pair ?? undefined, at: now, failures: lead.failures },
      logWorthy: worthLogging(lead.failures),
    };
  });
}

/**
 * Reports that a counted attempt's secret was right: the pair's key (login at this address) is
 * cleared and the pair marked known; the other keys get this attempt back — its count, and the
 * wait it set when nobody was counted after it.
 */
export async function attemptSucceeded(db: Db, attempt: Attempt): Promise<void> {
  await repo.forgive(
    db,
    attempt.keys.filter((k) => k.kind === 'pair').map((k) => k.sha256),
    attempt.keys.filter((k) => k.kind !== 'pair').map((k) => k.sha256),
    attempt.at,
    attempt.pair,
  );
}

/** Removes keys without an attempt for longer than the window, and pairs not known any more. @returns how many */
export async function forgetOldAttempts(db: Db, now = new Date()): Promise<number> {
  return repo.deleteOlderThan(db, new Date(now.getTime() - THROTTLE_WINDOW_MS - 15 * 60 * 1000), new Date(now.getTime() - KNOWN_CLIENT_DAYS * 86_400_000));
}

/** When this process last tidied (ms since the epoch). */
let tidiedAt = 0;

/** Runs {@link forgetOldAttempts} at most every 10 minutes per process; a failure is left for the next time. */
async function tidy(db: Db, now: Date): Promise<void> {
  if (Math.abs(now.getTime() - tidiedAt) < 10 * 60 * 1000) return;
  tidiedAt = now.getTime();
  await forgetOldAttempts(db, now).catch(() => {
    tidiedAt = 0; // the throttle works without it
  });
}
