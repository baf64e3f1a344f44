import { hash, verify } from '@node-rs/argon2';
import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/staff.js';
import { STAFF_ROLES, type StaffRole } from '../db/schema.js';
import { ValidationError } from './errors.js';
import { normaliseAddress } from './validate.js';

const LOGIN = /^[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}$/;

export interface NewStaff {
  /** "Nachname, Vorname" */
  name: string;
  email: string;
  login?: string;
  /** no login, no licence: present only so that the address can be mapped (domain.md item 4) */
  external?: boolean;
  inactive?: boolean;
  /** `admin` or `staff` (default) */
  role?: StaffRole;
  /** permission "E-Mails automatisch einlesen"; default: yes for people with a login */
  mailImport?: boolean;
}

/**
 * Adds a staff record ("Mitarbeiter*in").
 * Rules: a name; a valid e-mail, unique among active staff (case-insensitive); an external person
 * has no login; a login is unique (case-insensitive); an admin has a login; the permission
 * `mail.import` (default: on for people with a login) needs a login.
 * @throws ValidationError naming the field and the rule
 */
export async function addStaff(db: Db, input: NewStaff): Promise<repo.StaffRow> {
  const name = input.name.trim();
  if (!name) throw new ValidationError('name', 'a name is required ("Nachname, Vorname")');
  const email = normaliseAddress(input.email, 'email');
  const active = !input.inactive;
  if (active) {
    const other = await repo.findActiveStaffByEmail(db, email);
    if (other) throw new ValidationError('email', `${email} already belongs to the active staff record "${other.name}"`);
  }
  let login: string | null = null;
  if (input.login !== undefined) {
    if (input.external) throw new ValidationError('login', 'an external person has no login (no licence)');
    login = input.login.trim();
    if (!LOGIN.test(login)) {
      throw new ValidationError('login', `"${input.login}" is not a login name (letters, digits, . _ @ \\ -, at most 64)`);
    }
    if (await repo.findStaffByLogin(db, login)) throw new ValidationError('login', `the login "${login}" is taken`);
  }
  const role = input.role ?? 'staff';
  if (!(STAFF_ROLES as readonly string[]).includes(role)) throw new ValidationError('role', `"${role}" is not a role; use admin or staff`);
  if (role === 'admin' && !login) throw new ValidationError('role', 'an admin needs a login');
  const mailImport = input.mailImport ?? login !== null;
  if (mailImport && !login) throw new ValidationError('mailImport', 'only staff with a login can take part in mail import');
  return repo.insertStaff(db, { name, email, active, external: Boolean(input.external), login, role, mailImport });
}

/** Passwords for the admin and staff logins: at least 10 characters, one line. */
const MIN_STAFF_PASSWORD = 10;

/**
 * Sets the password a staff member logs in with (stored as an argon2id hash only).
 * @throws ValidationError for an unknown/inactive login or a password under 10 characters
 */
export async function setStaffPassword(db: Db, login: string, password: string): Promise<void> {
  const person = await repo.findStaffByLogin(db, login.trim());
  if (!person) throw new ValidationError('login', `no staff member has the login "${login}"`);
  if (!person.active) throw new ValidationError('login', `"${person.name}" is not active`);
  if (password.length < MIN_STAFF_PASSWORD) throw new ValidationError('password', `must have at least ${MIN_STAFF_PASSWORD} characters`);
  if (/[\r\n]/.test(password)) throw new ValidationError('password', 'must be one line');
  await repo.setStaffPasswordHash(db, person.id, await hash(password));
}

/** Checks a staff login and password. @returns the staff record, or null when they do not match or the person is inactive */
export async function verifyStaffPassword(db: Db, login: string, password: string): Promise<repo.StaffRow | null> {
  const person = await repo.findStaffByLogin(db, login.trim());
  if (!person?.passwordHash || !person.active) return null;
  return (await verify(person.passwordHash, password)) ? person : null;
}

export const listStaff = repo.listStaff;
export const listMappings = repo.listMappings;

/**
 * Adds a sender mapping row, Von → An, under the reference's rules (domain.md item 5):
 * `from` must be the e-mail of an active staff record (external people included, never a
 * free-text address); `to` must be an active staff member with a login and the permission
 * `mail.import` ("E-Mails automatisch einlesen"). One `from` may map to
 * several people; each pair once.
 * @param to the login of the staff member
 * @throws ValidationError naming the rule that was broken
 */
export async function addMapping(db: Db, from: string, to: string): Promise<{ from: string; toStaffId: number }> {
  const address = normaliseAddress(from, 'from');
  if (!(await repo.findActiveStaffByEmail(db, address))) {
    throw new ValidationError(
      'from',
      `${address} is not the e-mail address of an active staff record; add the sender first (staff add, with --external for people without a login)`,
    );
  }
  const target = await repo.findStaffByLogin(db, to.trim());
  if (!target) throw new ValidationError('to', `no staff member has the login "${to}"`);
  if (!target.active) throw new ValidationError('to', `"${target.name}" is not active`);
  if (!target.mailImport) throw new ValidationError('to', `"${target.name}" lacks the permission mail.import ("E-Mails automatisch einlesen")`);
  if (!(await repo.insertMapping(db, address, target.id))) {
    throw new ValidationError('to', `${address} is already mapped to "${target.name}"`);
  }
  return { from: address, toStaffId: target.id };
}
