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
 * expired (idle or past SESSION_MAX_MS), or the person is no longer active or has no login (checked
 * on every request; changes of password, login, role or activity also delete the person's sessions
 * and tokens, by the trigger `staff_end_access`, migration 0010).
 */
export async function resolveSession(db: Db, cookie: string, now = new Date()): Promise<repo.SessionRow | null> {
  const hashValue = sha256(cookie);
  const s = await repo.findLiveSession(db, hashValue, now);
  if (!s) return null;
  if (!s.active || s.login === null || now.getTime() - s.createdAt.getTime() > SESSION_MAX_MS) {
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

export { verifyStaffPassword };
