import { Hono, type Context } from 'hono';
import type { FieldErrors } from '../../../views/fragments/FormErrors.js';
import type { Language } from '../../../views/i18n/index.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import { EMPTY_STAFF, type StaffFormValues } from '../../../views/fragments/StaffForm.js';
import { StaffPage } from '../../../views/pages/Staff.js';
import { deactivationLines, StaffDeactivatePage, StaffEditPage } from '../../../views/pages/StaffEdit.js';
import type { AppContext } from '../../context.js';
import type { PublicStaffRow } from '../../db/repositories/staff.js';
import type { Db } from '../../db/client.js';
import type { StaffRole } from '../../db/schema.js';
import { NotFoundError, ValidationError } from '../../services/errors.js';
import { addStaff, getStaff, listStaff, setStaffPassword, setStaffPasswordById, updateStaff } from '../../services/staff.js';
import { page, view, type AdminEnv } from './render.js';

/** A submitted form: text of a field ('' when absent or a file), and whether a checkbox was ticked. */
export async function readForm(c: Context) {
  const form = await c.req.parseBody();
  return {
    text: (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : ''),
    checked: (k: string) => form[k] === 'on',
  };
}

/**
 * Runs `work`; a ValidationError becomes `{ errors }` keyed by its field (fields not in `fields`
 * under `_form`), its message in the page's language `lang` (views/i18n/refusals.ts); anything
 * else is thrown on.
 */
export async function fieldErrors<T>(fields: readonly string[], work: () => Promise<T>, lang: Language): Promise<{ ok: T } | { errors: FieldErrors }> {
  try {
    return { ok: await work() };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { errors: { [fields.includes(err.field) ? err.field : '_form']: localizeRefusal(err.message, lang) } };
  }
}

/** The numeric `:id` of the path. @throws NotFoundError for anything else */
export function idParam(c: Context, what: string): number {
  const raw = c.req.param('id') ?? '';
  if (!/^\d{1,9}$/.test(raw)) throw new NotFoundError(`no ${what} has the id ${raw}`);
  return Number(raw);
}

const STAFF_FIELDS = ['name', 'email', 'login', 'external', 'active', 'role', 'mailImport', 'password'] as const;

function formOf(p: PublicStaffRow): StaffFormValues {
  return { name: p.name, email: p.email, login: p.login ?? '', external: p.external, active: p.active, role: p.role, mailImport: p.mailImport };
}

/**
 * The staff pages ("Mitarbeiter*innen", issue 6 item 4), admin only:
 * `GET /staff` list and new-person form; `POST /staff` create (optionally with a password);
 * `GET|POST /staff/:id` edit; `POST /staff/:id/password` set the password (argon2 hash, never
 * shown back); `GET /staff/:id/deactivate` confirmation, `POST` deactivates through the staff
 * lifecycle (candidacies end, tasks left without a candidate become unassigned) and reports it.
 * Refused input comes back as the form with the service's reason beside the field (400).
 */
