import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.js';

/** Encrypts and decrypts secrets stored in the database (mailbox and SMTP passwords). */
export interface SecretBox {
  /**
   * @param purpose binds the ciphertext to its field (AES-GCM additional data), e.g. `mailbox:general`
   * @returns `v1:<iv>:<tag>:<ciphertext>`, base64 parts
   */
  encrypt(plain: string, purpose: string): string;
  /** @throws SecretError when the key is wrong or the value was altered */
  decrypt(sealed: string, purpose: string): string;
}

export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

/** A SecretBox under a 32-byte key: AES-256-GCM, 96-bit random IV per value (NIST SP 800-38D). */
export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new SecretError('the secret key must be 32 bytes');
  return {
    encrypt(plain, purpose) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(purpose, 'utf8'));
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
    },
    decrypt(sealed, purpose) {
      const [version, iv, tag, ct] = sealed.split(':');
      if (version !== 'v1' || !iv || !tag || ct === undefined) throw new SecretError('not an encrypted value');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
        decipher.setAAD(Buffer.from(purpose, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretError(
          'a stored secret cannot be decrypted: SECRET_KEY differs from the key it was stored with (all gateways must share one key); enter the password again',
        );
      }
    },
  };
}

function parseKey(value: string): Buffer {
  return /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
}

/**
 * The key for secrets at rest: SECRET_KEY (or SECRET_KEY_FILE), else `DATA_DIR/secret.key`,
 * generated (32 random bytes, mode 0600) on first start. Gateways that share one PostgreSQL
 * must share the key: set SECRET_KEY_FILE for them.
 */
export function loadSecretKey(config: Pick<Config, 'SECRET_KEY' | 'dataDir'>): Buffer {
  if (config.SECRET_KEY) return parseKey(config.SECRET_KEY);
  const file = path.join(config.dataDir, 'secret.key');
  if (existsSync(file)) return parseKey(readFileSync(file, 'utf8').trim());
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}
