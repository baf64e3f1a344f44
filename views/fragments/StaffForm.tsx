import { STAFF_ROLES } from '../../src/db/schema.js';
import { STAFF_NAME_MAX } from '../../src/services/staff.js';
import { CsrfField } from './CsrfField.js';
import { errorAttrs, FieldError, FormAlert, type FieldErrors } from './FormErrors.js';
import type { View } from '../view.js';

/** What the staff form shows (never a password). */
export interface StaffFormValues {
  name: string;
  email: string;
  login: string;
  external: boolean;
  active: boolean;
  role: string;
  mailImport: boolean;
}

export const EMPTY_STAFF: StaffFormValues = { name: '', email: '', login: '', external: false, active: true, role: 'staff', mailImport: true };

/**
 * The create / edit form of a staff record (a plain POST form with the CSRF field, usable by Tab
 * and Enter). `errors` maps a field (the service's ValidationError.field) to the reason shown beside
 * it. On create it has an optional password; on edit the "Aktuell" checkbox.
 */
export function StaffForm({ view, action, values, errors, mode }: { view: View; action: string; values: StaffFormValues; errors?: FieldErrors; mode: 'create' | 'edit' }) {
  const t = view.t.staffPages;
  const p = `staff-${mode}`;
  const text = (field: 'name' | 'email' | 'login', label: string, extra: Record<string, string | boolean> = {}) => (
    <div class="field">
      <label for={`${p}-${field}`}>{label}</label>
      <input id={`${p}-${field}`} name={field} value={values[field]} {...extra} {...errorAttrs(errors, field, `${p}-${field}`)} />
      <FieldError errors={errors} field={field} id={`${p}-${field}`} />
    </div>
  );
  const box = (field: 'external' | 'active' | 'mailImport', label: string) => (
    <div class="field check">
      <input type="checkbox" id={`${p}-${field}`} name={field} value="on" checked={values[field]} {...errorAttrs(errors, field, `${p}-${field}`)} />{' '}
      <label for={`${p}-${field}`}>{label}</label>
      <FieldError errors={errors} field={field} id={`${p}-${field}`} />
    </div>
  );
  return (
    <form method="post" action={action} class="stack narrow staff-form" data-testid={`${p}-form`}>
      <CsrfField view={view} />
      <FormAlert errors={errors} message={t.formError} />
      {text('name', t.name, { required: true, autocomplete: 'off', maxlength: String(STAFF_NAME_MAX) })}
      {text('email', t.email, { type: 'email', required: true, autocomplete: 'off' })}
      {mode === 'edit' && box('active', t.active)}
      {box('external', t.external)}
      {text('login', t.login, { autocomplete: 'off', placeholder: t.loginHint })}
      <div class="field">
        <label for={`${p}-role`}>{t.role}</label>
        <select id={`${p}-role`} name="role" {...errorAttrs(errors, 'role', `${p}-role`)}>
          {STAFF_ROLES.map((r) => (
            <option value={r} selected={values.role === r}>
              {t.roles[r]}
            </option>
          ))}
        </select>
        <FieldError errors={errors} field="role" id={`${p}-role`} />
      </div>
      {box('mailImport', t.mailImport)}
      {mode === 'create' && (
        <div class="field">
          <label for={`${p}-password`}>{t.passwordOptional}</label>
          <input id={`${p}-password`} name="password" type="password" autocomplete="new-password" {...errorAttrs(errors, 'password', `${p}-password`)} />
          <FieldError errors={errors} field="password" id={`${p}-password`} />
        </div>
      )}
      <button type="submit">{mode === 'create' ? t.create : t.save}</button>
    </form>
  );
}
