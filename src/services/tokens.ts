import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/client.js';
import * as staffRepo from '../db/repositories/staff.js';
import * as repo from '../db/repositories/tokens.js';
import type { StaffRole } from '../db/schema.js';
import { ValidationError } from './errors.js';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Who a request acts as. */
export interface Principal {
  id: number;
  login: string | null;
  name: string;
  role: StaffRole;
}

/**
 * Creates a per-user API token for the staff member with `login`. The token is returned once;
 * only its SHA-256 is stored.
 * @param name a label to list and revoke it by (default `<login>-<n>`)
 * @returns `pe_` + 43 characters of base64url (256 random bits)
 * @throws ValidationError for an unknown or inactive login, or a taken name
 */
export async function createToken(db: Db, login: string, name?: string): Promise<string> {
  const owner = await staffRepo.findStaffByLogin(db, login.trim());
  if (!owner) throw new ValidationError('login', `no staff member has the login "${login}"`);
  if (!owner.active) throw new ValidationError('login', `"${owner.name}" is not active`);
  const label = name?.trim() || `${owner.login}-${randomBytes(3).toString('hex')}`;
  const token = `pe_${randomBytes(32).toString('base64url')}`;
  if (!(await repo.insertToken(db, owner.id, label, hashToken(token)))) throw new ValidationError('name', `a token named "${label}" exists`);
  return token;
}

/** @returns the active staff member the token belongs to, or null */
export async function verifyToken(db: Db, token: string): Promise<Principal | null> {
  const owner = await repo.findTokenOwner(db, hashToken(token));
  return owner ? { id: owner.id, login: owner.login, name: owner.name, role: owner.role } : null;
}

export const listTokens = repo.listTokens;

/** Revokes a token by its name. @throws ValidationError when there is none */
export async function revokeToken(db: Db, name: string): Promise<void> {
  if (!(await repo.deleteToken(db, name))) throw new ValidationError('name', `no token named "${name}"`);
}
