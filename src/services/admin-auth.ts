import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/admin-sessions.js';
import { addStaff, setStaffPassword, verifyStaffPassword } from './staff.js';

/** A session ends after this much idle time (ms). */
export const SESSION_IDLE_MS = 2 * 60 * 60 * 1000;
/** …and at the latest this long after login (ms), however busy. */
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A new random token (256 bits, base64url). */
function token(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Starts a browser session for a staff member.
 * @returns the cookie value (only its SHA-256 is stored) and the session's CSRF token
 */
export async function createSession(db: Db, staffId: number, now = new Date()): Promise<{ cookie: string; csrfToken: string }> {
  const cookie = token();
  const csrfToken = token();
  await repo.insertSession(db, { tokenSha256: sha256(cookie), staffId, csrfToken, createdAt: now, lastSeenAt: now, expiresAt: new Date(now.getTime() + SESSION_IDLE_MS) });
  return { cookie, csrfToken };
}

/**
 * The session a cookie value stands for, its idle expiry moved forward; null when unknown,
 * expired (idle or past SESSION_MAX_MS) or the person is no longer active.
 */
export async function resolveSession(db: Db, cookie: string, now = new Date()): Promise<repo.SessionRow | null> {
  const hashValue = sha256(cookie);
  const s = await repo.findLiveSession(db, hashValue, now);
  if (!s) return null;
  if (!s.active || now.getTime() - s.createdAt.getTime() > SESSION_MAX_MS) {
    await repo.deleteSession(db, hashValue);
    return null;
  }
  // write at most once a minute per session
  const expiresAt = new Date(Math.min(now.getTime() + SESSION_IDLE_MS, s.createdAt.getTime() + SESSION_MAX_MS));
  if (expiresAt.getTime() - s.expiresAt.getTime() > 60_000) await repo.touchSession(db, hashValue, now, expiresAt);
  return s;
}

/** Ends a session (logout); unknown cookies are ignored. Expired sessions of everyone are removed too. */
export async function endSession(db: Db, cookie: string, now = new Date()): Promise<void> {
  await repo.deleteSession(db, sha256(cookie));
  await repo.deleteExpiredSessions(db, now);
}

/** Compares two secrets in constant time (a CSRF token, a one-time code). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether an active admin who can log in exists (the first-run page works only while none does). */
export const adminExists = repo.activeAdminExists;

export interface NewAdmin {
  login: string;
  /** "Nachname, Vorname" */
  name: string;
  email: string;
  password: string;
}

/**
 * Creates an admin staff record with a login and password (argon2id), all or nothing.
 * @throws ValidationError (fields name, email, login, password) as addStaff and setStaffPassword do
 */
export async function createAdmin(db: Db, input: NewAdmin) {
  return db.transaction(async (tx) => {
    const txDb = tx as unknown as Db;
    const person = await addStaff(txDb, { name: input.name, email: input.email, login: input.login, role: 'admin' });
    await setStaffPassword(txDb, person.login!, input.password);
    return { id: person.id, name: person.name, email: person.email, login: person.login!, role: person.role };
  });
}

/** A one-time code for the first-run page: 12 characters, easy to type from a log line. */
export function newFirstRunCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Limits of the login throttle. */
export interface ThrottleLimits {
  /** failures per login name within the window before it is blocked */
  perLogin: number;
  /** failures per client address within the window before it is blocked */
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = { perLogin: 5, perAddress: 20, windowMs: 15 * 60 * 1000 };

/**
 * Login throttling in this process (sliding window of failures per login name, case-insensitive,
 * and per client address). A blocked key stays blocked until its oldest failure in the window ages out.
 */
export class LoginThrottle {
  private failures = new Map<string, number[]>();
  constructor(private readonly limits: ThrottleLimits = DEFAULT_THROTTLE) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.limits.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** @returns milliseconds until a try is allowed again, or 0 when it is allowed now */
  blockedFor(login: string, address: string, now = Date.now()): number {
    let wait = 0;
    for (const [key, max] of [[`l:${login.trim().toLowerCase()}`, this.limits.perLogin], [`a:${address}`, this.limits.perAddress]] as const) {
      const list = this.recent(key, now);
      if (list.length >= max) wait = Math.max(wait, list[list.length - max]! + this.limits.windowMs - now);
    }
    return wait;
  }

  fail(login: string, address: string, now = Date.now()): void {
    for (const key of [`l:${login.trim().toLowerCase()}`, `a:${address}`]) this.failures.set(key, [...this.recent(key, now), now]);
  }

  /** A successful login clears the failures of the login name (not of the address). */
  succeed(login: string): void {
    this.failures.delete(`l:${login.trim().toLowerCase()}`);
  }
}

export { verifyStaffPassword };
