import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import type { Db } from '../db/client.js';
import * as repo from '../db/repositories/staff.js';
import { STAFF_ROLES, type StaffRole } from '../db/schema.js';
import { NotFoundError, ValidationError } from './errors.js';
import { deactivateInTransaction, endUnclaimedCandidacies, type DeactivationReport } from './staff-lifecycle.js';
import { normaliseAddress } from './validate.js';

const LOGIN = /^[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}$/;

/**
 * A login name for a new or renamed login: trimmed, of letters, digits, `. _ @ \\ -`, at most 64,
 * not taken by another staff member (case-insensitive).
 * @param selfId the staff member who keeps or takes the login (a rename to another case is allowed)
 * @throws ValidationError (field `login`)
 */
async function checkLogin(db: Db, value: string, selfId?: number): Promise<string> {
  const login = value.trim();
  if (!LOGIN.test(login)) throw new ValidationError('login', `"${value}" is not a login name (letters, digits, . _ @ \\ -, at most 64)`);
  const other = await repo.findStaffByLogin(db, login);
  if (other && other.id !== selfId) throw new ValidationError('login', `the login "${login}" is taken`);
  return login;
}

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

/** Longest staff name accepted, in characters (a list column, not an essay). */
export const STAFF_NAME_MAX = 200;

/**
 * A staff name trimmed and checked: present, at most STAFF_NAME_MAX characters, no control characters.
 * @throws ValidationError (field `name`)
 */
function checkName(value: string): string {
  const name = value.trim();
  if (!name) throw new ValidationError('name', 'a name is required ("Nachname, Vorname")');
  if ([...name].length > STAFF_NAME_MAX) throw new ValidationError('name', `a name has at most ${STAFF_NAME_MAX} characters`);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new ValidationError('name', 'a name may not contain line breaks or other control characters');
  return name;
}

/**
 * Adds a staff record ("Mitarbeiter*in").
 * Rules: a name; a valid e-mail, unique among active staff (case-insensitive); an external person
 * has no login; a login is unique (case-insensitive); an admin has a login; the permission
 * `mail.import` (default: on for people with a login) needs a login.
 * @throws ValidationError naming the field and the rule
 */
