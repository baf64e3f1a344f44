import { hash, verify } from '@node-rs/argon2';
import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/devices.js';
import { NotFoundError, ValidationError } from './errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}$/;
/** Scanners' password fields are short; still refuse trivially guessable ones. */
const MIN_PASSWORD = 8;

let dummyHash: string | undefined;

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new ValidationError('password', `must have at least ${MIN_PASSWORD} characters`);
  if (/[\r\n]/.test(password)) throw new ValidationError('password', 'must be one line');
}

/**
 * Adds a device account for SMTP AUTH (PLAIN/LOGIN, RFC 4954). The password is stored as an
 * argon2id hash only.
 * @throws ValidationError for a bad or taken name, or a password under 8 characters
 */
export async function addDevice(db: Db, name: string, password: string): Promise<void> {
  if (!NAME.test(name)) throw new ValidationError('name', `"${name}" is not a device name (letters, digits, . _ @ \\ -, at most 64)`);
  checkPassword(password);
  if (!(await repo.insertDevice(db, name, await hash(password)))) throw new ValidationError('name', `a device named "${name}" exists`);
}

/** Sets a new password. @throws ValidationError, NotFoundError */
export async function setDevicePassword(db: Db, name: string, password: string): Promise<void> {
  checkPassword(password);
  if (!(await repo.updateDevice(db, name, { passwordHash: await hash(password) }))) throw new NotFoundError(`no device named "${name}"`);
}

/** Turns a device account on or off; an inactive account cannot authenticate. @throws NotFoundError */
export async function setDeviceActive(db: Db, name: string, active: boolean): Promise<void> {
  if (!(await repo.updateDevice(db, name, { active }))) throw new NotFoundError(`no device named "${name}"`);
}

export const listDevices = repo.listDevices;

/**
 * A device's successful SMTP AUTH, held by the connection that authenticated: the connection
 * asks it again before each new transaction, so that disabling, removing or re-keying the
 * account ends what the old authentication allowed (RFC 4954 §6 `530 5.7.0`).
 */
export interface DeviceAuthorization {
  /** the device's name as stored */
  name: string;
  /**
   * Whether the authorization still holds: the same account (by id) still exists, is active and
   * has the password hash it had at AUTH (a new password withdraws it, as a password reset ends
   * a person's sessions). One query on the unique index `lower(name)`.
   * @throws database errors
   */
  stillAuthorized(): Promise<boolean>;
}

/**
 * Checks SMTP AUTH credentials.
 * @returns the device's authorization (its name as stored), or null for an unknown/inactive
 *   name or a wrong password
 */
export async function authenticateDevice(db: Db, name: string, password: string): Promise<DeviceAuthorization | null> {
  const device = await repo.findDevice(db, name);
  if (!device || !device.active) {
    // spend the same time as for a known name, so that answers do not reveal which names exist
    await verify((dummyHash ??= await hash('posteingang-dummy-password')), password);
    return null;
  }
  if (!(await verify(device.passwordHash, password))) return null;
  await repo.updateDevice(db, device.name, { lastAuthAt: new Date() });
  const { id, passwordHash } = device;
  return {
    name: device.name,
    async stillAuthorized() {
      const now = await repo.findDevice(db, device.name);
      return now !== null && now.id === id && now.active && now.passwordHash === passwordHash;
    },
  };
}