export function staffRoutes(ctx: AppContext): Hono<AdminEnv> {
  const r = new Hono<AdminEnv>();
  const { db } = ctx;
  const actor = (c: Context<AdminEnv>) => c.get('session')?.staffId ?? null;

  r.get('/staff', async (c) => {
    const v = view(c);
    const created = Number(c.req.query('created'));
    const notice = Number.isInteger(created) && created > 0 ? v.t.staffPages.created((await getStaff(db, created)).name) : undefined;
    return page(c, StaffPage({ view: v, staff: await listStaff(db), form: EMPTY_STAFF, notice }));
  });

  r.post('/staff', async (c) => {
    const f = await readForm(c);
    const login = f.text('login').trim();
    const password = f.text('password');
    const values: StaffFormValues = { ...EMPTY_STAFF, name: f.text('name'), email: f.text('email'), login, external: f.checked('external'), role: f.text('role') || 'staff', mailImport: login !== '' && f.checked('mailImport') };
    const result = await fieldErrors(STAFF_FIELDS, () =>
      db.transaction(async (tx) => {
        const t = tx as unknown as Db;
        const row = await addStaff(t, { name: values.name, email: values.email, login: login || undefined, external: values.external, role: values.role as StaffRole, mailImport: values.mailImport });
        if (password) {
          if (!row.login) throw new ValidationError('password', 'a password needs a login name');
          await setStaffPassword(t, row.login, password);
        }
        return row;
      }),
      view(c).lang,
    );
    if ('errors' in result) return page(c, StaffPage({ view: view(c), staff: await listStaff(db), form: values, errors: result.errors }), 400);
    ctx.log.info({ staffId: result.ok.id, by: actor(c) }, 'staff member created in the admin');
    return c.redirect(`/staff?created=${result.ok.id}`, 303);
  });

  r.get('/staff/:id', async (c) => {
    const v = view(c);
    const person = await getStaff(db, idParam(c, 'staff member'));
    const notice = c.req.query('saved') ? v.t.staffPages.saved(person.name) : c.req.query('password') ? v.t.staffPages.passwordSet(person.login ?? '') : undefined;
    return page(c, StaffEditPage({ view: v, person, form: formOf(person), notice }));
  });

  r.post('/staff/:id', async (c) => {
    const v = view(c);
    const id = idParam(c, 'staff member');
    const before = await getStaff(db, id);
    const f = await readForm(c);
    const values: StaffFormValues = { name: f.text('name'), email: f.text('email'), login: f.text('login').trim(), external: f.checked('external'), active: f.checked('active'), role: f.text('role') || 'staff', mailImport: f.checked('mailImport') };
    const result = await fieldErrors(STAFF_FIELDS, () =>
      updateStaff(db, id, { name: values.name, email: values.email, login: values.login || null, external: values.external, active: values.active, role: values.role as StaffRole, mailImport: values.mailImport }, actor(c)),
      view(c).lang,
    );
    if ('errors' in result) return page(c, StaffEditPage({ view: v, person: before, form: values, errors: result.errors }), 400);
    const { staff: person, deactivation } = result.ok;
    if (deactivation) return page(c, StaffEditPage({ view: v, person, form: formOf(person), notice: deactivationLines(v, deactivation) }));
    if (!before.active && person.active) return page(c, StaffEditPage({ view: v, person, form: formOf(person), notice: v.t.staffPages.reactivated(person.name) }));
    return c.redirect(`/staff/${id}?saved=1`, 303);
  });

  r.post('/staff/:id/password', async (c) => {
    const id = idParam(c, 'staff member');
    const f = await readForm(c);
    const result = await fieldErrors(['password', 'login'], () => setStaffPasswordById(db, id, f.text('password')), view(c).lang);
    if ('errors' in result) {
      const person = await getStaff(db, id);
      return page(c, StaffEditPage({ view: view(c), person, form: formOf(person), passwordErrors: result.errors }), 400);
    }
    ctx.log.info({ staffId: id, by: actor(c) }, 'staff password set in the admin');
    return c.redirect(`/staff/${id}?password=1`, 303);
  });

  r.get('/staff/:id/deactivate', async (c) => {
    const v = view(c);
    const person = await getStaff(db, idParam(c, 'staff member'));
    if (!person.active) return c.redirect(`/staff/${person.id}`, 303);
    return page(c, StaffDeactivatePage({ view: v, person }));
  });

  r.post('/staff/:id/deactivate', async (c) => {
    const v = view(c);
    const id = idParam(c, 'staff member');
    const result = await fieldErrors(['active'], () => updateStaff(db, id, { active: false }, actor(c)), view(c).lang);
    const person = await getStaff(db, id);
    if ('errors' in result) return page(c, StaffEditPage({ view: v, person, form: formOf(person), errors: result.errors }), 400);
    ctx.log.info({ staffId: id, by: actor(c) }, 'staff member deactivated in the admin');
    const report = result.ok.deactivation;
    return page(c, StaffEditPage({ view: v, person, form: formOf(person), notice: report ? deactivationLines(v, report) : v.t.staffPages.alreadyInactive }));
  });

  return r;
}