export async function addStaff(db: Db, input: NewStaff): Promise<repo.StaffRow> {
  const name = checkName(input.name);
  const email = normaliseAddress(input.email, 'email');
  const active = !input.inactive;
  if (active) {
    const other = await repo.findActiveStaffByEmail(db, email);
    if (other) throw new ValidationError('email', `${email} already belongs to the active staff record "${other.name}"`);
  }
  let login: string | null = null;
  if (input.login !== undefined) {
    if (input.external) throw new ValidationError('login', 'an external person has no login (no licence)');
    login = await checkLogin(db, input.login);
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

/** A hash of a random password, made once: checked against when there is no real hash, so that time tells nothing. */
let standIn: Promise<string> | undefined;

/**
 * Checks a staff login and password. An unknown login, a person without a password or an inactive
 * one costs the same argon2id verification as a known one (OWASP Authentication Cheat Sheet:
 * no user enumeration by response time).
 * @returns the staff record, or null when they do not match or the person is inactive
 */
export async function verifyStaffPassword(db: Db, login: string, password: string): Promise<repo.StaffRow | null> {
  const person = login.trim() ? await repo.findStaffByLogin(db, login.trim()) : undefined;
  const real = person?.passwordHash && person.active ? person.passwordHash : null;
  standIn ??= hash(randomBytes(18).toString('base64'));
  const matches = await verify(real ?? (await standIn), password);
  return real && matches ? person! : null;
}

export const listStaff = repo.listStaff;
export const listMappings = repo.listMappings;

/**
 * Adds a sender mapping row, Von → An, under the reference's rules (domain.md item 5):
 * `from` must be the e-mail of an active staff record (external people included, never a
 * free-text address); `to` must be an active staff member with a login and the permission
 * `mail.import` ("E-Mails automatisch einlesen"). One `from` may map to
 * several people; each pair once.
 * @param to the login of the staff member, or their id
 * @returns the new row's id, the lower-cased sender and the target's id
 * @throws ValidationError naming the rule that was broken
 */
export async function addMapping(db: Db, from: string, to: string | number): Promise<{ id: number; from: string; toStaffId: number }> {
  const address = normaliseAddress(from, 'from');
  if (!(await repo.findActiveStaffByEmail(db, address))) {
    throw new ValidationError(
      'from',
      `${address} is not the e-mail address of an active staff record; add the sender first (staff add, with --external for people without a login)`,
    );
  }
  const target = typeof to === 'number' ? await repo.findStaffById(db, to) : await repo.findStaffByLogin(db, to.trim());
  if (!target) throw new ValidationError('to', typeof to === 'number' ? `no staff member has the id ${to}` : `no staff member has the login "${to}"`);
  if (!target.active) throw new ValidationError('to', `"${target.name}" is not active`);
  if (!target.login) throw new ValidationError('to', `"${target.name}" has no login: only staff with a login receive tasks`);
  if (!target.mailImport) throw new ValidationError('to', `"${target.name}" lacks the permission mail.import ("E-Mails automatisch einlesen")`);
  const id = await repo.insertMapping(db, address, target.id);
  if (id === null) throw new ValidationError('to', `${address} is already mapped to "${target.name}"`);
  return { id, from: address, toStaffId: target.id };
}

/**
 * Removes a sender mapping row. Routing of new mail follows at once; candidacies already given
 * on existing tasks stay (route or forward those by hand).
 * @returns the removed row (id, from, toStaffId, toLogin, toName)
 * @throws NotFoundError for an unknown id
 */
export async function removeMapping(db: Db, id: number) {
  const row = await repo.findMappingById(db, id);
  if (!row || !(await repo.deleteMapping(db, id))) throw new NotFoundError(`no mapping has the id ${id}`);
  return row;
}

/**
 * Changes a sender mapping row to Von → An (the grid's "edit in place"): in one transaction the
 * old row goes and the new pair is added under the rules of {@link addMapping}; when the new pair
 * is refused nothing changes.
 * @param to the login of the staff member, or their id
 * @returns the row as {@link addMapping} returns it (a new id)
 * @throws NotFoundError for an unknown id; ValidationError naming the rule that was broken
 */
export async function changeMapping(db: Db, id: number, from: string, to: string | number): Promise<{ id: number; from: string; toStaffId: number }> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    if (!(await repo.deleteMapping(t, id))) throw new NotFoundError(`no mapping has the id ${id}`);
    return addMapping(t, from, to);
  });
}

/** One sender mapping row: id, from, toStaffId, toLogin, toName. @throws NotFoundError for an unknown id */
export async function getMapping(db: Db, id: number) {
  const row = await repo.findMappingById(db, id);
  if (!row) throw new NotFoundError(`no mapping has the id ${id}`);
  return row;
}

/** A staff member without the password hash. @throws NotFoundError for an unknown id */
export async function getStaff(db: Db, id: number): Promise<repo.PublicStaffRow> {
  const row = await repo.findPublicStaffById(db, id);
  if (!row) throw new NotFoundError(`no staff member has the id ${id}`);
  return row;
}

/** Changes to a staff record; absent fields stay as they are. */
export interface StaffChanges {
  name?: string;
  email?: string;
  /** a new login name, or null to remove the login (the person can then no longer receive tasks) */
  login?: string | null;
  external?: boolean;
  /** "Aktuell": false deactivates like {@link deactivateStaff}, true reactivates */
  active?: boolean;
  role?: StaffRole;
  mailImport?: boolean;
}

/** What {@link updateStaff} did. */
export interface StaffUpdate {
  staff: repo.PublicStaffRow;
  /** present when the change deactivated the person */
  deactivation?: DeactivationReport;
  /** present when an active person lost their login or mail.import: their unclaimed candidacies ended */
  candidacies?: { ended: number[]; unassigned: number[] };
}

