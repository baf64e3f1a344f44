import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/tokens.js';
import { ValidationError } from './errors.js';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Creates an API bearer token. The token is returned once and only its SHA-256 is stored.
 * @returns 43 characters of base64url (256 random bits) prefixed with `pe_`
 * @throws ValidationError when the name is empty or taken
 */
export async function createToken(db: Db, name: string): Promise<string> {
  if (!name.trim()) throw new ValidationError('name', 'a token needs a name');
  const token = `pe_${randomBytes(32).toString('base64url')}`;
  if (!(await repo.insertToken(db, name.trim(), hashToken(token)))) throw new ValidationError('name', `a token named "${name}" exists`);
  return token;
}

/** @returns the token's name, or null when the token is unknown */
export async function verifyToken(db: Db, token: string): Promise<string | null> {
  return (await repo.findTokenByHash(db, hashToken(token)))?.name ?? null;
}