/**
 * Changes a staff record under the rules of {@link addStaff}, in one transaction with the row locked:
 * a name; a valid e-mail, unique among active staff (case-insensitive, also checked on reactivation);
 * an external person has no login; a login is unique; an admin has a login; mail.import needs a
 * login (removing the login without naming mailImport turns it off). `active: false` deactivates
 * (issue 5 item 1: unclaimed candidacies end, tasks left with no candidate become unassigned); an
 * active person who loses the login or mail.import has their unclaimed candidacies ended the same
 * way. Nobody can deactivate themselves or take away their own admin role.
 * @param actorId the admin doing it (history, and the self-protection rule), or null for the local operator
 * @throws NotFoundError for an unknown id; ValidationError naming the field and the rule
 */
export async function updateStaff(db: Db, id: number, changes: StaffChanges, actorId: number | null = null): Promise<StaffUpdate> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const current = await repo.findStaffById(t, id, true);
    if (!current) throw new NotFoundError(`no staff member has the id ${id}`);
    const next = { ...current };
    if (changes.name !== undefined) {
      next.name = checkName(changes.name);
    }
    if (changes.email !== undefined) next.email = normaliseAddress(changes.email, 'email');
    if (changes.login !== undefined) {
      next.login = changes.login === null || changes.login.trim() === '' ? null : await checkLogin(t, changes.login, id);
      if (!next.login && changes.mailImport === undefined) next.mailImport = false;
    }
    if (changes.external !== undefined) next.external = changes.external;
    if (changes.active !== undefined) next.active = changes.active;
    if (changes.role !== undefined) {
      if (!(STAFF_ROLES as readonly string[]).includes(changes.role)) throw new ValidationError('role', `"${changes.role}" is not a role; use admin or staff`);
      next.role = changes.role;
    }
    if (changes.mailImport !== undefined) next.mailImport = changes.mailImport;

    if (next.external && next.login) {
      throw new ValidationError(changes.login ? 'login' : 'external', 'an external person has no login (no licence); remove the login (login: null)');
    }
    if (next.role === 'admin' && !next.login) throw new ValidationError(changes.role ? 'role' : 'login', 'an admin needs a login');
    if (next.mailImport && !next.login) throw new ValidationError(changes.mailImport ? 'mailImport' : 'login', 'only staff with a login can take part in mail import');
    if (actorId === id && !next.active && current.active) throw new ValidationError('active', 'you cannot deactivate yourself');
    if (actorId === id && next.role !== 'admin' && current.role === 'admin') throw new ValidationError('role', 'you cannot take away your own admin role');
    if (next.active && (!current.active || next.email.toLowerCase() !== current.email.toLowerCase())) {
      const other = await repo.findActiveStaffByEmail(t, next.email);
      if (other && other.id !== id) {
        throw new ValidationError(changes.email !== undefined ? 'email' : 'active', `${next.email} already belongs to the active staff record "${other.name}"`);
      }
    }

    const { name, email, login, external, role, mailImport } = next;
    // deactivation goes through the staff lifecycle (which sets active=false itself)
    const deactivating = current.active && !next.active;
    const row = (await repo.updateStaffRow(t, id, { name, email, login, external, role, mailImport, active: deactivating ? true : next.active }))!;
    const result: StaffUpdate = { staff: row };
    if (deactivating) {
      result.deactivation = await deactivateInTransaction(tx, row, actorId);
      result.staff = { ...row, active: false };
    } else if (current.active && next.active && current.login && current.mailImport && !(next.login && next.mailImport)) {
      result.candidacies = await endUnclaimedCandidacies(tx, row, actorId, next.login ? 'mail.import revoked' : 'login removed');
    }
    return result;
  });
}

/**
 * Sets the password of the staff member with this id (see {@link setStaffPassword}).
 * @throws NotFoundError for an unknown id; ValidationError (`login`) for a person without a login
 */
export async function setStaffPasswordById(db: Db, id: number, password: string): Promise<void> {
  const person = await repo.findStaffById(db, id);
  if (!person) throw new NotFoundError(`no staff member has the id ${id}`);
  if (!person.login) throw new ValidationError('login', `"${person.name}" has no login to set a password for`);
  await setStaffPassword(db, person.login, password);
}
